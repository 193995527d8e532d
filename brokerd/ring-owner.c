/* SPDX-License-Identifier: MIT */
/*
 * Ring creation, slot hand-out and dead-client cleanup (see ring-owner.h).
 *
 * The broker maps every region read-write to format the ring and to act
 * on slots; records it writes and reads only through its own two slots
 * (bridge.c) and ring_recover_publisher(). Slot bookkeeping is the
 * broker's own (the *_used masks, generations, start sequence numbers):
 * publishers can write STATE and each subscriber its page, so nothing
 * there decides what is free, and the counters read from there only feed
 * statistics.
 *
 * Each sub slot holder gets a page and two eventfds made for it, and they
 * are closed when it goes: a mapping or descriptor once handed out cannot
 * be taken back, so the next holder of the slot must not share them.
 */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "platform.h"
#include "ring-owner.h"
#include "ring-seek.h"
#include "util.h"

#define BROKER_BIT (UINT64_C(1) << RING_OWNER_BROKER_SLOT)

static void fd_close(int *fd) {
        if (*fd >= 0)
                (void)close(*fd);
        *fd = -1;
}

/* Closes sub slot @slot's page and eventfds (its generation stays, for the next one). */
static void ring_owner_sub_close(struct ring_owner *o, uint32_t slot) {
        struct ring_owner_sub *sub = &o->subs[slot];

        if (sub->space_ev)
                event_free(sub->space_ev);
        sub->space_ev = NULL;
        (void)ring_page_set(&o->r, slot, 0, NULL);
        plat_shm_unmap(sub->page, RING_SUB_PAGE_BYTES);
        sub->page = NULL;
        fd_close(&sub->page_fd);
        fd_close(&sub->page_ro_fd);
        fd_close(&sub->wake_fd);
        fd_close(&sub->space_fd);
}

