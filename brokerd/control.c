/* SPDX-License-Identifier: MIT */
/*
 * Control request replies (see control.h and ipc-broker(7)). Documents are
 * built fully in memory: the largest, a listing of every channel and
 * client, stays far below the 64 MiB REPLY limit for any realistic broker.
 */
#include "build-config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "acl.h"
#include "bridge.h"
#include "broker.h"
#include "control.h"
#include "peer.h"
#include "platform.h"
#include "ring-owner.h"

#define CONTROL_SERVER "ipc-brokerd"

static json_t *json_u64(uint64_t v) {
        /* json_int_t is long long: counters never get near 2^63. */
        return json_integer((json_int_t)v);
}

/* Sets a member, taking the reference of @v; a NULL @v (allocation failure) fails. */
static int obj_set(json_t *obj, const char *key, json_t *v) {
        return v && json_object_set_new(obj, key, v) == 0 ? 0 : -ENOMEM;
}

static int arr_add(json_t *arr, json_t *v) {
        return v && json_array_append_new(arr, v) == 0 ? 0 : -ENOMEM;
}

static int cmp_channel(const void *a, const void *b) {
        const struct channel *const *x = a, *const *y = b;

        return strcmp((*x)->name, (*y)->name);
}

/* The channels sorted by name, in a malloc'd array of registry->n_channels pointers. */
static struct channel **channels_sorted(struct channel_registry *reg) {
        struct channel **v;
        struct channel *c;
        size_t n = 0;

        v = calloc(reg->n_channels ? reg->n_channels : 1, sizeof(*v));
        if (!v)
                return NULL;
        list_for_each(c, &reg->channels, node) {
                v[n++] = c;
        }
        qsort(v, n, sizeof(*v), cmp_channel);
        return v;
}

/* Active slots of the channel's shared-memory ring, sub and pub together. */
static unsigned channel_ring_clients(const struct channel *c) {
        return c->ring ? ring_owner_clients(c->ring) : 0;
}

static unsigned channel_ring_subscribers(const struct channel *c) {
        return c->ring ? (unsigned)__builtin_popcountll(c->ring->subs_used) : 0;
}

/*
 * The fields a channel listing and channel stats share; a new object with
 * them, or NULL. "subscribers" counts socket subscriptions and ring
 * subscribers; a ring publisher opened the channel for publishing first,
 * so "publishers" counts it already.
 */
static json_t *channel_counts(const struct channel *c) {
        json_t *o = json_object();

        if (!o || obj_set(o, "name", json_string(c->name)) < 0 ||
            obj_set(o, "publishers", json_u64(c->n_publishers)) < 0 ||
            obj_set(o, "subscribers", json_u64(c->n_subscribers + channel_ring_subscribers(c))) <
                    0 ||
            obj_set(o, "ring_clients", json_u64(channel_ring_clients(c))) < 0 ||
            obj_set(o, "published", json_u64(channel_published(c))) < 0)
                return json_decref(o), NULL;
        return o;
}

static json_t *channel_listing(const struct channel *c) {
        json_t *o = channel_counts(c);

        if (!o || obj_set(o, "retained", json_boolean(c->retained != NULL)) < 0 ||
            obj_set(o, "next_seq", json_u64(channel_next_seq(c))) < 0 ||
            obj_set(o, "overflow", json_string(config_overflow_name(c->settings.overflow))) < 0 ||
            obj_set(o, "max_message_bytes", json_u64(c->settings.max_message_bytes)) < 0)
                return json_decref(o), NULL;
        return o;
}

/*
 * "ring": null, or the ring's geometry, fill, wake-ups and corrupt records
 * seen (by client subscribers and the broker's bridge).
 */
