/* SPDX-License-Identifier: MIT */
/*
 * TLS connections (see peer.h): libevent's OpenSSL bufferevent runs the
 * handshake as the server and then carries the frames, so the rest of the
 * peer code sees plaintext and does not know. What the handshake proved (a
 * client certificate's subject CN), or the token HELLO carries on a token
 * listener, becomes the peer's REMOTE identity, which access rules name as
 * "remote:NAME".
 *
 * A failed handshake or refused token closes that connection only, with a
 * line in the log that is rate-limited like every per-client line.
 */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "linger.h"
#include "peer.h"
#include "tls.h"

int peer_tls_bev_new(struct peer *p, int fd, struct bufferevent **ret) {
        SSL *ssl = tls_server_ssl_new(p->tls);
        struct bufferevent *bev;

        if (!ssl) {
                (void)close(fd);
                return -ENOMEM;
        }
        /*
         * It fails only out of memory; libevent then frees the SSL
         * (BEV_OPT_CLOSE_ON_FREE), and whether fd is closed depends on how
         * far it got, so fd is left alone rather than risk a double close.
         */
        bev = bufferevent_openssl_socket_new(p->broker->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                             BEV_OPT_CLOSE_ON_FREE);
        if (!bev)
                return -ENOMEM;
        /* A client that closes without close_notify has just gone, as on plain TCP. */
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
        *ret = bev;
        return 0;
}

void peer_tls_on_connected(struct peer *p) {
        SSL *ssl = bufferevent_openssl_get_ssl(p->bev);
        char who[64 + IDENTITY_NAME_MAX];
        struct identity id;
        const char *why;

        p->tls_ready = true;
        if (tls_server_auth(p->tls) != CONFIG_TLS_AUTH_CERTIFICATE) {
                peer_log(p, LOG_DEBUG, "TLS handshake done (%s)", SSL_get_version(ssl));
                return;
        }
        if (tls_peer_identity(ssl, &id, &why) < 0) {
                (void)peer_fail(p, EACCES, "refused: %s", why);
                return;
        }
        if (peer_set_identity(p, &id) < 0) {
                peer_close(p);
                return;
        }
        peer_log(p, LOG_DEBUG, "TLS handshake done (%s), client certificate of %s",
                 SSL_get_version(ssl), identity_describe(&p->ident, who, sizeof(who)));
}

/*
 * The error to name: the bufferevent hands back what OpenSSL queued, last
 * first, which is the outermost ("certificate verify failed" rather than
 * its causes); entries without a reason (libevent also stores the
 * SSL_get_error() code) are skipped.
 */
static unsigned long peer_tls_error(struct peer *p) {
        unsigned long err, found = 0;

        while ((err = bufferevent_get_openssl_error(p->bev)) != 0)
                if (!found && ERR_reason_error_string(err))
                        found = err;
        return found;
}

void peer_tls_failed(struct peer *p) {
        char why[256];
        int fd;

        tls_describe_error(bufferevent_openssl_get_ssl(p->bev), peer_tls_error(p), why,
                           sizeof(why));
        if (p->tls_ready) {
                peer_log(p, LOG_INFO, "TLS connection error: %s; disconnecting", why);
                return;
        }
        peer_log(p, LOG_NOTICE, "TLS handshake failed: %s; disconnecting", why);
        /* The alert OpenSSL sent must reach the client: no reset (linger.h). */
        fd = fcntl(bufferevent_getfd(p->bev), F_DUPFD_CLOEXEC, 3);
        if (fd >= 0)
                linger_fd(p->broker, fd);
}

int peer_check_token(struct peer *p, const struct proto_hello *h) {
        struct identity id;
        const char *name;

        if (!p->tls || tls_server_auth(p->tls) != CONFIG_TLS_AUTH_TOKEN) {
                if (!h->token)
                        return 0;
                if (!p->tls)
                        return peer_fail(p, EACCES,
                                         "a token is accepted over TLS only; this connection "
                                         "is not encrypted");
                return peer_fail(p, EACCES,
                                 "this listener authenticates by client certificate, not by "
                                 "token");
        }
        if (!h->token)
                return peer_fail(p, EACCES, "this listener needs a token");
        name = tls_server_token_name(p->tls, h->token, h->token_len);
        if (!name)
                return peer_fail(p, EACCES, "the token matches none configured");
        identity_set_remote(&id, name, strlen(name));
        return peer_set_identity(p, &id);
}

void peer_tls_shutdown(struct peer *p) {
        if (!p->tls || !p->tls_ready)
                return;
        /* One try, without waiting for the client's: the socket is half-closed next. */
        (void)SSL_shutdown(bufferevent_openssl_get_ssl(p->bev));
        ERR_clear_error();
}
