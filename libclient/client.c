/* SPDX-License-Identifier: MIT */
/*
 * The client handle: connecting and the handshake, the choice of
 * transport, the event-loop interface (fd, events, timeout, process),
 * flushing, and the error state every other call consults. Receiving is in
 * client-receive.c.
 *
 * A client that hits a fatal error (the broker went away, or sent
 * something we cannot trust) is "dead": the first error is kept and every
 * later call returns it, except that messages already received are still
 * handed out by ipc_client_receive() before it. With reconnecting on (the
 * default), a connection that breaks after the handshake makes the client
 * "down" instead, not dead (client-reconnect.c).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>

#include "client-internal.h"
#include "util.h"

/**
 * client_fail() - make the client dead with @error, keeping the first one.
 * @text: what to report through ipc_client_get_error(), or NULL to keep
 *        what is stored (an ERROR frame's text, set just before).
 *
 * Return: the client's error (the first one if it was dead already).
 */
int client_fail(ipc_client *c, int error, const char *text) {
        if (c->dead)
                return c->dead;
        if (c->link_down)
                return -ENOTCONN;
        if (text)
                client_set_error(c, text, strlen(text));
        if (c->attempting) {
                /* A reconnect attempt failed: it closes the socket and tries later. */
                c->link_down = true;
                return error;
        }
        if (client_link_may_retry(c)) {
                client_link_down(c);
                return -ENOTCONN;
        }
        c->dead = error;
        return error;
}

/*
 * Stores broker-supplied text for ipc_client_get_error(). It is untrusted:
 * truncated, and control characters are replaced so it is safe to print.
 */
