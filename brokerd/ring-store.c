/* SPDX-License-Identifier: MIT */
/*
 * Rings in the service manager's fd store (see ring-store.h).
 */
#include "build-config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge.h"
#include "broker.h"
#include "channel-name.h"
#include "channel.h"
#include "log.h"
#include "notify.h"
#include "ring-owner.h"
#include "ring-seek.h"
#include "ring-store.h"

#define NAME_DATA      "ring-data-"
#define NAME_STATE     "ring-state-"
#define NAME_MAX_BYTES 64

/* "ring-data-N" / "ring-state-N": the kind and N. Return: true when @name is one. */
static bool name_parse(const char *name, bool *ret_state, unsigned long long *ret_key) {
        const char *digits;
        char *end;
        bool state;

        if (strncmp(name, NAME_DATA, strlen(NAME_DATA)) == 0) {
                state = false;
                digits = name + strlen(NAME_DATA);
        } else if (strncmp(name, NAME_STATE, strlen(NAME_STATE)) == 0) {
                state = true;
                digits = name + strlen(NAME_STATE);
        } else {
                return false;
        }
        if (*digits < '0' || *digits > '9')
                return false;
        errno = 0;
        *ret_key = strtoull(digits, &end, 10);
        if (errno != 0 || *end != '\0')
                return false;
        *ret_state = state;
        return true;
}

bool ring_store_name_is_ring(const char *name) {
        unsigned long long key;
        bool state;

        return name_parse(name, &state, &key);
}

void ring_store_take(struct ring_store *st, int fd, const char *name) {
        struct ring_store_fd e = {.fd = fd};

        if (!name_parse(name, &e.state, &e.key)) {
                (void)close(fd);
                return;
        }
        if (st->n == st->cap) {
                size_t cap = st->cap ? 2 * st->cap : 16;
                struct ring_store_fd *v = reallocarray(st->fds, cap, sizeof(*v));

                if (!v) {
                        log_error("stored ring fd \"%s\": out of memory; closing it", name);
                        (void)close(fd);
                        return;
                }
                st->fds = v;
                st->cap = cap;
        }
        st->fds[st->n++] = e;
}

static void fd_names(unsigned long long key, char *data, char *state) {
        (void)snprintf(data, NAME_MAX_BYTES, NAME_DATA "%llu", key);
        (void)snprintf(state, NAME_MAX_BYTES, NAME_STATE "%llu", key);
}

/*
 * Whether the service manager keeps what we store: $FDSTORE, the store's
 * size (systemd 254 and later set it from FileDescriptorStoreMax=; our
 * unit sets it too, for older ones). Without it nothing is sent: a
 * NOTIFY_SOCKET that does not take fds would only queue them.
 */
static bool store_enabled(void) {
        const char *e = getenv("FDSTORE");

        return e && e[0] >= '1' && e[0] <= '9';
}

/* Out of the store: the ring was refused or its channel is gone. */
static void store_forget(unsigned long long key) {
        char data[NAME_MAX_BYTES], state[NAME_MAX_BYTES];

        if (!store_enabled())
                return;
        fd_names(key, data, state);
        notify_fdstore_remove(data);
        notify_fdstore_remove(state);
}

static unsigned long long ring_key(const struct ring_owner *o) {
        struct stat st;

        return fstat(o->data_fd, &st) < 0 ? 0 : (unsigned long long)st.st_ino;
}

void ring_store_add(const struct ring_owner *o) {
        char data[NAME_MAX_BYTES], state[NAME_MAX_BYTES];
        unsigned long long key;

        if (!store_enabled())
                return;
        key = ring_key(o);
        if (key == 0)
                return;
        fd_names(key, data, state);
        if (notify_fdstore(data, o->data_fd) > 0 && notify_fdstore(state, o->state_fd) > 0)
                log_debug("ring of channel \"%s\" stored with the service manager as %s", o->name,
                          data);
}

void ring_store_remove(const struct ring_owner *o) {
        unsigned long long key;

        if (!store_enabled())
                return;
        key = ring_key(o);
        if (key != 0)
                store_forget(key);
}

/*
 * The channel name in a stored DATA region's header, read through a
 * private read-only map of its first page (ring_owner_adopt() checks the
 * rest). Return: true and @name (NUL-terminated) when it is a valid name.
 */
