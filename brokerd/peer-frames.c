/* SPDX-License-Identifier: MIT */
/*
 * What a peer does with each client frame, and how a message reaches a
 * socket subscriber (the socket transport's subscription_ops). Semantics
 * are those of ipc-broker(7); anything a correct libipcclient never sends
 * is a protocol violation that closes only this connection.
 */
#include "build-config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "bridge.h"
#include "channel-name.h"
#include "control.h"
#include "peer.h"
#include "ring-owner.h"

#define SERVER_TEXT "ipc-brokerd " PACKAGE_VERSION

/* ---- id-sorted arrays of publishers and subscriptions ---- */

/* Binary search; ids are handed out in increasing order and appended, so arrays stay sorted. */
static size_t id_search(void *const *items, size_t n, size_t id_offset, uint32_t id, bool *found) {
        size_t lo = 0, hi = n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                uint32_t v;

                memcpy(&v, (const char *)items[mid] + id_offset, sizeof(v));

                if (v == id) {
                        *found = true;
                        return mid;
                }
                if (v < id)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *found = false;
        return lo;
}

/* Makes room for one more item, so the append after a successful setup cannot fail. */
static int id_reserve(void ***items, size_t n, size_t *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        void **v;

        if (n < *cap)
                return 0;
        v = reallocarray(*items, c, sizeof(**items));
        if (!v)
                return -ENOMEM;
        *items = v;
        *cap = c;
        return 0;
}

static void id_remove(void **items, size_t *n, size_t i) {
        memmove(items + i, items + i + 1, (*n - i - 1) * sizeof(*items));
        (*n)--;
}

static struct publisher *peer_find_pub(struct peer *p, uint32_t id, size_t *ret_index) {
        bool found;
        size_t i = id_search((void *const *)p->pubs, p->n_pubs, offsetof(struct publisher, id), id,
                             &found);

        *ret_index = i;
        return found ? p->pubs[i] : NULL;
}

static struct subscription *peer_find_sub(struct peer *p, uint32_t id, size_t *ret_index) {
        bool found;
        size_t i = id_search((void *const *)p->subs, p->n_subs, offsetof(struct subscription, id),
                             id, &found);

        *ret_index = i;
        return found ? p->subs[i] : NULL;
}

void peer_drop_endpoints(struct peer *p) {
        peer_drop_rings(p);
        while (p->n_subs > 0)
                subscription_free(p->subs[--p->n_subs]);
        while (p->n_pubs > 0) {
                struct publisher *pub = p->pubs[--p->n_pubs];

                channel_publisher_remove(pub->channel, &pub->channel_node);
                free(pub);
        }
}

/* ---- delivery to a socket subscriber ---- */

static void peer_queue_message(struct peer *p, struct subscription *s,
                               const struct channel_message *m) {
        uint8_t head[PROTO_HEAD_MAX];
        struct proto_message f = {
                .sub_id = s->id,
                .seq = m->seq,
                .timestamp_ns = m->timestamp_ns,
                .channel = m->channel->name,
                .channel_len = m->channel->name_len,
                .size = m->size,
        };
        size_t n = proto_encode_message(head, m->flags, &f);

        if (m->payload)
                peer_queue_shared(p, head, n, m->payload);
        else
                peer_queue(p, head, n, m->data, m->size);
}

/* The disconnect policy met a congested queue: say whose limit it was. */
static void peer_overflow_disconnect(struct peer *p, const struct channel *c) {
        const struct config *cfg = p->broker->config;

        if (peer_queued(p) > cfg->output_queue_bytes)
                peer_log(p, LOG_WARNING,
                         "output queue over %llu bytes on channel \"%s\" (policy disconnect); "
                         "disconnecting",
                         (unsigned long long)cfg->output_queue_bytes, c->name);
        else
                peer_log(p, LOG_WARNING,
                         "its user's output queues over max_queued_bytes_per_uid (%llu) on "
                         "channel \"%s\" (policy disconnect); disconnecting",
                         (unsigned long long)cfg->max_queued_bytes_per_uid, c->name);
        p->broker->slow_disconnects++;
        peer_close(p);
}

/*
 * Applies the channel's overflow policy when @p counts as over its cap:
 * its own queue, or its user's queues together (peer_congested()).
 */
