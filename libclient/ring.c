/* SPDX-License-Identifier: MIT */
/*
 * The shared-memory ring (design in ring.h): geometry, the broker's side
 * (format, slots, dead-publisher recovery) and the publisher's claim path.
 * The reader lives in ring-reader.c. Pure memory operations: no syscalls,
 * no allocation.
 */
#include <errno.h>
#include <string.h>

#include "ring-internal.h"
#include "ring.h"
#include "util.h"

#define SLOT_BYTES    64u
#define BUSY_CLAIMING 1u
#define BUSY_HOLDING  2u
/* Bounds on compare-and-swap loops over words any publisher can write. */
#define CHUNK_RAISE_TRIES 64u
#define CLAIM_TRIES       (1u << 16)

_Static_assert(sizeof(struct ring_header) <= RING_PAGE_BYTES, "header fits its page");
_Static_assert(sizeof(struct ring_tail) <= RING_PAGE_BYTES, "tail fits its page");
_Static_assert(sizeof(struct ring_state_header) <= RING_PAGE_BYTES, "state header fits");
_Static_assert(sizeof(struct ring_sub_slot) == SLOT_BYTES, "one cache line per sub slot");
_Static_assert(sizeof(struct ring_sub_page) <= RING_SUB_PAGE_BYTES, "sub page fits its page");
_Static_assert(sizeof(struct ring_pub_slot) == SLOT_BYTES, "one cache line per pub slot");
_Static_assert(RING_SUB_SLOTS_MAX <= 64, "sub slot sets are 64-bit masks");

/* No blocker: the limit comes from the caller's own tail position. */
#define NO_SLOT UINT32_MAX
/* Blockers looked at before ring_space_available() gives up finding a stable one. */
#define SPACE_TRIES 4u

/*
 * tail_cas() - the 16-byte CAS of the claim word {pos, seq}.
 *
 * On failure *pos and *seq receive the current pair, read atomically, which
 * is what makes every intent a pair the tail really held. A full barrier on
 * both architectures: the intent stores before it are visible first.
 */
#if defined(__x86_64__)
static inline bool tail_cas(struct ring_tail *t, uint64_t *pos, uint64_t *seq, uint64_t new_pos,
                            uint64_t new_seq) {
        bool ok;

        __asm__ __volatile__("lock cmpxchg16b %1"
                             : "=@ccz"(ok), "+m"(*(volatile unsigned __int128 *)(void *)t),
                               "+a"(*pos), "+d"(*seq)
                             : "b"(new_pos), "c"(new_seq)
                             : "memory");
        return ok;
}
#elif defined(__aarch64__)
/* Lowered to LSE casp or an exclusive pair loop (libatomic without LSE). */
static inline bool tail_cas(struct ring_tail *t, uint64_t *pos, uint64_t *seq, uint64_t new_pos,
                            uint64_t new_seq) {
        unsigned __int128 expected = (unsigned __int128)*seq << 64 | *pos;
        unsigned __int128 desired = (unsigned __int128)new_seq << 64 | new_pos;
        bool ok = __atomic_compare_exchange_n((unsigned __int128 *)(void *)t, &expected, desired,
                                              false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);

        *pos = (uint64_t)expected;
        *seq = (uint64_t)(expected >> 64);
        return ok;
}
#else
#error "ring.c needs a 16-byte compare-and-swap for this architecture"
#endif

static bool capacity_valid(uint64_t capacity) {
        return capacity >= RING_CAPACITY_MIN && capacity <= RING_CAPACITY_MAX &&
               (capacity & (capacity - 1)) == 0;
}

size_t ring_data_size(uint64_t capacity) {
        if (!capacity_valid(capacity))
                return 0;
        return (size_t)(RING_DATA_OFFSET + capacity);
}

size_t ring_state_size(uint32_t sub_slots, uint32_t pub_slots) {
        size_t size;

        if (sub_slots < 1 || sub_slots > RING_SUB_SLOTS_MAX || pub_slots < 1 ||
            pub_slots > RING_PUB_SLOTS_MAX)
                return 0;
        size = RING_PAGE_BYTES + (size_t)(sub_slots + pub_slots) * SLOT_BYTES;
        return (size + RING_PAGE_BYTES - 1) & ~(size_t)(RING_PAGE_BYTES - 1);
}

