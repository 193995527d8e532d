/* SPDX-License-Identifier: MIT */
/*
 * The broker's side of one channel's shared-memory ring (see ring.h): it
 * creates DATA and STATE lazily, on the first OPEN_RING of the channel,
 * hands out sub and pub slots (each sub slot holder with a page and
 * eventfds of its own, made for it), cleans up after clients that go away
 * (a dead publisher's claim becomes a SKIP), watches subscribers that hold
 * publishers back, and keeps the slot statistics.
 * The channel owns its ring_owner and frees it with itself; a channel is
 * kept alive while any client slot of its ring is active (channel_release()).
 *
 * Each ring has RING_OWNER_SLOTS slots of each kind for clients and one
 * more of each, index RING_OWNER_BROKER_SLOT, for the broker itself: its
 * pub slot writes socket PUBLISHes into the ring and its sub slot feeds
 * the channel's socket subscribers (bridge.h). Those two are never handed
 * out and are not counted as ring clients.
 *
 * This module knows nothing about connections: the peer that asked for a
 * slot remembers it and gives it back with ring_owner_release(); the
 * holder pointer stored per slot is opaque here.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "proto.h"
#include "ring.h"

struct event;
struct event_base;

/* Slots of each kind per ring that clients can hold. */
#define RING_OWNER_SLOTS 32u
/* The broker's own pub slot (socket publishes) and sub slot (the bridge). */
#define RING_OWNER_BROKER_SLOT RING_OWNER_SLOTS
/* Slots of each kind in the ring, the broker's included (eventfds: one per sub slot). */
#define RING_OWNER_RING_SLOTS (RING_OWNER_SLOTS + 1u)
/* A dead publisher's claim still contested by a live one is retried this often... */
#define RING_OWNER_RECOVER_USEC (50u * 1000u)
/* ...at most this many times (about a second). */
#define RING_OWNER_RECOVER_TRIES 20u

/*
 * One sub slot's page and eventfds. A client slot gets new ones for every
 * holder (a mapping or an eventfd once given cannot be taken back, and the
 * next holder must not share them with the last); the broker's own slot
 * keeps its page for the ring's life.
 */
struct ring_owner_sub {
        struct ring_sub_page *page; /* our read-write map; NULL: the slot has no page */
        int page_fd;                /* read-write, for its subscriber */
        int page_ro_fd;             /* read-only, for publishers */
        uint32_t gen;               /* the page's generation (kept when the slot is freed) */
        int wake_fd;                /* publishers signal it; its subscriber waits on it */
        int space_fd;               /* its subscriber signals it while the broker waits */
        struct event *space_ev;
        uint64_t start_seq; /* the first sequence number the holder may read */
};

/* Statistics of one slot, as its holder stored them (untrusted, for display only). */
struct ring_slot_stats {
        uint64_t published; /* pub slot */
        uint64_t wakeups;   /* pub slot: eventfd signals sent */
        uint64_t delivered; /* sub slot */
        uint64_t lost;      /* sub slot */
        uint64_t corrupt;   /* sub slot: corrupt records passed over */
};

struct ring_owner {
        struct event_base *base;
        char *name; /* the channel's, NUL-terminated, for log lines */
        struct ring r;
        void *data;
        void *state;
        size_t data_size;
        size_t state_size;
        int data_fd;                                       /* read-write, for publishers */
        int data_ro_fd;                                    /* read-only, for subscribers */
        int state_fd;                                      /* read-write, for publishers */
        int state_ro_fd;                                   /* read-only, for subscribers */
        struct ring_owner_sub subs[RING_OWNER_RING_SLOTS]; /* index = sub slot; the last is
                                                              the bridge's */
        int space_fd; /* internal: signalled when the broker's wait for space may be over */
        int relay_fd; /* publishers signal it to have us wake subscribers they cannot */
        struct event *relay_ev;
        bool space_waiting;  /* the broker waits for space (our copy of space_broker) */
        uint64_t subs_used;  /* client sub slots handed out (bit = slot) */
        uint64_t pubs_used;  /* client pub slots handed out */
        uint64_t recovering; /* released pub slots whose claim is still contested */
        /* After a restart (ring_owner_adopt()): slots the previous process had handed out,
         * kept from new holders until orphan_timer fires (see there). */
        uint64_t orphan_subs;
        uint64_t orphan_pubs;
        struct event *orphan_timer;
        bool bridge_active;  /* the broker's sub slot is active */
        unsigned recover_tries;
        struct event *recover_timer;
        void *sub_holders[RING_OWNER_SLOTS];
        void *pub_holders[RING_OWNER_SLOTS];
        /* Stall watch (ring_owner_stalled()): cursor seen and since when, 0 = not stalled. */
        uint64_t stall_cursor[RING_OWNER_SLOTS];
        uint64_t stall_since_usec[RING_OWNER_SLOTS];
        /* Counters of client slots since released, so totals never go back. */
        struct ring_slot_stats retired;
};

