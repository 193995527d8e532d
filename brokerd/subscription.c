/* SPDX-License-Identifier: MIT */
/*
 * Subscriptions and their links to channels (see channel.h).
 *
 * An exact subscription has one link, to the channel it names (created if
 * needed). A wildcard subscription sits on the registry's wildcard list and
 * gets a link to each matching channel its owner accepts (may_attach, the
 * access rules), now and whenever a matching channel is created; it never
 * creates channels itself. Every link keeps its channel alive.
 */
#include "build-config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "channel-name.h"
#include "channel.h"
#include "proto.h"

static int sub_link_new(struct subscription *s, struct channel *c) {
        struct sub_link *l;

        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->channel = c;
        l->sub = s;
        l->start_seq = channel_next_seq(c);
        list_append(&c->links, &l->channel_node);
        list_append(&s->links, &l->sub_node);
        c->restored = false;
        c->n_subscribers++;
        /* The ring's socket subscribers are fed by its bridge: it must read now. */
        if (c->bridge)
                bridge_links_changed(c->bridge);
        return 0;
}

void sub_link_free(struct sub_link *l) {
        struct channel *c = l->channel;

        c->n_subscribers--;
        list_unlink(&l->channel_node);
        list_unlink(&l->sub_node);
        free(l);
        if (c->bridge)
                bridge_links_changed(c->bridge);
}

static bool sub_matches(struct subscription *s, const struct channel *c) {
        return channel_pattern_match(s->pattern, s->pattern_len, c->name, c->name_len) &&
               (!s->ops->may_attach || s->ops->may_attach(s, c));
}

int subscription_attach_wildcards(struct channel *c) {
        struct subscription *s;
        int r;

        list_for_each(s, &c->registry->wildcards, wildcard_node) {
                if (!sub_matches(s, c))
                        continue;
                r = sub_link_new(s, c);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int subscription_attach_existing(struct subscription *s) {
        struct channel *c;
        int r;

        list_for_each(c, &s->registry->channels, node) {
                if (!sub_matches(s, c))
                        continue;
                r = sub_link_new(s, c);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int subscription_attach_exact(struct subscription *s) {
        struct channel *c;
        int r;

        r = channel_registry_acquire(s->registry, s->pattern, s->pattern_len, &c);
        if (r < 0)
                return r;
        r = sub_link_new(s, c);
        if (r < 0)
                channel_release(c);
        return r;
}

int subscription_new(struct channel_registry *reg, const char *pattern, size_t len,
                     const struct subscription_ops *ops, void *owner, uint32_t id,
                     struct subscription **ret) {
        struct subscription *s;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->registry = reg;
        s->ops = ops;
        s->owner = owner;
        s->id = id;
        list_init(&s->links);
        list_init(&s->owner_node);
        list_init(&s->wildcard_node);
        s->pattern = strndup(pattern, len);
        if (!s->pattern) {
                free(s);
                return -ENOMEM;
        }
        s->pattern_len = len;
        s->wildcard = channel_pattern_has_wildcard(pattern, len);
        if (s->wildcard) {
                list_append(&reg->wildcards, &s->wildcard_node);
                r = subscription_attach_existing(s);
        } else {
                r = subscription_attach_exact(s);
        }
        if (r < 0) {
                subscription_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

struct subscription *subscription_free(struct subscription *s) {
        struct sub_link *l, *tmp;

        if (!s)
                return NULL;
        list_unlink(&s->wildcard_node);
        list_unlink(&s->owner_node);
        list_for_each_safe(l, tmp, &s->links, sub_node) {
                struct channel *c = l->channel;

                sub_link_free(l);
                /* Careful: may free @c and with it other subscriptions' links, never ours. */
                channel_release(c);
        }
        free(s->pattern);
        free(s);
        return NULL;
}

void subscription_replay_retained(struct subscription *s) {
        struct sub_link *l;

        list_for_each(l, &s->links, sub_node) {
                struct channel *c = l->channel;
                struct channel_message m = {
                        .channel = c,
                        .flags = PROTO_FLAG_RETAIN,
                };

                /* A value the ring still holds ahead of a lagging bridge arrives live. */
                if (!c->retained || c->retained_seq >= l->start_seq)
                        continue;
                m.seq = c->retained_seq;
                m.timestamp_ns = c->retained_timestamp_ns;
                m.data = c->retained->data;
                m.size = c->retained->size;
                m.payload = c->retained;
                (void)s->ops->deliver(s, &m, NULL);
        }
}
