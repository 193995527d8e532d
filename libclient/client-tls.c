/* SPDX-License-Identifier: MIT */
/*
 * TLS for "tls:HOST:PORT" connections, through OpenSSL: the client context
 * ipc_options_set_tls() builds, the handshake ipc_client_connect() runs,
 * and the reads and writes client-io.c makes through its transport seam
 * when the client has an SSL object (plain sockets never get here).
 *
 * The broker's certificate must verify against the CA file (or the
 * system's store) and name the host: SSL_set1_host() for a name,
 * X509_VERIFY_PARAM_set1_ip_asc() for an address. TLS 1.2 at least,
 * renegotiation refused.
 *
 * Errors, where OpenSSL lets us tell: the broker's certificate failed
 * verification: -EKEYREJECTED; the broker refused ours (an alert about our
 * certificate, or access denied): -EACCES; any other alert: -ECONNRESET;
 * anything else TLS did not like: -EPROTO. With TLS 1.3 the broker checks
 * a client certificate after our side of the handshake is done, so its
 * refusal arrives with the first read, while we wait for WELCOME.
 */
#include "build-config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "client-internal.h"
#include "util.h"

/* ---- Contexts ------------------------------------------------------- */

/* errno for a file we cannot open: OpenSSL would only say "system lib". */
static int file_check(const char *path) {
        FILE *f = fopen(path, "re");

        if (!f)
                return -errno;
        (void)fclose(f);
        return 0;
}

static int context_settings(SSL_CTX *ctx) {
        if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
                return -EINVAL;
        (void)SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
        /* A broker that closes without close_notify has closed, as on plain TCP. */
        (void)SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
        /* Our output buffer moves and is written in pieces, as for a plain socket. */
        (void)SSL_CTX_set_mode(ctx,
                               SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        return 0;
}

static int context_trust(SSL_CTX *ctx, const char *ca_file) {
        int r;

        if (!ca_file)
                return SSL_CTX_set_default_verify_paths(ctx) == 1 ? 0 : -EINVAL;
        r = file_check(ca_file);
        if (r < 0)
                return r;
        return SSL_CTX_load_verify_locations(ctx, ca_file, NULL) == 1 ? 0 : -EINVAL;
}

static int context_identity(SSL_CTX *ctx, const char *cert_file, const char *key_file) {
        int r;

        if (!cert_file)
                return 0;
        r = file_check(cert_file);
        if (r >= 0)
                r = file_check(key_file);
        if (r < 0)
                return r;
        if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1)
                return -EINVAL;
        return 0;
}

/**
 * client_tls_context_new() - a client context: trust @ca_file (NULL: the
 * system's default store), present @cert_file with @key_file (both NULL:
 * no client certificate).
 * Return: 0; -ENOENT, -EACCES or another errno opening a file; -EINVAL (not
 * PEM, or the key does not match the certificate); -ENOMEM.
 */
int client_tls_context_new(const char *ca_file, const char *cert_file, const char *key_file,
                           struct ssl_ctx_st **ret) {
        SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
        int r;

        if (!ctx)
                return -ENOMEM;
        r = context_settings(ctx);
        if (r >= 0)
                r = context_trust(ctx, ca_file);
        if (r >= 0)
                r = context_identity(ctx, cert_file, key_file);
        ERR_clear_error();
        if (r < 0) {
                SSL_CTX_free(ctx);
                return r;
        }
        *ret = ctx;
        return 0;
}

/* ---- Errors --------------------------------------------------------- */

/* Alerts a broker sends about the certificate we showed, or to refuse us. */
static bool alert_refuses_us(int alert) {
        switch (alert) {
        case SSL_AD_BAD_CERTIFICATE:
        case SSL_AD_UNSUPPORTED_CERTIFICATE:
        case SSL_AD_CERTIFICATE_REVOKED:
        case SSL_AD_CERTIFICATE_EXPIRED:
        case SSL_AD_CERTIFICATE_UNKNOWN:
        case SSL_AD_UNKNOWN_CA:
        case SSL_AD_ACCESS_DENIED:
        case SSL_AD_CERTIFICATE_REQUIRED:
                return true;
        default:
                return false;
        }
}

