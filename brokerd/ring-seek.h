/* SPDX-License-Identifier: MIT */
/*
 * Finding records in a channel's ring from the broker's side: where the
 * record of a given sequence number starts (a reconnecting subscriber's
 * resume point, PROTO_FLAG_RESUME) and the newest retained record still
 * held (a ring taken back from the service manager's fd store after a
 * restart, whose retained value lived only in the old process).
 *
 * Everything here is a read of shared memory that publishers may be
 * writing at the same time: each header is copied and checked (commit
 * word, length, bounds) before use, walks are bounded by a lap, and a
 * record that does not check out ends the search with "not found". The
 * answers are hints for a start position: the subscriber's reader
 * validates every record it reads as it always does.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ring.h"

/*
 * ring_seek_seq() - the position of the record that carries @seq.
 * @ret_pos: receives it; with @seq equal to the tail's seq, the tail.
 * Return: 0; -ENOENT (no longer held: overwritten, or never in this ring);
 * -ERANGE (@seq is past the tail's: it was never given out here);
 * -EBADMSG (the ring does not hold together where it was walked).
 */
int ring_seek_seq(const struct ring *r, uint64_t seq, uint64_t *ret_pos);

/* The newest RING_REC_RETAIN data record still held (see ring_seek_retained()). */
struct ring_seek_record {
        uint64_t seq;
        uint64_t timestamp_ns;
        const void *payload; /* in the mapping: copy it before anything else runs */
        uint32_t size;
};

/*
 * ring_seek_retained() - the newest data record with the retain flag
 * between the oldest record held and the tail.
 * Return: true and *ret; false when there is none (or the walk stopped at
 * a record that did not check out).
 */
bool ring_seek_retained(const struct ring *r, struct ring_seek_record *ret);