static enum deliver_result peer_deliver(struct subscription *s, const struct channel_message *m,
                                        struct peer *origin) {
        struct peer *p = s->owner;
        enum proto_overflow policy = m->channel->settings.overflow;
        bool live = !(m->flags & PROTO_FLAG_RETAIN);

        if (p->state != PEER_RUNNING)
                return DELIVER_SKIPPED;
        if (live && peer_congested(p)) {
                if (policy == PROTO_OVERFLOW_DROP) {
                        s->lost++;
                        p->dropped++;
                        p->loss_pending = true;
                        return DELIVER_DROPPED;
                }
                if (policy == PROTO_OVERFLOW_DISCONNECT) {
                        peer_overflow_disconnect(p, m->channel);
                        return DELIVER_SKIPPED;
                }
        }
        if (s->lost > 0)
                peer_send_loss(p, s);
        peer_queue_message(p, s, m);
        p->sent++;
        if (live && policy == PROTO_OVERFLOW_BLOCK && peer_congested(p)) {
                peer_mark_congested(p);
                if (origin)
                        (void)flow_wait(origin, p);
                else if (m->bridge)
                        (void)flow_wait_bridge(m->bridge, p);
        }
        return DELIVER_QUEUED;
}

/* The ring lost messages before the bridge read them: LOSS, now or before the next message. */
static void peer_lose(struct subscription *s, uint64_t count) {
        struct peer *p = s->owner;

        if (p->state != PEER_RUNNING)
                return;
        s->lost += count;
        p->dropped += count;
        if (!peer_congested(p))
                peer_send_loss(p, s);
        else
                p->loss_pending = true;
}

static const struct subscription_ops peer_subscription_ops = {
        .deliver = peer_deliver,
        .lose = peer_lose,
        .may_attach = peer_may_attach,
};

void peer_flush_losses(struct peer *p) {
        p->loss_pending = false;
        for (size_t i = 0; i < p->n_subs; i++)
                if (p->subs[i]->lost > 0)
                        peer_send_loss(p, p->subs[i]);
}

/* ---- frame handlers ---- */

static void peer_set_name(struct peer *p, const char *name, size_t len) {
        char esc[LOG_ESCAPE_BYTES(PROTO_NAME_MAX)];

        memcpy(p->name, name, len);
        p->name[len] = '\0';
        p->name_len = len;
        (void)log_escape(name, len, esc, sizeof(esc));
        (void)snprintf(p->label, sizeof(p->label), "client %llu \"%.64s%s\"",
                       (unsigned long long)p->id, esc, strlen(esc) > 64 ? "..." : "");
}

static int peer_on_hello(struct peer *p, const uint8_t *body, size_t len) {
        const struct config *c = p->broker->config;
        uint8_t head[PROTO_HEAD_MAX];
        struct proto_welcome w = {
                .max_message_bytes = c->max_message_bytes,
                .server = SERVER_TEXT,
                .server_len = strlen(SERVER_TEXT),
        };
        char who[64 + IDENTITY_NAME_MAX];
        struct proto_hello h;

        if (p->state != PEER_HANDSHAKE)
                return peer_fail(p, EPROTO, "HELLO after the handshake");
        if (proto_decode_hello(body, len, &h) < 0)
                return peer_fail(p, EBADMSG, "malformed HELLO frame");
        peer_set_name(p, h.name, h.name_len);
        if (proto_negotiate_version(h.version_min, h.version_max, &w.version) < 0)
                return peer_fail(p, EPROTONOSUPPORT,
                                 "no common protocol version (client %u..%u, broker %u..%u)",
                                 h.version_min, h.version_max, PROTO_VERSION_MIN,
                                 PROTO_VERSION_MAX);
        if (peer_check_token(p, &h) < 0)
                return -PEER_E_PROTOCOL;
        (void)evtimer_del(p->timer);
        p->state = PEER_RUNNING;
        peer_queue(p, head, proto_encode_welcome(head, &w), w.server, w.server_len);
        if (p->ident.kind == IDENTITY_LOCAL)
                (void)log_rl(&p->broker->rl_clients, LOG_INFO,
                             "%s: connected over unix (pid %d, uid %u)", p->label,
                             (int)p->ident.pid, (unsigned)p->ident.uid);
        else
                (void)log_rl(&p->broker->rl_clients, LOG_INFO, "%s: connected over %s as %s",
                             p->label, peer_transport_name(p),
                             identity_describe(&p->ident, who, sizeof(who)));
        return 0;
}

