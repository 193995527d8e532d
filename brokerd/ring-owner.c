/* SPDX-License-Identifier: MIT */
/*
 * Ring creation, slot hand-out and dead-client cleanup (see ring-owner.h).
 *
 * The broker maps both regions read-write only to format the ring and to
 * act on slots; it never reads or writes records itself except through
 * ring_recover_publisher(). Slot bookkeeping is the broker's own (the
 * *_used masks): the state words in the STATE region are writable by every
 * client and are therefore never trusted to decide what is free.
 */
#include "build-config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "platform.h"
#include "ring-owner.h"
#include "util.h"

static void fd_close(int *fd) {
        if (*fd >= 0)
                (void)close(*fd);
        *fd = -1;
}

struct ring_owner *ring_owner_free(struct ring_owner *o) {
        if (!o)
                return NULL;
        if (o->recover_timer)
                event_free(o->recover_timer);
        plat_shm_unmap(o->data, o->data_size);
        plat_shm_unmap(o->state, o->state_size);
        fd_close(&o->data_fd);
        fd_close(&o->data_ro_fd);
        fd_close(&o->state_fd);
        for (size_t i = 0; i < RING_OWNER_SLOTS; i++)
                fd_close(&o->wake_fds[i]);
        free(o->name);
        free(o);
        return NULL;
}

static int ring_owner_map(struct ring_owner *o, const struct ring_params *p) {
        int r;

        o->data_size = ring_data_size(p->capacity);
        o->state_size = ring_state_size(p->sub_slots, p->pub_slots);
        if (o->data_size == 0 || o->state_size == 0)
                return -EINVAL;
        r = plat_shm_create(o->data_size, &o->data_fd);
        if (r < 0)
                return r;
        r = plat_shm_create(o->state_size, &o->state_fd);
        if (r < 0)
                return r;
        r = plat_shm_reopen_readonly(o->data_fd, &o->data_ro_fd);
        if (r < 0)
                return r;
        r = plat_shm_map(o->data_fd, o->data_size, true, &o->data);
        if (r < 0)
                return r;
        r = plat_shm_map(o->state_fd, o->state_size, true, &o->state);
        if (r < 0)
                return r;
        r = ring_format(o->data, o->data_size, o->state, o->state_size, p);
        if (r < 0)
                return r;
        return ring_attach(&o->r, o->data, o->data_size, o->state, o->state_size);
}

static void ring_owner_recover_cb(evutil_socket_t fd, short what, void *userdata);

int ring_owner_new(struct event_base *base, const char *name, size_t name_len,
                   const struct channel_settings *s, struct ring_owner **ret) {
        struct ring_params p = {
                .capacity = s->ring_bytes,
                .max_message_bytes =
                        (uint32_t)MIN((uint64_t)s->max_message_bytes, s->ring_bytes / 4),
                .sub_slots = RING_OWNER_SLOTS,
                .pub_slots = RING_OWNER_SLOTS,
                .overflow = (enum ring_overflow)s->overflow,
                .name = name,
                .name_len = name_len,
        };
        struct ring_owner *o;
        int r;

        o = calloc(1, sizeof(*o));
        if (!o)
                return -ENOMEM;
        o->base = base;
        o->data_fd = o->data_ro_fd = o->state_fd = -1;
        for (size_t i = 0; i < RING_OWNER_SLOTS; i++)
                o->wake_fds[i] = -1;
        o->name = strndup(name, name_len);
        o->recover_timer = evtimer_new(base, ring_owner_recover_cb, o);
        if (!o->name || !o->recover_timer) {
                ring_owner_free(o);
                return -ENOMEM;
        }
        r = ring_owner_map(o, &p);
        for (size_t i = 0; r >= 0 && i < RING_OWNER_SLOTS; i++)
                r = plat_wake_create(&o->wake_fds[i]);
        if (r < 0) {
                ring_owner_free(o);
                return r;
        }
        *ret = o;
        return 0;
}

unsigned ring_owner_clients(const struct ring_owner *o) {
        return (unsigned)(__builtin_popcountll(o->subs_used) + __builtin_popcountll(o->pubs_used));
}

