/* SPDX-License-Identifier: MIT */
/*
 * Channels: the registry of named channels, wildcard matching, retained
 * values, sequence numbers and counters, and the fan-out of a published
 * message to every subscription of a channel.
 *
 * This module knows nothing about connections. A subscription is the link
 * between channels and a delivery target, reached only through
 * subscription_ops, so the socket peer (peer.c) is one kind of target and
 * the shared-memory ring transport can add another. Publishers are counted
 * per channel for the same reason: whoever publishes holds a count (and
 * links a node, for statistics).
 *
 * Sequencing and delivery are separate steps: a channel without a ring
 * numbers a socket PUBLISH itself and fans it out at once
 * (channel_publish()); a channel with a ring gets its numbers from the
 * ring, and its bridge (bridge.h) fans out what it reads from there
 * (channel_deliver()).
 *
 * Lifetime: a channel exists while it has publishers, subscriptions (a
 * wildcard one attached to it counts), a retained value, or a declaration
 * in the configuration, or an active slot of its shared-memory ring
 * (ring-owner.h), or, after a restart, a ring taken back from the service
 * manager's fd store that no client has attached to yet (ring-store.h:
 * its clients are expected back); otherwise channel_release() frees it,
 * and takes its ring out of the fd store. Keeping it
 * while a wildcard subscriber is attached keeps its sequence numbers
 * running for that subscriber across publisher restarts.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "list.h"

struct bridge;
struct channel;
struct channel_registry;
struct ring_owner;
struct subscription;
struct peer;

/*
 * A reference-counted copy of a payload: a retained value, or a large
 * message shared by many output queues without one copy per subscriber.
 */
struct payload {
        unsigned refs;
        size_t size;
        uint8_t data[];
};

/* One message as handed to delivery targets. */
struct channel_message {
        struct channel *channel;
        uint64_t seq;
        uint64_t timestamp_ns;
        uint8_t flags; /* PROTO_FLAG_RETAIN: a retained value replayed to a new subscriber */
        const void *data;
        size_t size;
        struct payload *payload; /* the same bytes, shareable (payload_ref()), or NULL */
        struct bridge *bridge;   /* read from the ring by this bridge: "block" targets pause it */
};

/* What a delivery target did with a message; drives the channel's counters. */
enum deliver_result {
        DELIVER_QUEUED,
        DELIVER_DROPPED, /* overflow policy "drop" */
        DELIVER_SKIPPED, /* target is going away; not counted */
};

struct subscription_ops {
        /*
         * Queues @m for @s, applying the channel's overflow policy. @origin
         * is the publishing connection (NULL for replays), which a "block"
         * target stops reading from. Must not free subscriptions or
         * channels: closing a target is deferred by its owner.
         */
        enum deliver_result (*deliver)(struct subscription *s, const struct channel_message *m,
                                       struct peer *origin);
        /*
         * @count messages of a channel @s is attached to were lost before
         * they could be delivered (the bridge was lapped on a "drop"
         * ring); the target reports it like its own drops.
         */
        void (*lose)(struct subscription *s, uint64_t count);
        /*
         * Whether the wildcard subscription @s may attach to the matching
         * channel @c, asked when it subscribes and whenever a matching
         * channel is created (the access rules, for sockets); one it may
         * not is left out, retained value and all. NULL: every matching
         * channel. An exact subscription is checked before it is made.
         */
        bool (*may_attach)(struct subscription *s, const struct channel *c);
};

struct channel {
        struct channel_registry *registry;
        struct channel *hash_next;
        struct list_node node; /* registry->channels */
        char *name;            /* NUL-terminated, valid channel name */
        size_t name_len;
        struct channel_settings settings; /* max_message_bytes clamped to the global limit */
        bool declared;                    /* exact name in the configuration */
        bool restored; /* its ring came back from the fd store and nobody attached since */

        uint64_t seq; /* last sequence number given out; the first message gets 1 */
        /*
         * Random and non-zero, given when the channel is created; a ring
         * stores it in its header, so a channel restored from the fd store
         * keeps it (ring-store.h). Sequence numbers mean something only
         * under one epoch: a subscriber whose resume point names another
         * (the channel was created afresh and numbers from 1 again) has a
         * gap of unknown size (ipc-broker(7) "Channel epochs").
         */
        uint64_t epoch;
        struct payload *retained;
        uint64_t retained_seq;
        uint64_t retained_timestamp_ns;

        struct list_node links;      /* struct sub_link.channel_node */
        struct list_node publishers; /* one node per publisher (the owner's struct) */
        unsigned n_publishers;
        unsigned n_subscribers;  /* links, exact and wildcard */
        struct ring_owner *ring; /* created by the first OPEN_RING, freed with the channel */
        struct bridge *bridge;   /* with the ring: socket publishes in, socket deliveries out */

        uint64_t published; /* by channel_sequence(); ring publishes: channel_published() */
        uint64_t delivered; /* to socket subscriptions */
        uint64_t dropped;
};

struct channel_registry {
        const struct config *config;
        struct status *status; /* told when n_channels changes; NULL: nobody */
        struct channel **buckets;
        size_t n_buckets;
        size_t n_channels;
        struct list_node channels;  /* struct channel.node, creation order */
        struct list_node wildcards; /* struct subscription.wildcard_node */

        uint64_t published;
        uint64_t delivered;
        uint64_t dropped;
};

