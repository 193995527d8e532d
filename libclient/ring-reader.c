/* SPDX-License-Identifier: MIT */
/*
 * The ring's subscriber side (design in ring.h): reading records in place,
 * validating every header, finding the way back after being lapped (drop
 * policy) or after a corrupt record, and the sleep handshake. A subscriber
 * maps DATA read-only, so nothing here writes DATA.
 */
#include <errno.h>

#include "ring-internal.h"
#include "ring.h"
#include "util.h"

/* A local copy of a record header, read once. */
struct record_head {
        uint64_t seq;
        uint64_t timestamp;
        uint32_t length;
        uint32_t size;
        uint16_t type;
        uint16_t flags;
};

static uint64_t tail_load(const struct ring *r) {
        return atomic_load_explicit(&r->tail->pos, memory_order_acquire);
}

/*
 * The bytes at @pos are gone once a writer claimed past pos + capacity. A
 * tail out of range proves nothing: acting on it would wrap the reader's
 * arithmetic.
 */
static bool lapped(const struct ring *r, uint64_t pos, uint64_t tail) {
        return ring_pos_in_range(r, tail) && tail > pos && tail - pos > r->capacity;
}

int ring_reader_init(struct ring *r, struct ring_reader *rd, uint32_t slot) {
        struct ring_sub_slot *s;
        uint64_t cursor, tail;

        if (slot >= r->sub_slots || !r->pages[slot])
                return -EINVAL;
        s = &r->subs[slot];
        if (atomic_load(&s->state) != RING_SLOT_ACTIVE)
                return -EINVAL;
        cursor = atomic_load(&r->pages[slot]->cursor);
        tail = tail_load(r);
        if (!ring_pos_in_range(r, tail) || cursor > tail || lapped(r, cursor, tail) ||
            cursor % RING_ALIGN)
                return -EBADMSG;
        *rd = (struct ring_reader){
                .slot = slot,
                .pos = ring_pos_normalize(r, cursor),
                .next_seq = atomic_load(&s->start_seq),
                .tail_seen = tail,
                .published = cursor,
        };
        return 0;
}

/*
 * reader_resume() - moves a lapped reader to the oldest record it can locate.
 *
 * The oldest bytes still intact start at tail - capacity; the first chunk
 * boundary at or after that whose entry is trusted gives a record start.
 * Entries not yet written (a claim crossing it still in flight) are passed
 * over; with none at all the tail itself, always a claim start (rounded up
 * if someone scribbled on it), serves. The seq gap to the next record is
 * counted as loss. A tail that went out of range since the caller saw the
 * lap leaves the reader where it is: the caller looks again and finds
 * nothing to read.
 */
static void reader_resume(const struct ring *r, struct ring_reader *rd) {
        uint64_t tail = tail_load(r);
        uint64_t oldest = tail - r->capacity;
        uint64_t b = (oldest + r->chunk_bytes - 1) & ~(r->chunk_bytes - 1);
        uint64_t at = ring_align_up(tail);

        if (!ring_pos_in_range(r, tail))
                return;
        /* Counted as well: the chunk index is shared memory too. */
        for (unsigned i = 0; i <= RING_CHUNKS && b <= tail; i++, b += r->chunk_bytes)
                if (ring_chunk_lookup(r, b, tail, &at))
                        break;
        rd->pos = ring_pos_normalize(r, at);
        rd->tail_seen = tail;
        rd->resync = true;
}

/*
 * After a corrupt record: resynchronise at the next chunk boundary's entry,
 * or at the tail when the boundary lies beyond it or is not written yet.
 * With a tail out of range neither can be trusted: step to the boundary
 * itself, past the bad record, and wait there.
 */
static void reader_skip_corrupt(const struct ring *r, struct ring_reader *rd) {
        uint64_t tail = tail_load(r);
        uint64_t b = (rd->pos | (r->chunk_bytes - 1)) + 1;
        uint64_t at = b;

        if (ring_pos_in_range(r, tail) && (b > tail || !ring_chunk_lookup(r, b, tail, &at)))
                at = ring_align_up(tail);
        rd->corrupt++;
        rd->pos = ring_pos_normalize(r, at);
        rd->tail_seen = tail;
        rd->resync = true;
}