uint64_t ring_record_bytes(size_t size) {
        if (size > UINT32_MAX)
                return UINT64_MAX;
        return ((uint64_t)size + RING_RECORD_HEADER + RING_ALIGN - 1) & ~(uint64_t)(RING_ALIGN - 1);
}

/* The constants, whether given by the broker or read back from the header. */
static bool geometry_valid(uint64_t capacity, uint32_t max_message_bytes, uint32_t sub_slots,
                           uint32_t pub_slots, uint32_t overflow, uint64_t name_len) {
        return capacity_valid(capacity) && max_message_bytes >= 1 &&
               max_message_bytes <= capacity / 4 && ring_state_size(sub_slots, pub_slots) != 0 &&
               overflow <= RING_OVERFLOW_DISCONNECT && name_len <= RING_NAME_MAX;
}

int ring_format(void *data, size_t data_size, void *state, size_t state_size,
                const struct ring_params *p) {
        struct ring_header *h = data;
        struct ring_state_header *sh = state;

        if (!data || !state || !p || (p->name_len && !p->name))
                return -EINVAL;
        if (!geometry_valid(p->capacity, p->max_message_bytes, p->sub_slots, p->pub_slots,
                            p->overflow, p->name_len))
                return -EINVAL;
        if (data_size != ring_data_size(p->capacity) ||
            state_size != ring_state_size(p->sub_slots, p->pub_slots))
                return -EINVAL;
        /* The area of a fresh memfd is zero: no commit word matches a position + 1. */
        memset(data, 0, RING_DATA_OFFSET);
        memset(state, 0, state_size);
        *h = (struct ring_header){
                .magic = RING_MAGIC,
                .version = RING_VERSION,
                .header_bytes = RING_DATA_OFFSET,
                .capacity = p->capacity,
                .max_message_bytes = p->max_message_bytes,
                .sub_slots = p->sub_slots,
                .pub_slots = p->pub_slots,
                .overflow = p->overflow,
                .name_len = (uint32_t)p->name_len,
                .first_seq = p->first_seq,
                .channel_epoch = p->channel_epoch,
        };
        if (p->name_len)
                memcpy(h->name, p->name, p->name_len);
        sh->magic = RING_MAGIC;
        sh->version = RING_VERSION;
        sh->sub_slots = p->sub_slots;
        sh->pub_slots = p->pub_slots;
        atomic_store(&((struct ring_tail *)(void *)((uint8_t *)data + RING_PAGE_BYTES))->seq,
                     p->first_seq);
        return 0;
}

/* Checks a local copy of the header (read once): the mapping may change under us. */
static int header_check(const struct ring_header *h, size_t data_size) {
        if (h->magic != RING_MAGIC)
                return -EBADMSG;
        if (h->version != RING_VERSION)
                return -EPROTONOSUPPORT;
        if (h->header_bytes != RING_DATA_OFFSET ||
            !geometry_valid(h->capacity, h->max_message_bytes, h->sub_slots, h->pub_slots,
                            h->overflow, h->name_len))
                return -EBADMSG;
        if (data_size != ring_data_size(h->capacity))
                return -EINVAL;
        return 0;
}

static int state_check(const struct ring_state_header *sh, const struct ring_header *h,
                       size_t state_size) {
        if (sh->magic != RING_MAGIC)
                return -EBADMSG;
        if (sh->version != RING_VERSION)
                return -EPROTONOSUPPORT;
        if (sh->sub_slots != h->sub_slots || sh->pub_slots != h->pub_slots)
                return -EBADMSG;
        if (state_size != ring_state_size(h->sub_slots, h->pub_slots))
                return -EINVAL;
        return 0;
}

