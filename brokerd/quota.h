/* SPDX-License-Identifier: MIT */
/*
 * Per-user accounting, after dbus-broker's user accounting: what all the
 * connections of one user hold together, so that no user can take the
 * broker's connections, memory or shared-memory rings from the others.
 *
 * A user is who identity.h says a peer is, without the process: a local
 * uid, a remote name (what TLS authenticated), or "anonymous", one shared
 * user for every client of an insecure TCP listener. A user exists while
 * at least one connection is charged to it, and counts:
 *   - connections, checked against limits.max_connections_per_uid when a
 *     connection is accepted;
 *   - bytes in its connections' output queues, against
 *     limits.max_queued_bytes_per_uid: past it the user is congested until
 *     it is back to half of it, and every connection of it counts as over
 *     its own cap meanwhile (peer.c applies the channels' overflow policy);
 *   - ring slots, against limits.max_rings_per_uid.
 *
 * This module only counts and compares: it knows nothing of peers or the
 * event loop. The caller passes the limit it checks against, so a reload
 * applies to the next check, and owns the list of its connections kept in
 * each user (quota_user.peers).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "identity.h"
#include "list.h"

/* Longest quota_user_describe() text: "remote \"" + an escaped name + "\"". */
#define QUOTA_USER_TEXT_MAX (IDENTITY_NAME_MAX * 4 + 16)

struct quota_user {
        struct quota *quota;
        struct quota_user *hash_next;
        struct list_node node;      /* quota->users, in creation order */
        struct list_node wake_node; /* quota->drained while it waits to be woken */
        enum identity_kind kind;
        uid_t uid;  /* LOCAL */
        char *name; /* REMOTE, NUL-terminated */

        size_t connections;    /* charged connections: the user goes with the last */
        uint64_t queued_bytes; /* in its connections' output queues now */
        uint64_t written;      /* bytes that ever left those queues: its progress */
        size_t rings;          /* ring slots its connections hold */
        bool congested;        /* queued_bytes passed the limit and is not back to half */

        struct list_node peers; /* the caller's: its connections (struct peer.user_node) */
};

struct quota {
        struct quota_user **buckets;
        size_t n_buckets;
        size_t n_users;
        struct list_node users;   /* struct quota_user.node */
        struct list_node drained; /* struct quota_user.wake_node: back under half their limit */
};

/* Return: 0; -ENOMEM. */
int quota_init(struct quota *q);

/* Frees the table; every user must be gone (their connections released). */
void quota_deinit(struct quota *q);

/* The user @id belongs to, if any connection is charged to it. */
struct quota_user *quota_find(struct quota *q, const struct identity *id);

/* Connections charged to @id's user now (0 when it has none). */
size_t quota_connections(struct quota *q, const struct identity *id);

/*
 * quota_connect() - charge one connection to @id's user, creating the
 * user with its first. The caller checked quota_connections() against its
 * limit: this never refuses.
 * Return: 0 and *ret; -ENOMEM.
 */
int quota_connect(struct quota *q, const struct identity *id, struct quota_user **ret);

/*
 * quota_disconnect() - give a connection's charge back; the last one frees
 * the user. Its queued bytes and rings must have been given back first.
 * Accepts NULL. Return: NULL.
 */
struct quota_user *quota_disconnect(struct quota_user *u);

/* What a change of queued bytes did to its user's congestion. */
enum quota_change {
        QUOTA_UNCHANGED,
        QUOTA_CONGESTED, /* it just passed its limit */
        QUOTA_DRAINED,   /* it just got back to half of it, and is on quota->drained */
        _QUOTA_CHANGE_MAX,
};

/*
 * quota_queue() - a connection of @u queued @added and wrote (or
 * discarded) @deleted bytes. Passing @max_bytes makes @u congested;
 * getting back to half of it ends that and puts @u on quota->drained, for
 * the caller to wake its connections (quota_next_drained()).
 */
enum quota_change quota_queue(struct quota_user *u, uint64_t added, uint64_t deleted,
                              uint64_t max_bytes);

/* Whether @u's connections count as over their cap (see above). Accepts NULL: false. */
bool quota_user_congested(const struct quota_user *u);

/* Takes the next user off quota->drained, or NULL. */
struct quota_user *quota_next_drained(struct quota *q);

/* Whether @u holds @max ring slots or more: one more must be refused. */
bool quota_rings_full(const struct quota_user *u, uint32_t max);

/* Charges one ring slot to @u (the caller checked quota_rings_full()). */
void quota_ring_charge(struct quota_user *u);

/* Gives one ring slot back. */
void quota_ring_release(struct quota_user *u);

/*
 * quota_user_describe() - "uid 1000", "remote \"sensor-1\"" or
 * "anonymous", for error texts and statistics: the user, not one of its
 * processes. Control characters in a remote name are escaped.
 * Return: @buf.
 */
const char *quota_user_describe(const struct quota_user *u, char *buf, size_t len);
