/* SPDX-License-Identifier: MIT */
/*
 * Publishing on a channel's shared-memory ring: claim room, copy (or let
 * the application write in place), commit, then wake the subscribers that
 * announced sleep. While subscribers keep up this makes no system call and
 * allocates nothing: ring_take_sleepers() finds no new announcement.
 *
 * IPC_PUBLISH_MORE holds the wake-up back, so a burst costs one round of
 * eventfd writes at its end (a publish without the flag, ipc_client_flush()
 * or ipc_client_process()). Under the block and disconnect policies a full
 * ring makes the publisher wait for the slowest subscriber: it spins for
 * the client's spin budget, then sleeps on the futex word in the page of
 * the subscriber holding it back, which that subscriber bumps when it
 * stores its cursor; at the deadline it gives -EAGAIN. A retained message
 * also goes to the broker as a RETAINED frame, because the broker does not
 * read the ring unless socket subscribers need it, and must replay the
 * value to later subscribers.
 *
 * A subscriber that joins after us gets a page and eventfds we do not have
 * ("blind" slots, see ring.h). Until we have them, every wake-up round
 * also signals the broker's relay eventfd (the broker wakes that
 * subscriber for us) and the slot's start position bounds our claims; we
 * ask for them at once (RING_PAGES) and take the answer from the socket
 * whenever it is read: by a non-blocking read per wake-up round while
 * waiting for it, or by whatever the application does with the client.
 */
#include <errno.h>

#include "client-internal.h"
#include "util.h"

/* Spin iterations between two clock reads. */
#define PUB_SPIN_BATCH 64
/* Under IPC_PUBLISH_MORE, look for sleeping subscribers once per this many records. */
#define PUB_MORE_CHECK_RECORDS 64
/* Waiting for room held back by a subscriber whose page we lack: look again this often. */
#define PUB_BLIND_WAIT_USEC 1000
/* "drop": how long to wait before looking again at a claim that holds us back. */
#define PUB_DROP_WAIT_USEC 200

/**
 * pub_ring_open() - ask for a publisher slot in @pub's channel ring and
 * attach it. On any failure the slot (if granted) is given back and @pub
 * stays on the socket.
 *
 * Return: 0; the broker's refusal; a local failure to attach; as
 * client_request_run().
 */
int pub_ring_open(ipc_client *c, ipc_pub *pub, uint64_t timeout_usec) {
        return pub_ring_grant(c, pub->channel, timeout_usec, &pub->ring);
}

/** pub_ring_grant() - pub_ring_open() into @ret (a reconnect keeps the new ring aside). */
int pub_ring_grant(ipc_client *c, const char *channel, uint64_t timeout_usec,
                   struct client_ring **ret) {
        struct client_ring_grant g = {};
        int r;

        r = client_open_ring(c, PROTO_RING_PUBLISHER, channel, (struct client_resume){0},
                             timeout_usec, &g);
        if (r < 0)
                return r;
        r = client_ring_attach(channel, PROTO_RING_PUBLISHER, &g, ret);
        if (r < 0)
                client_ring_close_slot(c, g.rr.handle);
        client_grant_clear(&g);
        return r;
}

/*
 * Asks the broker for the pages we lack (RING_PAGES), or, with the question
 * out, reads what the socket has so that the answer is taken (one
 * non-blocking read). Failures are left for the next round: the blind
 * slots are woken through the relay meanwhile.
 */
static void pub_ring_refresh(ipc_pub *pub) {
        struct client_ring *cr = pub->ring;
        ipc_client *c = pub->client;
        struct proto_ring_pages m;
        uint8_t head[PROTO_HEAD_MAX];

        if (c->dead || c->link_down || cr->refresh_refused)
                return;
        if (cr->refresh_id != 0) {
                (void)client_read(c, 1);
                return;
        }
        m = (struct proto_ring_pages){.request_id = client_request_id(c), .handle = cr->handle};
        if (client_append(c, head, proto_encode_ring_pages(head, &m), NULL, 0) < 0)
                return;
        cr->refresh_id = m.request_id;
        (void)client_write(c);
}

/**
 * pub_ring_wake() - signal the subscribers that announced sleep since the
 * last wake-up; have the broker wake the ones whose eventfds we lack, and
 * ask for those.
 */
void pub_ring_wake(ipc_pub *pub) {
        struct client_ring *cr = pub->ring;
        uint64_t mask, n = 0;

        pub->wake_deferred = false;
        pub->deferred_run = 0;
        mask = ring_take_sleepers(&cr->r);
        if (mask)
                n = client_ring_signal(cr, mask);
        if (ring_pages_missing(&cr->r)) {
                if (plat_wake_signal(cr->fds[CLIENT_RING_FD_RELAY]) >= 0)
                        n++;
                pub_ring_refresh(pub);
        }
        if (n)
                ring_note_wakeups(&cr->r, cr->slot, n);
}

