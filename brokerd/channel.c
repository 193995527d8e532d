/* SPDX-License-Identifier: MIT */
/*
 * Channel registry, lifetime, retained values and fan-out (see channel.h).
 *
 * Names are looked up on every OPEN_PUB and SUBSCRIBE, never per message
 * (a publisher holds its channel), so a plain chained hash table is enough;
 * listings sort a snapshot instead of keeping the table ordered.
 */
#include "build-config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "bridge.h"
#include "channel.h"
#include "platform.h"
#include "proto.h"
#include "ring-owner.h"
#include "ring-store.h"
#include "status.h"
#include "util.h"

/* Payloads at least this big are shared by reference between output queues. */
#define PAYLOAD_SHARE_MIN_BYTES 4096
#define REGISTRY_BUCKETS_MIN    64

int payload_new(const void *data, size_t size, struct payload **ret) {
        struct payload *p;

        p = malloc(sizeof(*p) + size);
        if (!p)
                return -ENOMEM;
        p->refs = 1;
        p->size = size;
        if (size > 0)
                memcpy(p->data, data, size);
        *ret = p;
        return 0;
}

struct payload *payload_ref(struct payload *p) {
        if (p)
                p->refs++;
        return p;
}

struct payload *payload_unref(struct payload *p) {
        if (p && --p->refs == 0)
                free(p);
        return NULL;
}

/* FNV-1a: names are short and this is not exposed to hash flooding beyond one client's own
 * channels, whose count is bounded by its memory and subscription limits. */
static size_t name_hash(const char *name, size_t len) {
        uint64_t h = UINT64_C(0xcbf29ce484222325);

        for (size_t i = 0; i < len; i++) {
                h ^= (uint8_t)name[i];
                h *= UINT64_C(0x100000001b3);
        }
        return (size_t)h;
}

int channel_registry_init(struct channel_registry *reg, const struct config *config) {
        *reg = (struct channel_registry){
                .config = config,
                .n_buckets = REGISTRY_BUCKETS_MIN,
                .channels = LIST_INIT(reg->channels),
                .wildcards = LIST_INIT(reg->wildcards),
        };
        reg->buckets = calloc(reg->n_buckets, sizeof(*reg->buckets));
        return reg->buckets ? 0 : -ENOMEM;
}

static void channel_free(struct channel *c);

void channel_registry_deinit(struct channel_registry *reg) {
        struct channel *c, *tmp;

        list_for_each_safe(c, tmp, &reg->channels, node) {
                channel_free(c);
        }
        free(reg->buckets);
        reg->buckets = NULL;
        reg->n_buckets = 0;
}

struct channel *channel_registry_find(struct channel_registry *reg, const char *name, size_t len) {
        struct channel *c;

        for (c = reg->buckets[name_hash(name, len) & (reg->n_buckets - 1)]; c; c = c->hash_next)
                if (c->name_len == len && memcmp(c->name, name, len) == 0)
                        return c;
        return NULL;
}

/* Doubles the table when it gets full; failure only costs longer chains. */
static void registry_grow(struct channel_registry *reg) {
        size_t n = reg->n_buckets * 2;
        struct channel **b;
        struct channel *c;

        if (reg->n_channels < reg->n_buckets)
                return;
        b = calloc(n, sizeof(*b));
        if (!b)
                return;
        list_for_each(c, &reg->channels, node) {
                size_t i = name_hash(c->name, c->name_len) & (n - 1);

                c->hash_next = b[i];
                b[i] = c;
        }
        free(reg->buckets);
        reg->buckets = b;
        reg->n_buckets = n;
}

static void registry_unhash(struct channel_registry *reg, struct channel *c) {
        struct channel **p = &reg->buckets[name_hash(c->name, c->name_len) & (reg->n_buckets - 1)];

        for (; *p; p = &(*p)->hash_next)
                if (*p == c) {
                        *p = c->hash_next;
                        return;
                }
}

/* The ring's share of the counters (zero without a ring). */
static void channel_ring_counts(const struct channel *c, uint64_t *published, uint64_t *delivered,
                                uint64_t *dropped) {
        struct ring_slot_stats t = {0};

        *published = 0;
        if (c->ring) {
                *published = ring_owner_published(c->ring);
                t = ring_owner_totals(c->ring);
        }
        *delivered = t.delivered;
        *dropped = t.lost;
}

uint64_t channel_published(const struct channel *c) {
        return c->published + (c->ring ? ring_owner_published(c->ring) : 0);
}