int ring_attach(struct ring *ret, void *data, size_t data_size, void *state, size_t state_size) {
        struct ring_header h;
        struct ring_state_header sh;
        uint8_t *st = state;
        int r;

        if (!ret || !data || !state || data_size < RING_DATA_OFFSET || state_size < RING_PAGE_BYTES)
                return -EINVAL;
        memcpy(&h, data, sizeof(h));
        r = header_check(&h, data_size);
        if (r < 0)
                return r;
        memcpy(&sh, state, offsetof(struct ring_state_header, epoch));
        r = state_check(&sh, &h, state_size);
        if (r < 0)
                return r;
        *ret = (struct ring){
                .data = data,
                .data_size = data_size,
                .tail = (struct ring_tail *)(void *)((uint8_t *)data + RING_PAGE_BYTES),
                .area = (uint8_t *)data + RING_DATA_OFFSET,
                .capacity = h.capacity,
                .mask = h.capacity - 1,
                .chunk_bytes = h.capacity / RING_CHUNKS,
                .max_message_bytes = h.max_message_bytes,
                .sub_slots = h.sub_slots,
                .pub_slots = h.pub_slots,
                .overflow = (enum ring_overflow)h.overflow,
                .first_seq = h.first_seq,
                .channel_epoch = h.channel_epoch,
                .state = state,
                .state_size = state_size,
                .subs = (struct ring_sub_slot *)(void *)(st + RING_PAGE_BYTES),
                .pubs = (struct ring_pub_slot *)(void *)(st + RING_PAGE_BYTES +
                                                         (size_t)h.sub_slots * SLOT_BYTES),
        };
        return 0;
}

int ring_page_set(struct ring *r, uint32_t slot, uint32_t gen, struct ring_sub_page *page) {
        if (slot >= r->sub_slots || (page && gen == 0))
                return -EINVAL;
        r->pages[slot] = page;
        r->page_gen[slot] = page ? gen : 0;
        /* Whatever it held is unknown; a subscriber can write any value, so none is safe. */
        r->sleeps_seen[slot] = 0;
        r->watch_valid = false;
        return 0;
}

/* Is the page mapped here the one of the slot's current generation? */
static bool page_current(const struct ring *r, uint32_t slot) {
        return r->pages[slot] && atomic_load(&r->subs[slot].generation) == r->page_gen[slot];
}

uint64_t ring_sub_cursor(const struct ring *r, uint32_t slot) {
        if (slot >= r->sub_slots)
                return 0;
        if (page_current(r, slot))
                return atomic_load(&r->pages[slot]->cursor);
        return atomic_load(&r->subs[slot].start_pos);
}

/* ---- Publisher ---- */

/*
 * ring_limit() - recomputes the block-policy limit.
 * @known_pos: a tail position this publisher got from a seq_cst operation
 * before this scan.
 * @ret_blocker: the slot with the lowest cursor, NO_SLOT if none is below
 * @known_pos (may be NULL).
 *
 * min(known_pos, active cursors) + capacity. Taking known_pos into the
 * minimum bounds corrupt cursors from above (a subscriber that pushes its
 * cursor forward only lets publishers overwrite what it has not read), and
 * with no subscriber makes the publisher rescan once per lap, which
 * together with the two-step activation in ring_sub_slot_activate() keeps
 * a newly active subscriber safe from limits cached before it appeared. A
 * blind slot counts with its start position, which its cursor never goes
 * below; a page of an older generation is not read at all.
 */
static uint64_t ring_limit(const struct ring *r, uint64_t known_pos, uint32_t *ret_blocker) {
        uint32_t blocker = NO_SLOT;
        uint64_t low = known_pos;

        for (uint32_t i = 0; i < r->sub_slots; i++) {
                uint64_t c;

                if (atomic_load(&r->subs[i].state) != RING_SLOT_ACTIVE)
                        continue;
                c = ring_sub_cursor(r, i);
                if (c < low) {
                        low = c;
                        blocker = i;
                }
        }
        if (ret_blocker)
                *ret_blocker = blocker;
        return low + r->capacity;
}

/*
 * "drop": how far claims may go while other publishers hold claims open.
 * A claim overwrites whatever lies a lap behind it, and a claim still
 * being filled is no exception: its writer, resuming, would copy its
 * payload and header over newer records that readers have already taken
 * as committed (silent corruption, found by the soak test). So no claim
 * may end more than a lap past the start of one still open. The same
 * bound holds for later claims too: they start at or after @known_pos.
 * Intents more than a lap behind are already lost (a hostile or long dead
 * slot) and hold nobody back.
 */