static json_t *ring_stats(const struct channel *c) {
        struct ring_owner *o = c->ring;
        json_t *r;

        if (!o)
                return json_null();
        r = json_object();
        if (!r || obj_set(r, "capacity", json_u64(o->r.capacity)) < 0 ||
            obj_set(r, "fill_bytes", json_u64(ring_fill_bytes(&o->r))) < 0 ||
            obj_set(r, "publishers", json_u64((uint64_t)__builtin_popcountll(o->pubs_used))) < 0 ||
            obj_set(r, "subscribers", json_u64(channel_ring_subscribers(c))) < 0 ||
            obj_set(r, "wakeups", json_u64(ring_owner_totals(o).wakeups)) < 0 ||
            obj_set(r, "corrupt", json_u64(ring_owner_totals(o).corrupt +
                                           (c->bridge ? c->bridge->corrupt : 0))) < 0)
                return json_decref(r), NULL;
        return r;
}

/*
 * The row of client @p in @role, found or added with zero counters. One row
 * per client and role: a library publisher holds both a socket publisher
 * and a ring slot, and several subscriptions of one client may match.
 */
static json_t *client_row(json_t *rows, const struct peer *p, const char *role) {
        json_t *row;
        size_t i;

        json_array_foreach(rows, i, row) {
                if (json_integer_value(json_object_get(row, "client")) == (json_int_t)p->id &&
                    strcmp(json_string_value(json_object_get(row, "role")), role) == 0)
                        return row;
        }
        row = json_pack("{s:I, s:s, s:s, s:I, s:I, s:I, s:I}", "client", (json_int_t)p->id, "role",
                        role, "transport", peer_transport_name(p), "published", (json_int_t)0,
                        "delivered", (json_int_t)0, "dropped", (json_int_t)0, "wakeups",
                        (json_int_t)0);
        if (arr_add(rows, row) < 0)
                return NULL;
        return row;
}

static void row_add(json_t *row, const char *key, uint64_t v) {
        (void)json_integer_set(json_object_get(row, key),
                               json_integer_value(json_object_get(row, key)) + (json_int_t)v);
}

/* Ring slots: the counters their holders keep in shared memory. */
static int ring_client_rows(const struct channel *c, json_t *rows) {
        for (uint8_t role = 0; c->ring && role < _PROTO_RING_ROLE_MAX; role++) {
                const char *name = role == PROTO_RING_SUBSCRIBER ? "subscriber" : "publisher";

                for (uint32_t slot = 0; slot < RING_OWNER_SLOTS; slot++) {
                        const struct peer *p = ring_owner_holder(c->ring, role, slot);
                        struct ring_slot_stats st;
                        json_t *row;

                        if (!p)
                                continue;
                        row = client_row(rows, p, name);
                        if (!row || obj_set(row, "transport", json_string("ring")) < 0)
                                return -ENOMEM;
                        st = ring_owner_slot_stats(c->ring, role, slot);
                        row_add(row, "published", st.published);
                        row_add(row, "wakeups", st.wakeups);
                        row_add(row, "delivered", st.delivered);
                        row_add(row, "dropped", st.lost);
                }
        }
        return 0;
}

/* Socket publishers and subscriptions: what the broker did for them on @c. */
static int socket_client_rows(const struct channel *c, json_t *rows) {
        const struct publisher *pub;
        const struct sub_link *l;
        json_t *row;

        list_for_each(pub, &c->publishers, channel_node) {
                row = client_row(rows, pub->peer, "publisher");
                if (!row)
                        return -ENOMEM;
                row_add(row, "published", pub->published);
                row_add(row, "wakeups", pub->wakeups);
        }
        list_for_each(l, &c->links, channel_node) {
                row = client_row(rows, l->sub->owner, "subscriber");
                if (!row)
                        return -ENOMEM;
                row_add(row, "delivered", l->delivered);
                row_add(row, "dropped", l->dropped);
        }
        return 0;
}

static json_t *channel_clients(const struct channel *c) {
        json_t *rows = json_array();

        if (!rows || ring_client_rows(c, rows) < 0 || socket_client_rows(c, rows) < 0)
                return json_decref(rows), NULL;
        return rows;
}

