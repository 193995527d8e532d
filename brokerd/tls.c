/* SPDX-License-Identifier: MIT */
/*
 * TLS server contexts and what a handshake or token proves (see tls.h).
 */
#include "build-config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tls.h"
#include "util.h"

/* Names the context for OpenSSL's session bookkeeping; no session is ever resumed. */
#define TLS_SESSION_ID_CONTEXT "ipc-brokerd"

struct tls_server {
        unsigned refs;
        SSL_CTX *ctx;
        enum config_tls_auth auth;
        struct config_token *tokens; /* copies: the config may be reloaded meanwhile */
        size_t n_tokens;
};

/* --- errors --- */

/* The reason OpenSSL queued last, or @fallback; the queue is cleared. */
static const char *ssl_reason(const char *fallback) {
        unsigned long e = ERR_peek_last_error();
        const char *s = e ? ERR_reason_error_string(e) : NULL;

        ERR_clear_error();
        return s ? s : fallback;
}

/* "WHERE.KEY: cannot load FILE: why". Return: -EINVAL. */
static int load_error(const char *where, const char *key, const char *file, const char *why,
                      char *errbuf, size_t errlen) {
        (void)snprintf(errbuf, errlen, "%s.%s: cannot load %s: %s", where, key, file, why);
        return -EINVAL;
}

/*
 * OpenSSL's words for a missing file ("system lib") say less than errno:
 * open it ourselves first, so "No such file or directory" or "Permission
 * denied" name the problem.
 */
static int file_check(const char *where, const char *key, const char *file, char *errbuf,
                      size_t errlen) {
        FILE *f = fopen(file, "re");

        if (!f)
                return load_error(where, key, file, strerror(errno), errbuf, errlen);
        (void)fclose(f);
        return 0;
}

void tls_describe_error(SSL *ssl, unsigned long err, char *buf, size_t len) {
        long verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
        const char *reason = err ? ERR_reason_error_string(err) : NULL;

        if (verify != X509_V_OK)
                (void)snprintf(buf, len, "%s (%s)", reason ? reason : "certificate verify failed",
                               X509_verify_cert_error_string(verify));
        else
                (void)snprintf(buf, len, "%s", reason ? reason : "connection closed");
}

/* --- contexts --- */

/* TLS 1.2 or 1.3, no renegotiation, no tickets or session cache: every connection authenticates. */
static SSL_CTX *context_new(void) {
        SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

        if (!ctx)
                return NULL;
        if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
            SSL_CTX_set_num_tickets(ctx, 0) != 1 ||
            SSL_CTX_set_session_id_context(ctx, (const unsigned char *)TLS_SESSION_ID_CONTEXT,
                                           strlen(TLS_SESSION_ID_CONTEXT)) != 1) {
                SSL_CTX_free(ctx);
                return NULL;
        }
        (void)SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
                                               SSL_OP_CIPHER_SERVER_PREFERENCE);
        (void)SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        return ctx;
}

static int load_identity(SSL_CTX *ctx, const struct config_tls *t, const char *where, char *errbuf,
                         size_t errlen) {
        int r;

        r = file_check(where, "certificate", t->certificate, errbuf, errlen);
        if (r < 0)
                return r;
        if (SSL_CTX_use_certificate_chain_file(ctx, t->certificate) != 1)
                return load_error(where, "certificate", t->certificate,
                                  ssl_reason("not a PEM certificate"), errbuf, errlen);
        r = file_check(where, "key", t->key, errbuf, errlen);
        if (r < 0)
                return r;
        /* OpenSSL checks the pair while loading the key, or later: say the same either way. */
        ERR_clear_error();
        if (SSL_CTX_use_PrivateKey_file(ctx, t->key, SSL_FILETYPE_PEM) != 1 &&
            ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH)
                return load_error(where, "key", t->key, ssl_reason("not a PEM private key"), errbuf,
                                  errlen);
        if (ERR_peek_last_error() != 0 || SSL_CTX_check_private_key(ctx) != 1) {
                ERR_clear_error();
                (void)snprintf(errbuf, errlen, "%s.key: %s does not match the certificate %s",
                               where, t->key, t->certificate);
                return -EINVAL;
        }
        return 0;
}

/* "auth": "certificate": a certificate client_ca signed, or no connection. */
static int load_client_ca(SSL_CTX *ctx, const struct config_tls *t, const char *where, char *errbuf,
                          size_t errlen) {
        struct stack_st_X509_NAME *names; /* STACK_OF(X509_NAME), spelled for clang-format */
        int r;

        r = file_check(where, "client_ca", t->client_ca, errbuf, errlen);
        if (r < 0)
                return r;
        if (SSL_CTX_load_verify_locations(ctx, t->client_ca, NULL) != 1)
                return load_error(where, "client_ca", t->client_ca,
                                  ssl_reason("no PEM certificate in it"), errbuf, errlen);
        /* The CA names a server sends with its certificate request, so clients pick a match. */
        names = SSL_load_client_CA_file(t->client_ca);
        if (!names)
                return load_error(where, "client_ca", t->client_ca,
                                  ssl_reason("no PEM certificate in it"), errbuf, errlen);
        SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        return 0;
}

