/* SPDX-License-Identifier: MIT */
/*
 * The ring <-> socket bridge of a channel (see bridge.h).
 *
 * Hot paths: a socket PUBLISH costs one claim, one copy and one commit; the
 * wake-up check (one fence, one load per active subscriber page) and the bridge
 * drain run once per batch of frames from a connection, not per message.
 * Reading, the bridge delivers straight from the ring under "block" and
 * "disconnect" (its own cursor keeps the bytes from being overwritten
 * until it stores the cursor, once per batch); under "drop" a publisher
 * may lap it at any time, so it copies each payload to a scratch buffer
 * and checks it intact (ring_release()) before fanning it out.
 */
#include "build-config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "bridge.h"
#include "broker.h"
#include "peer.h"
#include "platform.h"
#include "ring-owner.h"

static void bridge_wake_cb(evutil_socket_t fd, short what, void *userdata);
static void bridge_more_cb(evutil_socket_t fd, short what, void *userdata);
static void bridge_space_cb(evutil_socket_t fd, short what, void *userdata);
static void bridge_claim_cb(evutil_socket_t fd, short what, void *userdata);

/* "drop": how soon to try again when a claim being filled a lap behind is in the way. */
#define BRIDGE_CLAIM_RETRY_USEC 500

static struct ring *bridge_ring(const struct bridge *br) {
        return &br->owner->r;
}

bool bridge_is_paused(const struct bridge *br) {
        return !list_is_empty(&br->waits);
}

int bridge_new(struct broker *b, struct channel *c, struct bridge **ret) {
        struct ring_owner *o = c->ring;
        struct bridge *br;

        br = calloc(1, sizeof(*br));
        if (!br)
                return -ENOMEM;
        br->broker = b;
        br->channel = c;
        br->owner = o;
        list_init(&br->node);
        list_init(&br->dirty_node);
        list_init(&br->space_peers);
        list_init(&br->waits);
        br->space_ev = event_new(b->base, o->space_fd, EV_READ | EV_PERSIST, bridge_space_cb, br);
        br->wake_ev = event_new(b->base, o->subs[RING_OWNER_BROKER_SLOT].wake_fd,
                                EV_READ | EV_PERSIST, bridge_wake_cb, br);
        br->more_ev = evtimer_new(b->base, bridge_more_cb, br);
        br->claim_ev = evtimer_new(b->base, bridge_claim_cb, br);
        if (o->r.overflow == RING_OVERFLOW_DROP)
                br->scratch = malloc(MAX(o->r.max_message_bytes, 1u));
        if (!br->space_ev || !br->wake_ev || !br->more_ev || !br->claim_ev ||
            (o->r.overflow == RING_OVERFLOW_DROP && !br->scratch)) {
                bridge_free(br);
                return -ENOMEM;
        }
        list_append(&b->bridges, &br->node);
        c->bridge = br;
        bridge_links_changed(br);
        *ret = br;
        return 0;
}

/* Gives up the wait for space: nobody needs it any more. */
static void bridge_space_unregister(struct bridge *br) {
        if (!br->space_waiting)
                return;
        br->space_waiting = false;
        ring_owner_space_wait(br->owner, false);
        ring_space_done(bridge_ring(br));
        (void)event_del(br->space_ev);
}

static void bridge_stop(struct bridge *br) {
        if (!br->active)
                return;
        br->active = false;
        br->sleeping = false;
        (void)event_del(br->wake_ev);
        (void)event_del(br->more_ev);
        flow_cancel_bridge_waits(br);
        /* Releasing the slot clears its sleeper bit and wakes publishers it held back. */
        ring_owner_bridge_release(br->owner);
}

static void bridge_start(struct bridge *br) {
        struct timeval now = {0, 0};
        int r;

        if (br->active)
                return;
        r = ring_owner_bridge_activate(br->owner);
        if (r >= 0)
                r = ring_reader_init(bridge_ring(br), &br->rd, RING_OWNER_BROKER_SLOT);
        if (r < 0 || event_add(br->wake_ev, NULL) < 0) {
                /* Only a corrupt tail gets here; socket subscribers then get nothing from it. */
                (void)log_rl(&br->broker->rl_clients, LOG_ERR,
                             "ring \"%s\": cannot feed socket subscribers: %s", br->channel->name,
                             strerror(r < 0 ? -r : ENOMEM));
                ring_owner_bridge_release(br->owner);
                return;
        }
        br->active = true;
        /* Until its first drain announces sleep, no publisher signals it: drain soon. */
        (void)evtimer_add(br->more_ev, &now);
}

struct bridge *bridge_free(struct bridge *br) {
        struct peer *p, *tmp;