/*
 * ring_owner_refusal() - whether a channel may have a ring at all.
 * @why, @size: receives the reason for the client when it may not.
 * Return: 0; -ENOTSUP when the channel's "shared_memory" setting is false,
 * when its max_message_bytes exceeds ring_bytes / 4 (a ring must hold a
 * few of its largest messages), or when a retained value of that size
 * could not travel in an OPEN_RING reply (PROTO_REPLY_BODY_MAX).
 */
int ring_owner_refusal(const struct channel_settings *s, char *why, size_t size);

/*
 * ring_owner_new() - create, map and format a ring for a channel, with the
 * broker's own sub slot page.
 * @base: the broker's loop (for the recovery timer).
 * @name, @name_len: the channel name (stored in the ring header).
 * @s: the channel's settings (ring_owner_refusal() said yes): ring_bytes is
 *     the capacity; max_message_bytes and the overflow policy are copied.
 * @first_seq: the sequence number of the ring's first record (the
 *     channel's next one), so sequence numbers run on across the switch.
 * @epoch: the channel's epoch (struct channel), stored in the ring header
 *     so that it comes back with the ring from the fd store.
 * The broker's pub slot is active from the start.
 * Return: 0; -ENOMEM; -EINVAL (geometry); a negative errno from
 * memfd_create/mmap/eventfd (-EMFILE, ...).
 */
int ring_owner_new(struct event_base *base, const char *name, size_t name_len,
                   const struct channel_settings *s, uint64_t first_seq, uint64_t epoch,
                   struct ring_owner **ret);

/*
 * ring_owner_adopt() - take back a ring of channel @name that a previous
 * broker process stored with the service manager (ring-store.h), with its
 * records and sequence numbers, instead of creating one.
 * @data_fd, @state_fd: its DATA and STATE memfds, owned from here on (also
 *     on failure).
 * @s: the channel's current settings: the stored geometry (capacity,
 *     max_message_bytes, overflow policy, slot counts) must be what
 *     ring_owner_new() would make of them.
 * @grace_usec: how long the slots the previous process had handed out
 *     stay reserved (limits.stall_timeout_ms; see below).
 * @why: receives the reason when the ring is refused, for the log.
 * Checks: sealed regions of exactly the sizes of that geometry, the header
 * (ring_attach(): a ring of another RING_VERSION is refused), the channel
 * name in the header, a non-zero channel epoch (the channel takes it over).
 *
 * No connection survives a restart, but ring clients keep their mappings
 * and go on using the ring while the broker is away: a publisher still
 * writes through its pub slot, a subscriber still reads with its page.
 * So a client slot that STATE shows active (a pub slot also while it
 * shows a claim in progress) is an orphan: it is not handed out for
 * @grace_usec, so that no new holder shares it with the old one; a pub
 * orphan stays active in STATE meanwhile, and its claim is not taken for
 * a dead one's. When the grace period ends, pub orphans are released and
 * recovered as a dead publisher's slot (an unfinished claim becomes a
 * SKIP) and sub orphans become free. Sub orphans are marked free in STATE
 * at once: their pages were not stored, so the broker cannot watch their
 * cursors, and an old reader that block-policy publishers waited for
 * could stall them without the stall watch seeing it; an old reader that
 * gets lapped meanwhile sees its loss, as a lapped reader always does.
 * Subscriber pages are made anew.
 * Return: 0; -EBADMSG (refused: corrupt or mismatched); -ENOMEM; another
 * negative errno from mapping or making eventfds.
 */
int ring_owner_adopt(struct event_base *base, const char *name, size_t name_len,
                     const struct channel_settings *s, uint64_t grace_usec, int data_fd,
                     int state_fd, char *why, size_t why_size, struct ring_owner **ret);

/* Client slots still reserved for the previous process's holders (bit = slot). */
uint64_t ring_owner_orphans(const struct ring_owner *o, uint8_t role);

/*
 * ring_owner_sub_resume() - move the start of sub slot @slot, just
 * acquired and not yet handed out, back to the record of @seq (a
 * reconnecting subscriber's resume point, PROTO_FLAG_RESUME), so its
 * holder reads from there.
 * Return: 0; -ENOENT (the ring no longer holds @seq); -ERANGE (@seq was
 * never given out in this ring); -EBADMSG (the ring did not check out
 * where it was walked); -EINVAL (not an active client sub slot). On
 * failure the slot stays at the tail.
 */
int ring_owner_sub_resume(struct ring_owner *o, uint32_t slot, uint64_t seq);

/* Unmaps and closes everything. Accepts NULL. Return: NULL. */
struct ring_owner *ring_owner_free(struct ring_owner *o);

/*
 * ring_owner_acquire() - activate a free client slot; a sub slot gets a new
 * page (one generation up) and new eventfds.
 * @role: PROTO_RING_PUBLISHER or PROTO_RING_SUBSCRIBER.
 * @pid: the client's pid (SO_PEERCRED), stored in the slot for diagnostics.
 * @holder: remembered for ring_owner_holder() (the peer).
 * The slot's statistics start at zero.
 * Return: 0 and *ret_slot; -ENOSPC (every slot of that kind is taken or
 * still being recovered); -EINVAL (bad role); a negative errno from making
 * the page or eventfds (-EMFILE, -ENOMEM, ...).
 */
