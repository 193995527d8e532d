/* SPDX-License-Identifier: MIT */
/*
 * Raw ring clients for the integration tests: a connection that speaks the
 * protocol by hand, collects the descriptors of an OPEN_RING reply with
 * recvmsg(MSG_CMSG_CLOEXEC), maps the regions as a well-behaved client
 * would (DATA and STATE read-only and its own page read-write for a
 * subscriber; DATA and STATE read-write and every page read-only for a
 * publisher) and uses the ring directly (ring.h), or misbehaves with it.
 * Assertions are cmocka's: call from the test's main thread only, except
 * raw_pub() and raw_sub_next(), which only touch the ring.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness.h"
#include "proto.h"
#include "ring.h"

/* One raw connection and, after OPEN_RING, the ring it was given. */
struct raw {
        int fd;
        uint8_t role;
        int fds[PROTO_RING_FDS_MAX]; /* as received */
        size_t n_fds;
        struct proto_ring_reply rr;
        struct proto_ring_page pages[PROTO_RING_PAGES_MAX]; /* a publisher's entries */
        void *data;
        void *state;
        struct ring r;
        struct ring_reader rd;
        uint64_t limit;
        int sub_wake[RING_SUB_SLOTS_MAX]; /* a publisher's: wake eventfd per sub slot, or -1 */
};

#define RAW_NULL                                                                                   \
        { .fd = -1 }

/* The descriptors of a subscriber's grant (PROTO_RING_SUB_FDS), by index. */
#define RAW_SUB_DATA  0
#define RAW_SUB_STATE 1
#define RAW_SUB_PAGE  2
#define RAW_SUB_WAKE  3
#define RAW_SUB_SPACE 4
/* ...and of a publisher's, before its page pairs. */
#define RAW_PUB_RELAY 2

void raw_send(int fd, const void *p, size_t n);

/*
 * Reads one frame of @type into @body (malloc'd, one byte longer than the
 * length returned), passing over MESSAGE frames before it, which must
 * carry no descriptors. Return: the body length.
 */
size_t raw_expect(struct raw *c, uint8_t type, uint8_t **body);

/* Connects (with HELLO/WELCOME) to the broker's UNIX socket, one at @path, or a TCP port. */
void raw_connect_unix(struct harness_broker *b, struct raw *c);
void raw_connect_path(const char *path, struct raw *c);
void raw_connect_tcp(int port, struct raw *c);

/* Unmaps, closes the descriptors and the connection. */
void raw_close(struct raw *c);

/*
 * Sends OPEN_RING for @channel and @role. Return: the reply status; on
 * success the ring is mapped and attached (and a subscriber's reader
 * started).
 */
int raw_open_ring(struct raw *c, const char *channel, uint8_t role);

/*
 * The same with PROTO_FLAG_RESUME, *@resume_seq and @resume_epoch (the
 * channel epoch those numbers belong to) when @resume_seq is not NULL.
 */
int raw_open_ring_resume(struct raw *c, const char *channel, uint8_t role,
                         const uint64_t *resume_seq, uint64_t resume_epoch);

/* A publisher claims, fills with @data and commits one message; signals sleepers. */
void raw_pub(struct raw *p, const void *data, size_t size);

/*
 * The next message of a subscriber, sleeping on its eventfd (with the
 * handshake) while there is none, copied to @buf (@cap bytes). Fails the
 * test without one in @timeout_usec. Return: its size; *ret_seq.
 */
size_t raw_sub_next(struct raw *s, void *buf, size_t cap, uint64_t *ret_seq, uint64_t timeout_usec);

/*
 * raw_reopen_rdwr_as_other_user() - open(/proc/self/fd/@fd, O_RDWR) by a
 * process of another user, as a hostile client would try to turn a
 * read-only descriptor into a writable one. As root this forks a child
 * that becomes "nobody" (dumpable again, so that /proc/self is its own);
 * otherwise the broker runs as our user and the region's owner is as far
 * as we get. Return: 0 if the open succeeded, else its errno.
 */
int raw_reopen_rdwr_as_other_user(int fd);

/* ring_clients of @channel in LIST_CHANNELS, asked over @c's connection. */
int64_t raw_ring_clients(struct raw *c, const char *channel);
