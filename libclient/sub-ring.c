/* SPDX-License-Identifier: MIT */
/*
 * Subscriptions on a channel's shared-memory ring: reading records in
 * place (the message handed out is a view into the ring), giving them back
 * (ring_release(), which also tells whether a drop-policy publisher
 * overwrote the view meanwhile), storing the cursor once per batch, and
 * the sleep handshake that makes the client's fd readable when records
 * arrive.
 *
 * Sleep: a subscription found empty announces sleep (a new odd value of
 * the sleep counter in its own page, a fence, a re-check); a publisher
 * that commits answers each new announcement once, by writing the
 * subscription's eventfd, which sits in the client's epoll set. A signal
 * is consumed (one read) when epoll reports the eventfd ready, or before
 * the next announcement if a publisher answered meanwhile; a subscription
 * whose announcement is still unanswered has had no signal for it, so it
 * need not announce again. An idle client thus makes no system call per
 * ring per poll round beyond what woke it.
 *
 * The cursor is stored per batch (CLIENT_BATCH_MAX records, a quarter of
 * the ring, leaving the subscription for another source, or going to
 * sleep), not per record: each store is a fence and, when publishers wait
 * for room, a futex wake and perhaps a signal to the broker.
 */
#include <errno.h>
#include <stdio.h>

#include "client-internal.h"
#include "util.h"

/**
 * sub_ring_open() - ask for a subscriber slot in @sub's channel ring,
 * attach it, start reading at the slot's cursor and add the wake eventfd
 * to the client's epoll set. The reply's retained value, if any, is kept
 * to be handed out first.
 *
 * Return: 0; the broker's refusal; a local failure (the slot is then given
 * back); as client_request_run().
 */
int sub_ring_open(ipc_client *c, ipc_sub *sub, uint64_t timeout_usec) {
        struct client_ring_grant g = {};
        int r;

        r = client_open_ring(c, PROTO_RING_SUBSCRIBER, sub->pattern, (struct client_resume){0},
                             timeout_usec, &g);
        if (r < 0)
                return r;
        r = client_ring_attach(sub->pattern, PROTO_RING_SUBSCRIBER, &g, &sub->ring);
        if (r >= 0)
                r = ring_reader_init(&sub->ring->r, &sub->rd, sub->ring->slot);
        if (r >= 0)
                r = plat_poller_add(c->poller, sub->ring->fds[CLIENT_RING_FD_WAKE]);
        if (r < 0) {
                sub->ring = client_ring_free(sub->ring);
                client_ring_close_slot(c, g.rr.handle);
                client_grant_clear(&g);
                return r;
        }
        /* Ring clients learn the channel epoch from the header, not from the reply. */
        sub->epoch = sub->ring->r.channel_epoch;
        if (g.rr.has_retained) {
                sub->has_retained = true;
                sub->retained = TAKE_PTR(g.retained);
                sub->retained_size = g.rr.retained_size;
                sub->retained_seq = g.rr.retained_seq;
                sub->retained_timestamp_ns = g.rr.retained_timestamp_ns;
        }
        client_grant_clear(&g);
        return 0;
}

/**
 * sub_ring_reopen() - after a reconnect: a slot in the channel's ring
 * again, kept aside (next_ring) until the old ring is read to its end, so
 * nothing a publisher wrote there before it moved over is lost. A broker
 * that kept the ring (its fd store) hands out the same one: then the new
 * slot takes over as soon as the old reader has reached its start. The
 * request carries the resume point (client_sub_resume_point()): such a
 * broker starts the slot at that record while the ring holds it, so the
 * records not yet read are held for us again (the old slot, the old
 * connection's, no longer held them back from publishers) and the switch
 * is due at once. A ring that no longer holds it starts the slot at its
 * tail; a channel of another epoch (created afresh, numbering anew)
 * ignores it.
 *
 * Return: 0; as sub_ring_open().
 */
