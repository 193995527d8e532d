/* SPDX-License-Identifier: MIT */
/*
 * Publishing on a channel's shared-memory ring: claim room, copy (or let
 * the application write in place), commit, then wake the subscribers that
 * announced sleep. While subscribers keep up this makes no system call and
 * allocates nothing: ring_take_sleepers() finds an empty mask.
 *
 * IPC_PUBLISH_MORE holds the wake-up back, so a burst costs one round of
 * eventfd writes at its end (a publish without the flag, ipc_client_flush()
 * or ipc_client_process()). Under the block and disconnect policies a full
 * ring makes the publisher wait for the slowest subscriber: it spins for
 * the client's spin budget, then sleeps on the ring's space futex, which
 * subscribers bump when they store their cursor; at the deadline it gives
 * -EAGAIN. A retained message also goes to the broker as a RETAINED frame,
 * because the broker does not read the ring unless socket subscribers need
 * it, and must replay the value to later subscribers.
 */
#include <errno.h>

#include "client-internal.h"
#include "util.h"

/* Spin iterations between two clock reads. */
#define PUB_SPIN_BATCH 64
/* Under IPC_PUBLISH_MORE, look for sleeping subscribers once per this many records. */
#define PUB_MORE_CHECK_RECORDS 64

/**
 * pub_ring_open() - ask for a publisher slot in @pub's channel ring and
 * attach it. On any failure the slot (if granted) is given back and @pub
 * stays on the socket.
 *
 * Return: 0; the broker's refusal; a local failure to attach; as
 * client_request_run().
 */
int pub_ring_open(ipc_client *c, ipc_pub *pub, uint64_t timeout_usec) {
        struct client_ring_grant g = {};
        int r;

        r = client_open_ring(c, PROTO_RING_PUBLISHER, pub->channel, timeout_usec, &g);
        if (r < 0)
                return r;
        r = client_ring_attach(pub->channel, PROTO_RING_PUBLISHER, &g, &pub->ring);
        if (r < 0)
                client_ring_close_slot(c, g.rr.handle);
        client_grant_clear(&g);
        return r;
}

/** pub_ring_wake() - signal the subscribers that announced sleep since the last wake-up. */
void pub_ring_wake(ipc_pub *pub) {
        struct client_ring *cr = pub->ring;
        uint64_t mask, n;

        pub->wake_deferred = false;
        pub->deferred_run = 0;
        mask = ring_take_sleepers(&cr->r);
        if (!mask)
                return;
        n = client_ring_signal(cr, mask);
        ring_note_wakeups(&cr->r, cr->slot, n);
}

/** client_pubs_wake() - send every wake-up held back by IPC_PUBLISH_MORE. */
void client_pubs_wake(ipc_client *c) {
        if (!c->wake_deferred)
                return;
        c->wake_deferred = false;
        for (ipc_pub *pub = c->pubs; pub; pub = pub->next)
                if (pub->ring && pub->wake_deferred)
                        pub_ring_wake(pub);
}

/*
 * One step of waiting for room: spin while the budget lasts, then sleep on
 * the space futex after registering as a waiter and re-checking (so a
 * subscriber that stores its cursor in between cannot be missed).
 * Return: 0 (re-check); a negative errno from the futex.
 */
static int pub_ring_wait_step(ipc_pub *pub, size_t size, uint64_t deadline, uint64_t spin_end) {
        struct ring *r = &pub->ring->r;
        uint32_t v;
        int k = 0;

        if (plat_now_usec() < spin_end) {
                for (unsigned i = 0; i < PUB_SPIN_BATCH; i++)
                        plat_cpu_relax();
                return 0;
        }
        v = ring_space_prepare(r);
        if (!ring_space_available(r, size, &pub->limit))
                k = plat_futex_wait((uint32_t *)(void *)&r->state->space_futex, v, deadline);
        ring_space_done(r);
        return k == -ETIMEDOUT ? 0 : k;
}

/**
 * pub_ring_claim() - reserve a record for @size payload bytes, waiting up
 * to @timeout_usec for room (block and disconnect policies).
 *
 * Before waiting, everything that could be what holds the ring back goes
 * out: wake-ups held back (sleeping subscribers would never make room) and
 * the cursors of this client's own ring subscriptions.
 *
 * Return: 0 and *ret; -EAGAIN (no room in time); -EMSGSIZE; -EINVAL;
 * -EBADMSG (corrupt tail); a negative errno from the futex.
 */