static uint64_t drop_limit(const struct ring *r, uint32_t self, uint64_t known_pos) {
        uint64_t low = known_pos;

        for (uint32_t i = 0; i < r->pub_slots; i++) {
                const struct ring_pub_slot *s = &r->pubs[i];
                uint64_t p;

                if (i == self || atomic_load_explicit(&s->busy, memory_order_acquire) == 0)
                        continue;
                p = atomic_load_explicit(&s->intent_pos, memory_order_relaxed);
                if (p < low && known_pos - p < r->capacity)
                        low = p;
        }
        return low + r->capacity;
}

static uint64_t claim_skip(const struct ring *r, uint64_t pos, uint64_t len) {
        uint64_t rest = ring_rest(r, pos);

        return len > rest ? rest : 0;
}

/*
 * Raises a chunk entry, never lowers it: a slow writer of an older lap
 * loses. The attempts are bounded, so that a publisher rewriting the entry
 * without pause cannot hold anyone (the broker included) here; an entry
 * left low only makes a lapped reader resume a little later.
 */
static void chunk_raise(_Atomic uint64_t *entry, uint64_t v) {
        uint64_t cur = atomic_load_explicit(entry, memory_order_relaxed);

        for (unsigned i = 0; i < CHUNK_RAISE_TRIES && cur < v; i++)
                if (atomic_compare_exchange_weak_explicit(entry, &cur, v, memory_order_release,
                                                          memory_order_relaxed))
                        return;
}

/*
 * Updates the chunk index for the boundaries in (start, end] (see ring.h).
 * Counted rather than "while b <= end": positions come from the shared
 * tail, and near 2^64 b would wrap round and never pass end.
 */
static void chunk_note(const struct ring *r, uint64_t start, uint64_t rs, uint64_t end) {
        uint64_t cmask = ~(r->chunk_bytes - 1);
        uint64_t n, b;

        /* Most claims cross no boundary: keep the division off their path. */
        if ((start & cmask) == (end & cmask))
                return;
        n = ((end & cmask) - (start & cmask)) / r->chunk_bytes;
        b = (start & cmask) + r->chunk_bytes;
        for (uint64_t i = 0; i < MIN(n, (uint64_t)RING_CHUNKS + 1); i++, b += r->chunk_bytes)
                chunk_raise(ring_chunk_entry(r, b), b <= rs ? rs : end);
}

static void intent_store(struct ring_pub_slot *s, uint64_t pos, uint64_t seq, uint64_t len) {
        atomic_store_explicit(&s->intent_pos, pos, memory_order_relaxed);
        atomic_store_explicit(&s->intent_seq, seq, memory_order_relaxed);
        atomic_store_explicit(&s->intent_len, (uint32_t)len, memory_order_relaxed);
        atomic_store_explicit(&s->busy, BUSY_CLAIMING, memory_order_release);
}

/*
 * The first guess for the tail: the pair this slot's last successful CAS
 * left. A stale guess costs one failed CAS, which returns the real pair;
 * a lone publisher guesses right every time and pays a single CAS. A
 * guess that is no valid position (a corrupt slot) becomes {0, 0}, which
 * is just as good a guess.
 */
static void tail_guess(const struct ring *r, const struct ring_pub_slot *s, uint64_t *pos,
                       uint64_t *seq) {
        uint32_t len = atomic_load_explicit(&s->intent_len, memory_order_relaxed);

        *pos = atomic_load_explicit(&s->intent_pos, memory_order_relaxed) + len;
        *seq = atomic_load_explicit(&s->intent_seq, memory_order_relaxed) + (len ? 1 : 0);
        if (!ring_pos_valid(r, *pos))
                *pos = *seq = 0;
}