void client_set_error(ipc_client *c, const char *text, size_t len) {
        len = MIN(len, sizeof(c->error) - 1);
        for (size_t i = 0; i < len; i++) {
                unsigned char ch = (unsigned char)text[i];

                c->error[i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
        }
        c->error[len] = '\0';
}

static int client_new(ipc_client **ret) {
        ipc_client *c = calloc(1, sizeof(*c));

        if (!c)
                return -ENOMEM;
        c->sock = PLAT_SOCK_INVALID;
        c->msg.client = c;
        c->msg.channel = c->msg.channel_buf;
        *ret = c;
        return 0;
}

/*
 * Rings need a local connection (the broker passes descriptors over UNIX
 * sockets only). IPC_TRANSPORT=socket in the environment turns AUTO into
 * SOCKET, so tests and scripts can pin the socket path without code.
 */
static bool client_rings_allowed(const struct address *a, const ipc_options *opts) {
        const char *env = getenv(IPC_TRANSPORT_ENV);

        if (a->kind != ADDRESS_UNIX)
                return false;
        if (opts && opts->transport != IPC_TRANSPORT_AUTO)
                return false;
        return !(env && strcmp(env, "socket") == 0);
}

static void client_close(ipc_client *c) {
        client_subs_detach(c);
        client_pubs_detach(c);
        c->poller = plat_poller_free(c->poller);
        client_tls_close(c);
        plat_sock_close(c->sock);
        c->sock = PLAT_SOCK_INVALID;
        client_buffers_free(c);
        free(c->subs);
        free(c->ring_subs);
        client_conf_free(c);
        free(c);
}

/* A failed connect's reason, for the caller's buffer (ipc_options_set_error_buffer()). */
static void client_report_error(const ipc_client *c, const ipc_options *opts) {
        if (!opts || !opts->error_buf)
                return;
        (void)snprintf(opts->error_buf, opts->error_size, "%s", c->error);
}

static int client_resolve(const char *address, struct address *ret) {
        if (!address)
                return address_default_client(ret);
        return address_parse(address, ret) < 0 ? -EINVAL : 0;
}

/*
 * A broker that refuses the connection (a connection limit) sends ERROR
 * and closes, maybe before our HELLO is written: then the write fails,
 * but the ERROR frame waits in our receive buffer, ahead of the EOF. Read
 * it, so connect returns the broker's code (-ENFILE, -EDQUOT, ...) and
 * text rather than a broken pipe.
 */
static int client_read_refusal(ipc_client *c, int r) {
        char text[sizeof(c->error)];

        if (c->attempting)
                return r;
        memcpy(text, c->error, sizeof(text));
        c->dead = 0;
        (void)client_read(c, 1);
        if (c->dead && c->dead != -ECONNRESET)
                return c->dead;
        memcpy(c->error, text, sizeof(text));
        c->dead = r;
        return r;
}

/*
 * A token is only ever sent encrypted, and TLS settings only apply to a
 * "tls:" address: either on another address is a mistake to report, not
 * to ignore. Return: 0; -EINVAL.
 */
static int client_check_security(const struct address *a, const ipc_options *opts) {
        bool tls = a->kind == ADDRESS_TCP && a->tls;

        if (opts && (opts->tls || opts->token_len > 0) && !tls)
                return -EINVAL;
        return 0;
}

/* Sends HELLO (with the token, if any) and waits for WELCOME (or the ERROR that refuses us). */
int client_handshake(ipc_client *c, const ipc_options *opts, uint64_t deadline_usec) {
        const char *name = opts ? opts->name : "";
        struct proto_hello hello = {
                .version_min = PROTO_VERSION_MIN,
                .version_max = PROTO_VERSION_MAX,
                .token = opts ? opts->token : NULL,
                .token_len = opts ? opts->token_len : 0,
                .name = name,
                .name_len = strlen(name),
        };
        uint8_t head[PROTO_HEAD_MAX];
        size_t n = proto_encode_hello(head, &hello);
        int r;

        r = client_append(c, head, n, name, hello.name_len);
        explicit_bzero(head, n); /* the token */
        if (r < 0)
                return r;
        r = client_write(c);
        if (r == -EPIPE || r == -ECONNRESET)
                return client_read_refusal(c, r);
        while (r >= 0 && !c->welcomed) {
                r = client_wait(c, deadline_usec);
                if (r > 0 && !c->welcomed)
                        return -ETIMEDOUT;
        }
        return r < 0 ? r : 0;
}

IPC_EXPORT int ipc_client_connect(const char *address, const ipc_options *opts, ipc_client **ret) {
        uint64_t timeout = opts ? opts->connect_timeout_usec : CLIENT_CONNECT_TIMEOUT_USEC;
        uint64_t deadline = usec_add(plat_now_usec(), timeout);
        struct address addr;
        ipc_client *c;
        int r;

        if (!ret)
                return -EINVAL;
        if (opts && opts->error_buf)
                opts->error_buf[0] = '\0';
        r = client_resolve(address, &addr);
        if (r >= 0)
                r = client_check_security(&addr, opts);
        if (r < 0)
                return r;
        r = client_new(&c);
        if (r < 0)
                return r;
        address_format(&addr, c->address, sizeof(c->address));
        c->addr = addr;
        (void)client_conf_copy(c, opts);
        c->rings = client_rings_allowed(&addr, opts);
        c->spin_usec = opts ? opts->spin_usec : 0;
        r = plat_connect(&addr, timeout, &c->sock);
        if (r >= 0 && addr.tls)
                r = client_tls_start(c, opts ? opts->tls : NULL, &addr, deadline);
        if (r >= 0)
                r = plat_poller_new(c->sock, &c->poller);
        if (r >= 0)
                r = client_handshake(c, opts, deadline);
        if (r < 0) {
                client_report_error(c, opts);
                client_close(c);
                return r;
        }
        c->error[0] = '\0';
        client_skip_control(c);
        *ret = c;
        return 0;
}

IPC_EXPORT ipc_client *ipc_client_free(ipc_client *client) {
        if (!client)
                return NULL;
        if (!client->dead && !client->link_down)
                (void)client_flush_until(client, usec_add(plat_now_usec(), CLIENT_FREE_FLUSH_USEC),
                                         0);
        client_close(client);
        return NULL;
}

IPC_EXPORT const char *ipc_client_get_address(const ipc_client *client) {
        return client ? client->address : "";
}

IPC_EXPORT const char *ipc_client_get_server(const ipc_client *client) {
        return client ? client->server : "";
}

IPC_EXPORT size_t ipc_client_get_max_message_size(const ipc_client *client) {
        return client ? client->max_message_bytes : 0;
}

IPC_EXPORT const char *ipc_client_get_error(const ipc_client *client) {
        return client ? client->error : "";
}

IPC_EXPORT void ipc_free(void *p) {
        free(p);
}

IPC_EXPORT ipc_fd_t ipc_client_get_fd(const ipc_client *client) {
        if (!client)
                return -EINVAL;
        return plat_poller_fd(client->poller);
}

IPC_EXPORT int ipc_client_get_events(const ipc_client *client) {
        if (!client)
                return -EINVAL;
        /* The poller fd turns readable for socket writability too (write interest). */
        return POLLIN;
}

/*
 * Frames may already sit in the input buffer (read during a blocking call)
 * while the socket itself is quiet: then process must run now, or the
 * application would sleep on buffered messages. The same holds for a ring
 * subscription that has not announced sleep (its records would not wake
 * the fd) and for wake-ups held back by IPC_PUBLISH_MORE. A dead client
 * also asks for a call, so the application learns the error, and so does
 * a loss not reported yet. While down, the next reconnect attempt is due
 * at retry_usec (the alarm in the pollable handle fires then too).
 */
IPC_EXPORT int ipc_client_get_timeout(const ipc_client *client, uint64_t *ret_usec) {
        bool now;

        if (!client || !ret_usec)
                return -EINVAL;
        now = client->dead || client->link_lost_unseen || client->in.head < client->in.scan ||
              client->wake_deferred || client_tls_pending(client) || !client_rings_asleep(client);
        *ret_usec = now ? 0 : client->link_down ? client->retry_usec : IPC_USEC_INFINITY;
        return 0;
}

IPC_EXPORT int ipc_client_process(ipc_client *client) {
        int r = 0;

        if (!client)
                return -EINVAL;
        (void)client_msg_release(client);
        client_pubs_wake(client);
        client_link_tick(client);
        if (!client->dead && !client->link_down) {
                r = client_write(client);
                if (r >= 0)
                        r = client_read(client, CLIENT_PROCESS_READS_MAX);
        }
        client_rings_drain(client);
        /* Messages read before a fatal error (or the loss) are still delivered first. */
        if (client_peek_message(client) || client_rings_ready(client))
                return 1;
        if (client->dead)
                return client->dead;
        if (client->link_lost_unseen) {
                client->link_lost_unseen = false;
                return -ENOTCONN;
        }
        if (r == -ENOTCONN)
                r = 0;
        /* Nothing: arm the rings' wake-ups, so the fd tells when something comes. */
        if (!client_rings_idle(client))
                return 1;
        return MIN(r, 0);
}

IPC_EXPORT int ipc_client_flush(ipc_client *client, uint64_t timeout_usec) {
        if (!client)
                return -EINVAL;
        client_pubs_wake(client);
        return client_flush_until(client, usec_add(plat_now_usec(), timeout_usec), 0);
}