int pub_ring_claim(ipc_pub *pub, size_t size, uint64_t timeout_usec, struct ring_claim *ret) {
        ipc_client *c = pub->client;
        struct client_ring *cr = pub->ring;
        uint64_t now, deadline, spin_end;
        int k;

        k = ring_claim(&cr->r, cr->slot, size, 0, &pub->limit, ret);
        if (k != -EAGAIN || timeout_usec == 0)
                return k;
        if (pub->wake_deferred || c->wake_deferred) {
                pub_ring_wake(pub);
                client_pubs_wake(c);
        }
        for (size_t i = 0; i < c->n_ring_subs; i++)
                sub_ring_store(c, c->ring_subs[i]);
        now = plat_now_usec();
        deadline = usec_add(now, timeout_usec);
        spin_end = usec_add(now, MIN(c->spin_usec, timeout_usec));
        for (;;) {
                k = pub_ring_wait_step(pub, size, deadline, spin_end);
                if (k < 0)
                        return k;
                k = ring_claim(&cr->r, cr->slot, size, 0, &pub->limit, ret);
                if (k != -EAGAIN)
                        return k;
                if (plat_now_usec() >= deadline)
                        return -EAGAIN;
        }
}

/* Queues the broker's copy of a retained record (read from our own, uncommitted claim). */
static int pub_ring_retained(ipc_pub *pub, const struct ring_claim *cl, uint64_t timestamp_ns) {
        struct proto_retained m = {
                .pub_id = pub->id,
                .seq = cl->seq,
                .timestamp_ns = timestamp_ns,
                .payload = cl->payload,
                .size = cl->size,
        };
        uint8_t head[PROTO_HEAD_MAX];

        return client_append(pub->client, head, proto_encode_retained(head, &m), cl->payload,
                             cl->size);
}

/**
 * pub_ring_commit() - make a filled claim visible, then wake sleepers
 * unless IPC_PUBLISH_MORE holds the wake-up back.
 *
 * Return: 0; -ENOMEM (the RETAINED copy could not be queued: the claim is
 * aborted); the client's error when writing the RETAINED copy failed (the
 * record itself is published).
 */
int pub_ring_commit(ipc_pub *pub, struct ring_claim *cl, unsigned flags) {
        ipc_client *c = pub->client;
        uint64_t ts = plat_realtime_nsec();
        int r;

        if (flags & IPC_PUBLISH_RETAIN) {
                cl->flags |= RING_REC_RETAIN;
                r = pub_ring_retained(pub, cl, ts);
                if (r < 0) {
                        ring_abort(&pub->ring->r, cl);
                        return r;
                }
        }
        ring_commit(&pub->ring->r, cl, ts);
        pub->wake_deferred = true;
        if (flags & IPC_PUBLISH_MORE) {
                c->wake_deferred = true;
                /*
                 * A subscriber that caught up and slept would otherwise wait
                 * for the end of the burst, or for the ring to fill, and the
                 * two sides would take turns instead of running together.
                 * Looking at the sleepers is a fence and a load: cheap per batch.
                 */
                if (++pub->deferred_run >= PUB_MORE_CHECK_RECORDS)
                        pub_ring_wake(pub);
                if (client_out_pending(c) > 0)
                        client_update_poller(c);
                return 0;
        }
        pub_ring_wake(pub);
        client_pubs_wake(c);
        /* As on the socket, a publish without MORE sends whatever is held. */
        return client_out_pending(c) > 0 ? client_write(c) : 0;
}

/** pub_ring_publish() - ipc_publish() on a ring: claim, copy, commit. */
int pub_ring_publish(ipc_pub *pub, const void *data, size_t size, unsigned flags,
                     uint64_t timeout_usec) {
        struct ring_claim cl;
        int r;

        r = pub_ring_claim(pub, size, timeout_usec, &cl);
        if (r < 0)
                return r;
        if (size > 0)
                memcpy(cl.payload, data, size);
        return pub_ring_commit(pub, &cl, flags);
}

/**
 * pub_ring_close() - the publisher goes: abort an open claim, send its
 * held-back wake-ups, give the slot back and unmap. @c is NULL when the
 * client was freed first (then the broker freed the slot already).
 */
void pub_ring_close(ipc_client *c, ipc_pub *pub) {
        if (pub->claimed) {
                ring_abort(&pub->ring->r, &pub->claim);
                pub->claimed = false;
        }
        if (pub->wake_deferred)
                pub_ring_wake(pub);
        if (c)
                client_ring_close_slot(c, pub->ring->handle);
        pub->ring = client_ring_free(pub->ring);
}