struct ring_owner *ring_owner_free(struct ring_owner *o) {
        if (!o)
                return NULL;
        if (o->recover_timer)
                event_free(o->recover_timer);
        if (o->orphan_timer)
                event_free(o->orphan_timer);
        if (o->relay_ev)
                event_free(o->relay_ev);
        fd_close(&o->relay_fd);
        for (uint32_t i = 0; i < RING_OWNER_RING_SLOTS; i++)
                ring_owner_sub_close(o, i);
        plat_shm_unmap(o->data, o->data_size);
        plat_shm_unmap(o->state, o->state_size);
        fd_close(&o->data_fd);
        fd_close(&o->data_ro_fd);
        fd_close(&o->state_fd);
        fd_close(&o->state_ro_fd);
        fd_close(&o->space_fd);
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
        r = plat_shm_create(o->data_size, &o->data_fd, &o->data_ro_fd);
        if (r < 0)
                return r;
        r = plat_shm_create(o->state_size, &o->state_fd, &o->state_ro_fd);
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

/*
 * A publisher that has not got some subscriber's page yet (and so not its
 * eventfd) asks us to wake whoever announced sleep: we map every page.
 */
static void ring_owner_relay_cb(evutil_socket_t fd, short what, void *userdata) {
        struct ring_owner *o = userdata;
        unsigned n;

        (void)plat_wake_drain(fd);
        n = ring_owner_wake_sleepers(o, NULL);
        ring_note_wakeups(&o->r, RING_OWNER_BROKER_SLOT, n);
}

/* A subscriber's signal that it made room: ours to look at if we wait for room. */
static void ring_owner_space_cb(evutil_socket_t fd, short what, void *userdata) {
        struct ring_owner *o = userdata;

        (void)plat_wake_drain(fd);
        if (o->space_waiting)
                (void)plat_wake_signal(o->space_fd);
}

/*
 * Gives sub slot @slot a new page, one generation up, and new eventfds; a
 * client slot also a space eventfd, watched from now on.
 * Return: 0; a negative errno (the slot is left without a page).
 */
static int ring_owner_sub_open(struct ring_owner *o, uint32_t slot) {
        struct ring_owner_sub *sub = &o->subs[slot];
        void *page;
        int r;

        r = plat_shm_create(RING_SUB_PAGE_BYTES, &sub->page_fd, &sub->page_ro_fd);
        if (r >= 0)
                r = plat_shm_map(sub->page_fd, RING_SUB_PAGE_BYTES, true, &page);
        if (r >= 0) {
                sub->page = page;
                r = plat_wake_create(&sub->wake_fd);
        }
        if (r >= 0 && slot != RING_OWNER_BROKER_SLOT) {
                r = plat_wake_create(&sub->space_fd);
                if (r >= 0) {
                        sub->space_ev = event_new(o->base, sub->space_fd, EV_READ | EV_PERSIST,
                                                  ring_owner_space_cb, o);
                        if (!sub->space_ev || event_add(sub->space_ev, NULL) < 0)
                                r = -ENOMEM;
                }
        }
        if (r >= 0)
                r = ring_page_set(&o->r, slot, ++sub->gen, sub->page);
        if (r < 0)
                ring_owner_sub_close(o, slot);
        return r;
}

static void ring_owner_recover_cb(evutil_socket_t fd, short what, void *userdata);
static void ring_owner_zero_pub_stats(struct ring_owner *o, uint32_t slot);

int ring_owner_refusal(const struct channel_settings *s, char *why, size_t size) {
        if (!s->shared_memory) {
                (void)snprintf(why, size, "shared memory is disabled for this channel");
                return -ENOTSUP;
        }
        if (s->max_message_bytes > s->ring_bytes / 4) {
                (void)snprintf(why, size,
                               "messages of up to %" PRIu32 " bytes do not fit the %" PRIu64
                               "-byte ring (at most a quarter of it)",
                               s->max_message_bytes, s->ring_bytes);
                return -ENOTSUP;
        }
        if ((uint64_t)s->max_message_bytes + PROTO_RING_REPLY_BYTES + PROTO_RING_RETAINED_BYTES >
            PROTO_REPLY_BODY_MAX) {
                (void)snprintf(why, size,
                               "messages of up to %" PRIu32 " bytes are too large for a ring reply",
                               s->max_message_bytes);
                return -ENOTSUP;
        }
        return 0;
}

/* An empty ring_owner for channel @name: no regions yet, every descriptor -1. */
static int ring_owner_alloc(struct event_base *base, const char *name, size_t name_len,
                            struct ring_owner **ret) {
        struct ring_owner *o;

        o = calloc(1, sizeof(*o));
        if (!o)
                return -ENOMEM;
        o->base = base;
        o->data_fd = o->data_ro_fd = o->state_fd = o->state_ro_fd = o->space_fd = o->relay_fd = -1;
        for (size_t i = 0; i < RING_OWNER_RING_SLOTS; i++) {
                struct ring_owner_sub *sub = &o->subs[i];

                sub->page_fd = sub->page_ro_fd = sub->wake_fd = sub->space_fd = -1;
        }
        o->name = strndup(name, name_len);
        o->recover_timer = evtimer_new(base, ring_owner_recover_cb, o);
        if (!o->name || !o->recover_timer) {
                ring_owner_free(o);
                return -ENOMEM;
        }
        *ret = o;
        return 0;
}

/* The broker's own eventfds, its sub slot's page and its pub slot, around mapped regions. */
static int ring_owner_start(struct ring_owner *o) {
        int r;

        r = plat_wake_create(&o->space_fd);
        if (r >= 0)
                r = plat_wake_create(&o->relay_fd);
        if (r >= 0) {
                o->relay_ev = event_new(o->base, o->relay_fd, EV_READ | EV_PERSIST,
                                        ring_owner_relay_cb, o);
                if (!o->relay_ev || event_add(o->relay_ev, NULL) < 0)
                        r = -ENOMEM;
        }
        if (r >= 0)
                r = ring_owner_sub_open(o, RING_OWNER_BROKER_SLOT);
        if (r >= 0)
                r = ring_pub_slot_activate(&o->r, RING_OWNER_BROKER_SLOT, (uint32_t)getpid());
        return r;
}

/* The ring geometry a channel with settings @s has. */
static struct ring_params ring_owner_params(const char *name, size_t name_len,
                                            const struct channel_settings *s, uint64_t first_seq,
                                            uint64_t epoch) {
        return (struct ring_params){
                .capacity = s->ring_bytes,
                .max_message_bytes =
                        (uint32_t)MIN((uint64_t)s->max_message_bytes, s->ring_bytes / 4),
                .sub_slots = RING_OWNER_RING_SLOTS,
                .pub_slots = RING_OWNER_RING_SLOTS,
                .overflow = (enum ring_overflow)s->overflow,
                .first_seq = first_seq,
                .channel_epoch = epoch,
                .name = name,
                .name_len = name_len,
        };
}

int ring_owner_new(struct event_base *base, const char *name, size_t name_len,
                   const struct channel_settings *s, uint64_t first_seq, uint64_t epoch,
                   struct ring_owner **ret) {
        struct ring_params p = ring_owner_params(name, name_len, s, first_seq, epoch);
        struct ring_owner *o;
        int r;