/* @epoch: the channel's (struct channel), or 0 for a pattern. */
static void peer_send_open_reply(struct peer *p, uint32_t request_id, uint32_t id,
                                 uint32_t max_message_bytes, enum proto_overflow overflow,
                                 uint64_t epoch) {
        uint8_t rec[PROTO_OPEN_REPLY_BYTES];
        struct proto_open_reply m = {
                .id = id,
                .max_message_bytes = max_message_bytes,
                .overflow = (uint8_t)overflow,
                .epoch = epoch,
        };

        proto_encode_open_reply(rec, &m);
        peer_send_reply(p, request_id, 0, rec, sizeof(rec));
}

int peer_refuse_channel(struct peer *p, uint32_t request_id, int r) {
        uint32_t max = p->broker->config->max_channels;

        if (r != -ENFILE)
                return r;
        peer_log_quota(p, "max_channels", max);
        peer_send_reply_text(p, request_id, -ENFILE, "too many channels (max_channels %u)", max);
        return 0;
}

static int peer_on_open_pub(struct peer *p, uint8_t flags, const uint8_t *body, size_t len) {
        char esc[LOG_ESCAPE_BYTES(PROTO_NAME_MAX)];
        struct publisher *pub;
        struct proto_open m;
        struct channel *c;
        int r;

        if (proto_decode_open(body, len, flags, &m) < 0)
                return peer_fail(p, EBADMSG, "malformed OPEN_PUB frame");
        if (!channel_name_valid(m.name, m.name_len))
                return peer_fail(p, EINVAL, "invalid channel name \"%s\"",
                                 log_escape(m.name, m.name_len, esc, sizeof(esc)));
        if (!peer_access_check(p, m.request_id, "OPEN_PUB", ACL_PUBLISH, m.name, m.name_len))
                return 0;
        if (m.resume) {
                peer_send_reply_text(p, m.request_id, -EINVAL,
                                     "a resume point is for subscribers only");
                return 0;
        }
        if (p->n_pubs >= p->broker->config->max_subscriptions) {
                peer_log_quota(p, "max_subscriptions", p->broker->config->max_subscriptions);
                peer_send_reply_text(p, m.request_id, -EMFILE,
                                     "too many publishers on this connection (max_subscriptions "
                                     "%u)",
                                     p->broker->config->max_subscriptions);
                return 0;
        }
        r = id_reserve((void ***)&p->pubs, p->n_pubs, &p->cap_pubs);
        if (r < 0)
                return r;
        pub = calloc(1, sizeof(*pub));
        if (!pub)
                return -ENOMEM;
        r = channel_registry_acquire(&p->broker->registry, m.name, m.name_len, &c);
        if (r < 0) {
                free(pub);
                return peer_refuse_channel(p, m.request_id, r);
        }
        pub->peer = p;
        pub->channel = c;
        pub->id = ++p->last_pub_id;
        channel_publisher_add(c, &pub->channel_node);
        p->pubs[p->n_pubs++] = pub;
        peer_send_open_reply(p, m.request_id, pub->id, c->settings.max_message_bytes,
                             c->settings.overflow, c->epoch);
        return 0;
}

/*
 * A socket subscriber resuming at @seq of epoch @epoch gets what is
 * published from now on: the messages from @seq up to the channel's next
 * seq, if any, are a gap reported at once in a LOSS frame, before any of
 * them could be missed silently. That count is exact only under the
 * channel's own epoch: a resume point of another (the channel was created
 * afresh since, and numbers from 1 again) is ignored, and the client, which
 * sees the new epoch in the open reply, reports a gap of unknown size.
 */
static void peer_report_resume_gap(struct peer *p, struct subscription *s, uint64_t seq,
                                   uint64_t epoch) {
        const struct sub_link *l = list_entry(s->links.next, struct sub_link, sub_node);
        uint64_t next = channel_next_seq(l->channel);

        if (epoch != l->channel->epoch || seq >= next)
                return;
        s->lost += next - seq; /* not a drop of ours: the peer's counters stay */
        peer_send_loss(p, s);
}

