/* SPDX-License-Identifier: MIT */
/*
 * Surviving the broker: when the connection breaks after the handshake
 * (the broker crashed, restarted, or closed us), the client is not dead
 * but "down" (unless reconnecting is disabled): the socket is closed and
 * dropped from the pollable handle, whose own fd stays; rings already
 * mapped stay mapped and in use, so ring traffic between clients goes on
 * without the broker.
 *
 * There is no thread: attempts are made from the calls the application
 * makes anyway (ipc_client_process(), ipc_client_receive(), a publish that
 * waits, new pubs and subs), once the backoff delay has passed and every
 * socket message read before the loss has been handed out (their
 * subscription ids are the old connection's). An alarm in the pollable
 * handle makes its fd readable when an attempt is due, and
 * ipc_client_get_timeout() tells the same time.
 *
 * An attempt connects, says HELLO with the same name, token and TLS
 * settings, and opens every publisher and subscription again, each on a
 * ring where it was on one before (the new ring is used once the old one is
 * drained: see sub_ring_peek() and pub_switch()). It blocks for at most
 * the connect timeout; a local broker answers in microseconds. Any failure
 * of the connection ends the attempt and doubles the delay (with jitter,
 * so a restarted broker is not hit by every client at once, up to the
 * maximum); a refusal of one handle (the access rules changed) leaves
 * that handle refused and the rest working.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "client-internal.h"
#include "util.h"

/** client_options_init() - the defaults of ipc_options_new() (and of NULL options). */
void client_options_init(ipc_options *o) {
        *o = (ipc_options){
                .connect_timeout_usec = CLIENT_CONNECT_TIMEOUT_USEC,
                .reconnect_initial_ms = CLIENT_RECONNECT_INITIAL_MSEC,
                .reconnect_max_ms = CLIENT_RECONNECT_MAX_MSEC,
        };
}

/**
 * client_conf_copy() - keep what reconnecting needs from the connect
 * options: the caller's options are not retained. The error buffer is not
 * kept (it may be gone by then).
 * Return: 0.
 */
int client_conf_copy(ipc_client *c, const ipc_options *opts) {
        if (!opts) {
                client_options_init(&c->conf);
                return 0;
        }
        c->conf = *opts;
        c->conf.error_buf = NULL;
        c->conf.error_size = 0;
        if (c->conf.tls)
                (void)SSL_CTX_up_ref(c->conf.tls);
        return 0;
}

void client_conf_free(ipc_client *c) {
        SSL_CTX_free(c->conf.tls);
        c->conf.tls = NULL;
        explicit_bzero(c->conf.token, sizeof(c->conf.token));
}

/* Whether a broken connection makes the client reconnect rather than die. */
bool client_link_may_retry(const ipc_client *c) {
        return c->conf.reconnect_max_ms > 0 && c->welcomed && !c->attempting;
}

static uint64_t jitter_next(ipc_client *c) {
        uint64_t x = c->jitter;

        if (x == 0)
                x = plat_now_usec() ^ (uint64_t)(uintptr_t)c ^ ((uint64_t)getpid() << 32) ^ 1;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        c->jitter = x;
        return x;
}

/* Schedules the next attempt: the current delay, ±25 %, then doubles it up to the maximum. */
static void link_schedule(ipc_client *c) {
        uint64_t d = (uint64_t)c->backoff_ms * USEC_PER_MSEC;

        d = d * 3 / 4 + jitter_next(c) % (d / 2 + 1);
        c->retry_usec = plat_now_usec() + d;
        c->backoff_ms =
                (uint32_t)MIN((uint64_t)c->backoff_ms * 2, (uint64_t)c->conf.reconnect_max_ms);
        (void)plat_poller_set_alarm(c->poller, c->retry_usec);
}

/* Drops the socket (and its TLS session) from the client; the pollable fd stays. */
static void link_close(ipc_client *c) {
        c->link_down = true;
        (void)plat_poller_set_sock(c->poller, PLAT_SOCK_INVALID);
        client_tls_close(c);
        plat_sock_close(c->sock);
        c->sock = PLAT_SOCK_INVALID;
        c->out.start = c->out.end = 0;
}

/**
 * client_link_down() - the connection broke and reconnecting is on: close
 * the socket, keep everything else (buffered messages are still handed
 * out, rings stay in use), and schedule the first attempt.
 *
 * Output not yet written is lost with the connection.
 */
void client_link_down(ipc_client *c) {
        link_close(c);
        c->link_lost_unseen = true;
        c->backoff_ms = c->conf.reconnect_initial_ms;
        link_schedule(c);
}