static json_t *channel_stats(const struct channel *c) {
        json_t *o = channel_counts(c);

        if (!o || obj_set(o, "delivered", json_u64(channel_delivered(c))) < 0 ||
            obj_set(o, "dropped", json_u64(channel_dropped(c))) < 0 ||
            obj_set(o, "transport", json_string(c->ring ? "ring" : "socket")) < 0 ||
            obj_set(o, "ring", ring_stats(c)) < 0 || obj_set(o, "clients", channel_clients(c)) < 0)
                return json_decref(o), NULL;
        return o;
}

/* Whether @who (NULL: anyone) may publish on or subscribe to @c. */
static bool channel_visible(const struct broker *b, const struct identity *who,
                            const struct channel *c) {
        const struct acl *acl = &b->config->access;

        return !who || acl_allows(acl, who, ACL_PUBLISH, c->name, c->name_len) ||
               acl_allows(acl, who, ACL_SUBSCRIBE, c->name, c->name_len);
}

/* An array of fn(channel) for every channel @who may see, sorted by name. */
static json_t *channels_json(struct broker *b, const struct identity *who,
                             json_t *(*fn)(const struct channel *)) {
        struct channel **v = channels_sorted(&b->registry);
        json_t *arr = json_array();

        if (!v || !arr)
                goto fail;
        for (size_t i = 0; i < b->registry.n_channels; i++)
                if (channel_visible(b, who, v[i]) && arr_add(arr, fn(v[i])) < 0)
                        goto fail;
        free(v);
        return arr;
fail:
        free(v);
        json_decref(arr);
        return NULL;
}

/* Client names are arbitrary bytes: JSON needs UTF-8, so fall back to an escaped form. */
static json_t *client_name(const struct peer *p) {
        char esc[LOG_ESCAPE_BYTES(PROTO_NAME_MAX)];
        json_t *s = json_stringn(p->name, p->name_len);

        return s ? s : json_string(log_escape(p->name, p->name_len, esc, sizeof(esc)));
}

/* The name TLS authenticated (certificate CN or token name), or null. */
static json_t *client_remote(const struct peer *p) {
        char esc[LOG_ESCAPE_BYTES(IDENTITY_NAME_MAX)];
        json_t *s;

        if (p->ident.kind != IDENTITY_REMOTE)
                return json_null();
        s = json_string(p->ident.name);
        return s ? s
                 : json_string(log_escape(p->ident.name, strlen(p->ident.name), esc, sizeof(esc)));
}

static json_t *client_stats(const struct peer *p) {
        bool local = p->ident.kind == IDENTITY_LOCAL;
        json_t *o = json_object();

        if (!o || obj_set(o, "id", json_u64(p->id)) < 0 || obj_set(o, "name", client_name(p)) < 0 ||
            obj_set(o, "pid", local ? json_integer(p->ident.pid) : json_null()) < 0 ||
            obj_set(o, "uid", local ? json_integer(p->ident.uid) : json_null()) < 0 ||
            obj_set(o, "remote", client_remote(p)) < 0 ||
            obj_set(o, "transport", json_string(peer_transport_name(p))) < 0 ||
            obj_set(o, "publishers", json_u64(p->n_pubs)) < 0 ||
            obj_set(o, "subscriptions", json_u64(p->n_subs)) < 0 ||
            obj_set(o, "queued_bytes", json_u64(peer_queued(p))) < 0 ||
            obj_set(o, "received", json_u64(p->received)) < 0 ||
            obj_set(o, "sent", json_u64(p->sent)) < 0 ||
            obj_set(o, "dropped", json_u64(p->dropped)) < 0)
                return json_decref(o), NULL;
        return o;
}

static json_t *clients_json(struct broker *b) {
        json_t *arr = json_array();
        struct peer *p;

        if (!arr)
                return NULL;
        list_for_each(p, &b->peers, node) {
                if (p->state >= PEER_CLOSING)
                        continue;
                if (arr_add(arr, client_stats(p)) < 0)
                        return json_decref(arr), NULL;
        }
        return arr;
}