static int peer_on_subscribe(struct peer *p, uint8_t flags, const uint8_t *body, size_t len) {
        const struct config *cfg = p->broker->config;
        char esc[LOG_ESCAPE_BYTES(PROTO_NAME_MAX)];
        struct subscription *s;
        struct proto_open m;
        int r;

        if (proto_decode_open(body, len, flags, &m) < 0)
                return peer_fail(p, EBADMSG, "malformed SUBSCRIBE frame");
        if (!channel_pattern_valid(m.name, m.name_len))
                return peer_fail(p, EINVAL, "invalid subscription pattern \"%s\"",
                                 log_escape(m.name, m.name_len, esc, sizeof(esc)));
        if (!peer_access_check(p, m.request_id, "SUBSCRIBE", ACL_SUBSCRIBE, m.name, m.name_len))
                return 0;
        if (m.resume && channel_pattern_has_wildcard(m.name, m.name_len)) {
                peer_send_reply_text(p, m.request_id, -EINVAL,
                                     "a resume point needs an exact channel name (sequence "
                                     "numbers are per channel)");
                return 0;
        }
        if (p->n_subs + peer_ring_count(p, PROTO_RING_SUBSCRIBER) >= cfg->max_subscriptions) {
                peer_log_quota(p, "max_subscriptions", cfg->max_subscriptions);
                peer_send_reply_text(p, m.request_id, -EMFILE,
                                     "too many subscriptions on this connection "
                                     "(max_subscriptions %u)",
                                     cfg->max_subscriptions);
                return 0;
        }
        r = id_reserve((void ***)&p->subs, p->n_subs, &p->cap_subs);
        if (r < 0)
                return r;
        r = subscription_new(&p->broker->registry, m.name, m.name_len, &peer_subscription_ops, p,
                             p->last_sub_id + 1, &s);
        if (r < 0)
                return peer_refuse_channel(p, m.request_id, r);
        p->subs[p->n_subs++] = s;
        p->last_sub_id = s->id;
        if (s->wildcard) {
                peer_send_open_reply(p, m.request_id, s->id, cfg->max_message_bytes,
                                     cfg->channel_defaults.overflow, 0);
        } else {
                /* An exact subscription has exactly one link. */
                struct sub_link *l = list_entry(s->links.next, struct sub_link, sub_node);

                peer_send_open_reply(p, m.request_id, s->id, l->channel->settings.max_message_bytes,
                                     l->channel->settings.overflow, l->channel->epoch);
        }
        /*
         * A resuming subscriber continues a stream: the retained value is one
         * it has had already, or one of the messages its gap counts.
         */
        if (m.resume)
                peer_report_resume_gap(p, s, m.resume_seq, m.resume_epoch);
        else
                subscription_replay_retained(s);
        return 0;
}

static int peer_on_close(struct peer *p, uint8_t type, const uint8_t *body, size_t len) {
        struct proto_close m;
        size_t i;

        if (proto_decode_close(body, len, &m) < 0)
                return peer_fail(p, EBADMSG, "malformed %s frame", proto_type_name(type));
        if (type == PROTO_CLOSE_PUB) {
                struct publisher *pub = peer_find_pub(p, m.id, &i);

                if (!pub)
                        goto unknown;
                id_remove((void **)p->pubs, &p->n_pubs, i);
                channel_publisher_remove(pub->channel, &pub->channel_node);
                free(pub);
        } else {
                struct subscription *s = peer_find_sub(p, m.id, &i);

                if (!s)
                        goto unknown;
                id_remove((void **)p->subs, &p->n_subs, i);
                subscription_free(s);
        }
        if (m.request_id != 0)
                peer_send_reply(p, m.request_id, 0, NULL, 0);
        return 0;

unknown:
        if (m.request_id != 0)
                peer_send_reply_text(p, m.request_id, -ENOENT, "no %s with id %u",
                                     type == PROTO_CLOSE_PUB ? "publisher" : "subscription", m.id);
        return 0;
}

static int peer_on_request(struct peer *p, const uint8_t *body, size_t len) {
        struct proto_request m;
        char *text = NULL;
        size_t text_len = 0;
        int32_t status;
        int r;

        if (proto_decode_request(body, len, &m) < 0)
                return peer_fail(p, EBADMSG, "malformed REQUEST frame");
        r = control_request(p->broker, &p->ident, m.op, &status, &text, &text_len);
        if (r < 0)
                return r;
        if (status == -EOPNOTSUPP)
                peer_log(p, LOG_NOTICE, "unknown request operation %u", m.op);
        peer_send_reply(p, m.request_id, status, text, text_len);
        free(text);
        return 0;
}

/*
 * A channel with a ring takes a socket PUBLISH into the ring (bridge.c);
 * without room, the frame waits in our input buffer and we stop reading.
 */