static bool stored_name(int fd, char *name, size_t size) {
        const struct ring_header *h;
        struct stat st;
        bool ok;
        void *p;

        if (fstat(fd, &st) < 0 || st.st_size < (off_t)RING_DATA_OFFSET)
                return false;
        p = mmap(NULL, RING_PAGE_BYTES, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
                return false;
        h = p;
        /* Another version's name may lie elsewhere: ring_attach() would refuse it anyway. */
        ok = h->magic == RING_MAGIC && h->version == RING_VERSION && h->name_len >= 1 &&
             h->name_len < size && h->name_len <= RING_NAME_MAX &&
             channel_name_valid(h->name, h->name_len);
        if (ok) {
                memcpy(name, h->name, h->name_len);
                name[h->name_len] = '\0';
        }
        (void)munmap(p, RING_PAGE_BYTES);
        return ok;
}

/* The retained value the old process kept in memory: the newest retained record still held. */
static void restore_retained(struct channel *c) {
        struct ring_seek_record rec;

        if (ring_seek_retained(&c->ring->r, &rec) && rec.size > 0)
                (void)channel_retain(c, rec.payload, rec.size, rec.seq, rec.timestamp_ns);
}

/* Re-creates the channel around one stored pair. Return: true when restored. */
static bool restore_one(struct broker *b, unsigned long long key, int data_fd, int state_fd) {
        char name[RING_NAME_MAX + 1], why[256], esc[LOG_ESCAPE_BYTES(RING_NAME_MAX)];
        struct channel *c;
        struct bridge *br;
        int r;

        if (!stored_name(data_fd, name, sizeof(name))) {
                log_warning("discarding stored ring %llu: no valid ring header or channel name",
                            key);
                (void)close(data_fd);
                (void)close(state_fd);
                return false;
        }
        (void)log_escape(name, strlen(name), esc, sizeof(esc));
        r = channel_registry_acquire(&b->registry, name, strlen(name), &c);
        if (r < 0) {
                log_warning("discarding stored ring of channel \"%s\": %s", esc,
                            r == -ENFILE ? "limits.max_channels reached" : strerror(-r));
                (void)close(data_fd);
                (void)close(state_fd);
                return false;
        }
        if (c->ring) {
                log_warning("discarding stored ring of channel \"%s\": the channel has a ring "
                            "already (stored twice?)",
                            esc);
                (void)close(data_fd);
                (void)close(state_fd);
                return false;
        }
        r = ring_owner_refusal(&c->settings, why, sizeof(why));
        if (r >= 0)
                r = ring_owner_adopt(b->base, c->name, c->name_len, &c->settings,
                                     b->config->stall_timeout_usec, data_fd, state_fd, why,
                                     sizeof(why), &c->ring);
        else {
                (void)close(data_fd);
                (void)close(state_fd);
        }
        if (r >= 0) {
                r = bridge_new(b, c, &br);
                if (r < 0) {
                        (void)snprintf(why, sizeof(why), "%s", strerror(-r));
                        c->ring = ring_owner_free(c->ring);
                }
        }
        if (r < 0) {
                log_warning("discarding stored ring of channel \"%s\": %s", esc, why);
                channel_release(c);
                return false;
        }
        c->seq = ring_owner_next_seq(c->ring) - 1;
        /* The numbering continues, so the channel is the same one: its epoch too. */
        c->epoch = c->ring->r.channel_epoch;
        c->restored = true;
        restore_retained(c);
        log_info("channel \"%s\" restored from the service manager's fd store: next seq %" PRIu64
                 ", %" PRIu64 " messages in its ring since it was made",
                 esc, ring_owner_next_seq(c->ring), ring_owner_published(c->ring));
        return true;
}

/* The index of the entry of @key and kind @state after @i, or st->n. */
static size_t find_partner(const struct ring_store *st, size_t i) {
        for (size_t j = 0; j < st->n; j++)
                if (j != i && st->fds[j].fd >= 0 && st->fds[j].key == st->fds[i].key &&
                    st->fds[j].state != st->fds[i].state)
                        return j;
        return st->n;
}

unsigned ring_store_restore(struct ring_store *st, struct broker *b) {
        unsigned restored = 0;

        for (size_t i = 0; i < st->n; i++) {
                struct ring_store_fd *e = &st->fds[i];
                size_t j;

                if (e->fd < 0 || e->state)
                        continue;
                j = find_partner(st, i);
                if (j == st->n) {
                        log_warning("discarding stored ring %llu: its STATE region is missing",
                                    e->key);
                        continue;
                }
                if (restore_one(b, e->key, e->fd, st->fds[j].fd))
                        restored++;
                else
                        store_forget(e->key);
                e->fd = st->fds[j].fd = -1;
        }
        for (size_t i = 0; i < st->n; i++)
                if (st->fds[i].fd >= 0) {
                        if (st->fds[i].state && find_partner(st, i) == st->n)
                                log_warning("discarding stored ring %llu: its DATA region is "
                                            "missing",
                                            st->fds[i].key);
                        store_forget(st->fds[i].key);
                }
        ring_store_done(st);
        return restored;
}

void ring_store_done(struct ring_store *st) {
        for (size_t i = 0; i < st->n; i++)
                if (st->fds[i].fd >= 0)
                        (void)close(st->fds[i].fd);
        free(st->fds);
        *st = (struct ring_store){0};
}