static void head_load(const struct ring_record *rec, struct record_head *h) {
        h->seq = __atomic_load_n(&rec->seq, __ATOMIC_RELAXED);
        h->timestamp = __atomic_load_n(&rec->timestamp, __ATOMIC_RELAXED);
        h->length = __atomic_load_n(&rec->length, __ATOMIC_RELAXED);
        h->size = __atomic_load_n(&rec->size, __ATOMIC_RELAXED);
        h->type = __atomic_load_n(&rec->type, __ATOMIC_RELAXED);
        h->flags = __atomic_load_n(&rec->flags, __ATOMIC_RELAXED);
}

/* Every field of a committed header is still untrusted: check it all. */
static int head_check(const struct ring *r, uint64_t pos, const struct record_head *h) {
        uint64_t rest = ring_rest(r, pos);

        /* Within the lap, hence within the mapping: reads stay in bounds whatever else. */
        if (h->length < RING_RECORD_HEADER || h->length % RING_ALIGN || h->length > rest)
                return -EBADMSG;
        switch (h->type) {
        case RING_REC_PAD:
                return h->length == rest ? 0 : -EBADMSG;
        case RING_REC_SKIP:
                return h->length <= ring_record_bytes(r->max_message_bytes) ? 0 : -EBADMSG;
        case RING_REC_DATA:
                if (h->size > r->max_message_bytes || h->length != ring_record_bytes(h->size))
                        return -EBADMSG;
                return 0;
        default:
                return -EBADMSG;
        }
}

/*
 * Sequence numbers: exact in order, a gap is loss only right after a
 * resync. They are compared modulo 2^64 (they may wrap), and a gap of 2^63
 * or more is no loss but a forged number.
 */
static int seq_check(const struct ring_reader *rd, uint64_t seq, uint64_t *ret_lost) {
        uint64_t gap = seq - rd->next_seq;

        *ret_lost = 0;
        if (gap == 0)
                return 0;
        if (rd->resync && gap < UINT64_C(1) << 63) {
                *ret_lost = gap;
                return 0;
        }
        return -EBADMSG;
}

/*
 * A commit word equal to pos + 1 could in theory be a stale payload word of
 * an earlier lap. Records whose seq is the one expected next are trusted
 * without more (two words would have to match by accident); the rest (a
 * PAD, the first record after a start or a resync, a seq mismatch) must
 * also lie below a tail loaded after the commit. The common path therefore
 * never touches the tail's cache line, which every claim writes.
 */
static bool reader_confirm(const struct ring *r, struct ring_reader *rd, uint64_t pos,
                           const struct record_head *h) {
        if (h->type != RING_REC_PAD && !rd->resync && h->seq == rd->next_seq)
                return true;
        if (pos < rd->tail_seen)
                return true;
        rd->tail_seen = tail_load(r);
        return pos < rd->tail_seen;
}

/*
 * reader_head() - the committed header at rd->pos, checked.
 *
 * A reader is lapped only under "drop", unless the ring is corrupt or its
 * slot was released under it (an evicted subscriber, which the broker's
 * ERROR is about to tell). Under another policy it then waits where it is
 * and counts no loss; it still reads a record committed there (a corrupt
 * tail can lie a lap ahead of intact records), and reader_ready() looks at
 * the same commit word, so a reading loop neither spins nor sleeps on a
 * record it could read.
 *
 * Return: 0 and *h; -EAGAIN (nothing committed there yet); -EBADMSG
 * (corrupt, reader already moved on); -ESTALE (lapped, reader moved to the
 * oldest record; the caller loops).
 */
static int reader_head(const struct ring *r, struct ring_reader *rd, struct record_head *h) {
        uint64_t pos = rd->pos;
        struct ring_record *rec = ring_record_at(r, pos);
        bool drop = r->overflow == RING_OVERFLOW_DROP;

        if (atomic_load_explicit(&rec->commit, memory_order_acquire) != pos + 1) {
                if (drop && lapped(r, pos, tail_load(r))) {
                        reader_resume(r, rd);
                        return -ESTALE;
                }
                return -EAGAIN;
        }
        head_load(rec, h);
        if (drop) {
                /* Seqlock validation: the header is good iff nobody claimed past a lap. */
                atomic_thread_fence(memory_order_acquire);
                rd->tail_seen = atomic_load_explicit(&r->tail->pos, memory_order_relaxed);
                if (lapped(r, pos, rd->tail_seen)) {
                        reader_resume(r, rd);
                        return -ESTALE;
                }
        }
        if (!reader_confirm(r, rd, pos, h))
                return -EAGAIN;
        if (head_check(r, pos, h) < 0) {
                reader_skip_corrupt(r, rd);
                return -EBADMSG;
        }
        return 0;
}