uint64_t channel_delivered(const struct channel *c) {
        return c->delivered + (c->ring ? ring_owner_totals(c->ring).delivered : 0);
}

uint64_t channel_dropped(const struct channel *c) {
        return c->dropped + (c->ring ? ring_owner_totals(c->ring).lost : 0);
}

void channel_registry_totals(const struct channel_registry *reg, uint64_t *ret_published,
                             uint64_t *ret_delivered, uint64_t *ret_dropped) {
        uint64_t p = reg->published, d = reg->delivered, x = reg->dropped;
        const struct channel *c;

        list_for_each(c, &reg->channels, node) {
                uint64_t rp, rd, rx;

                channel_ring_counts(c, &rp, &rd, &rx);
                p += rp;
                d += rd;
                x += rx;
        }
        *ret_published = p;
        *ret_delivered = d;
        *ret_dropped = x;
}

static void channel_free(struct channel *c) {
        struct channel_registry *reg = c->registry;
        struct sub_link *l, *tmp;
        uint64_t rp, rd, rx;

        list_for_each_safe(l, tmp, &c->links, channel_node) {
                sub_link_free(l);
        }
        registry_unhash(reg, c);
        list_unlink(&c->node);
        reg->n_channels--;
        /* The broker-wide counters keep what the ring counted. */
        channel_ring_counts(c, &rp, &rd, &rx);
        reg->published += rp;
        reg->delivered += rd;
        reg->dropped += rx;
        status_changed(reg->status);
        payload_unref(c->retained);
        bridge_free(c->bridge);
        ring_owner_free(c->ring);
        free(c->name);
        free(c);
}

/* splitmix64: spreads a weak seed over all 64 bits. */
static uint64_t mix64(uint64_t x) {
        x += UINT64_C(0x9e3779b97f4a7c15);
        x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
        return x ^ (x >> 31);
}

/*
 * channel_epoch_new() - a random non-zero id for a channel being created
 * (see channel.h). getrandom() can only fail where it does not exist or
 * is filtered; then the clock, the pid and a counter still make an id no
 * earlier process of this broker gave out, which is all an epoch needs.
 */