int ring_owner_acquire(struct ring_owner *o, uint8_t role, pid_t pid, void *holder,
                       uint32_t *ret_slot);

/*
 * ring_owner_release() - a client holding @slot went away. A sub slot is
 * freed, publishers waiting for space are woken (the slowest cursor may
 * have gone), the broker's space wait included, and its page and eventfds
 * are closed (the holder may keep its copies; nobody else uses them any
 * more); a pub slot is freed and its unfinished claim, if any, turned into
 * a SKIP record, from a timer when a live publisher still contests it.
 * Unknown slots are ignored.
 */
void ring_owner_release(struct ring_owner *o, uint8_t role, uint32_t slot);

/* The holder given to ring_owner_acquire(), or NULL for a free slot. */
void *ring_owner_holder(const struct ring_owner *o, uint8_t role, uint32_t slot);

/* Active client slots, sub and pub together (the "ring_clients" statistic). */
unsigned ring_owner_clients(const struct ring_owner *o);

/*
 * ring_owner_fds() - the descriptors to hand to the holder of @slot, in
 * protocol order: DATA and STATE (read-only for a subscriber), then for a
 * subscriber its page (read-write), wake eventfd and space eventfd, for a
 * publisher the relay eventfd and ring_owner_page_fds().
 * @fds: room for PROTO_RING_FDS_MAX; the fds stay owned by @o.
 * @pages: room for PROTO_RING_PAGES_MAX entries; receives a publisher's.
 * @ret_n_pages: how many (0 for a subscriber).
 * Return: the number of descriptors written.
 */
size_t ring_owner_fds(const struct ring_owner *o, uint8_t role, uint32_t slot, int *fds,
                      struct proto_ring_page *pages, size_t *ret_n_pages);

/*
 * ring_owner_page_fds() - for a publisher, every sub slot that has a page
 * (the active client slots and the broker's): an entry {slot, generation}
 * in @pages and two descriptors in @fds, its wake eventfd and its page
 * (read-only). Return: the number of entries.
 */
size_t ring_owner_page_fds(const struct ring_owner *o, int *fds, struct proto_ring_page *pages);

/* The generation of sub slot @slot's page, and the first sequence number its holder may read. */
uint32_t ring_owner_sub_generation(const struct ring_owner *o, uint32_t slot);
uint64_t ring_owner_sub_start_seq(const struct ring_owner *o, uint32_t slot);

/* Activates (at the tail) or releases the broker's own sub slot. Return: 0; -EBUSY. */
int ring_owner_bridge_activate(struct ring_owner *o);
void ring_owner_bridge_release(struct ring_owner *o);

/*
 * ring_owner_wake_space() - sub slot @slot's cursor moved or the slot
 * went (its `advanced` word was bumped): wake the publishers sleeping on
 * that word, and the broker's own space wait if it waits.
 */
void ring_owner_wake_space(struct ring_owner *o, uint32_t slot);

/* The broker starts or stops waiting for space (bridge.c): space_broker and our copy. */
void ring_owner_space_wait(struct ring_owner *o, bool waiting);

/*
 * ring_owner_wake_sleepers() - after commits by the broker: signal the
 * eventfds of the subscribers that announced sleep (the broker maps every
 * page, so it is never blind). With
 * @ret_bridge_was_asleep, the broker's own sub slot is not signalled but
 * reported there (the caller drains its bridge itself, no syscall).
 * Return: the number of eventfds signalled.
 */
unsigned ring_owner_wake_sleepers(struct ring_owner *o, bool *ret_bridge_was_asleep);

/*
 * ring_owner_stalled() - the client sub slots holding publishers back.
 * Called about once a second. A slot stalls while publishers wait for
 * space (space_waiters > 0, the broker's own wait included) and its
 * cursor makes no progress so far behind the tail (more than capacity
 * minus the largest record) that it can be what they wait for; progress
 * past the furthest cursor seen, catching up, or nobody waiting resets it.
 * Return: the slots (bit = slot) stalled for at least @timeout_usec.
 */
uint64_t ring_owner_stalled(struct ring_owner *o, uint64_t now_usec, uint64_t timeout_usec);

/* Statistics of one slot (zero for a free one). */
struct ring_slot_stats ring_owner_slot_stats(const struct ring_owner *o, uint8_t role,
                                             uint32_t slot);

/*
 * Totals for the channel: delivered and lost over client sub slots (active
 * and released), wakeups over every pub slot (the broker's too).
 */
struct ring_slot_stats ring_owner_totals(const struct ring_owner *o);

/* Messages published into the ring since it was formatted (from the tail's seq). */
uint64_t ring_owner_published(const struct ring_owner *o);

/* The sequence number the next record will get. */
uint64_t ring_owner_next_seq(const struct ring_owner *o);
