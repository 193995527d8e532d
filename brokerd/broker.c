/* SPDX-License-Identifier: MIT */
/*
 * The broker object and its loop (see broker.h): signals, the reaper that
 * frees closed peers outside of any peer callback, the stall tick, and the
 * admission of new connections.
 *
 * An idle broker has no timer armed: the stall tick runs once a second,
 * and only while some connection is congested with block-policy data or
 * some non-"drop" ring has subscribers (a ring subscriber holding
 * publishers back shows only in shared memory, so it is polled);
 * handshake deadlines are one-shot timers per connection.
 */
#include "build-config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/event.h>

#include "bridge.h"
#include "broker.h"
#include "linger.h"
#include "listener.h"
#include "notify.h"
#include "peer.h"
#include "platform.h"
#include "status.h"

#define BROKER_TICK_USEC USEC_PER_SEC

static void broker_signal_cb(evutil_socket_t sig, short what, void *userdata) {
        struct broker *b = userdata;

        if (b->stopping)
                return;
        log_info("received %s, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        notify_stopping();
        b->stopping = true;
        (void)event_base_loopbreak(b->base);
}

static void broker_reaper_cb(evutil_socket_t fd, short what, void *userdata) {
        struct broker *b = userdata;
        struct list_node *n;

        while ((n = list_first(&b->closing))) {
                struct peer *p = list_entry(n, struct peer, closing_node);

                list_unlink(n);
                peer_reap(p);
        }
}

static void broker_users_drained_cb(evutil_socket_t fd, short what, void *userdata) {
        struct broker *b = userdata;
        struct quota_user *u;

        while ((u = quota_next_drained(&b->quota)))
                peer_user_drained(u);
}

static void broker_tick_cb(evutil_socket_t fd, short what, void *userdata) {
        struct broker *b = userdata;
        uint64_t now = plat_now_usec();
        struct peer *p, *tmp;
        bool rings;

        list_for_each_safe(p, tmp, &b->congested, congested_node) {
                peer_check_stall(p, now);
        }
        rings = bridge_check_stalls(b, now);
        if (!list_is_empty(&b->congested) || rings)
                broker_watch_congestion(b);
}

void broker_watch_congestion(struct broker *b) {
        struct timeval tv = {.tv_sec = BROKER_TICK_USEC / USEC_PER_SEC};

        if (!evtimer_pending(b->tick, NULL))
                (void)evtimer_add(b->tick, &tv);
}

void broker_schedule_reap(struct broker *b) {
        event_active(b->reaper, EV_TIMEOUT, 0);
}

void broker_schedule_users_drained(struct broker *b) {
        event_active(b->users_drained, EV_TIMEOUT, 0);
}

static int broker_setup_events(struct broker *b) {
        b->base = event_base_new();
        if (!b->base)
                return -ENOMEM;
        b->sig_term = evsignal_new(b->base, SIGTERM, broker_signal_cb, b);
        b->sig_int = evsignal_new(b->base, SIGINT, broker_signal_cb, b);
        b->reaper = event_new(b->base, -1, 0, broker_reaper_cb, b);
        b->users_drained = event_new(b->base, -1, 0, broker_users_drained_cb, b);
        b->tick = evtimer_new(b->base, broker_tick_cb, b);
        if (!b->sig_term || !b->sig_int || !b->reaper || !b->users_drained || !b->tick)
                return -ENOMEM;
        if (evsignal_add(b->sig_term, NULL) < 0 || evsignal_add(b->sig_int, NULL) < 0)
                return -EIO;
        return 0;
}

int broker_new(const struct config *config, struct broker **ret) {
        struct broker *b;
        int r;

        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->config = config;
        list_init(&b->listeners);
        list_init(&b->peers);
        list_init(&b->lingering);
        list_init(&b->closing);
        list_init(&b->congested);
        list_init(&b->bridges);
        list_init(&b->dirty_bridges);
        b->rl_accept = (struct log_ratelimit)LOG_RATELIMIT_INIT(10 * USEC_PER_SEC, 5);
        b->rl_clients = (struct log_ratelimit)LOG_RATELIMIT_INIT(10 * USEC_PER_SEC, 200);
        b->start_usec = plat_now_usec();
        r = channel_registry_init(&b->registry, config);
        if (r >= 0)
                r = quota_init(&b->quota);
        if (r >= 0)
                r = broker_setup_events(b);
        if (r >= 0)
                r = status_new(b, &b->status);
        if (r >= 0) {
                b->registry.status = b->status;
                r = channel_registry_declare(&b->registry);
        }
        if (r < 0) {
                broker_free(b);
                return r;
        }
        *ret = b;
        return 0;
}

static void event_freep_(struct event **e) {
        if (*e)
                event_free(*e);
        *e = NULL;
}

struct broker *broker_free(struct broker *b) {
        struct list_node *n;

        if (!b)
                return NULL;
        while ((n = list_first(&b->listeners)))
                listener_free(list_entry(n, struct listener, node));
        while ((n = list_first(&b->peers)))
                peer_free(list_entry(n, struct peer, node));
        linger_free_all(b);
        channel_registry_deinit(&b->registry);
        quota_deinit(&b->quota);
        b->status = status_free(b->status);
        event_freep_(&b->sig_term);
        event_freep_(&b->sig_int);
        event_freep_(&b->reaper);
        event_freep_(&b->users_drained);
        event_freep_(&b->tick);
        if (b->base)
                event_base_free(b->base);
        free(b);
        return NULL;
}

int broker_listen(struct broker *b, const struct listen_spec *spec) {
        char name[ADDRESS_STRING_MAX];
        struct listener *l;
        int r;

        r = listener_new(b, spec, &l);
        if (r < 0) {
                address_format(&spec->address, name, sizeof(name));
                log_errno(LOG_ERR, r, "cannot listen on %s: %m", name);
                return -BROKER_E_LISTEN;
        }
        list_append(&b->listeners, &l->node);
        log_info("listening on %s", l->name);
        return 0;
}

int broker_run(struct broker *b) {
        log_info("ready (%s)", status_send_ready(b->status));
        if (event_base_dispatch(b->base) < 0)
                return log_errno(LOG_ERR, -EIO, "event loop failed");
        return 0;
}

/*
 * Over a connection limit: say why in an ERROR frame and close. The
 * socket is fresh and the frame small, so one non-blocking write suffices;
 * reading what the client already sent first avoids a TCP reset that could
 * discard the frame before the client reads it. No peer is set up, so a
 * client that keeps trying costs an accept and a write, nothing that
 * lingers.
 */
static void broker_reject(int fd, int code, const char *text, bool tls) {
        uint8_t head[PROTO_HEAD_MAX], junk[4096];
        struct proto_error e = {.code = (uint32_t)code, .text = text, .text_len = strlen(text)};
        struct iovec iov[2];

        if (tls) {
                /* No TLS session to say it in, and no handshake spent on a refusal (logged). */
                (void)close(fd);
                return;
        }
        iov[0] = (struct iovec){.iov_base = head, .iov_len = proto_encode_error(head, &e)};
        iov[1] = (struct iovec){.iov_base = (void *)text, .iov_len = e.text_len};
        (void)!writev(fd, iov, 2);
        (void)shutdown(fd, SHUT_WR);
        (void)!read(fd, junk, sizeof(junk));
        (void)close(fd);
}

/* Who connects: the kernel says for a UNIX peer; a TCP client is
 * anonymous until TLS authenticates it (peer_set_remote_identity()). */
static void broker_identify(int fd, enum peer_transport transport, struct identity *ret) {
        if (transport == PEER_TRANSPORT_UNIX) {
                (void)identity_from_unix_socket(fd, ret);
                return;
        }
        memset(ret, 0, sizeof(*ret));
        ret->kind = IDENTITY_ANONYMOUS;
}

/* One rate-limited line per refusal, naming the identity and the limit. */
static void broker_log_refusal(struct broker *b, const struct identity *id, const char *limit,
                               uint32_t value) {
        char who[QUOTA_USER_TEXT_MAX];

        (void)log_rl(&b->rl_accept, LOG_WARNING, "%s: refused: %s (%u) reached",
                     identity_describe(id, who, sizeof(who)), limit, value);
}

/*
 * Whether a connection of @id may join: the broker-wide limit first, then
 * its user's. A TLS connection has no user yet: its user's limit is
 * checked once it authenticates (peer_set_identity()); until then only
 * max_connections and the handshake timeout bound it.
 * Return: 0; -ENFILE or -EDQUOT with the client's text in @text (logged).
 */
static int broker_admit(struct broker *b, const struct identity *id, bool tls, char *text,
                        size_t len) {
        const struct config *c = b->config;
        char user[QUOTA_USER_TEXT_MAX];

        if (b->n_peers >= c->max_connections) {
                broker_log_refusal(b, id, "max_connections", c->max_connections);
                (void)snprintf(text, len, "too many connections (max_connections %u)",
                               c->max_connections);
                return -ENFILE;
        }
        if (!tls && quota_connections(&b->quota, id) >= c->max_connections_per_uid) {
                broker_log_refusal(b, id, "max_connections_per_uid", c->max_connections_per_uid);
                (void)snprintf(text, len, "%s: too many connections (max_connections_per_uid %u)",
                               quota_user_describe(quota_find(&b->quota, id), user, sizeof(user)),
                               c->max_connections_per_uid);
                return -EDQUOT;
        }
        return 0;
}

void broker_accept(struct broker *b, int fd, enum peer_transport transport,
                   struct tls_server *tls) {
        char text[QUOTA_USER_TEXT_MAX + 128];
        struct identity id;
        struct peer *p;
        int r;

        if (b->stopping) {
                (void)close(fd);
                return;
        }
        broker_identify(fd, transport, &id);
        r = broker_admit(b, &id, tls != NULL, text, sizeof(text));
        if (r < 0) {
                broker_reject(fd, -r, text, tls != NULL);
                return;
        }
        r = peer_new(b, fd, transport, &id, tls, &p);
        if (r < 0) {
                (void)log_rl(&b->rl_accept, LOG_ERR, "cannot set up a connection: %s",
                             strerror(-r));
                return;
        }
        log_debug("%s: accepted over %s", p->label, peer_transport_name(p));
}