/* One user's account (quota.h): what its connections hold together. */
static json_t *user_stats(const struct quota_user *u) {
        char text[QUOTA_USER_TEXT_MAX];
        bool local = u->kind == IDENTITY_LOCAL;
        json_t *o = json_object();

        if (!o || obj_set(o, "user", json_string(quota_user_describe(u, text, sizeof(text)))) < 0 ||
            obj_set(o, "uid", local ? json_integer(u->uid) : json_null()) < 0 ||
            obj_set(o, "connections", json_u64(u->connections)) < 0 ||
            obj_set(o, "queued_bytes", json_u64(u->queued_bytes)) < 0 ||
            obj_set(o, "rings", json_u64(u->rings)) < 0 ||
            obj_set(o, "congested", json_boolean(u->congested)) < 0)
                return json_decref(o), NULL;
        return o;
}

static json_t *users_json(struct broker *b) {
        const struct quota_user *u;
        json_t *arr = json_array();

        if (!arr)
                return NULL;
        list_for_each(u, &b->quota.users, node) {
                if (arr_add(arr, user_stats(u)) < 0)
                        return json_decref(arr), NULL;
        }
        return arr;
}

/* Connections being closed still hold a descriptor, but are no longer clients. */
static size_t count_clients(struct broker *b) {
        struct peer *p;
        size_t n = 0;

        list_for_each(p, &b->peers, node) {
                n += p->state < PEER_CLOSING;
        }
        return n;
}

static json_t *stats_json(struct broker *b) {
        const struct channel_registry *reg = &b->registry;
        uint64_t published, delivered, dropped;
        json_t *o = json_object();

        channel_registry_totals(reg, &published, &delivered, &dropped);
        if (!o || obj_set(o, "version", json_string(PACKAGE_VERSION)) < 0 ||
            obj_set(o, "uptime_usec", json_u64(plat_now_usec() - b->start_usec)) < 0 ||
            obj_set(o, "connections", json_u64(count_clients(b))) < 0 ||
            obj_set(o, "channels", json_u64(reg->n_channels)) < 0 ||
            obj_set(o, "published", json_u64(published)) < 0 ||
            obj_set(o, "delivered", json_u64(delivered)) < 0 ||
            obj_set(o, "dropped", json_u64(dropped)) < 0 ||
            obj_set(o, "slow_disconnects", json_u64(b->slow_disconnects)) < 0 ||
            obj_set(o, "channel_stats", channels_json(b, NULL, channel_stats)) < 0 ||
            obj_set(o, "clients", clients_json(b)) < 0 || obj_set(o, "users", users_json(b)) < 0)
                return json_decref(o), NULL;
        return o;
}

static json_t *ping_json(void) {
        return json_pack("{s:s, s:s}", "server", CONTROL_SERVER, "version", PACKAGE_VERSION);
}

static int control_unsupported(uint16_t op, int32_t *ret_status, char **ret_text, size_t *ret_len) {
        char *text;
        int n;

        n = asprintf(&text, "unknown request operation %u", op);
        if (n < 0)
                return -ENOMEM;
        *ret_status = -EOPNOTSUPP;
        *ret_text = text;
        *ret_len = (size_t)n;
        return 0;
}

int control_request(struct broker *b, const struct identity *who, uint16_t op, int32_t *ret_status,
                    char **ret_text, size_t *ret_len) {
        json_t *doc;
        char *text;

        switch (op) {
        case PROTO_OP_PING:
                doc = ping_json();
                break;
        case PROTO_OP_LIST_CHANNELS:
                doc = channels_json(b, who, channel_listing);
                break;
        case PROTO_OP_STATS:
                doc = stats_json(b);
                break;
        default:
                return control_unsupported(op, ret_status, ret_text, ret_len);
        }
        if (!doc)
                return -ENOMEM;
        text = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        if (!text)
                return -ENOMEM;
        *ret_status = 0;
        *ret_text = text;
        *ret_len = strlen(text);
        return 0;
}
