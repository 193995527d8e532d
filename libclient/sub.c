/* SPDX-License-Identifier: MIT */
/*
 * Subscriptions and the messages they receive.
 *
 * Every incoming MESSAGE names its subscription by the id the broker
 * assigned. The broker hands out ids in increasing order and never reuses
 * one on a connection, so the table is an array kept sorted by id: new
 * subscriptions append, lookups are a binary search behind a one-entry
 * cache (consecutive messages usually belong to the same subscription).
 * A message whose id is not in the table belongs to a subscription the
 * application freed, and is skipped.
 *
 * An exact channel name is first asked for on the channel's ring
 * (OPEN_RING, sub-ring.c) when the client may use rings; a refusal, or a
 * ring we cannot use, falls back to SUBSCRIBE, except a refusal by the
 * broker's access rules (-EACCES), which is the answer. Ring subscriptions have no
 * broker id: they live in their own list, in the order they were made,
 * which is the order ipc_client_receive() visits them in.
 */
#include <errno.h>

#include "channel-name.h"
#include "client-internal.h"
#include "util.h"

/* Index of the first entry with an id >= @id. */
static size_t subs_bsearch(const ipc_client *c, uint32_t id) {
        size_t lo = 0, hi = c->n_subs;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (c->subs[mid]->id < id)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

ipc_sub *client_sub_lookup(ipc_client *c, uint32_t id) {
        size_t i;

        if (c->sub_cache && c->sub_cache->id == id)
                return c->sub_cache;
        i = subs_bsearch(c, id);
        if (i == c->n_subs || c->subs[i]->id != id)
                return NULL;
        c->sub_cache = c->subs[i];
        return c->sub_cache;
}

static int subs_reserve(ipc_client *c) {
        ipc_sub **p;
        size_t cap;

        if (c->n_subs < c->subs_cap)
                return 0;
        cap = MAX(c->subs_cap * 2, (size_t)8);
        p = realloc(c->subs, cap * sizeof(*p));
        if (!p)
                return -ENOMEM;
        c->subs = p;
        c->subs_cap = cap;
        return 0;
}

/* Room was reserved before the request, so inserting cannot fail. */
static void subs_insert(ipc_client *c, ipc_sub *sub) {
        size_t i = subs_bsearch(c, sub->id);

        memmove(c->subs + i + 1, c->subs + i, (c->n_subs - i) * sizeof(*c->subs));
        c->subs[i] = sub;
        c->n_subs++;
}

static void subs_remove(ipc_client *c, ipc_sub *sub) {
        size_t i = subs_bsearch(c, sub->id);

        /* Ids repeat only as 0, for subscriptions a reconnect could not restore. */
        while (i < c->n_subs && c->subs[i] != sub && c->subs[i]->id == sub->id)
                i++;
        if (i < c->n_subs && c->subs[i] == sub) {
                memmove(c->subs + i, c->subs + i + 1, (c->n_subs - i - 1) * sizeof(*c->subs));
                c->n_subs--;
        }
        if (c->sub_cache == sub)
                c->sub_cache = NULL;
}

static int ring_subs_reserve(ipc_client *c) {
        ipc_sub **p;
        size_t cap;

        if (c->n_ring_subs < c->ring_subs_cap)
                return 0;
        cap = MAX(c->ring_subs_cap * 2, (size_t)4);
        p = realloc(c->ring_subs, cap * sizeof(*p));
        if (!p)
                return -ENOMEM;
        c->ring_subs = p;
        c->ring_subs_cap = cap;
        return 0;
}

/* The receive rotation restarts: indexes after the removed one moved. */
static void ring_subs_remove(ipc_client *c, ipc_sub *sub) {
        for (size_t i = 0; i < c->n_ring_subs; i++) {
                if (c->ring_subs[i] != sub)
                        continue;
                memmove(c->ring_subs + i, c->ring_subs + i + 1,
                        (c->n_ring_subs - i - 1) * sizeof(*c->ring_subs));
                c->n_ring_subs--;
                break;
        }
        c->src = 0;
        c->src_run = 0;
}

/* See client_pubs_detach(): subscriptions outliving their client become shells. */
void client_subs_detach(ipc_client *c) {
        for (size_t i = 0; i < c->n_subs; i++)
                c->subs[i]->client = NULL;
        c->n_subs = 0;
        c->sub_cache = NULL;
        for (size_t i = 0; i < c->n_ring_subs; i++)
                c->ring_subs[i]->client = NULL;
        c->n_ring_subs = 0;
}

/*
 * Tries the channel's ring. Return: 1 on the ring; 0 to use the socket;
 * -EACCES when the access rules refuse it (the socket would be refused
 * too, and a client must not learn more by asking twice); the client's
 * error when it died meanwhile.
 */
static int sub_try_ring(ipc_client *c, ipc_sub *sub, uint64_t timeout_usec) {
        int r = sub_ring_open(c, sub, timeout_usec);

        if (r >= 0) {
                c->ring_subs[c->n_ring_subs++] = sub;
                return 1;
        }
        if (c->dead)
                return c->dead;
        return r == -EACCES ? r : 0;
}

IPC_EXPORT int ipc_sub_new(ipc_client *client, const char *pattern, uint64_t timeout_usec,
                           ipc_sub **ret) {
        struct proto_open_reply open;
        uint64_t deadline;
        ipc_sub *sub;
        size_t len;
        int r;

        if (!client || !pattern || !ret)
                return -EINVAL;
        len = strnlen(pattern, IPC_CHANNEL_NAME_MAX + 1);
        if (!channel_pattern_valid(pattern, len))
                return -EINVAL;
        if (client->dead)
                return client->dead;
        deadline = usec_add(plat_now_usec(), timeout_usec);
        /* Room first: failing after the broker said yes would leak its subscription. */
        r = subs_reserve(client);
        if (r >= 0)
                r = ring_subs_reserve(client);
        if (r < 0)
                return r;
        sub = calloc(1, sizeof(*sub));
        if (!sub)
                return -ENOMEM;
        sub->client = client;
        memcpy(sub->pattern, pattern, len + 1);
        if (client->rings && channel_name_valid(pattern, len)) {
                r = sub_try_ring(client, sub, timeout_usec);
                if (r != 0) {
                        if (r < 0)
                                free(sub);
                        else
                                *ret = sub;
                        return MIN(r, 0);
                }
                timeout_usec = client_usec_left(deadline);
        }
        r = client_open(client, PROTO_SUBSCRIBE, pattern, (struct client_resume){0}, timeout_usec,
                        &open);
        if (r < 0) {
                free(sub);
                return r;
        }
        sub->id = open.id;
        sub->epoch = open.epoch;
        subs_insert(client, sub);
        *ret = sub;
        return 0;
}

IPC_EXPORT ipc_sub *ipc_sub_free(ipc_sub *sub) {
        struct proto_close cl = {.request_id = 0};
        uint8_t head[PROTO_HEAD_MAX];
        ipc_client *c;

        if (!sub)
                return NULL;
        c = sub->client;
        /* A ring view still held is given back, so the final statistics count it. */
        if (c && sub->ring && c->msg.ring_sub == sub)
                (void)sub_ring_release(c, sub);
        if (c && (c->msg.sub == sub || c->msg.channel == sub->pattern)) {
                /* The message handed out goes with its subscription (its ring, its name). */
                c->msg.sub = NULL;
                c->msg.ring_sub = NULL;
                c->msg.channel = "";
        }
        if (sub->ring) {
                if (c)
                        ring_subs_remove(c, sub);
                sub_ring_close(c, sub);
        } else if (c) {
                subs_remove(c, sub);
                if (!c->dead && sub->id != 0) {
                        cl.id = sub->id;
                        if (client_append(c, head, proto_encode_close(head, PROTO_UNSUBSCRIBE, &cl),
                                          NULL, 0) >= 0)
                                (void)client_write(c);
                }
        }
        free(sub);
        return NULL;
}

IPC_EXPORT int ipc_sub_get_transport(const ipc_sub *sub) {
        if (!sub)
                return -EINVAL;
        return sub->ring ? IPC_TRANSPORT_RING : IPC_TRANSPORT_SOCKET;
}

IPC_EXPORT const char *ipc_sub_get_pattern(const ipc_sub *sub) {
        return sub ? sub->pattern : "";
}

IPC_EXPORT uint64_t ipc_sub_get_lost(const ipc_sub *sub) {
        return sub ? sub->lost : 0;
}

IPC_EXPORT void ipc_sub_set_userdata(ipc_sub *sub, void *userdata) {
        if (sub)
                sub->userdata = userdata;
}

IPC_EXPORT void *ipc_sub_get_userdata(const ipc_sub *sub) {
        return sub ? sub->userdata : NULL;
}

/* ---- Messages: views into the client's input buffer or a ring --------- */

IPC_EXPORT ipc_sub *ipc_msg_get_sub(const ipc_msg *msg) {
        return msg ? msg->sub : NULL;
}

IPC_EXPORT const char *ipc_msg_get_channel(const ipc_msg *msg) {
        return msg ? msg->channel : "";
}

IPC_EXPORT const void *ipc_msg_get_data(const ipc_msg *msg, size_t *ret_size) {
        if (ret_size)
                *ret_size = msg ? msg->size : 0;
        return msg ? msg->data : NULL;
}

IPC_EXPORT size_t ipc_msg_get_size(const ipc_msg *msg) {
        return msg ? msg->size : 0;
}

IPC_EXPORT uint64_t ipc_msg_get_sequence(const ipc_msg *msg) {
        return msg ? msg->seq : 0;
}

IPC_EXPORT uint64_t ipc_msg_get_timestamp(const ipc_msg *msg) {
        return msg ? msg->timestamp_ns : 0;
}

IPC_EXPORT unsigned ipc_msg_get_flags(const ipc_msg *msg) {
        return msg ? msg->flags : 0;
}

IPC_EXPORT uint64_t ipc_msg_get_lost(const ipc_msg *msg) {
        return msg ? msg->lost : 0;
}

/* ---- Reconnecting ------------------------------------------------------ */

static int sub_id_cmp(const void *a, const void *b) {
        uint32_t x = (*(ipc_sub *const *)a)->id, y = (*(ipc_sub *const *)b)->id;

        return x < y ? -1 : x > y;
}

/*
 * The resume point of a socket subscription being opened again. The broker
 * recounts, in a LOSS frame, everything after the last message handed out;
 * losses booked but not yet told with a message lie in that range too, so
 * they are dropped here rather than counted twice (after two reconnects in
 * a row the first resume's LOSS was counted again, found by the soak test).
 */
static struct client_resume sub_resume_from(ipc_sub *sub) {
        struct client_resume at = client_sub_resume_point(sub);

        if (at.seq != 0) {
                sub->lost -= MIN(sub->lost, sub->pending_lost);
                sub->pending_lost = 0;
        }
        return at;
}

/*
 * A ring subscription the broker no longer grants a ring moves to the
 * socket: what is unread in its old ring is given up. It is part of the
 * gap, which is known when the channel kept its epoch (the resume point
 * then has the broker count what it cannot replay) and unknown otherwise.
 */
static int sub_reopen_on_socket(ipc_client *c, ipc_sub *sub, uint64_t timeout_usec) {
        struct proto_open_reply open;
        int r;

        r = subs_reserve(c);
        if (r < 0)
                return r;
        r = client_open(c, PROTO_SUBSCRIBE, sub->pattern, sub_resume_from(sub), timeout_usec,
                        &open);
        if (r < 0)
                return r;
        ring_subs_remove(c, sub);
        (void)plat_poller_remove(c->poller, sub->ring->fds[CLIENT_RING_FD_WAKE]);
        sub_ring_close(NULL, sub); /* its slot was the old connection's */
        sub->peeked = sub->sleeping = sub->signalled = false;
        sub->id = open.id;
        c->subs[c->n_subs++] = sub; /* sorted below */
        client_sub_new_epoch(sub, open.epoch);
        return 0;
}

/**
 * client_sub_resume_point() - where @sub asks the broker to continue after
 * a reconnect (PROTO_FLAG_RESUME): the seq after the last message it
 * handed out, under the channel epoch it had then, so a broker that kept
 * the channel (its fd store, or only our connection broke) starts a ring
 * slot at that record and tells a socket subscription what it cannot
 * replay in a LOSS frame; a broker whose channel has another epoch ignores
 * it. None (seq 0) before the first message, and for patterns: sequence
 * numbers are per channel.
 */
struct client_resume client_sub_resume_point(const ipc_sub *sub) {
        if (sub->last_seq == 0 || sub->epoch == 0 ||
            !channel_name_valid(sub->pattern, strlen(sub->pattern)))
                return (struct client_resume){0};
        return (struct client_resume){.seq = sub->last_seq + 1, .epoch = sub->epoch};
}

/**
 * client_sub_new_epoch() - @sub reads from a channel of epoch @epoch from
 * now on (the open reply after a reconnect, or the ring it switches to).
 * Another epoch than the one of its last message means the channel was
 * created afresh meanwhile and numbers anew: how many messages were missed
 * cannot be told from the numbers, so the gap is unknown. The last number
 * is forgotten too: it belongs to the old numbering, and must not go out
 * with the new epoch in the resume point of a later attempt, should this
 * one fail.
 */
void client_sub_new_epoch(ipc_sub *sub, uint64_t epoch) {
        if (epoch == 0 || epoch != sub->epoch) {
                sub->gap_unknown = true;
                sub->last_seq = 0;
        }
        sub->epoch = epoch;
}

/*
 * A failure is the attempt's (the connection broke or timed out: the
 * caller starts over later) unless the broker answered with a refusal: then
 * the subscription stays without delivery and the rest carry on.
 */
static int sub_reopen_failed(ipc_client *c, ipc_sub *sub, int r) {
        if (c->link_down || c->dead || r == -ETIMEDOUT || r == -ENOMEM)
                return r;
        sub->id = 0;
        return 0;
}

/**
 * client_subs_reopen() - after a reconnect's handshake: subscribe again to
 * everything the application holds, socket subscriptions under new ids
 * (the table is sorted again), ring subscriptions on a new slot that takes
 * over once the old ring is read to its end.
 *
 * Return: 0; a negative errno that ends the attempt.
 */
int client_subs_reopen(ipc_client *c, uint64_t deadline_usec) {
        struct proto_open_reply open;
        size_t n = c->n_subs;
        int r = 0;

        /* The old connection's ids mean nothing now; 0 is never a broker's. */
        for (size_t i = 0; i < n; i++)
                c->subs[i]->id = 0;
        c->sub_cache = NULL;
        for (size_t i = 0; i < n; i++) {
                ipc_sub *sub = c->subs[i];

                r = client_open(c, PROTO_SUBSCRIBE, sub->pattern, sub_resume_from(sub),
                                client_usec_left(deadline_usec), &open);
                if (r >= 0) {
                        sub->id = open.id;
                        client_sub_new_epoch(sub, open.epoch);
                } else if ((r = sub_reopen_failed(c, sub, r)) < 0)
                        break;
                sub->resumed = true;
        }
        for (size_t i = 0; r >= 0 && i < c->n_ring_subs;) {
                ipc_sub *sub = c->ring_subs[i];

                r = sub_ring_reopen(c, sub, client_usec_left(deadline_usec));
                if (r < 0 && !c->link_down && r != -ETIMEDOUT && r != -EACCES)
                        r = sub_reopen_on_socket(c, sub, client_usec_left(deadline_usec));
                if (r < 0)
                        r = sub_reopen_failed(c, sub, r);
                if (i < c->n_ring_subs && c->ring_subs[i] == sub)
                        i++;
                else if (r >= 0)
                        sub->resumed = true;
        }
        if (c->n_subs > 1)
                qsort(c->subs, c->n_subs, sizeof(*c->subs), sub_id_cmp);
        return MIN(r, 0);
}

/**
 * client_sub_resume() - the first message of @sub after a reconnect: flag
 * it, and tell the gap. The channel epoch decides (client_sub_new_epoch()):
 * under the same epoch the numbering continued (the broker kept the
 * channel, or only our connection broke), so the messages between are
 * known to be missed; under another, or for a subscription that spans
 * several channels (a pattern), how many were missed is unknown, and no
 * arithmetic on the numbers is done. So is a subscription that never saw
 * a message: where it started is not known. A number that did not move
 * forward under one epoch would be a broker's fault; it is no count either.
 *
 * Part of a known gap may be counted already, in msg->lost and sub->lost:
 * the LOSS frame a broker sends for a socket subscription's resume point
 * (the messages it cannot replay), or records a ring reader found
 * overwritten. Those are the same messages, so they are counted once: they
 * move from lost to missed, and the message tells the gap. Every loss
 * booked before this message lies within the gap, so more than the gap is
 * no count: the broker counts its resume LOSS up to the channel's newest
 * seq, and its socket bridge may still deliver a few records below it
 * (found by the soak test).
 */
void client_sub_resume(ipc_sub *sub, ipc_msg *msg) {
        size_t len = strlen(sub->pattern);
        bool pattern = !channel_name_valid(sub->pattern, len);
        bool unknown = sub->gap_unknown || pattern || (sub->last_seq == 0 && msg->seq != 1) ||
                       msg->seq <= sub->last_seq;
        uint64_t gap, told;

        sub->resumed = false;
        sub->gap_unknown = false;
        msg->flags |= IPC_MSG_RESUMED;
        if (unknown) {
                msg->flags |= IPC_MSG_GAP_UNKNOWN;
                return;
        }
        gap = msg->seq - sub->last_seq - 1;
        told = MIN(sub->lost, msg->lost);
        sub->lost -= told;
        sub->missed += gap;
        msg->lost = gap;
}

IPC_EXPORT uint64_t ipc_sub_get_missed(const ipc_sub *sub) {
        return sub ? sub->missed : 0;
}