int ring_claim(struct ring *r, uint32_t pub_slot, size_t size, uint16_t flags, uint64_t *limit,
               struct ring_claim *ret) {
        struct ring_pub_slot *s;
        uint64_t len, pos, seq, at, skip, end;

        if (pub_slot >= r->pub_slots)
                return -EINVAL;
        if (size > r->max_message_bytes)
                return -EMSGSIZE;
        s = &r->pubs[pub_slot];
        len = ring_record_bytes(size);
        tail_guess(r, s, &pos, &seq);
        for (unsigned tries = 0;; tries++) {
                /* After a failed CAS, pos is the real tail: one out of range ends the claim. */
                if (!ring_pos_in_range(r, pos)) {
                        atomic_store_explicit(&s->busy, 0, memory_order_relaxed);
                        return -EBADMSG;
                }
                at = ring_align_up(pos); /* == pos unless the tail was scribbled on */
                skip = claim_skip(r, at, len);
                end = at + skip + len;
                if (end > *limit)
                        *limit = r->overflow == RING_OVERFLOW_DROP ? drop_limit(r, pub_slot, pos)
                                                                   : ring_limit(r, pos, NULL);
                /*
                 * Each failed CAS means another claim won, so honest
                 * publishers never get near the bound; it stops one that
                 * rewrites the tail without pause from holding us here.
                 */
                if (end > *limit || tries >= CLAIM_TRIES) {
                        /* Keeps the next guess a pair the tail really held. */
                        intent_store(s, pos, seq, 0);
                        atomic_store_explicit(&s->busy, 0, memory_order_relaxed);
                        return -EAGAIN;
                }
                intent_store(s, pos, seq, end - pos);
                if (tail_cas(r->tail, &pos, &seq, end, seq + 1))
                        break;
        }
        atomic_store_explicit(&s->busy, BUSY_HOLDING, memory_order_relaxed);
        chunk_note(r, pos, at + skip, end);
        *ret = (struct ring_claim){
                .pos = at + skip,
                .seq = seq,
                .length = (uint32_t)len,
                .size = (uint32_t)size,
                .pub_slot = pub_slot,
                .skip = (uint32_t)skip,
                .flags = flags,
                .payload = r->area + ((at + skip) & r->mask) + RING_RECORD_HEADER,
        };
        return 0;
}

static void record_fill(struct ring_record *rec, uint64_t seq, uint64_t ts, uint32_t length,
                        uint32_t size, uint16_t type, uint16_t flags, uint32_t publisher) {
        rec->seq = seq;
        rec->timestamp = ts;
        rec->length = length;
        rec->size = size;
        rec->type = type;
        rec->flags = flags;
        rec->publisher = publisher;
}

/*
 * Commits the record at @pos, then the PAD before it (if the claim has one),
 * so that a committed PAD proves the whole claim done (recovery relies on it).
 */
static void claim_publish(const struct ring *r, uint64_t pos, uint32_t skip, uint32_t publisher) {
        atomic_store_explicit(&ring_record_at(r, pos)->commit, pos + 1, memory_order_release);
        if (skip >= RING_RECORD_HEADER) {
                struct ring_record *pad = ring_record_at(r, pos - skip);

                record_fill(pad, 0, 0, skip, 0, RING_REC_PAD, 0, publisher);
                atomic_store_explicit(&pad->commit, pos - skip + 1, memory_order_release);
        }
}

void ring_commit(struct ring *r, const struct ring_claim *c, uint64_t timestamp_ns) {
        record_fill(ring_record_at(r, c->pos), c->seq, timestamp_ns, c->length, c->size,
                    RING_REC_DATA, c->flags, c->pub_slot);
        claim_publish(r, c->pos, c->skip, c->pub_slot);
        atomic_store_explicit(&r->pubs[c->pub_slot].busy, 0, memory_order_release);
        /* Only this publisher writes its counter: no read-modify-write needed. */
        atomic_store_explicit(&r->pubs[c->pub_slot].published,
                              atomic_load_explicit(&r->pubs[c->pub_slot].published,
                                                   memory_order_relaxed) + 1,
                              memory_order_relaxed);
}

void ring_note_wakeups(struct ring *r, uint32_t pub_slot, uint64_t n) {
        _Atomic uint64_t *w;

        if (pub_slot >= r->pub_slots || n == 0)
                return;
        w = &r->pubs[pub_slot].wakeups;
        atomic_store_explicit(w, atomic_load_explicit(w, memory_order_relaxed) + n,
                              memory_order_relaxed);
}

void ring_abort(struct ring *r, const struct ring_claim *c) {
        record_fill(ring_record_at(r, c->pos), c->seq, 0, c->length, 0, RING_REC_SKIP, 0,
                    c->pub_slot);
        claim_publish(r, c->pos, c->skip, c->pub_slot);
        atomic_store_explicit(&r->pubs[c->pub_slot].busy, 0, memory_order_release);
}