        r = ring_owner_alloc(base, name, name_len, &o);
        if (r < 0)
                return r;
        r = ring_owner_map(o, &p);
        if (r >= 0)
                r = ring_owner_start(o);
        if (r < 0) {
                ring_owner_free(o);
                return r;
        }
        *ret = o;
        return 0;
}

/*
 * A read-only descriptor for a stored region. The region has no permission
 * bits (plat_shm_create()), so open(O_RDONLY) through /proc needs them for
 * a moment; we own it (the same User= as before the restart).
 */
static int ring_owner_reopen_readonly(int fd, int *ret) {
        char path[64];
        int ro, r;

        (void)snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        if (fchmod(fd, 0400) < 0)
                return -errno;
        ro = open(path, O_RDONLY | O_CLOEXEC);
        r = ro < 0 ? -errno : 0;
        (void)fchmod(fd, 0);
        if (r < 0)
                return r;
        *ret = ro;
        return 0;
}

/* Maps a stored region of exactly @size bytes, sealed against resizing. */
static int ring_owner_map_stored(int fd, size_t size, void **ret, char *why, size_t why_size) {
        size_t have;
        int r;

        r = plat_shm_check(fd, &have);
        if (r < 0) {
                (void)snprintf(why, why_size, "not a sealed shared memory region");
                return -EBADMSG;
        }
        if (!(fcntl(fd, F_GET_SEALS) & F_SEAL_GROW) || have != size) {
                (void)snprintf(why, why_size,
                               "region of %zu bytes, the configured geometry needs %zu", have,
                               size);
                return -EBADMSG;
        }
        return plat_shm_map(fd, size, true, ret);
}

/* The stored header against the channel's name and current settings. */
static int ring_owner_check_stored(const struct ring_owner *o, const struct ring_params *p,
                                   char *why, size_t why_size) {
        const struct ring_header *h = o->data;
        size_t len = strlen(o->name);

        if (h->name_len != len || memcmp(h->name, o->name, len) != 0) {
                (void)snprintf(why, why_size, "the ring belongs to another channel");
                return -EBADMSG;
        }
        /* Every ring the broker makes has one: without it, the numbering could not be told. */
        if (o->r.channel_epoch == 0) {
                (void)snprintf(why, why_size, "the ring has no channel epoch");
                return -EBADMSG;
        }
        if (o->r.capacity != p->capacity || o->r.max_message_bytes != p->max_message_bytes ||
            o->r.overflow != p->overflow || o->r.sub_slots != p->sub_slots ||
            o->r.pub_slots != p->pub_slots) {
                (void)snprintf(why, why_size,
                               "geometry (%" PRIu64 " bytes, messages up to %" PRIu32
                               ", policy %u) differs from the configuration (%" PRIu64
                               " bytes, %" PRIu32 ", %u)",
                               o->r.capacity, o->r.max_message_bytes, (unsigned)o->r.overflow,
                               p->capacity, p->max_message_bytes, (unsigned)p->overflow);
                return -EBADMSG;
        }
        return 0;
}

/*
 * The end of the grace period of a restored ring: pub orphans are released
 * and recovered like a dead publisher's slots (ring_owner_release()), sub
 * orphans (free in STATE since the adoption) may be handed out again.
 */
static void ring_owner_orphan_cb(evutil_socket_t fd, short what, void *userdata) {
        struct ring_owner *o = userdata;
        unsigned n_pubs = (unsigned)__builtin_popcountll(o->orphan_pubs);
        unsigned n_subs = (unsigned)__builtin_popcountll(o->orphan_subs);

        for (uint32_t i = 0; i < RING_OWNER_SLOTS; i++) {
                uint64_t bit = UINT64_C(1) << i;

                if (!(o->orphan_pubs & bit))
                        continue;
                o->orphan_pubs &= ~bit;
                /* What it published went into the old process's totals, not ours. */
                ring_owner_zero_pub_stats(o, i);
                o->pubs_used |= bit;
                ring_owner_release(o, PROTO_RING_PUBLISHER, i);
        }
        o->orphan_subs = 0;
        log_info("ring \"%s\": grace period over, %u publisher and %u subscriber slot%s of the "
                 "previous process freed",
                 o->name, n_pubs, n_subs, n_pubs + n_subs == 1 ? "" : "s");
}

/*
 * Whether the holder recorded in a slot (its pid from SO_PEERCRED, as
 * STATE has it: untrusted) may still run. Only a definite "no such
 * process" frees its slot before the grace period ends; a reused pid only
 * keeps it reserved until then.
 */
static bool ring_owner_pid_may_live(uint32_t pid) {
        if (pid == 0 || pid > INT32_MAX) /* not a pid: wait the grace period */
                return true;
        return kill((pid_t)pid, 0) == 0 || errno != ESRCH;
}

/*
 * No connection survives a restart, but mappings do (ring-owner.h,
 * ring_owner_adopt()): client slots active in STATE become orphans, kept
 * from new holders until the grace period ends; the other client slots
 * are free. Sub slots are all marked free in STATE, the broker's too, and
 * page generations go on from where STATE has them, so a page of the old
 * process never shares a generation with a new one. The broker's own pub
 * slot is recovered here and now: socket publishes need it.
 */
static int ring_owner_reset_slots(struct ring_owner *o, uint64_t grace_usec) {
        for (uint32_t i = 0; i < RING_OWNER_RING_SLOTS; i++) {
                uint32_t gen = atomic_load(&o->r.subs[i].generation);

                if (i < RING_OWNER_SLOTS && atomic_load(&o->r.subs[i].state) == RING_SLOT_ACTIVE)
                        o->orphan_subs |= UINT64_C(1) << i;
                o->subs[i].gen = MIN(gen, UINT32_MAX - (UINT32_C(1) << 20));
                ring_sub_slot_release(&o->r, i);
        }
        ring_space_broker_set(&o->r, false);
        for (uint32_t i = 0; i < RING_OWNER_SLOTS; i++) {
                const struct ring_pub_slot *ps = &o->r.pubs[i];

                if ((atomic_load(&ps->state) == RING_SLOT_ACTIVE || atomic_load(&ps->busy) != 0) &&
                    ring_owner_pid_may_live(atomic_load(&ps->pid))) {
                        o->orphan_pubs |= UINT64_C(1) << i;
                        continue;
                }
                o->pubs_used |= UINT64_C(1) << i;
                ring_owner_release(o, PROTO_RING_PUBLISHER, i);
        }
        o->retired = (struct ring_slot_stats){0};
        if (o->orphan_pubs || o->orphan_subs) {
                struct timeval tv = {.tv_sec = (time_t)(grace_usec / 1000000u),
                                     .tv_usec = (suseconds_t)(grace_usec % 1000000u)};

                o->orphan_timer = evtimer_new(o->base, ring_owner_orphan_cb, o);
                if (!o->orphan_timer || evtimer_add(o->orphan_timer, &tv) < 0)
                        return -ENOMEM;
        }
        ring_pub_slot_release(&o->r, RING_OWNER_BROKER_SLOT);
        /* Only a live client publisher on the same tail pair makes it wait: instructions. */
        for (unsigned tries = 0; tries < 10000; tries++) {
                int r = ring_recover_publisher(&o->r, RING_OWNER_BROKER_SLOT);

                if (r != -EAGAIN)
                        return r < 0 ? r : 0;
                (void)sched_yield();
        }
        return -EAGAIN;
}

uint64_t ring_owner_orphans(const struct ring_owner *o, uint8_t role) {
        return role == PROTO_RING_SUBSCRIBER ? o->orphan_subs : o->orphan_pubs;
}

int ring_owner_adopt(struct event_base *base, const char *name, size_t name_len,
                     const struct channel_settings *s, uint64_t grace_usec, int data_fd,
                     int state_fd, char *why, size_t why_size, struct ring_owner **ret) {
        struct ring_params p = ring_owner_params(name, name_len, s, 0, 0);
        struct ring_owner *o;
        int r;

        why[0] = '\0';
        r = ring_owner_alloc(base, name, name_len, &o);
        if (r < 0) {
                (void)close(data_fd);
                (void)close(state_fd);
                return r;
        }
        o->data_fd = data_fd;
        o->state_fd = state_fd;
        o->data_size = ring_data_size(p.capacity);
        o->state_size = ring_state_size(p.sub_slots, p.pub_slots);
        r = o->data_size && o->state_size ? 0 : -EINVAL;
        if (r >= 0)
                r = ring_owner_map_stored(data_fd, o->data_size, &o->data, why, why_size);
        if (r >= 0)
                r = ring_owner_map_stored(state_fd, o->state_size, &o->state, why, why_size);
        if (r >= 0) {
                r = ring_attach(&o->r, o->data, o->data_size, o->state, o->state_size);
                if (r < 0)
                        (void)snprintf(why, why_size, "bad ring header: %s", strerror(-r));
        }
        if (r >= 0)
                r = ring_owner_check_stored(o, &p, why, why_size);
        if (r >= 0)
                r = ring_owner_reopen_readonly(data_fd, &o->data_ro_fd);
        if (r >= 0)
                r = ring_owner_reopen_readonly(state_fd, &o->state_ro_fd);
        if (r >= 0)
                r = ring_owner_reset_slots(o, grace_usec);
        if (r >= 0)
                r = ring_owner_start(o);
        if (r < 0) {
                if (!why[0])
                        (void)snprintf(why, why_size, "%s", strerror(-r));
                ring_owner_free(o);
                return r;
        }
        *ret = o;
        return 0;
}

int ring_owner_sub_resume(struct ring_owner *o, uint32_t slot, uint64_t seq) {
        struct ring_sub_page *page = slot < RING_OWNER_SLOTS ? o->subs[slot].page : NULL;
        uint64_t pos;
        int r;

        if (!page || !(o->subs_used & UINT64_C(1) << slot))
                return -EINVAL;
        r = ring_seek_seq(&o->r, seq, &pos);
        if (r < 0)
                return r;
        /*
         * Back from the tail, where ring_sub_slot_activate() put it, to the
         * record of @seq, before the holder gets the slot. Publishers' limits
         * computed from now on see this cursor; a block-policy limit cached
         * before it (at most a lap past an earlier tail) could still let a
         * publisher overwrite the oldest of these records before they are
         * read, which the reader notices as a lap (reported, never silent).
         */
        atomic_store(&page->cursor, pos);
        atomic_store(&o->r.subs[slot].start_pos, pos);
        atomic_store(&o->r.subs[slot].start_seq, seq);
        atomic_fetch_add(&o->r.state->epoch, 1);
        o->subs[slot].start_seq = seq;
        return 0;
}

unsigned ring_owner_clients(const struct ring_owner *o) {
        return (unsigned)(__builtin_popcountll(o->subs_used) + __builtin_popcountll(o->pubs_used));
}

size_t ring_owner_page_fds(const struct ring_owner *o, int *fds, struct proto_ring_page *pages) {
        size_t n = 0;

        for (uint32_t i = 0; i < RING_OWNER_RING_SLOTS; i++) {
                const struct ring_owner_sub *sub = &o->subs[i];

                if (!sub->page)
                        continue;
                pages[n] = (struct proto_ring_page){.slot = i, .generation = sub->gen};
                fds[2 * n] = sub->wake_fd;
                fds[2 * n + 1] = sub->page_ro_fd;
                n++;
        }
        return n;
}

size_t ring_owner_fds(const struct ring_owner *o, uint8_t role, uint32_t slot, int *fds,
                      struct proto_ring_page *pages, size_t *ret_n_pages) {
        const struct ring_owner_sub *sub = &o->subs[slot];
        size_t n;