struct subscription {
        struct channel_registry *registry;
        const struct subscription_ops *ops;
        void *owner; /* the delivery target's object (a struct peer for sockets) */
        uint32_t id;
        char *pattern; /* NUL-terminated */
        size_t pattern_len;
        bool wildcard;
        uint64_t lost;               /* dropped since the last LOSS report */
        struct list_node links;      /* struct sub_link.sub_node */
        struct list_node owner_node; /* free for the owner's use */
        struct list_node wildcard_node;
};

/* The attachment of one subscription to one channel. */
struct sub_link {
        struct channel *channel;
        struct subscription *sub;
        struct list_node channel_node;
        struct list_node sub_node;
        /* The first seq for this link: a bridge behind the tail must not deliver older ones. */
        uint64_t start_seq;
        uint64_t delivered; /* statistics of this subscription on this channel */
        uint64_t dropped;
};

/* ---- payloads ---- */
int payload_new(const void *data, size_t size, struct payload **ret);
struct payload *payload_ref(struct payload *p);
struct payload *payload_unref(struct payload *p);

/* A new channel epoch (see struct channel). */
uint64_t channel_epoch_new(void);

/* ---- registry ---- */
int channel_registry_init(struct channel_registry *reg, const struct config *config);
/* Frees every channel; subscriptions must be gone already. */
void channel_registry_deinit(struct channel_registry *reg);
/* Creates the channels the configuration declares by exact name, max_channels or not. */
int channel_registry_declare(struct channel_registry *reg);
struct channel *channel_registry_find(struct channel_registry *reg, const char *name, size_t len);

/*
 * channel_registry_acquire() - find or create a channel.
 * @name, @len: a valid channel name (the caller checked it).
 * A new channel gets config_channel_settings() and every matching wildcard
 * subscription attached.
 * Return: 0; -ENFILE (a new channel would pass limits.max_channels);
 * -ENOMEM.
 */
int channel_registry_acquire(struct channel_registry *reg, const char *name, size_t len,
                             struct channel **ret);

/* Broker-wide counters, every ring's included. */
void channel_registry_totals(const struct channel_registry *reg, uint64_t *ret_published,
                             uint64_t *ret_delivered, uint64_t *ret_dropped);

/* Frees @c if nothing keeps it alive any more (see above). */
void channel_release(struct channel *c);

/* ---- publishing ---- */
/* @node: the publisher's, listed in c->publishers until removed. */
void channel_publisher_add(struct channel *c, struct list_node *node);
/* May free @c. */
void channel_publisher_remove(struct channel *c, struct list_node *node);

/*
 * channel_publish() - sequence, retain and fan out one message, on a
 * channel without a ring.
 * @flags: PROTO_FLAG_RETAIN to store it as the retained value (an empty
 *         payload clears it); live deliveries never carry the flag.
 * @origin: the publishing connection, for back-pressure.
 * Return: 0; -ENOMEM (nothing was delivered).
 */
int channel_publish(struct channel *c, uint8_t flags, const void *data, size_t size,
                    struct peer *origin);

/*
 * channel_retain() - store a copy as the retained value (an empty payload
 * clears it) if @seq is newer than the one stored; older ones are ignored.
 * Return: 0; -ENOMEM.
 */
int channel_retain(struct channel *c, const void *data, size_t size, uint64_t seq,
                   uint64_t timestamp_ns);

/*
 * channel_deliver() - fan @m out to every subscription attached to @c
 * whose link started at or before m->seq, counting the outcome. May copy
 * a large payload once to share it between queues.
 * Return: 0; -ENOMEM (nothing was delivered).
 */
int channel_deliver(struct channel *c, struct channel_message *m, struct peer *origin);

/* Reports @count lost messages to every subscription attached to @c. */
void channel_lose(struct channel *c, uint64_t count);

/* The sequence number the next message of @c gets (from the ring, once there is one). */
uint64_t channel_next_seq(const struct channel *c);

/* Counters including the ring's (published from its seq; ring subscribers' deliveries). */
uint64_t channel_published(const struct channel *c);
uint64_t channel_delivered(const struct channel *c);
uint64_t channel_dropped(const struct channel *c);

/* ---- subscriptions (subscription.c) ---- */

/*
 * subscription_new() - subscribe a delivery target to a name or pattern.
 * @pattern, @len: valid per channel_pattern_valid().
 * An exact name creates its channel; a pattern attaches to every existing
 * matching channel now and to matching channels created later.
 * Return: 0; -ENFILE (an exact name's new channel would pass
 * limits.max_channels); -ENOMEM.
 */
int subscription_new(struct channel_registry *reg, const char *pattern, size_t len,
                     const struct subscription_ops *ops, void *owner, uint32_t id,
                     struct subscription **ret);

/* Detaches from every channel (which may free them). Accepts NULL. Return: NULL. */
struct subscription *subscription_free(struct subscription *s);

/*
 * subscription_replay_retained() - deliver the retained value of every
 * channel @s is attached to, with PROTO_FLAG_RETAIN, in channel order.
 */
void subscription_replay_retained(struct subscription *s);

/* Attaches every matching wildcard subscription to the new channel @c. */
int subscription_attach_wildcards(struct channel *c);

/* Frees one link (called by channel teardown). */
void sub_link_free(struct sub_link *l);