/* A TLS-level failure: its errno, with words for ipc_client_get_error(). */
static int tls_protocol_error(ipc_client *c, unsigned long err) {
        long verify = SSL_get_verify_result(c->ssl);
        int reason = ERR_GET_REASON(err), code;
        const char *what = ERR_reason_error_string(err);
        char text[CLIENT_ERROR_MAX];

        if (verify != X509_V_OK) {
                code = -EKEYREJECTED;
                (void)snprintf(text, sizeof(text),
                               "the broker's certificate failed verification: %s",
                               X509_verify_cert_error_string(verify));
        } else if (reason > SSL_AD_REASON_OFFSET) {
                code = alert_refuses_us(reason - SSL_AD_REASON_OFFSET) ? -EACCES : -ECONNRESET;
                (void)snprintf(text, sizeof(text), "the broker ended TLS: %s",
                               what ? what : "alert");
        } else {
                code = -EPROTO;
                (void)snprintf(text, sizeof(text), "TLS error: %s", what ? what : "unknown");
        }
        client_set_error(c, text, strlen(text));
        return code;
}

/*
 * The outcome of an SSL call that returned @ret <= 0: -EAGAIN (try again
 * when the socket is ready; WANT_WRITE in a read, from a key update, is
 * rare enough to be retried on the next readiness of either kind); 0 at
 * the end of the stream; else a negative errno. The error queue is left
 * empty, so a later call reads no stale error.
 */
static int tls_result(ipc_client *c, int ret) {
        int e = SSL_get_error(c->ssl, ret), saved = errno, r;
        unsigned long err = ERR_peek_last_error();

        switch (e) {
        case SSL_ERROR_WANT_READ:
        case SSL_ERROR_WANT_WRITE:
                r = -EAGAIN;
                break;
        case SSL_ERROR_ZERO_RETURN:
                r = 0;
                break;
        case SSL_ERROR_SYSCALL:
                r = err ? tls_protocol_error(c, err) : ret == 0 || saved == 0 ? 0 : -saved;
                break;
        default:
                r = tls_protocol_error(c, err);
                break;
        }
        ERR_clear_error();
        return r;
}

/* ---- The socket under TLS ------------------------------------------- */

/*
 * OpenSSL's socket BIO writes with write(), which raises SIGPIPE when the
 * broker is gone; a library must not kill an application that did not
 * ignore it. This BIO reads and writes the socket as client-io.c does:
 * recv() and send() with MSG_NOSIGNAL, never blocking. Its method table is
 * made per connection (no global state) and freed with it.
 */
static int sock_fd(BIO *b) {
        return (int)(intptr_t)BIO_get_data(b);
}

static int sock_bio_write(BIO *b, const char *buf, int len) {
        ssize_t n = send(sock_fd(b), buf, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);

        BIO_clear_retry_flags(b);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                BIO_set_retry_write(b);
        return (int)n;
}

static int sock_bio_read(BIO *b, char *buf, int len) {
        ssize_t n = recv(sock_fd(b), buf, (size_t)len, MSG_DONTWAIT);

        BIO_clear_retry_flags(b);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                BIO_set_retry_read(b);
        return (int)n;
}

/* Nothing is buffered here: flushing always succeeds, every other question gets 0. */
static long sock_bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
        return cmd == BIO_CTRL_FLUSH || cmd == BIO_CTRL_DUP ? 1 : 0;
}

static int tls_attach_socket(ipc_client *c) {
        BIO *bio;

        c->bio_method = BIO_meth_new(BIO_TYPE_SOURCE_SINK | BIO_get_new_index(), "ipc-socket");
        if (!c->bio_method || BIO_meth_set_write(c->bio_method, sock_bio_write) != 1 ||
            BIO_meth_set_read(c->bio_method, sock_bio_read) != 1 ||
            BIO_meth_set_ctrl(c->bio_method, sock_bio_ctrl) != 1)
                return -ENOMEM;
        bio = BIO_new(c->bio_method);
        if (!bio)
                return -ENOMEM;
        BIO_set_data(bio, (void *)(intptr_t)c->sock);
        BIO_set_init(bio, 1);
        SSL_set_bio(c->ssl, bio, bio); /* the SSL owns it now */
        return 0;
}

