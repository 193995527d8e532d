/* SPDX-License-Identifier: MIT */
/*
 * The bridge between a channel's shared-memory ring and its socket path.
 * Once a channel has a ring, the ring is the channel's one stream, so ring
 * and socket clients see the same messages, in the same order, with the
 * same sequence numbers:
 *
 *  socket -> ring   A socket PUBLISH is written into the ring through the
 *                   broker's own pub slot (bridge_publish()). After the
 *                   publishing connection's batch of frames, sleeping ring
 *                   subscribers are woken and the bridge drained
 *                   (bridge_flush()). Under "block"/"disconnect" a PUBLISH
 *                   that finds no space stays unconsumed in the peer's
 *                   input, the peer is not read, and the broker waits on
 *                   its space eventfd (bridge_wait_space()).
 *
 *  ring -> socket   While socket subscriptions are attached to the channel
 *                   (exact or wildcard), the broker's sub slot is active and
 *                   reads the ring like any subscriber, woken by its
 *                   eventfd, and fans each message out through
 *                   channel_deliver(). A batch is bounded, so a busy channel
 *                   cannot starve the loop. Under "block" it pauses while a
 *                   block-policy socket subscriber is congested (flow.c
 *                   resumes it); under "drop" the bridge's own loss becomes
 *                   LOSS for every socket subscription.
 *
 * A channel without socket subscribers costs the broker nothing per ring
 * message. The bridge also runs the once-a-second watch of ring
 * subscribers that hold publishers back (bridge_check_stalls()).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "list.h"
#include "ring.h"

struct broker;
struct channel;
struct event;
struct peer;
struct publisher;
struct ring_owner;

/* Messages one drain handles before yielding to the loop (plus what the broker just wrote). */
#define BRIDGE_BATCH 256u

struct bridge {
        struct broker *broker;
        struct channel *channel;
        struct ring_owner *owner;
        struct list_node node;       /* broker->bridges */
        struct list_node dirty_node; /* broker->dirty_bridges: committed, not yet flushed */

        /* socket -> ring */
        uint64_t limit;               /* cached block-policy limit of the broker's pub slot */
        struct publisher *dirty_pub;  /* last socket publisher of the batch (wake-up counts) */
        uint64_t dirty_count;         /* messages written since the last flush */
        struct list_node space_peers; /* struct peer.space_node: PUBLISHes waiting for space */
        bool space_waiting;           /* registered in space_waiters, space_broker set */
        struct event *space_ev;       /* the space eventfd */
        struct event *claim_ev;       /* "drop": a timer to look again at a claim in the way */

        /* ring -> socket */
        bool active;   /* the broker's sub slot is active: socket subscriptions exist */
        bool sleeping; /* announced sleep in its page */
        struct ring_reader rd;
        struct event *wake_ev;  /* the sub slot's eventfd */
        struct event *more_ev;  /* a 0 s timer: the next bounded batch, after I/O */
        struct list_node waits; /* struct flow_wait.pub_node: congested "block" subscribers */
        uint8_t *scratch;       /* "drop": a copy checked intact before fan-out */
        uint64_t corrupt;       /* corrupt records passed over */
};

/*
 * bridge_new() - set up the bridge of @c, whose ring was just created;
 * activates it if socket subscriptions are attached already.
 * Return: 0; -ENOMEM.
 */
int bridge_new(struct broker *b, struct channel *c, struct bridge **ret);

/* Stops and frees the bridge (no peer may wait on it). Accepts NULL. Return: NULL. */
struct bridge *bridge_free(struct bridge *br);

/* Subscriptions were attached to or detached from the channel: start or stop reading. */
void bridge_links_changed(struct bridge *br);

/*
 * bridge_publish() - write a socket PUBLISH into the ring.
 * @p, @pub: the publishing connection and its publisher (statistics).
 * @flags: PROTO_FLAG_RETAIN also stores the value as the channel's retained one.
 * The size was checked against the channel's limit (the ring's too).
 * Return: 0; -EAGAIN (no space: call bridge_wait_space() and keep the
 * frame); -ENOMEM.
 */
int bridge_publish(struct bridge *br, struct peer *p, struct publisher *pub, uint8_t flags,
                   const void *data, size_t size);

/*
 * bridge_wait_space() - stop reading @p until the ring has room for @size
 * bytes, then resume it (its input is processed again from the kept frame).
 */
void bridge_wait_space(struct bridge *br, struct peer *p, size_t size);

/* @p goes away: forget its wait for space. */
void bridge_cancel_space_wait(struct peer *p);

/* After a batch of socket publishes: wake ring sleepers, drain the bridges. */
void bridge_flush(struct broker *b);

/* Whether a congested "block" subscriber holds the bridge (flow.c). */
bool bridge_is_paused(const struct bridge *br);

/* The last congested subscriber drained: read again (deferred to the loop). */
void bridge_resume(struct bridge *br);

/*
 * bridge_check_stalls() - the once-a-second watch: evict ring subscribers
 * that hold publishers back (see ring_owner_stalled()), after the stall
 * timeout under "block" and at the next tick under "disconnect".
 * Return: whether some ring still needs watching (a non-"drop" ring with
 * client subscribers).
 */
bool bridge_check_stalls(struct broker *b, uint64_t now_usec);