int sub_ring_reopen(ipc_client *c, ipc_sub *sub, uint64_t timeout_usec) {
        struct client_ring_grant g = {};
        struct client_ring *cr = NULL;
        int r;

        r = client_open_ring(c, PROTO_RING_SUBSCRIBER, sub->pattern, client_sub_resume_point(sub),
                             timeout_usec, &g);
        if (r < 0)
                return r;
        r = client_ring_attach(sub->pattern, PROTO_RING_SUBSCRIBER, &g, &cr);
        if (r >= 0)
                r = ring_reader_init(&cr->r, &sub->next_rd, cr->slot);
        if (r < 0) {
                client_ring_free(cr);
                client_ring_close_slot(c, g.rr.handle);
                client_grant_clear(&g);
                return r;
        }
        /* The retained value was delivered on the old ring already, or is in the new one. */
        client_grant_clear(&g);
        sub->next_same = plat_fd_same_file(sub->ring->fds[CLIENT_RING_FD_DATA],
                                           cr->fds[CLIENT_RING_FD_DATA]) == 1;
        sub->next_ring = cr;
        /*
         * On the same ring the numbering goes on: the next message handed
         * out, even one read ahead in the old slot, is the first after the
         * reconnect and tells the gap. Another ring's gap shows at the switch.
         */
        if (sub->next_same)
                sub->resumed = true;
        /* Not asleep on the new ring's eventfd: have the application look (get_timeout 0). */
        sub->sleeping = false;
        return 0;
}

/*
 * The old ring is read to its end (or, the same ring, up to where the new
 * slot starts): read on in the new slot. On the same ring the new reader
 * takes the old position, so nothing is read twice; on another ring the
 * first message tells the gap, by its sequence number under the same
 * channel epoch, as unknown under another (client_sub_new_epoch()).
 */
static void sub_ring_switch(ipc_client *c, ipc_sub *sub) {
        struct client_ring *old = sub->ring;

        if (sub->next_same && sub->rd.pos > sub->next_rd.pos) {
                sub->next_rd.pos = sub->rd.pos;
                sub->next_rd.next_seq = sub->rd.next_seq;
                sub->next_rd.tail_seen = sub->rd.tail_seen;
        }
        if (!sub->next_same) {
                client_sub_new_epoch(sub, sub->next_ring->r.channel_epoch);
                sub->resumed = true;
        }
        (void)plat_poller_remove(c->poller, old->fds[CLIENT_RING_FD_WAKE]);
        sub->ring = sub->next_ring;
        sub->rd = sub->next_rd;
        sub->next_ring = NULL;
        client_ring_free(old);
        sub->peeked = sub->sleeping = sub->signalled = false;
        sub->batch = 0;
        /* Without the wake-up in the set the fd would miss this ring: it is retried on sleep. */
        (void)plat_poller_add(c->poller, sub->ring->fds[CLIENT_RING_FD_WAKE]);
        sub_ring_store(c, sub);
}

/* Whether the old ring is done with (see sub_ring_switch()). */
static bool sub_ring_switch_due(const ipc_sub *sub, int read) {
        if (read == -EAGAIN)
                return true;
        return sub->next_same && sub->rd.pos >= sub->next_rd.pos;
}

/**
 * sub_ring_peek() - is a message ready? Reads the next record ahead (a view
 * kept in the subscription until handed out). The retained value comes
 * first.
 *
 * Return: 1 (ready); 0 (none); -EBADMSG (a corrupt record: counted, the
 * reader moved past it; ipc_client_get_error() names the channel).
 */
int sub_ring_peek(ipc_client *c, ipc_sub *sub) {
        char text[64 + IPC_CHANNEL_NAME_MAX];
        int r;

        if (sub->has_retained || sub->peeked)
                return 1;
        if (__builtin_expect(sub->next_ring != NULL, 0) && sub_ring_switch_due(sub, 0))
                sub_ring_switch(c, sub);
        r = ring_read(&sub->ring->r, &sub->rd, &sub->view);
        if (r == -EAGAIN && sub->next_ring) {
                sub_ring_switch(c, sub);
                r = ring_read(&sub->ring->r, &sub->rd, &sub->view);
        }
        if (r == -EAGAIN)
                return 0;
        if (r < 0) {
                (void)snprintf(text, sizeof(text),
                               "corrupt record in the ring of channel \"%s\" skipped",
                               sub->pattern);
                client_set_error(c, text, strlen(text));
                return r;
        }
        sub->peeked = true;
        if (sub->sleeping) {
                /* Awake again: spare publishers a wake-up we no longer need. */
                ring_reader_end_sleep(&sub->ring->r, &sub->rd);
                sub->sleeping = false;
        }
        return 1;
}

/** sub_ring_take() - hand out what sub_ring_peek() found, as the client's message. */
void sub_ring_take(ipc_client *c, ipc_sub *sub, ipc_msg *msg) {
        msg->sub = sub;
        msg->ring_sub = sub;
        msg->channel = sub->pattern;
        if (sub->has_retained) {
                sub->has_retained = false;
                sub->retained_out = true;
                msg->data = sub->retained;
                msg->size = sub->retained_size;
                msg->seq = sub->retained_seq;
                msg->timestamp_ns = sub->retained_timestamp_ns;
                msg->flags = IPC_MSG_RETAINED;
                msg->lost = 0;
                return;
        }
        sub->peeked = false;
        msg->data = sub->view.payload;
        msg->size = sub->view.size;
        msg->seq = sub->view.seq;
        msg->timestamp_ns = sub->view.timestamp_ns;
        msg->flags = 0;
        msg->lost = sub->view.lost;
        sub->lost += sub->view.lost;
        sub_note_seq(sub, msg);
}

