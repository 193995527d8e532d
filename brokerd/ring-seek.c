/* SPDX-License-Identifier: MIT */
/*
 * Record search in a ring (see ring-seek.h). This file reads the record
 * layout (ring-internal.h) that the ring code keeps private: the broker
 * is the one other party that must walk a ring it did not write, and only
 * does so outside the data path (a resume, a restart).
 */
#include "build-config.h"

#include <errno.h>
#include <string.h>

#include "ring-internal.h"
#include "ring-seek.h"

/* A consistent {pos, seq} pair of the tail: seq moves with every claim, so an unchanged seq
 * means pos did not move in between. */
static bool tail_pair(const struct ring *r, uint64_t *ret_pos, uint64_t *ret_seq) {
        for (int i = 0; i < 64; i++) {
                uint64_t s1 = atomic_load(&r->tail->seq);
                uint64_t pos = atomic_load(&r->tail->pos);
                uint64_t s2 = atomic_load(&r->tail->seq);

                if (s1 == s2) {
                        *ret_pos = ring_align_up(pos);
                        *ret_seq = s1;
                        return ring_pos_in_range(r, pos);
                }
        }
        return false;
}

/* A copy of the committed record header at @pos, checked to lie within [pos, tail). */
static bool record_get(const struct ring *r, uint64_t pos, uint64_t tail, struct ring_record *ret) {
        const struct ring_record *rec;

        if (pos >= tail || tail - pos < RING_RECORD_HEADER || pos % RING_ALIGN)
                return false;
        rec = ring_record_at(r, pos);
        if (atomic_load_explicit(&rec->commit, memory_order_acquire) != pos + 1)
                return false;
        ret->seq = __atomic_load_n(&rec->seq, __ATOMIC_RELAXED);
        ret->timestamp = __atomic_load_n(&rec->timestamp, __ATOMIC_RELAXED);
        ret->length = __atomic_load_n(&rec->length, __ATOMIC_RELAXED);
        ret->size = __atomic_load_n(&rec->size, __ATOMIC_RELAXED);
        ret->type = __atomic_load_n(&rec->type, __ATOMIC_RELAXED);
        ret->flags = __atomic_load_n(&rec->flags, __ATOMIC_RELAXED);
        if (ret->length < RING_RECORD_HEADER || ret->length % RING_ALIGN ||
            ret->length > ring_rest(r, pos) || ret->length > tail - pos)
                return false;
        if (ret->type == RING_REC_DATA &&
            (ret->size > ret->length - RING_RECORD_HEADER || ret->size > r->max_message_bytes))
                return false;
        return ret->type == RING_REC_DATA || ret->type == RING_REC_PAD ||
               ret->type == RING_REC_SKIP;
}

/*
 * The oldest record start still held below @tail: 0 for a ring that never
 * lapped (records start at 0), else the first trusted chunk entry of the
 * last lap. With @seq, the latest chunk entry whose record's seq is at
 * most *seq instead, so a walk for it covers at most a chunk.
 */
static bool walk_start(const struct ring *r, uint64_t tail, const uint64_t *seq, uint64_t *ret) {
        uint64_t lap_start = tail > r->capacity ? tail - r->capacity : 0;
        uint64_t b = (lap_start + r->chunk_bytes - 1) & ~(r->chunk_bytes - 1);
        bool found = false;

        if (tail <= r->capacity) {
                *ret = 0;
                found = true;
        }
        for (unsigned i = 0; i <= RING_CHUNKS && b <= tail; i++, b += r->chunk_bytes) {
                struct ring_record h;
                uint64_t v;

                if (b == 0 || !ring_chunk_lookup(r, b, tail, &v))
                        continue;
                if (!found) {
                        *ret = v;
                        found = true;
                        if (!seq)
                                return true;
                }
                if (!seq || !record_get(r, v, tail, &h) || h.type == RING_REC_PAD)
                        continue;
                if (h.seq > *seq)
                        break;
                *ret = v;
        }
        return found;
}

int ring_seek_seq(const struct ring *r, uint64_t seq, uint64_t *ret_pos) {
        uint64_t tail, tail_seq, pos;

        if (!tail_pair(r, &tail, &tail_seq))
                return -EBADMSG;
        if (seq == tail_seq) {
                *ret_pos = tail;
                return 0;
        }
        if (seq > tail_seq)
                return -ERANGE;
        if (seq < r->first_seq || !walk_start(r, tail, &seq, &pos))
                return -ENOENT;
        /* Bounded by a lap: every step moves on by a record (8 bytes at least). */
        for (uint64_t n = 0; n <= r->capacity / RING_ALIGN; n++) {
                struct ring_record h;

                pos = ring_pos_normalize(r, pos);
                if (!record_get(r, pos, tail, &h))
                        return -ENOENT;
                if (h.type != RING_REC_PAD && h.seq == seq) {
                        *ret_pos = pos;
                        return 0;
                }
                if (h.type != RING_REC_PAD && h.seq > seq)
                        return -ENOENT;
                pos += h.length;
        }
        return -ENOENT;
}

bool ring_seek_retained(const struct ring *r, struct ring_seek_record *ret) {
        uint64_t tail, tail_seq, pos;
        bool found = false;

        if (!tail_pair(r, &tail, &tail_seq) || !walk_start(r, tail, NULL, &pos))
                return false;
        for (uint64_t n = 0; n <= r->capacity / RING_ALIGN; n++) {
                struct ring_record h;

                pos = ring_pos_normalize(r, pos);
                if (pos >= tail || !record_get(r, pos, tail, &h))
                        break;
                if (h.type == RING_REC_DATA && h.flags & RING_REC_RETAIN) {
                        *ret = (struct ring_seek_record){
                                .seq = h.seq,
                                .timestamp_ns = h.timestamp,
                                .payload = (const uint8_t *)ring_record_at(r, pos) +
                                           RING_RECORD_HEADER,
                                .size = h.size,
                        };
                        found = true;
                }
                pos += h.length;
        }
        return found;
}