/*
 * The publisher's view of the active sub slots, rebuilt when the broker's
 * epoch moves (it bumps it after every activation and release). Read after
 * the caller's fence: a slot activated before a subscriber could announce
 * anything has a newer epoch than any cache that misses it.
 */
static void watch_refresh(struct ring *r) {
        uint32_t e = atomic_load(&r->state->epoch);

        if (r->watch_valid && e == r->watch_epoch)
                return;
        r->watch_valid = true;
        r->watch_epoch = e;
        r->watch = r->blind = 0;
        for (uint32_t i = 0; i < r->sub_slots; i++) {
                if (atomic_load(&r->subs[i].state) != RING_SLOT_ACTIVE)
                        continue;
                if (page_current(r, i))
                        r->watch |= UINT64_C(1) << i;
                else
                        r->blind |= UINT64_C(1) << i;
        }
}

/* Takes announcement @key: true for the one publisher that must signal it. */
static bool wake_take(_Atomic uint64_t *woken, uint64_t key) {
        if (atomic_load_explicit(woken, memory_order_relaxed) == key)
                return false;
        return atomic_exchange(woken, key) != key;
}

/* The waker's half of the handshake: commit (release), full fence, then look. */
uint64_t ring_take_sleepers(struct ring *r) {
        uint64_t mask = 0;

        atomic_thread_fence(memory_order_seq_cst);
        watch_refresh(r);
        for (uint64_t m = r->watch; m; m &= m - 1) {
                uint32_t i = (uint32_t)__builtin_ctzll(m);
                uint64_t s = atomic_load_explicit(&r->pages[i]->sleeps, memory_order_relaxed);

                if (s == r->sleeps_seen[i])
                        continue;
                r->sleeps_seen[i] = s;
                if ((s & 1) && wake_take(&r->subs[i].woken, ring_wake_key(r->page_gen[i], s)))
                        mask |= UINT64_C(1) << i;
        }
        return mask;
}

uint64_t ring_pages_missing(const struct ring *r) {
        return r->blind;
}

void ring_space_prepare(struct ring *r) {
        atomic_fetch_add(&r->state->space_waiters, 1);
        atomic_thread_fence(memory_order_seq_cst);
}

/*
 * The futex word to sleep on is the one of the slot holding us back, read
 * before a second look at the cursors: a subscriber that stores its cursor
 * after that look bumps the word (it sees us registered), so the futex
 * sleep cannot miss it. If the second look finds another slot in the way,
 * we take that one's word instead; cursors only move forward, so a few
 * tries settle it, and after SPACE_TRIES the caller just checks again.
 */
bool ring_space_available(struct ring *r, size_t size, uint64_t *limit,
                          struct ring_space_wait *ret) {
        uint64_t len = ring_record_bytes(MIN(size, (size_t)r->max_message_bytes));
        uint32_t blocker, again;

        if (ret)
                *ret = (struct ring_space_wait){.word = NULL};
        if (r->overflow == RING_OVERFLOW_DROP)
                return true;
        for (unsigned i = 0; i < SPACE_TRIES; i++) {
                uint64_t pos = ring_align_up(atomic_load(&r->tail->pos));
                uint64_t end = pos + claim_skip(r, pos, len) + len;
                _Atomic uint32_t *word;
                uint32_t value;

                *limit = ring_limit(r, pos, &blocker);
                if (end <= *limit)
                        return true;
                if (!ret || blocker == NO_SLOT || !page_current(r, blocker))
                        return false;
                word = &r->pages[blocker]->advanced;
                value = atomic_load(word);
                *limit = ring_limit(r, pos, &again);
                if (end <= *limit)
                        return true;
                if (again == blocker) {
                        *ret = (struct ring_space_wait){.word = word, .value = value};
                        return false;
                }
        }
        return false;
}

void ring_space_done(struct ring *r) {
        atomic_fetch_sub(&r->state->space_waiters, 1);
}

/* Subscriber side of the space handshake: cursor store, full fence, look. */
bool ring_reader_publish(struct ring *r, struct ring_reader *rd) {
        struct ring_sub_page *p = r->pages[rd->slot];

        atomic_store_explicit(&p->delivered, rd->delivered, memory_order_relaxed);
        atomic_store_explicit(&p->lost, rd->lost, memory_order_relaxed);
        atomic_store_explicit(&p->corrupt, rd->corrupt, memory_order_relaxed);
        atomic_store_explicit(&p->cursor, rd->pos, memory_order_release);
        rd->published = rd->pos;
        atomic_thread_fence(memory_order_seq_cst);
        if (atomic_load_explicit(&r->state->space_waiters, memory_order_relaxed) == 0)
                return false;
        atomic_fetch_add(&p->advanced, 1);
        return true;
}

