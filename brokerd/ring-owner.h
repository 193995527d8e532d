/* SPDX-License-Identifier: MIT */
/*
 * The broker's side of one channel's shared-memory ring (see ring.h): it
 * creates the two regions and the wake eventfds lazily, on the first
 * OPEN_RING of the channel, hands out sub and pub slots, and cleans up
 * after clients that go away (a dead publisher's claim becomes a SKIP).
 * The channel owns its ring_owner and frees it with itself; a channel is
 * kept alive while any slot of its ring is active (channel_release()).
 *
 * This module knows nothing about connections: the peer that asked for a
 * slot remembers it and gives it back with ring_owner_release().
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

/* Slots of each kind per ring (and so eventfds per ring: one per sub slot). */
#define RING_OWNER_SLOTS 32u
/* A dead publisher's claim still contested by a live one is retried this often... */
#define RING_OWNER_RECOVER_USEC (50u * 1000u)
/* ...at most this many times (about a second). */
#define RING_OWNER_RECOVER_TRIES 20u

struct ring_owner {
        struct event_base *base;
        char *name; /* the channel's, NUL-terminated, for log lines */
        struct ring r;
        void *data;
        void *state;
        size_t data_size;
        size_t state_size;
        int data_fd;    /* read-write, for publishers */
        int data_ro_fd; /* read-only reopen, for subscribers */
        int state_fd;
        int wake_fds[RING_OWNER_SLOTS]; /* index = sub slot */
        uint64_t subs_used;             /* sub slots handed out (bit = slot) */
        uint64_t pubs_used;             /* pub slots handed out */
        uint64_t recovering;            /* released pub slots whose claim is still contested */
        unsigned recover_tries;
        struct event *recover_timer;
};

/*
 * ring_owner_new() - create, map and format a ring for a channel.
 * @base: the broker's loop (for the recovery timer).
 * @name, @name_len: the channel name (stored in the ring header).
 * @s: the channel's settings: ring_bytes is the capacity, max_message_bytes
 *     is capped at capacity / 4, the overflow policy is copied.
 * Return: 0; -ENOMEM; -EINVAL (geometry); a negative errno from
 * memfd_create/mmap/eventfd (-EMFILE, ...).
 */
int ring_owner_new(struct event_base *base, const char *name, size_t name_len,
                   const struct channel_settings *s, struct ring_owner **ret);

/* Unmaps and closes everything. Accepts NULL. Return: NULL. */
struct ring_owner *ring_owner_free(struct ring_owner *o);

/*
 * ring_owner_acquire() - activate a free slot for a client.
 * @role: PROTO_RING_PUBLISHER or PROTO_RING_SUBSCRIBER.
 * @pid: the client's pid (SO_PEERCRED), stored in the slot for diagnostics.
 * Return: 0 and *ret_slot; -ENOSPC (every slot of that kind is taken or
 * still being recovered); -EINVAL (bad role).
 */
int ring_owner_acquire(struct ring_owner *o, uint8_t role, pid_t pid, uint32_t *ret_slot);

/*
 * ring_owner_release() - a client holding @slot went away. A sub slot is
 * freed and publishers waiting for space are woken (the slowest cursor may
 * have gone); a pub slot is freed and its unfinished claim, if any, turned
 * into a SKIP record, from a timer when a live publisher still contests it.
 */
void ring_owner_release(struct ring_owner *o, uint8_t role, uint32_t slot);

/* Active slots, sub and pub together (the "ring_clients" statistic). */
unsigned ring_owner_clients(const struct ring_owner *o);

/*
 * ring_owner_fds() - the descriptors to hand to the holder of @slot, in
 * protocol order: DATA (read-only for a subscriber), STATE, then the
 * subscriber's eventfd or, for a publisher, every sub slot's eventfd.
 * @fds: room for PROTO_RING_FDS_MAX; the fds stay owned by @o.
 * Return: the number written.
 */
size_t ring_owner_fds(const struct ring_owner *o, uint8_t role, uint32_t slot, int *fds);