/* ---- Connection ----------------------------------------------------- */

/* The name or address the broker's certificate must carry; a name also goes in SNI. */
static int tls_expect_host(SSL *ssl, const char *host) {
        unsigned char buf[sizeof(struct in6_addr)];

        if (inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1)
                return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1 ? 0 : -ENOMEM;
        if (SSL_set1_host(ssl, host) != 1 || SSL_set_tlsext_host_name(ssl, host) != 1)
                return -ENOMEM;
        return 0;
}

static int tls_handshake(ipc_client *c, uint64_t deadline_usec) {
        for (;;) {
                int ret = SSL_connect(c->ssl), r, ready;

                if (ret == 1)
                        return 0;
                r = tls_result(c, ret);
                if (r != -EAGAIN)
                        return r == 0 ? -ECONNRESET : r;
                ready = plat_wait(c->sock, SSL_want_write(c->ssl) ? PLAT_EV_WRITE : PLAT_EV_READ,
                                  deadline_usec);
                if (ready < 0)
                        return ready;
                if (ready == 0)
                        return -ETIMEDOUT;
        }
}

/**
 * client_tls_start() - run the TLS handshake on the connected socket.
 * @ctx: the context from the options, or a default one made here.
 * Return: 0 (c->ssl set); -EKEYREJECTED; -EACCES; -ECONNRESET; -EPROTO;
 * -ETIMEDOUT; -ENOMEM.
 */
int client_tls_start(ipc_client *c, struct ssl_ctx_st *ctx, const struct address *a,
                     uint64_t deadline_usec) {
        struct ssl_ctx_st *own = NULL;
        int r;

        if (!ctx) {
                r = client_tls_context_new(NULL, NULL, NULL, &own);
                if (r < 0)
                        return r;
                ctx = own;
        }
        c->ssl = SSL_new(ctx); /* holds its own reference to ctx */
        SSL_CTX_free(own);
        if (!c->ssl)
                return -ENOMEM;
        r = tls_attach_socket(c);
        if (r >= 0)
                r = tls_expect_host(c->ssl, a->host);
        return r < 0 ? r : tls_handshake(c, deadline_usec);
}

/**
 * client_tls_send() - write plaintext; at most one record's worth may be
 * taken per call (partial writes).
 * Return: bytes taken; -EAGAIN; -EPIPE or another negative errno.
 */
ssize_t client_tls_send(ipc_client *c, const void *buf, size_t len) {
        int n = SSL_write(c->ssl, buf, (int)MIN(len, (size_t)INT_MAX));
        int r;

        if (n > 0)
                return n;
        r = tls_result(c, n);
        return r == 0 ? -EPIPE : r;
}

/**
 * client_tls_recv() - read plaintext: records until @len is full or the
 * socket has no more, so a short read means the socket is drained as with
 * recv(); what OpenSSL still holds shows in client_tls_pending().
 * Return: bytes read; 0 at the end of the stream; -EAGAIN; negative errno.
 */
ssize_t client_tls_recv(ipc_client *c, void *buf, size_t len) {
        size_t got = 0;

        while (got < len) {
                int n = SSL_read(c->ssl, (uint8_t *)buf + got,
                                 (int)MIN(len - got, (size_t)INT_MAX));
                int r;

                if (n > 0) {
                        got += (size_t)n;
                        continue;
                }
                /* OpenSSL keeps failing the same way: the next call reports it. */
                r = tls_result(c, n);
                if (got > 0)
                        break;
                return r;
        }
        return (ssize_t)got;
}

/** client_tls_pending() - whether decrypted or buffered input waits inside OpenSSL. */
bool client_tls_pending(const ipc_client *c) {
        return c->ssl && SSL_has_pending(c->ssl);
}

/** client_tls_close() - send close_notify (one try, no waiting) and free the SSL object. */
void client_tls_close(ipc_client *c) {
        if (c->ssl && !c->dead && !c->link_down && SSL_is_init_finished(c->ssl))
                (void)SSL_shutdown(c->ssl);
        ERR_clear_error();
        SSL_free(c->ssl);
        c->ssl = NULL;
        BIO_meth_free(c->bio_method);
        c->bio_method = NULL;
}