int ring_read(struct ring *r, struct ring_reader *rd, struct ring_view *ret) {
        /* Bounded: see RING_READ_PASSES_MAX. */
        for (unsigned passes = 0;; passes++) {
                struct record_head h;
                uint64_t lost, pos = rd->pos;
                int k;

                if (passes >= RING_READ_PASSES_MAX)
                        return -EAGAIN;
                k = reader_head(r, rd, &h);

                if (k == -ESTALE)
                        continue;
                if (k < 0)
                        return k;
                if (h.type == RING_REC_PAD) {
                        rd->pos = ring_pos_normalize(r, pos + h.length);
                        continue;
                }
                if (seq_check(rd, h.seq, &lost) < 0) {
                        reader_skip_corrupt(r, rd);
                        return -EBADMSG;
                }
                if (h.type == RING_REC_SKIP) {
                        rd->lost += lost;
                        rd->next_seq = h.seq + 1;
                        rd->resync = false;
                        rd->pos = ring_pos_normalize(r, pos + h.length);
                        continue;
                }
                *ret = (struct ring_view){
                        .payload = r->area + (pos & r->mask) + RING_RECORD_HEADER,
                        .size = h.size,
                        .flags = h.flags,
                        .seq = h.seq,
                        .timestamp_ns = h.timestamp,
                        .lost = lost,
                        .pos = pos,
                        .end = pos + h.length,
                };
                return 0;
        }
}

int ring_release(struct ring *r, struct ring_reader *rd, const struct ring_view *v) {
        if (v->pos != rd->pos || v->end <= v->pos)
                return -EINVAL;
        rd->lost += v->lost;
        rd->next_seq = v->seq + 1;
        if (r->overflow == RING_OVERFLOW_DROP) {
                atomic_thread_fence(memory_order_acquire);
                if (lapped(r, v->pos, atomic_load_explicit(&r->tail->pos, memory_order_relaxed))) {
                        rd->lost++;
                        reader_resume(r, rd);
                        return -ESTALE;
                }
        }
        rd->resync = false;
        rd->pos = ring_pos_normalize(r, v->end);
        rd->delivered++;
        return 0;
}

/* Is there something for the reader to do: a committed record, or a lap to recover from? */
static bool reader_ready(const struct ring *r, struct ring_reader *rd) {
        uint64_t pos = rd->pos;

        rd->tail_seen = atomic_load(&r->tail->pos);
        if (rd->tail_seen <= pos)
                return false;
        /* A lapped "drop" reader resumes; any other reads what is committed (see reader_head()). */
        if (r->overflow == RING_OVERFLOW_DROP && lapped(r, pos, rd->tail_seen))
                return true;
        return atomic_load_explicit(&ring_record_at(r, pos)->commit, memory_order_acquire) ==
               pos + 1;
}

/*
 * Only this reader writes its `sleeps` word, so plain stores do; the one
 * that announces is seq_cst and followed by the full fence that pairs with
 * the publisher's fence after its commit.
 */
bool ring_reader_prepare_sleep(struct ring *r, struct ring_reader *rd) {
        _Atomic uint64_t *w = &r->pages[rd->slot]->sleeps;
        uint64_t s = atomic_load_explicit(w, memory_order_relaxed);

        s += (s & 1) ? 2 : 1; /* the next odd value: an announcement publishers have not seen */
        atomic_store(w, s);
        atomic_thread_fence(memory_order_seq_cst);
        if (!reader_ready(r, rd))
                return true;
        atomic_store_explicit(w, s + 1, memory_order_relaxed);
        return false;
}

void ring_reader_end_sleep(struct ring *r, struct ring_reader *rd) {
        _Atomic uint64_t *w = &r->pages[rd->slot]->sleeps;
        uint64_t s = atomic_load_explicit(w, memory_order_relaxed);

        if (s & 1)
                atomic_store_explicit(w, s + 1, memory_order_relaxed);
}

bool ring_reader_sleep_pending(const struct ring *r, const struct ring_reader *rd) {
        uint64_t s = atomic_load_explicit(&r->pages[rd->slot]->sleeps, memory_order_relaxed);
        uint64_t key = ring_wake_key(r->page_gen[rd->slot], s);

        return (s & 1) &&
               atomic_load_explicit(&r->subs[rd->slot].woken, memory_order_relaxed) != key;
}
