/* SPDX-License-Identifier: MIT */
/*
 * Connection options: the extension point of ipc_client_connect(). New
 * settings become new setters here, never new connect variants.
 */
#include <errno.h>
#include <string.h>

#include <openssl/ssl.h>

#include "client-internal.h"
#include "util.h"

IPC_EXPORT int ipc_options_new(ipc_options **ret) {
        ipc_options *opts;

        if (!ret)
                return -EINVAL;
        opts = calloc(1, sizeof(*opts));
        if (!opts)
                return -ENOMEM;
        client_options_init(opts);
        *ret = opts;
        return 0;
}

static void options_clear_token(ipc_options *opts) {
        explicit_bzero(opts->token, sizeof(opts->token));
        opts->token_len = 0;
}

IPC_EXPORT ipc_options *ipc_options_free(ipc_options *opts) {
        if (!opts)
                return NULL;
        SSL_CTX_free(opts->tls);
        options_clear_token(opts);
        free(opts);
        return NULL;
}

IPC_EXPORT int ipc_options_set_connect_timeout(ipc_options *opts, uint64_t timeout_usec) {
        if (!opts)
                return -EINVAL;
        opts->connect_timeout_usec = timeout_usec;
        return 0;
}

IPC_EXPORT int ipc_options_set_name(ipc_options *opts, const char *name) {
        size_t len;

        if (!opts || !name)
                return -EINVAL;
        len = strnlen(name, sizeof(opts->name));
        if (len >= sizeof(opts->name))
                return -EINVAL;
        memcpy(opts->name, name, len + 1);
        return 0;
}

IPC_EXPORT int ipc_options_set_transport(ipc_options *opts, int transport) {
        if (!opts || (transport != IPC_TRANSPORT_AUTO && transport != IPC_TRANSPORT_SOCKET))
                return -EINVAL;
        opts->transport = transport;
        return 0;
}

IPC_EXPORT int ipc_options_set_spin(ipc_options *opts, uint64_t spin_usec) {
        if (!opts)
                return -EINVAL;
        opts->spin_usec = spin_usec;
        return 0;
}

IPC_EXPORT int ipc_options_set_error_buffer(ipc_options *opts, char *buf, size_t size) {
        if (!opts || (!buf && size > 0))
                return -EINVAL;
        opts->error_buf = size > 0 ? buf : NULL;
        opts->error_size = size;
        return 0;
}

/*
 * The files are read now, into an OpenSSL context the options keep and
 * every connection made with them shares, so a bad path or PEM shows here
 * rather than as a failed connect.
 */
IPC_EXPORT int ipc_options_set_tls(ipc_options *opts, const char *ca_file, const char *cert_file,
                                   const char *key_file) {
        struct ssl_ctx_st *ctx;
        int r;

        if (!opts || !cert_file != !key_file)
                return -EINVAL;
        r = client_tls_context_new(ca_file, cert_file, key_file, &ctx);
        if (r < 0)
                return r;
        SSL_CTX_free(opts->tls);
        opts->tls = ctx;
        return 0;
}

IPC_EXPORT int ipc_options_set_token(ipc_options *opts, const char *token) {
        size_t len;

        if (!opts)
                return -EINVAL;
        if (!token) {
                options_clear_token(opts);
                return 0;
        }
        len = strnlen(token, sizeof(opts->token) + 1);
        if (len == 0 || len > sizeof(opts->token))
                return -EINVAL;
        options_clear_token(opts);
        memcpy(opts->token, token, len);
        opts->token_len = len;
        return 0;
}

IPC_EXPORT int ipc_options_set_reconnect(ipc_options *opts, uint32_t initial_ms, uint32_t max_ms) {
        if (!opts || (initial_ms == 0) != (max_ms == 0) || initial_ms > max_ms)
                return -EINVAL;
        opts->reconnect_initial_ms = initial_ms;
        opts->reconnect_max_ms = max_ms;
        return 0;
}

IPC_EXPORT int ipc_options_set_publish_wait(ipc_options *opts, bool wait) {
        if (!opts)
                return -EINVAL;
        opts->publish_wait = wait;
        return 0;
}