        if (!br)
                return NULL;
        if (br->wake_ev)
                bridge_stop(br);
        list_for_each_safe(p, tmp, &br->space_peers, space_node) {
                list_unlink(&p->space_node);
                p->space_wait = NULL;
        }
        if (br->space_ev)
                bridge_space_unregister(br);
        list_unlink(&br->node);
        list_unlink(&br->dirty_node);
        if (br->channel->bridge == br)
                br->channel->bridge = NULL;
        if (br->space_ev)
                event_free(br->space_ev);
        if (br->wake_ev)
                event_free(br->wake_ev);
        if (br->more_ev)
                event_free(br->more_ev);
        if (br->claim_ev)
                event_free(br->claim_ev);
        free(br->scratch);
        free(br);
        return NULL;
}

void bridge_links_changed(struct bridge *br) {
        if (br->channel->n_subscribers > 0)
                bridge_start(br);
        else
                bridge_stop(br);
}

/* ---- socket -> ring ---- */

int bridge_publish(struct bridge *br, struct peer *p, struct publisher *pub, uint8_t flags,
                   const void *data, size_t size) {
        struct ring *r = bridge_ring(br);
        bool retain = flags & PROTO_FLAG_RETAIN;
        struct ring_claim cl;
        uint64_t ts;
        int k;

        k = ring_claim(r, RING_OWNER_BROKER_SLOT, size, retain ? RING_REC_RETAIN : 0, &br->limit,
                       &cl);
        if (k < 0)
                return k;
        if (size > 0)
                memcpy(cl.payload, data, size);
        ts = plat_realtime_nsec();
        if (retain) {
                k = channel_retain(br->channel, data, size, cl.seq, ts);
                if (k < 0) {
                        ring_abort(r, &cl); /* a claim must end: readers would wait on it */
                        return k;
                }
        }
        ring_commit(r, &cl, ts);
        pub->published++;
        br->dirty_pub = pub;
        br->dirty_count++;
        if (!list_is_linked(&br->dirty_node))
                list_append(&br->broker->dirty_bridges, &br->dirty_node);
        return 0;
}

/* Lets every waiting publisher try again; those still without room wait anew. */
static void bridge_space_ready(struct bridge *br) {
        struct peer *p, *tmp;

        bridge_space_unregister(br);
        list_for_each_safe(p, tmp, &br->space_peers, space_node) {
                list_unlink(&p->space_node);
                p->space_wait = NULL;
                /* Deferred: the retry runs from the peer's own resume event. */
                if (!flow_is_blocked(p))
                        peer_resume(p);
        }
}

void bridge_wait_space(struct bridge *br, struct peer *p, size_t size) {
        struct ring *r = bridge_ring(br);

        p->space_wait = br;
        list_append(&br->space_peers, &p->space_node);
        (void)bufferevent_disable(p->bev, EV_READ);
        /* "drop": held back by a ring publisher's claim a lap behind, which no eventfd announces. */
        if (r->overflow == RING_OVERFLOW_DROP) {
                struct timeval tv = {0, BRIDGE_CLAIM_RETRY_USEC};

                if (!evtimer_pending(br->claim_ev, NULL))
                        (void)evtimer_add(br->claim_ev, &tv);
                return;
        }
        if (!br->space_waiting) {
                ring_space_prepare(r);
                ring_owner_space_wait(br->owner, true);
                br->space_waiting = true;
                (void)event_add(br->space_ev, NULL);
        }
        /* Re-check after announcing: a reader that moved before it saw us did not signal. */
        if (ring_space_available(r, size, &br->limit, NULL))
                bridge_space_ready(br);
}

void bridge_cancel_space_wait(struct peer *p) {
        struct bridge *br = p->space_wait;

        if (!br)
                return;
        list_unlink(&p->space_node);
        p->space_wait = NULL;
        if (list_is_empty(&br->space_peers))
                bridge_space_unregister(br);
}

static void bridge_claim_cb(evutil_socket_t fd, short what, void *userdata) {
        bridge_space_ready(userdata);
}

static void bridge_space_cb(evutil_socket_t fd, short what, void *userdata) {
        struct bridge *br = userdata;

        (void)plat_wake_drain(fd);
        bridge_space_ready(br);
}

/* ---- ring -> socket ---- */

/* Stores the cursor (once per batch); wakes publishers that wait for the space it frees. */
static void bridge_store_cursor(struct bridge *br) {
        if (ring_reader_publish(bridge_ring(br), &br->rd))
                ring_owner_wake_space(br->owner, RING_OWNER_BROKER_SLOT);
}

static void bridge_deliver(struct bridge *br, const struct ring_view *v, const void *data) {
        struct channel_message m = {
                .channel = br->channel,
                .seq = v->seq,
                .timestamp_ns = v->timestamp_ns,
                .data = data,
                .size = v->size,
                .bridge = br,
        };

        if (channel_deliver(br->channel, &m, NULL) < 0) {
                (void)log_rl(&br->broker->rl_clients, LOG_ERR,
                             "ring \"%s\": out of memory delivering to socket subscribers",
                             br->channel->name);
                channel_lose(br->channel, 1);
        }
}

/*
 * Reads, checks and delivers one message.
 * Return: 0 (one handled, or lost); -EAGAIN (nothing to read); -EBADMSG
 * (a corrupt record was passed over).
 */