static int tokens_copy(struct tls_server *s, const struct config_tls *t) {
        if (t->n_tokens == 0)
                return 0;
        s->tokens = calloc(t->n_tokens, sizeof(*s->tokens));
        if (!s->tokens)
                return -ENOMEM;
        for (size_t i = 0; i < t->n_tokens; i++) {
                s->tokens[i] = t->tokens[i];
                s->tokens[i].name = strdup(t->tokens[i].name);
                if (!s->tokens[i].name)
                        return -ENOMEM;
                s->n_tokens++;
        }
        return 0;
}

int tls_server_new(const struct config_tls *t, const char *where, char *errbuf, size_t errlen,
                   struct tls_server **ret) {
        struct tls_server *s = calloc(1, sizeof(*s));
        int r = -ENOMEM;

        if (!s)
                goto oom;
        s->refs = 1;
        s->auth = t->auth;
        s->ctx = context_new();
        if (!s->ctx || tokens_copy(s, t) < 0)
                goto oom;
        r = load_identity(s->ctx, t, where, errbuf, errlen);
        if (r >= 0 && t->auth == CONFIG_TLS_AUTH_CERTIFICATE)
                r = load_client_ca(s->ctx, t, where, errbuf, errlen);
        if (r < 0) {
                tls_server_unref(s);
                return r;
        }
        *ret = s;
        return 0;
oom:
        (void)snprintf(errbuf, errlen, "%s: %s", where, strerror(ENOMEM));
        tls_server_unref(s);
        return r;
}

struct tls_server *tls_server_ref(struct tls_server *s) {
        s->refs++;
        return s;
}

struct tls_server *tls_server_unref(struct tls_server *s) {
        if (!s || --s->refs > 0)
                return NULL;
        SSL_CTX_free(s->ctx);
        for (size_t i = 0; i < s->n_tokens; i++)
                free(s->tokens[i].name);
        OPENSSL_cleanse(s->tokens, s->n_tokens * sizeof(*s->tokens));
        free(s->tokens);
        free(s);
        return NULL;
}

enum config_tls_auth tls_server_auth(const struct tls_server *s) {
        return s->auth;
}

SSL *tls_server_ssl_new(struct tls_server *s) {
        return SSL_new(s->ctx);
}

/* --- what a connection proves --- */

const char *tls_server_token_name(const struct tls_server *s, const char *token, size_t len) {
        uint8_t hash[CONFIG_TOKEN_HASH_BYTES];
        const char *name = NULL;

        (void)SHA256((const unsigned char *)token, len, hash);
        /* No early exit: the time taken does not depend on which entry matches. */
        for (size_t i = 0; i < s->n_tokens; i++)
                if (CRYPTO_memcmp(hash, s->tokens[i].sha256, sizeof(hash)) == 0)
                        name = s->tokens[i].name;
        OPENSSL_cleanse(hash, sizeof(hash));
        return name;
}

/* The one subject CN as UTF-8. Return: its length (> 0), with *ret to OPENSSL_free(); or < 0. */
static int subject_cn(X509 *cert, unsigned char **ret, const char **ret_why) {
        X509_NAME *subject = X509_get_subject_name(cert);
        int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
        int len;

        if (i < 0) {
                *ret_why = "the client certificate has no subject CN to name it by";
                return -EACCES;
        }
        if (X509_NAME_get_index_by_NID(subject, NID_commonName, i) >= 0) {
                *ret_why = "the client certificate has more than one subject CN";
                return -EACCES;
        }
        len = ASN1_STRING_to_UTF8(ret, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i)));
        if (len <= 0) {
                *ret_why = "the client certificate's subject CN is not a valid string";
                return -EACCES;
        }
        return len;
}

int tls_peer_identity(SSL *ssl, struct identity *ret, const char **ret_why) {
        X509 *cert = SSL_get_peer_certificate(ssl);
        unsigned char *cn = NULL;
        int len, r = -EACCES;

        *ret_why = "no verified client certificate";
        if (!cert || SSL_get_verify_result(ssl) != X509_V_OK)
                goto out;
        len = subject_cn(cert, &cn, ret_why);
        if (len < 0)
                goto out;
        if (memchr(cn, '\0', (size_t)len) || len > IDENTITY_NAME_MAX) {
                *ret_why = "the client certificate's subject CN holds a NUL byte or is too long";
                goto out;
        }
        identity_set_remote(ret, (const char *)cn, (size_t)len);
        r = 0;
out:
        OPENSSL_free(cn);
        X509_free(cert);
        return r;
}