static int peer_publish_ring(struct peer *p, struct publisher *pub, uint8_t flags,
                             const struct proto_publish *m) {
        struct bridge *br = pub->channel->bridge;
        int r = bridge_publish(br, p, pub, flags, m->payload, m->size);

        if (r == -EAGAIN) {
                bridge_wait_space(br, p, m->size);
                return -PEER_E_BLOCKED;
        }
        /* A ring publisher wrote garbage over the tail: say so rather than drop the message. */
        if (r == -EBADMSG)
                return peer_fail(p, EBADMSG, "the ring of channel %s is corrupt; cannot publish",
                                 pub->channel->name);
        if (r < 0)
                return r;
        p->received++;
        return 0;
}

static int peer_on_publish(struct peer *p, uint8_t flags, const uint8_t *body, size_t len) {
        struct proto_publish m;
        struct publisher *pub;
        struct channel *c;
        size_t i;
        int r;

        if (proto_decode_publish(body, len, &m) < 0)
                return peer_fail(p, EBADMSG, "malformed PUBLISH frame");
        pub = peer_find_pub(p, m.pub_id, &i);
        if (!pub)
                return peer_fail(p, EBADF, "PUBLISH with unknown publisher id %u", m.pub_id);
        c = pub->channel;
        if (m.size > c->settings.max_message_bytes)
                return peer_fail(p, EMSGSIZE,
                                 "message of %zu bytes exceeds the %u-byte limit of channel %s",
                                 m.size, c->settings.max_message_bytes, c->name);
        if (c->bridge)
                return peer_publish_ring(p, pub, flags & PROTO_FLAG_RETAIN, &m);
        r = channel_publish(c, flags & PROTO_FLAG_RETAIN, m.payload, m.size, p);
        if (r < 0)
                return r;
        p->received++;
        pub->published++;
        return 0;
}

/*
 * RETAINED: a ring publisher's copy of a record it wrote with the retain
 * flag. Kept if newer than the stored value; never fanned out (the ring
 * carried the message itself).
 */
static int peer_on_retained(struct peer *p, const uint8_t *body, size_t len) {
        struct proto_retained m;
        struct publisher *pub;
        struct channel *c;
        size_t i;

        if (proto_decode_retained(body, len, &m) < 0)
                return peer_fail(p, EBADMSG, "malformed RETAINED frame");
        pub = peer_find_pub(p, m.pub_id, &i);
        if (!pub)
                return peer_fail(p, EBADF, "RETAINED with unknown publisher id %u", m.pub_id);
        c = pub->channel;
        if (!c->ring)
                return peer_fail(p, EPROTO, "RETAINED for channel %s, which has no ring", c->name);
        if (m.size > c->settings.max_message_bytes)
                return peer_fail(p, EMSGSIZE,
                                 "retained value of %zu bytes exceeds the %u-byte limit of "
                                 "channel %s",
                                 m.size, c->settings.max_message_bytes, c->name);
        /* Only a number the ring gave out: a forged future one would pin the value. */
        if (m.seq < c->ring->r.first_seq || m.seq >= ring_owner_next_seq(c->ring))
                return peer_fail(p, EINVAL,
                                 "RETAINED with sequence number %llu, not one of "
                                 "channel %s's ring",
                                 (unsigned long long)m.seq, c->name);
        return channel_retain(c, m.payload, m.size, m.seq, m.timestamp_ns);
}

int peer_dispatch(struct peer *p, const struct proto_header *h, const uint8_t *body, size_t len) {
        switch (h->type) {
        case PROTO_HELLO:
                return peer_on_hello(p, body, len);
        case PROTO_OPEN_PUB:
                return peer_on_open_pub(p, h->flags, body, len);
        case PROTO_SUBSCRIBE:
                return peer_on_subscribe(p, h->flags, body, len);
        case PROTO_CLOSE_PUB:
        case PROTO_UNSUBSCRIBE:
                return peer_on_close(p, h->type, body, len);
        case PROTO_REQUEST:
                return peer_on_request(p, body, len);
        case PROTO_OPEN_RING:
                return peer_on_open_ring(p, h->flags, body, len);
        case PROTO_CLOSE_RING:
                return peer_on_close_ring(p, body, len);
        case PROTO_RING_PAGES:
                return peer_on_ring_pages(p, body, len);
        case PROTO_PUBLISH:
                return peer_on_publish(p, h->flags, body, len);
        case PROTO_RETAINED:
                return peer_on_retained(p, body, len);
        default:
                return peer_fail(p, EPROTO, "unexpected %s frame", proto_type_name(h->type));
        }
}