/**
 * sub_ring_release() - the message handed out last is done with: give its
 * record back and store the cursor when a batch is complete.
 *
 * Return: 0; -ESTALE (overwritten while viewed, drop policy: counted as
 * lost).
 */
int sub_ring_release(ipc_client *c, ipc_sub *sub) {
        struct client_ring *cr = sub->ring;
        int r;

        if (sub->retained_out) {
                sub->retained_out = false;
                free(sub->retained);
                sub->retained = NULL;
                return 0;
        }
        r = ring_release(&cr->r, &sub->rd, &sub->view);
        if (r == -ESTALE)
                sub->lost++;
        if (++sub->batch >= CLIENT_BATCH_MAX ||
            sub->rd.pos - sub->rd.published >= cr->r.capacity / 4)
                sub_ring_store(c, sub);
        return r == -ESTALE ? r : 0;
}

/**
 * sub_ring_store() - store the cursor (and statistics) in our page; if
 * publishers or the broker wait for room, wake them: publishers sleep on
 * the futex word in our page, the broker polls our space eventfd.
 */
void sub_ring_store(ipc_client *c, ipc_sub *sub) {
        struct client_ring *cr = sub->ring;

        (void)c;
        sub->batch = 0;
        if (sub->rd.pos == sub->rd.published)
                return;
        if (!ring_reader_publish(&cr->r, &sub->rd))
                return;
        (void)plat_futex_wake_all(ring_reader_space_word(&cr->r, &sub->rd));
        if (ring_space_broker_waiting(&cr->r))
                (void)plat_wake_signal(cr->fds[CLIENT_RING_FD_SPACE]);
}

/**
 * sub_ring_sleep() - nothing to read: announce sleep, so the next record
 * makes the client's fd readable.
 *
 * Return: true when asleep (announced, nothing arrived meanwhile); false
 * when a record is ready after all.
 */
bool sub_ring_sleep(ipc_client *c, ipc_sub *sub) {
        if (sub->has_retained || sub->peeked || sub->next_ring)
                return false;
        /* Announced and not answered by any publisher: no signal since, nothing to redo. */
        if (sub->sleeping && ring_reader_sleep_pending(&sub->ring->r, &sub->rd))
                return true;
        sub_ring_store(c, sub);
        /* Consume old signals before announcing, never after: that could eat the next one. */
        if (sub->signalled) {
                (void)plat_wake_drain(sub->ring->fds[CLIENT_RING_FD_WAKE]);
                sub->signalled = false;
        }
        sub->sleeping = ring_reader_prepare_sleep(&sub->ring->r, &sub->rd);
        sub->signalled = sub->sleeping;
        return sub->sleeping;
}

/**
 * sub_ring_drain() - the subscription's eventfd is readable: consume the
 * signal and count the subscription awake (it announces again when it
 * finds its ring empty). Also a late signal (a publisher that took our bit
 * before we announced again) ends here, so it cannot keep the fd readable.
 */
void sub_ring_drain(ipc_client *c, ipc_sub *sub) {
        (void)c;
        (void)plat_wake_drain(sub->ring->fds[CLIENT_RING_FD_WAKE]);
        sub->signalled = false;
        sub->sleeping = false;
}

/**
 * sub_ring_close() - the subscription goes: store its final statistics,
 * leave the epoll set, give the slot back, unmap. @c is NULL when the client was freed first (the
 * broker freed the slot with the connection).
 */
void sub_ring_close(ipc_client *c, ipc_sub *sub) {
        if (c) {
                /* Last statistics (and cursor) while the slot is still ours. */
                if (!c->dead)
                        sub_ring_store(c, sub);
                (void)plat_poller_remove(c->poller, sub->ring->fds[CLIENT_RING_FD_WAKE]);
                if (!sub->ring->stale)
                        client_ring_close_slot(c, sub->ring->handle);
                if (sub->next_ring)
                        client_ring_close_slot(c, sub->next_ring->handle);
        }
        sub->next_ring = client_ring_free(sub->next_ring);
        free(sub->retained);
        sub->retained = NULL;
        sub->has_retained = sub->retained_out = false;
        sub->ring = client_ring_free(sub->ring);
}