uint64_t channel_epoch_new(void) {
        static uint64_t fallback;
        struct timespec ts;
        uint64_t x = 0;

        if (getrandom(&x, sizeof(x), 0) != (ssize_t)sizeof(x) || x == 0) {
                (void)clock_gettime(CLOCK_REALTIME, &ts);
                x = mix64((uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec) ^
                    mix64(((uint64_t)getpid() << 32) + ++fallback);
        }
        return x != 0 ? x : 1;
}

static int channel_new(struct channel_registry *reg, const char *name, size_t len,
                       struct channel **ret) {
        const struct channel_settings *s;
        struct channel *c;
        size_t i;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->name = strndup(name, len);
        if (!c->name) {
                free(c);
                return -ENOMEM;
        }
        c->registry = reg;
        c->name_len = len;
        c->epoch = channel_epoch_new();
        list_init(&c->links);
        list_init(&c->publishers);
        s = config_channel_settings(reg->config, c->name);
        c->settings = *s;
        c->settings.max_message_bytes =
                MIN(c->settings.max_message_bytes, reg->config->max_message_bytes);

        registry_grow(reg);
        i = name_hash(name, len) & (reg->n_buckets - 1);
        c->hash_next = reg->buckets[i];
        reg->buckets[i] = c;
        list_append(&reg->channels, &c->node);
        reg->n_channels++;
        status_changed(reg->status);
        *ret = c;
        return 0;
}

/* Finds or creates; @limited: a new channel must fit in limits.max_channels. */
static int registry_get(struct channel_registry *reg, const char *name, size_t len, bool limited,
                        struct channel **ret) {
        struct channel *c;
        int r;

        c = channel_registry_find(reg, name, len);
        if (c) {
                *ret = c;
                return 0;
        }
        if (limited && reg->n_channels >= reg->config->max_channels)
                return -ENFILE;
        r = channel_new(reg, name, len, &c);
        if (r < 0)
                return r;
        r = subscription_attach_wildcards(c);
        if (r < 0) {
                channel_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

int channel_registry_acquire(struct channel_registry *reg, const char *name, size_t len,
                             struct channel **ret) {
        return registry_get(reg, name, len, true, ret);
}

int channel_registry_declare(struct channel_registry *reg) {
        const struct config *cfg = reg->config;
        struct channel *c;
        int r;

        for (size_t i = 0; i < cfg->n_rules; i++) {
                if (cfg->rules[i].is_pattern)
                        continue;
                /* Declared channels count toward max_channels but always exist. */
                r = registry_get(reg, cfg->rules[i].pattern, strlen(cfg->rules[i].pattern), false,
                                 &c);
                if (r < 0)
                        return r;
                c->declared = true;
        }
        return 0;
}

void channel_release(struct channel *c) {
        if (c->n_publishers > 0 || c->n_subscribers > 0 || c->retained || c->declared ||
            c->restored)
                return;
        if (c->ring && ring_owner_clients(c->ring) > 0)
                return;
        /* Gone while we run: a later start must not bring it back (shutdown keeps them). */
        if (c->ring)
                ring_store_remove(c->ring);
        channel_free(c);
}

void channel_publisher_add(struct channel *c, struct list_node *node) {
        c->restored = false;
        c->n_publishers++;
        list_append(&c->publishers, node);
}

void channel_publisher_remove(struct channel *c, struct list_node *node) {
        c->n_publishers--;
        list_unlink(node);
        channel_release(c);
}

uint64_t channel_next_seq(const struct channel *c) {
        return c->ring ? ring_owner_next_seq(c->ring) : c->seq + 1;
}

/* Stores (or, for an empty payload, clears) the retained value, MQTT style. */
static void channel_retain_payload(struct channel *c, struct payload *p, uint64_t seq,
                                   uint64_t ts) {
        c->retained = payload_unref(c->retained);
        c->retained_seq = seq;
        if (!p || p->size == 0)
                return;
        c->retained = payload_ref(p);
        c->retained_timestamp_ns = ts;
}

int channel_retain(struct channel *c, const void *data, size_t size, uint64_t seq,
                   uint64_t timestamp_ns) {
        struct payload *p = NULL;
        int r;

        if (seq <= c->retained_seq)
                return 0;
        if (size > 0) {
                r = payload_new(data, size, &p);
                if (r < 0)
                        return r;
        }
        channel_retain_payload(c, p, seq, timestamp_ns);
        payload_unref(p);
        return 0;
}

static void channel_count(struct channel *c, struct sub_link *l, enum deliver_result r) {
        switch (r) {
        case DELIVER_QUEUED:
                l->delivered++;
                c->delivered++;
                c->registry->delivered++;
                break;
        case DELIVER_DROPPED:
                l->dropped++;
                c->dropped++;
                c->registry->dropped++;
                break;
        case DELIVER_SKIPPED:
                break;
        }
}

int channel_deliver(struct channel *c, struct channel_message *m, struct peer *origin) {
        struct payload *own = NULL;
        struct sub_link *l;
        int r;

        if (!m->payload && m->size >= PAYLOAD_SHARE_MIN_BYTES && c->n_subscribers > 1) {
                r = payload_new(m->data, m->size, &own);
                if (r < 0)
                        return r;
                m->payload = own;
                m->data = own->data;
        }
        /* Targets never unlink here: a target that must go away defers it. */
        list_for_each(l, &c->links, channel_node) {
                if (m->seq < l->start_seq)
                        continue;
                channel_count(c, l, l->sub->ops->deliver(l->sub, m, origin));
        }
        if (own) {
                m->payload = NULL;
                payload_unref(own);
        }
        return 0;
}

void channel_lose(struct channel *c, uint64_t count) {
        struct sub_link *l;

        list_for_each(l, &c->links, channel_node) {
                l->dropped += count;
                c->dropped += count;
                c->registry->dropped += count;
                l->sub->ops->lose(l->sub, count);
        }
}

int channel_publish(struct channel *c, uint8_t flags, const void *data, size_t size,
                    struct peer *origin) {
        bool retain = flags & PROTO_FLAG_RETAIN;
        struct channel_message m = {
                .channel = c,
                .data = data,
                .size = size,
        };
        int r;

        /* Before sequencing: a failure must not consume a sequence number. */
        if ((retain && size > 0) || (size >= PAYLOAD_SHARE_MIN_BYTES && c->n_subscribers > 1)) {
                r = payload_new(data, size, &m.payload);
                if (r < 0)
                        return r;
                m.data = m.payload->data;
        }
        m.seq = ++c->seq;
        m.timestamp_ns = plat_realtime_nsec();
        c->published++;
        c->registry->published++;
        if (retain)
                channel_retain_payload(c, m.payload, m.seq, m.timestamp_ns);
        r = channel_deliver(c, &m, origin);
        payload_unref(m.payload);
        return r;
}