static int bridge_read_one(struct bridge *br) {
        struct ring *r = bridge_ring(br);
        uint64_t lost = br->rd.lost;
        struct ring_view v;
        const void *data;
        int k;

        k = ring_read(r, &br->rd, &v);
        if (k == -EBADMSG) {
                br->corrupt++;
                (void)log_rl(&br->broker->rl_clients, LOG_WARNING,
                             "ring \"%s\": corrupt record passed over (%llu so far)",
                             br->channel->name, (unsigned long long)br->corrupt);
                return k;
        }
        if (k < 0)
                return k;
        data = v.payload;
        if (r->overflow == RING_OVERFLOW_DROP) {
                memcpy(br->scratch, v.payload, v.size);
                data = br->scratch;
        }
        /* Under "block" the bytes stay put after this: our stored cursor is still behind them. */
        k = ring_release(r, &br->rd, &v);
        if (br->rd.lost > lost)
                channel_lose(br->channel, br->rd.lost - lost);
        if (k < 0) /* -ESTALE: overwritten while copied, counted as lost above */
                return 0;
        bridge_deliver(br, &v, data);
        return 0;
}

/*
 * Reads until the ring is empty (then sleeps), @budget messages are
 * handled (the rest after the loop polled), or a subscriber congests.
 */
static void bridge_drain(struct bridge *br, uint64_t budget) {
        struct ring *r = bridge_ring(br);
        struct timeval now = {0, 0};

        if (!br->active || bridge_is_paused(br))
                return;
        if (br->sleeping) {
                ring_reader_end_sleep(r, &br->rd);
                br->sleeping = false;
        }
        for (;;) {
                int k = bridge_read_one(br);

                if (k == -EAGAIN) {
                        bridge_store_cursor(br);
                        if (ring_reader_prepare_sleep(r, &br->rd)) {
                                br->sleeping = true;
                                return;
                        }
                        /*
                         * Something after all. Counted below like a message:
                         * a publisher rewriting the ring under us could make
                         * this happen without end.
                         */
                } else if (bridge_is_paused(br)) {
                        bridge_store_cursor(br);
                        return;
                }
                if (--budget == 0) {
                        bridge_store_cursor(br);
                        /* A timer, not event_active(): it runs after the loop polled for I/O. */
                        (void)evtimer_add(br->more_ev, &now);
                        return;
                }
        }
}

static void bridge_wake_cb(evutil_socket_t fd, short what, void *userdata) {
        (void)plat_wake_drain(fd);
        bridge_drain(userdata, BRIDGE_BATCH);
}

static void bridge_more_cb(evutil_socket_t fd, short what, void *userdata) {
        bridge_drain(userdata, BRIDGE_BATCH);
}

void bridge_resume(struct bridge *br) {
        struct timeval now = {0, 0};

        if (br->active && !bridge_is_paused(br))
                (void)evtimer_add(br->more_ev, &now);
}

void bridge_flush(struct broker *b) {
        struct list_node *n;

        while ((n = list_first(&b->dirty_bridges))) {
                struct bridge *br = list_entry(n, struct bridge, dirty_node);
                bool bridge_asleep;
                uint64_t budget;
                unsigned woken;

                list_unlink(n);
                woken = ring_owner_wake_sleepers(br->owner, &bridge_asleep);
                if (woken > 0) {
                        ring_note_wakeups(bridge_ring(br), RING_OWNER_BROKER_SLOT, woken);
                        if (br->dirty_pub)
                                br->dirty_pub->wakeups += woken;
                }
                br->dirty_pub = NULL;
                budget = BRIDGE_BATCH + br->dirty_count;
                br->dirty_count = 0;
                if (bridge_asleep) /* its bit is gone with the mask we took */
                        br->sleeping = false;
                /*
                 * Our own writes need no eventfd: read them now, all of them,
                 * so socket publishers never outrun their socket subscribers.
                 */
                bridge_drain(br, budget);
        }
}

/* ---- stalled ring subscribers ---- */

bool bridge_check_stalls(struct broker *b, uint64_t now_usec) {
        bool watch = false;
        struct bridge *br;

        list_for_each(br, &b->bridges, node) {
                enum proto_overflow policy = br->channel->settings.overflow;
                struct ring_owner *o = br->owner;
                uint64_t m;

                if (policy == PROTO_OVERFLOW_DROP || o->subs_used == 0)
                        continue;
                watch = true;
                /* "disconnect": unmoved across one whole tick is enough. */
                m = ring_owner_stalled(
                        o, now_usec,
                        policy == PROTO_OVERFLOW_DISCONNECT ? 1 : b->config->stall_timeout_usec);
                while (m) {
                        uint32_t slot = (uint32_t)__builtin_ctzll(m);
                        struct peer *p = ring_owner_holder(o, PROTO_RING_SUBSCRIBER, slot);

                        m &= m - 1;
                        if (p)
                                peer_ring_evict(p, br->channel,
                                                now_usec - o->stall_since_usec[slot]);
                }
        }
        return watch;
}