uint32_t *ring_reader_space_word(struct ring *r, const struct ring_reader *rd) {
        return (uint32_t *)(void *)&r->pages[rd->slot]->advanced;
}

bool ring_space_broker_waiting(struct ring *r) {
        return atomic_load(&r->state->space_broker) != 0;
}

void ring_space_broker_set(struct ring *r, bool waiting) {
        atomic_store(&r->state->space_broker, waiting ? 1u : 0u);
}

/* ---- Broker ---- */

/* An atomic read of {pos, seq}: a CAS of {0, 0} to itself, which fails unless it is the value. */
static void tail_snapshot(struct ring_tail *t, uint64_t *pos, uint64_t *seq) {
        *pos = 0;
        *seq = 0;
        (void)tail_cas(t, pos, seq, 0, 0);
}

/*
 * The slot's STATE words are not read back to decide anything: publishers
 * can write STATE, so the caller (the broker) keeps its own account of
 * which slots are free.
 */
int ring_sub_slot_activate(struct ring *r, uint32_t slot, uint32_t pid, uint64_t *ret_start_seq) {
        struct ring_sub_page *p;
        struct ring_sub_slot *s;
        uint64_t first, pos, seq;

        if (slot >= r->sub_slots || !r->pages[slot])
                return -EINVAL;
        s = &r->subs[slot];
        p = r->pages[slot];
        /* Before: a tail no newer than any limit computed after. After: the real start. */
        first = ring_align_up(atomic_load(&r->tail->pos));
        atomic_store(&p->cursor, first);
        atomic_store(&s->start_pos, first);
        atomic_store(&s->woken, 0); /* no key: generations start at 1 */
        atomic_store(&s->generation, r->page_gen[slot]);
        atomic_store(&s->pid, pid);
        atomic_store(&s->state, RING_SLOT_ACTIVE);
        tail_snapshot(r->tail, &pos, &seq);
        pos = ring_align_up(pos);
        atomic_store(&s->start_seq, seq);
        atomic_store(&s->start_pos, pos);
        atomic_store(&p->cursor, pos);
        atomic_fetch_add(&r->state->epoch, 1);
        if (ret_start_seq)
                *ret_start_seq = seq;
        return 0;
}

void ring_sub_slot_release(struct ring *r, uint32_t slot) {
        if (slot >= r->sub_slots)
                return;
        atomic_store(&r->subs[slot].state, RING_SLOT_FREE);
        atomic_fetch_add(&r->state->epoch, 1);
        if (r->pages[slot])
                atomic_fetch_add(&r->pages[slot]->advanced, 1);
}

int ring_pub_slot_activate(struct ring *r, uint32_t slot, uint32_t pid) {
        struct ring_pub_slot *s;

        if (slot >= r->pub_slots)
                return -EINVAL;
        s = &r->pubs[slot];
        if (atomic_load(&s->state) == RING_SLOT_ACTIVE || atomic_load(&s->busy) != 0)
                return -EBUSY;
        /* {0, first_seq} is a pair the tail held: a valid first guess. */
        atomic_store(&s->intent_pos, 0);
        atomic_store(&s->intent_seq, r->first_seq);
        atomic_store(&s->intent_len, 0);
        atomic_store(&s->pid, pid);
        atomic_store(&s->state, RING_SLOT_ACTIVE);
        return 0;
}

void ring_pub_slot_release(struct ring *r, uint32_t slot) {
        if (slot >= r->pub_slots)
                return;
        atomic_store(&r->pubs[slot].state, RING_SLOT_FREE);
}

/* A claim from {pos, ...} is done when its first commit word is set (PAD last). */
static bool claim_done(const struct ring *r, uint64_t pos) {
        uint64_t at = ring_pos_normalize(r, pos);

        return atomic_load_explicit(&ring_record_at(r, at)->commit, memory_order_acquire) == at + 1;
}