size_t ring_owner_fds(const struct ring_owner *o, uint8_t role, uint32_t slot, int *fds) {
        size_t n = 0;

        if (role == PROTO_RING_SUBSCRIBER) {
                fds[n++] = o->data_ro_fd;
                fds[n++] = o->state_fd;
                fds[n++] = o->wake_fds[slot];
                return n;
        }
        fds[n++] = o->data_fd;
        fds[n++] = o->state_fd;
        for (size_t i = 0; i < RING_OWNER_SLOTS; i++)
                fds[n++] = o->wake_fds[i];
        return n;
}

int ring_owner_acquire(struct ring_owner *o, uint8_t role, pid_t pid, uint32_t *ret_slot) {
        bool sub = role == PROTO_RING_SUBSCRIBER;
        uint64_t *used = sub ? &o->subs_used : &o->pubs_used;

        if (role >= _PROTO_RING_ROLE_MAX)
                return -EINVAL;
        for (uint32_t i = 0; i < RING_OWNER_SLOTS; i++) {
                int r;

                if (*used & (UINT64_C(1) << i) || (!sub && o->recovering & (UINT64_C(1) << i)))
                        continue;
                r = sub ? ring_sub_slot_activate(&o->r, i, (uint32_t)pid)
                        : ring_pub_slot_activate(&o->r, i, (uint32_t)pid);
                if (r == -EBUSY) /* a pub slot whose dead claim could not be recovered */
                        continue;
                if (r < 0)
                        return r;
                *used |= UINT64_C(1) << i;
                *ret_slot = i;
                return 0;
        }
        return -ENOSPC;
}

/* Signals the eventfds of the subscribers that announced they are going to sleep. */
static void ring_owner_wake_sleepers(struct ring_owner *o) {
        uint64_t m = ring_take_sleepers(&o->r);

        while (m) {
                unsigned i = (unsigned)__builtin_ctzll(m);

                m &= m - 1;
                if (i < RING_OWNER_SLOTS)
                        (void)plat_wake_signal(o->wake_fds[i]);
        }
}

/* Return: true when the slot is done with (recovered, nothing to do, or given up). */
static bool ring_owner_recover(struct ring_owner *o, uint32_t slot, bool last_try) {
        int r = ring_recover_publisher(&o->r, slot);

        if (r == -EAGAIN && !last_try)
                return false;
        if (r == 1) {
                log_debug("ring \"%s\": dead publisher's claim in slot %u skipped", o->name, slot);
                ring_owner_wake_sleepers(o);
        } else if (r < 0) {
                /* The slot keeps its claim and stays unusable (activation gives -EBUSY). */
                log_warning("ring \"%s\": cannot recover publisher slot %u: %s", o->name, slot,
                            strerror(-r));
        }
        return true;
}

static void ring_owner_arm_recovery(struct ring_owner *o) {
        struct timeval tv = {.tv_usec = RING_OWNER_RECOVER_USEC};

        if (!evtimer_pending(o->recover_timer, NULL))
                (void)evtimer_add(o->recover_timer, &tv);
}

static void ring_owner_recover_cb(evutil_socket_t fd, short what, void *userdata) {
        struct ring_owner *o = userdata;
        bool last_try = ++o->recover_tries >= RING_OWNER_RECOVER_TRIES;

        for (uint32_t i = 0; i < RING_OWNER_SLOTS; i++)
                if (o->recovering & (UINT64_C(1) << i) && ring_owner_recover(o, i, last_try))
                        o->recovering &= ~(UINT64_C(1) << i);
        if (o->recovering)
                ring_owner_arm_recovery(o);
        else
                o->recover_tries = 0;
}

void ring_owner_release(struct ring_owner *o, uint8_t role, uint32_t slot) {
        uint64_t bit = UINT64_C(1) << slot;

        if (slot >= RING_OWNER_SLOTS)
                return;
        if (role == PROTO_RING_SUBSCRIBER) {
                if (!(o->subs_used & bit))
                        return;
                o->subs_used &= ~bit;
                ring_sub_slot_release(&o->r, slot);
                /* It may have been the slowest cursor: block-policy publishers may go on. */
                ring_space_wake_prepare(&o->r);
                (void)plat_futex_wake_all((uint32_t *)&o->r.state->space_futex);
                return;
        }
        if (!(o->pubs_used & bit))
                return;
        o->pubs_used &= ~bit;
        ring_pub_slot_release(&o->r, slot);
        if (ring_owner_recover(o, slot, false))
                return;
        /* A live publisher still decides the same tail pair: it settles within instructions. */
        o->recovering |= bit;
        o->recover_tries = 0;
        ring_owner_arm_recovery(o);
}
