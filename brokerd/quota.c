/* SPDX-License-Identifier: MIT */
/*
 * Per-user accounting (see quota.h).
 *
 * Users are looked up once per accepted connection, never per message (a
 * connection keeps its user), so a chained hash table that doubles when
 * full is enough. The listing for statistics walks the creation-order list.
 */
#include "build-config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "quota.h"

#define QUOTA_BUCKETS_MIN 16

int quota_init(struct quota *q) {
        *q = (struct quota){
                .n_buckets = QUOTA_BUCKETS_MIN,
                .users = LIST_INIT(q->users),
                .drained = LIST_INIT(q->drained),
        };
        q->buckets = calloc(q->n_buckets, sizeof(*q->buckets));
        return q->buckets ? 0 : -ENOMEM;
}

void quota_deinit(struct quota *q) {
        free(q->buckets);
        q->buckets = NULL;
        q->n_buckets = 0;
}

/* FNV-1a over the kind and the uid (LOCAL) or the name (REMOTE). */
static size_t key_hash(enum identity_kind kind, uid_t uid, const char *name) {
        uint64_t h = (UINT64_C(0xcbf29ce484222325) ^ (uint8_t)kind) * UINT64_C(0x100000001b3);
        uint32_t u32 = (uint32_t)uid;
        const uint8_t *s = (const uint8_t *)&u32;
        size_t len = sizeof(u32);

        if (kind == IDENTITY_REMOTE) {
                s = (const uint8_t *)name;
                len = strlen(name);
        } else if (kind != IDENTITY_LOCAL) {
                len = 0;
        }
        for (size_t i = 0; i < len; i++)
                h = (h ^ s[i]) * UINT64_C(0x100000001b3);
        return (size_t)h;
}

static size_t identity_hash(const struct identity *id) {
        return key_hash(id->kind, id->uid, id->name);
}

static size_t user_hash(const struct quota_user *u) {
        return key_hash(u->kind, u->uid, u->name);
}

static bool user_is(const struct quota_user *u, const struct identity *id) {
        if (u->kind != id->kind)
                return false;
        switch (id->kind) {
        case IDENTITY_LOCAL:
                return u->uid == id->uid;
        case IDENTITY_REMOTE:
                return strcmp(u->name, id->name) == 0;
        default:
                return true;
        }
}

struct quota_user *quota_find(struct quota *q, const struct identity *id) {
        struct quota_user *u = q->buckets[identity_hash(id) & (q->n_buckets - 1)];

        for (; u; u = u->hash_next)
                if (user_is(u, id))
                        return u;
        return NULL;
}

size_t quota_connections(struct quota *q, const struct identity *id) {
        const struct quota_user *u = quota_find(q, id);

        return u ? u->connections : 0;
}

static void quota_hash_add(struct quota *q, struct quota_user *u) {
        size_t i = user_hash(u) & (q->n_buckets - 1);

        u->hash_next = q->buckets[i];
        q->buckets[i] = u;
}

/* Doubles the table when it gets full; failure only costs longer chains. */
static void quota_grow(struct quota *q) {
        struct quota_user **old = q->buckets;
        size_t n = q->n_buckets * 2;
        struct quota_user *u;

        if (q->n_users < q->n_buckets)
                return;
        q->buckets = calloc(n, sizeof(*q->buckets));
        if (!q->buckets) {
                q->buckets = old;
                return;
        }
        q->n_buckets = n;
        free(old);
        list_for_each(u, &q->users, node) {
                quota_hash_add(q, u);
        }
}

static void quota_unhash(struct quota *q, struct quota_user *u) {
        struct quota_user **p = &q->buckets[user_hash(u) & (q->n_buckets - 1)];

        for (; *p; p = &(*p)->hash_next)
                if (*p == u) {
                        *p = u->hash_next;
                        return;
                }
}

static int quota_user_new(struct quota *q, const struct identity *id, struct quota_user **ret) {
        struct quota_user *u;

        u = calloc(1, sizeof(*u));
        if (!u)
                return -ENOMEM;
        u->quota = q;
        u->kind = id->kind;
        u->uid = id->kind == IDENTITY_LOCAL ? id->uid : 0;
        if (id->kind == IDENTITY_REMOTE) {
                u->name = strdup(id->name);
                if (!u->name) {
                        free(u);
                        return -ENOMEM;
                }
        }
        list_init(&u->wake_node);
        list_init(&u->peers);
        quota_grow(q);
        quota_hash_add(q, u);
        list_append(&q->users, &u->node);
        q->n_users++;
        *ret = u;
        return 0;
}

int quota_connect(struct quota *q, const struct identity *id, struct quota_user **ret) {
        struct quota_user *u = quota_find(q, id);
        int r;

        if (!u) {
                r = quota_user_new(q, id, &u);
                if (r < 0)
                        return r;
        }
        u->connections++;
        *ret = u;
        return 0;
}

struct quota_user *quota_disconnect(struct quota_user *u) {
        struct quota *q;

        if (!u || --u->connections > 0)
                return NULL;
        q = u->quota;
        quota_unhash(q, u);
        list_unlink(&u->node);
        list_unlink(&u->wake_node);
        q->n_users--;
        free(u->name);
        free(u);
        return NULL;
}

enum quota_change quota_queue(struct quota_user *u, uint64_t added, uint64_t deleted,
                              uint64_t max_bytes) {
        /* Never below zero, whatever a caller's bookkeeping did. */
        deleted = MIN(deleted, u->queued_bytes + added);
        u->queued_bytes = u->queued_bytes + added - deleted;
        u->written += deleted;
        if (!u->congested && u->queued_bytes > max_bytes) {
                u->congested = true;
                list_unlink(&u->wake_node);
                return QUOTA_CONGESTED;
        }
        if (u->congested && u->queued_bytes <= max_bytes / 2) {
                u->congested = false;
                if (!list_is_linked(&u->wake_node))
                        list_append(&u->quota->drained, &u->wake_node);
                return QUOTA_DRAINED;
        }
        return QUOTA_UNCHANGED;
}

bool quota_user_congested(const struct quota_user *u) {
        return u && u->congested;
}

struct quota_user *quota_next_drained(struct quota *q) {
        struct list_node *n = list_first(&q->drained);

        if (!n)
                return NULL;
        list_unlink(n);
        return list_entry(n, struct quota_user, wake_node);
}

bool quota_rings_full(const struct quota_user *u, uint32_t max) {
        return u->rings >= max;
}

void quota_ring_charge(struct quota_user *u) {
        u->rings++;
}

void quota_ring_release(struct quota_user *u) {
        if (u->rings > 0)
                u->rings--;
}

const char *quota_user_describe(const struct quota_user *u, char *buf, size_t len) {
        char name[LOG_ESCAPE_BYTES(IDENTITY_NAME_MAX)];

        switch (u->kind) {
        case IDENTITY_LOCAL:
                (void)snprintf(buf, len, "uid %u", (unsigned)u->uid);
                break;
        case IDENTITY_REMOTE:
                (void)snprintf(buf, len, "remote \"%s\"",
                               log_escape(u->name, strlen(u->name), name, sizeof(name)));
                break;
        default:
                (void)snprintf(buf, len, "anonymous");
                break;
        }
        return buf;
}