/** pub_rings_refreshing() - whether a RING_PAGES answer (with descriptors) is awaited. */
bool pub_rings_refreshing(const ipc_client *c) {
        for (const ipc_pub *pub = c->pubs; pub; pub = pub->next)
                if (pub->ring && pub->ring->refresh_id != 0)
                        return true;
        return false;
}

/**
 * pub_ring_refresh_reply() - a REPLY that answers no request in flight:
 * if it answers a publisher's RING_PAGES, install the pages and eventfds
 * it carries (those of slots we already have in that generation are
 * replaced by the same).
 *
 * Return: 1 (handled); 0 (not a RING_PAGES answer); -EPROTO (malformed:
 * the client is dead).
 */
int pub_ring_refresh_reply(ipc_client *c, const struct proto_reply *rep) {
        int fds[PROTO_RING_FDS_MAX];
        struct client_ring *cr = NULL;
        size_t n_fds, n;

        for (ipc_pub *pub = c->pubs; pub && !cr; pub = pub->next)
                if (pub->ring && pub->ring->refresh_id == rep->request_id)
                        cr = pub->ring;
        if (!cr)
                return 0;
        cr->refresh_id = 0;
        n_fds = client_in_fds_take(c, c->frame_at, fds);
        if (rep->status < 0) {
                /* Our grant is unknown to the broker: asking again would not help. */
                cr->refresh_refused = true;
                for (size_t i = 0; i < n_fds; i++)
                        plat_fd_close(fds[i]);
                return 1;
        }
        if (proto_decode_ring_pages_reply(rep->body, rep->body_len, &n) < 0 || n_fds != 2 * n) {
                for (size_t i = 0; i < n_fds; i++)
                        plat_fd_close(fds[i]);
                return client_fail(c, -EPROTO, "broker sent a malformed RING_PAGES reply");
        }
        /* A page that does not map is the broker's fault too; the slot stays blind. */
        (void)client_ring_install_pages(cr, rep->body, n, fds);
        return 1;
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
 * Waiting for a subscriber whose page we lack: we cannot see it advance,
 * so we wait on the socket (where its page will come) for at most
 * PUB_BLIND_WAIT_USEC, then look again.
 * Return: 0; the client's error when it is dead; another negative errno.
 */
static int pub_ring_wait_blind(ipc_pub *pub, uint64_t deadline) {
        int r;

        if (pub->ring->refresh_id == 0)
                pub_ring_refresh(pub);
        r = client_wait(pub->client, MIN(deadline, usec_add(plat_now_usec(), PUB_BLIND_WAIT_USEC)));
        return r < 0 ? r : 0;
}

/*
 * One step of waiting for room: spin while the budget lasts, then sleep on
 * the futex word of the subscriber holding us back, after registering as a
 * waiter and re-checking (so a subscriber that stores its cursor in
 * between cannot be missed). A subscriber whose page we lack bounds us by
 * its start position until we have it: then we sleep a little and look
 * again.
 * Return: 0 (re-check); a negative errno from the futex.
 */
static int pub_ring_wait_step(ipc_pub *pub, size_t size, uint64_t deadline, uint64_t spin_end) {
        struct ring *r = &pub->ring->r;
        struct ring_space_wait w;
        int k = 0;

        if (plat_now_usec() < spin_end) {
                for (unsigned i = 0; i < PUB_SPIN_BATCH; i++)
                        plat_cpu_relax();
                return 0;
        }
        /* "drop" waits only for another publisher's open claim (ring_claim()): nothing to sleep on. */
        if (r->overflow == RING_OVERFLOW_DROP) {
                k = client_wait(pub->client,
                                MIN(deadline, usec_add(plat_now_usec(), PUB_DROP_WAIT_USEC)));
                return k < 0 ? k : 0;
        }
        ring_space_prepare(r);
        if (!ring_space_available(r, size, &pub->limit, &w))
                k = w.word ? plat_futex_wait((uint32_t *)(void *)w.word, w.value, deadline)
                           : pub_ring_wait_blind(pub, deadline);
        ring_space_done(r);
        return k == -ETIMEDOUT ? 0 : k;
}

/**
 * pub_ring_claim() - reserve a record for @size payload bytes, waiting up
 * to @timeout_usec for room (block and disconnect policies; under drop, for
 * another publisher's claim a lap behind to be finished).
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
                /* Down: the broker is not there to keep a copy; the ring's readers still get it. */
                r = c->link_down ? 0 : pub_ring_retained(pub, cl, ts);
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
                 * Looking for sleepers is a fence and a load per subscriber:
                 * cheap per batch.
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
        r = client_out_pending(c) > 0 ? client_write(c) : 0;
        /* The record is in the ring either way; a broken socket only lost the broker's copy. */
        return r == -ENOTCONN ? 0 : r;
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
        if (c && pub->ring->refresh_id != 0) /* its answer's descriptors are to be closed */
                client_request_abandon(c, pub->ring->refresh_id, PROTO_RING_PAGES,
                                       PROTO_RING_PUBLISHER);
        if (c && !pub->ring->stale)
                client_ring_close_slot(c, pub->ring->handle);
        pub->ring = client_ring_free(pub->ring);
}