        *ret_n_pages = 0;
        if (role == PROTO_RING_SUBSCRIBER) {
                fds[0] = o->data_ro_fd;
                fds[1] = o->state_ro_fd;
                fds[2] = sub->page_fd;
                fds[3] = sub->wake_fd;
                fds[4] = sub->space_fd;
                return PROTO_RING_SUB_FDS;
        }
        fds[0] = o->data_fd;
        fds[1] = o->state_fd;
        fds[2] = o->relay_fd;
        n = ring_owner_page_fds(o, fds + PROTO_RING_PUB_FDS, pages);
        *ret_n_pages = n;
        return PROTO_RING_PUB_FDS + 2 * n;
}

uint32_t ring_owner_sub_generation(const struct ring_owner *o, uint32_t slot) {
        return slot < RING_OWNER_RING_SLOTS ? o->subs[slot].gen : 0;
}

uint64_t ring_owner_sub_start_seq(const struct ring_owner *o, uint32_t slot) {
        return slot < RING_OWNER_RING_SLOTS ? o->subs[slot].start_seq : 0;
}

/* A pub slot's counters start at zero for each holder (a sub slot's page is new). */
static void ring_owner_zero_pub_stats(struct ring_owner *o, uint32_t slot) {
        atomic_store(&o->r.pubs[slot].published, 0);
        atomic_store(&o->r.pubs[slot].wakeups, 0);
}

/* Gives sub slot @slot, free, a new page and eventfds and activates it. */
static int ring_owner_sub_activate(struct ring_owner *o, uint32_t slot, pid_t pid) {
        int r = ring_owner_sub_open(o, slot);

        if (r < 0)
                return r;
        r = ring_sub_slot_activate(&o->r, slot, (uint32_t)pid, &o->subs[slot].start_seq);
        if (r < 0)
                ring_owner_sub_close(o, slot);
        return r;
}

int ring_owner_acquire(struct ring_owner *o, uint8_t role, pid_t pid, void *holder,
                       uint32_t *ret_slot) {
        bool sub = role == PROTO_RING_SUBSCRIBER;
        uint64_t *used = sub ? &o->subs_used : &o->pubs_used;

        if (role >= _PROTO_RING_ROLE_MAX)
                return -EINVAL;
        for (uint32_t i = 0; i < RING_OWNER_SLOTS; i++) {
                uint64_t bit = UINT64_C(1) << i;
                int r;

                if (*used & bit || (!sub && o->recovering & bit) ||
                    (sub ? o->orphan_subs : o->orphan_pubs) & bit)
                        continue;
                r = sub ? ring_owner_sub_activate(o, i, pid)
                        : ring_pub_slot_activate(&o->r, i, (uint32_t)pid);
                if (r == -EBUSY) /* a pub slot whose dead claim could not be recovered */
                        continue;
                if (r < 0)
                        return r;
                if (!sub)
                        ring_owner_zero_pub_stats(o, i);
                *used |= bit;
                if (sub) {
                        o->sub_holders[i] = holder;
                        o->stall_since_usec[i] = 0;
                } else {
                        o->pub_holders[i] = holder;
                }
                *ret_slot = i;
                return 0;
        }
        return -ENOSPC;
}

void *ring_owner_holder(const struct ring_owner *o, uint8_t role, uint32_t slot) {
        if (slot >= RING_OWNER_SLOTS)
                return NULL;
        if (role == PROTO_RING_SUBSCRIBER)
                return o->subs_used & (UINT64_C(1) << slot) ? o->sub_holders[slot] : NULL;
        return o->pubs_used & (UINT64_C(1) << slot) ? o->pub_holders[slot] : NULL;
}

int ring_owner_bridge_activate(struct ring_owner *o) {
        int r;

        if (o->bridge_active)
                return 0;
        r = ring_sub_slot_activate(&o->r, RING_OWNER_BROKER_SLOT, (uint32_t)getpid(),
                                   &o->subs[RING_OWNER_BROKER_SLOT].start_seq);
        if (r < 0)
                return r;
        o->bridge_active = true;
        return 0;
}

void ring_owner_bridge_release(struct ring_owner *o) {
        if (!o->bridge_active)
                return;
        o->bridge_active = false;
        ring_sub_slot_release(&o->r, RING_OWNER_BROKER_SLOT);
        ring_owner_wake_space(o, RING_OWNER_BROKER_SLOT);
}

void ring_owner_wake_space(struct ring_owner *o, uint32_t slot) {
        struct ring_sub_page *page = slot < RING_OWNER_RING_SLOTS ? o->subs[slot].page : NULL;

        if (page)
                (void)plat_futex_wake_all((uint32_t *)(void *)&page->advanced);
        if (o->space_waiting)
                (void)plat_wake_signal(o->space_fd);
}

void ring_owner_space_wait(struct ring_owner *o, bool waiting) {
        o->space_waiting = waiting;
        ring_space_broker_set(&o->r, waiting);
}

unsigned ring_owner_wake_sleepers(struct ring_owner *o, bool *ret_bridge_was_asleep) {
        uint64_t m = ring_take_sleepers(&o->r);
        unsigned n = 0;

        if (ret_bridge_was_asleep) {
                *ret_bridge_was_asleep = m & BROKER_BIT;
                m &= ~BROKER_BIT;
        }
        while (m) {
                unsigned i = (unsigned)__builtin_ctzll(m);

                m &= m - 1;
                if (i < RING_OWNER_RING_SLOTS && o->subs[i].wake_fd >= 0 &&
                    plat_wake_signal(o->subs[i].wake_fd) >= 0)
                        n++;
        }
        return n;
}

/* Return: true when the slot is done with (recovered, nothing to do, or given up). */
static bool ring_owner_recover(struct ring_owner *o, uint32_t slot, bool last_try) {
        int r = ring_recover_publisher(&o->r, slot);

        if (r == -EAGAIN && !last_try)
                return false;
        if (r == 1) {
                log_debug("ring \"%s\": dead publisher's claim in slot %u skipped", o->name, slot);
                (void)ring_owner_wake_sleepers(o, NULL);
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

/* Keeps a released client slot's counters in the totals. */
static void ring_owner_retire(struct ring_owner *o, uint8_t role, uint32_t slot) {
        struct ring_slot_stats st = ring_owner_slot_stats(o, role, slot);

        o->retired.published += st.published;
        o->retired.wakeups += st.wakeups;
        o->retired.delivered += st.delivered;
        o->retired.lost += st.lost;
        o->retired.corrupt += st.corrupt;
}

void ring_owner_release(struct ring_owner *o, uint8_t role, uint32_t slot) {
        uint64_t bit = UINT64_C(1) << slot;

        if (slot >= RING_OWNER_SLOTS)
                return;
        if (role == PROTO_RING_SUBSCRIBER) {
                if (!(o->subs_used & bit))
                        return;
                ring_owner_retire(o, role, slot);
                o->subs_used &= ~bit;
                o->sub_holders[slot] = NULL;
                ring_sub_slot_release(&o->r, slot);
                /* It may have been the slowest cursor: block-policy publishers may go on. */
                ring_owner_wake_space(o, slot);
                ring_owner_sub_close(o, slot);
                return;
        }
        if (!(o->pubs_used & bit))
                return;
        ring_owner_retire(o, role, slot);
        o->pubs_used &= ~bit;
        o->pub_holders[slot] = NULL;
        ring_pub_slot_release(&o->r, slot);
        if (ring_owner_recover(o, slot, false))
                return;
        /* A live publisher still decides the same tail pair: it settles within instructions. */
        o->recovering |= bit;
        o->recover_tries = 0;
        ring_owner_arm_recovery(o);
}

/*
 * One slot's stall state after a look at its cursor: stalled while it
 * makes no progress so far behind that even the largest claim could fail
 * because of it. A reader a little behind (its last batch not stored yet,
 * its thread busy elsewhere) cannot be what publishers wait for. Progress
 * means passing the furthest cursor seen: the subscriber writes its own
 * cursor, and one moved back and forth is as stuck as one that stays put.
 * Return: true if stalled for @timeout_usec.
 */
static bool ring_owner_slot_stalled(struct ring_owner *o, uint32_t slot, uint64_t tail,
                                    uint64_t now_usec, uint64_t timeout_usec) {
        /* Our own map of the holder's page: not STATE, which publishers could rewrite. */
        uint64_t cursor = o->subs[slot].page ? atomic_load(&o->subs[slot].page->cursor) : 0;
        uint64_t near = o->r.capacity - ring_record_bytes(o->r.max_message_bytes);
        bool behind = cursor <= tail && tail - cursor > near;

        if (!behind || cursor > o->stall_cursor[slot] || o->stall_since_usec[slot] == 0) {
                o->stall_cursor[slot] = cursor;
                o->stall_since_usec[slot] = behind ? now_usec : 0;
                return false;
        }
        return now_usec - o->stall_since_usec[slot] >= timeout_usec;
}

uint64_t ring_owner_stalled(struct ring_owner *o, uint64_t now_usec, uint64_t timeout_usec) {
        bool waiting = atomic_load(&o->r.state->space_waiters) != 0;
        uint64_t tail = atomic_load(&o->r.tail->pos);
        uint64_t stalled = 0;

        for (uint32_t i = 0; i < RING_OWNER_SLOTS; i++) {
                uint64_t bit = UINT64_C(1) << i;

                if (!(o->subs_used & bit))
                        continue;
                if (!waiting) {
                        o->stall_since_usec[i] = 0;
                        continue;
                }
                if (ring_owner_slot_stalled(o, i, tail, now_usec, timeout_usec))
                        stalled |= bit;
        }
        return stalled;
}

struct ring_slot_stats ring_owner_slot_stats(const struct ring_owner *o, uint8_t role,
                                             uint32_t slot) {
        struct ring_slot_stats st = {0};

        if (slot >= RING_OWNER_RING_SLOTS)
                return st;
        if (role == PROTO_RING_SUBSCRIBER) {
                const struct ring_sub_page *page = o->subs[slot].page;

                if (page) {
                        st.delivered = atomic_load(&page->delivered);
                        st.lost = atomic_load(&page->lost);
                        st.corrupt = atomic_load(&page->corrupt);
                }
        } else {
                st.published = atomic_load(&o->r.pubs[slot].published);
                st.wakeups = atomic_load(&o->r.pubs[slot].wakeups);
        }
        return st;
}

struct ring_slot_stats ring_owner_totals(const struct ring_owner *o) {
        struct ring_slot_stats t = o->retired;

        for (uint32_t i = 0; i < RING_OWNER_SLOTS; i++) {
                if (o->subs_used & (UINT64_C(1) << i)) {
                        struct ring_slot_stats st =
                                ring_owner_slot_stats(o, PROTO_RING_SUBSCRIBER, i);

                        t.delivered += st.delivered;
                        t.lost += st.lost;
                        t.corrupt += st.corrupt;
                }
                if (o->pubs_used & (UINT64_C(1) << i)) {
                        struct ring_slot_stats st =
                                ring_owner_slot_stats(o, PROTO_RING_PUBLISHER, i);

                        t.published += st.published;
                        t.wakeups += st.wakeups;
                }
        }
        t.wakeups += atomic_load(&o->r.pubs[RING_OWNER_BROKER_SLOT].wakeups);
        return t;
}

uint64_t ring_owner_next_seq(const struct ring_owner *o) {
        return atomic_load(&o->r.tail->seq);
}

uint64_t ring_owner_published(const struct ring_owner *o) {
        uint64_t seq = ring_owner_next_seq(o);

        /* Publishers can write the tail: a corrupt one must not show as 2^64 messages. */
        return seq > o->r.first_seq ? seq - o->r.first_seq : 0;
}