/* Forget everything that belonged to the old connection's byte stream. */
static void link_reset_stream(ipc_client *c) {
        struct rbuf *b = &c->in;

        /* Every complete frame was consumed (see client_link_tick()); a partial one is dropped. */
        b->len = b->scan = b->head;
        client_in_fds_close(c);
        c->in_total = 0;
        c->frame_at = 0;
        memset(c->abandoned, 0, sizeof(c->abandoned));
        c->welcomed = false;
        c->wake_deferred = false;
        for (ipc_pub *pub = c->pubs; pub; pub = pub->next) {
                if (pub->ring) {
                        pub->ring->stale = true;
                        pub->ring->refresh_id = 0;
                        pub->ring->refresh_refused = true; /* its grant is not this broker's */
                }
                pub->next_ring = client_ring_free(pub->next_ring);
                pub->switch_pending = false;
        }
        for (size_t i = 0; i < c->n_ring_subs; i++) {
                ipc_sub *sub = c->ring_subs[i];

                sub->ring->stale = true;
                sub->next_ring = client_ring_free(sub->next_ring);
        }
}

/* Connects, says HELLO and opens every handle again. Return: 0; a negative errno. */
static int link_attempt(ipc_client *c) {
        uint64_t deadline = usec_add(plat_now_usec(), c->conf.connect_timeout_usec);
        plat_sock_t s;
        int r;

        link_reset_stream(c);
        r = plat_connect(&c->addr, c->conf.connect_timeout_usec, &s);
        if (r < 0)
                return r;
        c->sock = s;
        c->link_down = false;
        if (c->addr.tls)
                r = client_tls_start(c, c->conf.tls, &c->addr, deadline);
        if (r >= 0)
                r = plat_poller_set_sock(c->poller, c->sock);
        if (r >= 0)
                r = client_handshake(c, &c->conf, deadline);
        if (r >= 0)
                r = client_pubs_reopen(c, deadline);
        if (r >= 0)
                r = client_subs_reopen(c, deadline);
        if (r >= 0 && c->link_down)
                r = -ENOTCONN;
        return r;
}

/**
 * client_link_tick() - make a reconnect attempt if one is due: the client
 * is down, the delay has passed, and no message read before the loss is
 * still to be handed out.
 */
void client_link_tick(ipc_client *c) {
        int r;

        if (!c->link_down || c->dead || c->attempting || plat_now_usec() < c->retry_usec)
                return;
        if (client_peek_message(c))
                return;
        c->attempting = true;
        r = link_attempt(c);
        c->attempting = false;
        if (r < 0) {
                link_close(c);
                link_schedule(c);
                return;
        }
        client_skip_control(c);
        c->reconnects++;
        c->backoff_ms = c->conf.reconnect_initial_ms;
        c->error[0] = '\0';
        (void)plat_poller_set_alarm(c->poller, USEC_INFINITY);
        (void)client_write(c);
}

/**
 * client_link_wait() - a socket operation found the client down: fail at
 * once (-ENOTCONN), or, with ipc_options_set_publish_wait(), wait for a
 * reconnect until @deadline_usec, keeping ring subscriptions' wake-ups
 * consumed meanwhile.
 *
 * Return: 0 (connected); -ENOTCONN; -ETIMEDOUT; the client's error when dead.
 */
int client_link_wait(ipc_client *c, uint64_t deadline_usec) {
        int fds[CLIENT_READY_MAX];
        int n;

        for (;;) {
                if (c->dead)
                        return c->dead;
                client_link_tick(c);
                if (!c->link_down)
                        return 0;
                if (!c->conf.publish_wait)
                        return -ENOTCONN;
                if (plat_now_usec() >= deadline_usec)
                        return -ETIMEDOUT;
                n = plat_poller_wait(c->poller, MIN(deadline_usec, c->retry_usec), fds,
                                     ARRAY_SIZE(fds));
                if (n < 0)
                        return n;
                client_rings_drain_ready(c, fds, (size_t)n);
        }
}

/**
 * client_request_fails_fast() - a blocking request (new pub or sub, ping,
 * stats) while down: try an attempt if due, else it fails with -ENOTCONN.
 */
bool client_request_fails_fast(ipc_client *c) {
        if (!c->link_down)
                return false;
        client_link_tick(c);
        return c->link_down;
}

IPC_EXPORT int ipc_client_is_connected(const ipc_client *client) {
        if (!client)
                return -EINVAL;
        return !client->dead && !client->link_down;
}

IPC_EXPORT uint64_t ipc_client_get_reconnects(const ipc_client *client) {
        return client ? client->reconnects : 0;
}