/* An intent read from shared memory: aligned, and its record fits the limits. */
static bool intent_valid(const struct ring *r, uint64_t pos, uint64_t len) {
        uint64_t skip = claim_skip(r, pos, len);

        return pos % RING_ALIGN == 0 && len % RING_ALIGN == 0 && len - skip >= RING_RECORD_HEADER &&
               len - skip <= ring_record_bytes(r->max_message_bytes);
}

/*
 * Is the tail pair {pos, seq} also another slot's? 1 if that slot won it
 * (it holds the claim); -EAGAIN if a live slot is still deciding; else 0.
 * A second dead slot with the same pair is not resolved: both died within
 * the same few instructions, and the commit words decide.
 */
static int intent_contested(const struct ring *r, uint32_t slot, uint64_t pos, uint64_t seq) {
        for (uint32_t i = 0; i < r->pub_slots; i++) {
                struct ring_pub_slot *o = &r->pubs[i];
                uint32_t busy = atomic_load_explicit(&o->busy, memory_order_acquire);

                if (i == slot || busy == 0 || atomic_load(&o->intent_pos) != pos ||
                    atomic_load(&o->intent_seq) != seq)
                        continue;
                if (busy == BUSY_HOLDING)
                        return 1;
                if (atomic_load(&o->state) == RING_SLOT_ACTIVE)
                        return -EAGAIN;
        }
        return 0;
}

/* Writes the SKIP record (and PAD) of the dead claim {pos, seq, len}. */
static void claim_skip_write(const struct ring *r, uint32_t slot, uint64_t pos, uint64_t seq,
                             uint64_t len) {
        uint64_t skip = claim_skip(r, pos, len);

        record_fill(ring_record_at(r, pos + skip), seq, 0, (uint32_t)(len - skip), 0, RING_REC_SKIP,
                    0, slot);
        chunk_note(r, pos, pos + skip, pos + len);
        claim_publish(r, pos + skip, (uint32_t)skip, slot);
}

/* Decides whether the dead slot's claim {pos, seq, len} still needs a SKIP. */
static int recover_decide(const struct ring *r, uint32_t slot, uint32_t busy, uint64_t pos,
                          uint64_t seq, uint64_t len) {
        uint64_t tail = atomic_load(&r->tail->pos);
        uint64_t rs = pos + claim_skip(r, pos, len);
        int k;

        if (pos > tail)
                return -EBADMSG;
        /* Never claimed, or already lapped (drop policy): nothing to repair. */
        if (tail == pos || tail - pos > r->capacity)
                return 0;
        if (busy == BUSY_HOLDING) {
                if (atomic_load(&ring_record_at(r, rs)->commit) != rs + 1)
                        return 1;
                /* Died between the two commits: finish the PAD. */
                claim_publish(r, rs, (uint32_t)(rs - pos), slot);
                return 0;
        }
        /* Other slots first, then commit words: a winner clears busy after committing. */
        k = intent_contested(r, slot, pos, seq);
        if (k != 0)
                return k < 0 ? k : 0;
        return claim_done(r, pos) ? 0 : 1;
}

int ring_recover_publisher(struct ring *r, uint32_t slot) {
        struct ring_pub_slot *s;
        uint64_t pos, seq, len;
        uint32_t busy;
        int k;

        if (slot >= r->pub_slots)
                return -EINVAL;
        s = &r->pubs[slot];
        if (atomic_load(&s->state) == RING_SLOT_ACTIVE)
                return -EBUSY;
        busy = atomic_load(&s->busy);
        if (busy == 0)
                return 0;
        pos = atomic_load(&s->intent_pos);
        seq = atomic_load(&s->intent_seq);
        len = atomic_load(&s->intent_len);
        if (busy > BUSY_HOLDING || !intent_valid(r, pos, len))
                return -EBADMSG;
        k = recover_decide(r, slot, busy, pos, seq, len);
        if (k < 0)
                return k;
        if (k > 0)
                claim_skip_write(r, slot, pos, seq, len);
        atomic_store(&s->busy, 0);
        return k;
}

uint64_t ring_fill_bytes(struct ring *r) {
        uint64_t tail = atomic_load(&r->tail->pos);

        return MIN(tail + r->capacity - ring_limit(r, tail, NULL), r->capacity);
}
