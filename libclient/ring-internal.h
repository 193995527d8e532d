/* SPDX-License-Identifier: MIT */
/*
 * What ring.c (geometry, broker, publishers) and ring-reader.c share: the
 * record header layout and small position helpers. Private to the ring.
 */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ring.h"

/* The record header in the area; see ring.h for the meaning of each field. */
struct ring_record {
        _Atomic uint64_t commit;
        uint64_t seq;
        uint64_t timestamp;
        uint32_t length;
        uint32_t size;
        uint16_t type;
        uint16_t flags;
        uint32_t publisher;
};

_Static_assert(sizeof(struct ring_record) == RING_RECORD_HEADER, "record header layout");

static inline struct ring_record *ring_record_at(const struct ring *r, uint64_t pos) {
        return (struct ring_record *)(void *)(r->area + (pos & r->mask));
}

/*
 * Whether position arithmetic can take @pos. The tail and the publishers'
 * intents are shared memory anyone mapping the ring for writing can
 * scribble on, and a position within a few laps of 2^64 would wrap it (and
 * loop the chunk walks forever): such a tail is corrupt for good, and
 * nobody claims from it, resumes at it or counts it as a lap. At 32 GB/s a
 * real ring takes 18 years to get there.
 */
static inline bool ring_pos_in_range(const struct ring *r, uint64_t pos) {
        return pos <= UINT64_MAX - 4 * r->capacity;
}

/*
 * A position that can be used as it is: in range and aligned (an
 * unaligned one would put a record header, atomics included, at an
 * unaligned address: UB, and a fault on some CPUs).
 */
static inline bool ring_pos_valid(const struct ring *r, uint64_t pos) {
        return pos % RING_ALIGN == 0 && ring_pos_in_range(r, pos);
}

/*
 * The first record start at or after @pos (in range). An unaligned tail is
 * no reason to stop a channel: whoever takes a position from it, claims and
 * readers alike, rounds it up, so that no header is ever accessed
 * misaligned and writers and readers agree where the next record is.
 */
static inline uint64_t ring_align_up(uint64_t pos) {
        return (pos + RING_ALIGN - 1) & ~(uint64_t)(RING_ALIGN - 1);
}

/* Bytes left in the lap from @pos. */
static inline uint64_t ring_rest(const struct ring *r, uint64_t pos) {
        return r->capacity - (pos & r->mask);
}

/* Readers skip a lap remainder too small for a header: no record starts there. */
static inline uint64_t ring_pos_normalize(const struct ring *r, uint64_t pos) {
        uint64_t rest = ring_rest(r, pos);

        return rest < RING_RECORD_HEADER ? pos + rest : pos;
}

/*
 * What `woken` holds for announcement @sleeps of a page of generation @gen.
 * The generation comes from this process's own records, not from the page,
 * so neither a previous holder of the slot nor the subscriber itself can
 * make a key that matches a later holder's announcement.
 */
static inline uint64_t ring_wake_key(uint32_t gen, uint64_t sleeps) {
        return (uint64_t)gen << 32 | (uint32_t)sleeps;
}

static inline _Atomic uint64_t *ring_chunk_entry(const struct ring *r, uint64_t boundary) {
        return &r->tail->chunk_start[(boundary / r->chunk_bytes) % RING_CHUNKS];
}

/* A trusted chunk entry for boundary @b: a resume point in [b, tail]. */
static inline bool ring_chunk_lookup(const struct ring *r, uint64_t b, uint64_t tail,
                                     uint64_t *ret) {
        uint64_t v = atomic_load_explicit(ring_chunk_entry(r, b), memory_order_acquire);

        if (v < b || v > tail || v % RING_ALIGN)
                return false;
        *ret = v;
        return true;
}
