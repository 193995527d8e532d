/* SPDX-License-Identifier: MIT */
/*
 * The shared-memory ring of one channel: many publishers, many subscribers,
 * broadcast (every subscriber reads every record), broker out of the data
 * path. Pure memory operations with C11 atomics: no syscalls, no
 * allocation. Wake-ups are left to the caller (ring_* return what to wake),
 * so this file stays portable; eventfds and futexes live in the platform
 * layer.
 *
 * Shared regions, each its own memfd, so that each party can be given
 * exactly the access it needs:
 *
 *  DATA (publishers and broker map read-write, subscribers read-only):
 *    page 0   struct ring_header    constants, written once by the broker;
 *                                   every client copies and checks them at
 *                                   attach and never reads them again
 *    page 1   struct ring_tail      the claim word {pos, seq} (16-byte CAS)
 *                                   and the chunk index for lapped readers
 *    page 2.. the record area, `capacity` bytes (a power of two)
 *
 *  STATE (publishers and broker read-write, subscribers read-only; holds
 *  nothing a reader trusts for data, only flow control and wake-ups):
 *    page 0   struct ring_state_header   epoch and space_broker (broker),
 *                                        space_waiters (publishers)
 *    then     sub_slots x struct ring_sub_slot   one cache line each: what
 *             the broker says about the slot (state, the generation of its
 *             page, where it started) and `woken` (publishers)
 *    then     pub_slots x struct ring_pub_slot   one cache line each
 *
 *  PAGE, one per active sub slot (RING_SUB_PAGE_BYTES, struct
 *  ring_sub_page): everything a subscriber writes, its cursor, its sleep
 *  counter, the `advanced` futex word and its statistics. Its subscriber
 *  maps it read-write; publishers and the broker read it (the broker, which
 *  creates it, also writes the start cursor before handing it out); no
 *  other subscriber ever gets it. So a subscriber can mislead others only
 *  about itself, and no word is written by two subscribers.
 *
 *  A mapping, once given, cannot be taken back, so the broker never hands
 *  a page to a second holder: every activation of a client sub slot gets a
 *  new page, one generation up (the broker's own reader keeps one page).
 *  A previous holder may go on writing into its old page; nobody reads it.
 *  (Eventfds likewise: each holder gets its own.) A publisher maps the
 *  pages of the slots active when it attaches; for a slot whose STATE
 *  generation it has no page for ("blind"), it bounds the cursor by the
 *  slot's start position and, after every batch, signals the broker's
 *  relay eventfd, on which the broker, which maps every page, does the
 *  waking for it; meanwhile the client library asks the broker for the new
 *  pages (RING_PAGES).
 *
 * Positions are 64-bit byte offsets that only grow; the area offset is
 * pos & (capacity - 1). Records are 8-byte aligned and never straddle the
 * end: a claim that does not fit in the rest of the lap first covers the
 * rest, with a PAD record when at least RING_RECORD_HEADER bytes remain,
 * or with nothing at all (readers skip a remainder smaller than a header).
 *
 * Record header (RING_RECORD_HEADER = 40 bytes, little-endian host order):
 *    u64 commit     position + 1, stored LAST with release; a reader at
 *                   position P trusts the record only if commit == P + 1
 *                   (anything else is in progress or a previous lap's)
 *    u64 seq        per-channel sequence number (DATA and SKIP)
 *    u64 timestamp  ns since the epoch (CLOCK_REALTIME)
 *    u32 length     whole record, header included, multiple of 8
 *    u32 size       payload bytes, <= length - 40 and <= max_message_bytes
 *    u16 type       RING_REC_DATA, RING_REC_PAD (no seq), RING_REC_SKIP
 *                   (an aborted or dead publisher's claim: consumes its seq,
 *                   carries no message, is not a loss)
 *    u16 flags      RING_REC_RETAIN
 *    u32 publisher  publisher slot index (diagnostics)
 *
 * Claim (multi-producer, no lock, never held across a copy): a publisher
 * writes its intent {pos, len, seq} into its own pub slot, then does one
 * 16-byte CAS of the tail {pos, seq} -> {pos + skip + len, seq + 1}, fills
 * the record and commits. Each publisher's records therefore appear in its
 * publish order, and sequence numbers follow ring order. A publisher that
 * dies between claim and commit leaves its intent behind; the broker, which
 * sees its connection close, turns the claim into a SKIP record
 * (ring_recover_publisher) so readers pass over it.
 *
 * The intent is written before the CAS, so by itself it cannot say whether
 * the CAS won. Two rules make recovery exact: a publisher's first guess for
 * the tail is the pair its own last CAS left (intent_pos + intent_len,
 * intent_seq + 1), so every intent names a pair the tail really held; and
 * `busy` is 1 while claiming, 2 once the CAS won, 0 after commit/abort.
 * Recovery of a slot with busy == 1 waits (-EAGAIN) while a live slot shows
 * the same {pos, seq} (one of the two won, the live one will tell), and
 * otherwise trusts the commit words. A claim's PAD is committed after its
 * record, so a committed PAD (or record) means the whole claim is done.
 *
 * Chunk index (lapped readers). The area is cut into RING_CHUNKS chunks;
 * a boundary B is any multiple of capacity / RING_CHUNKS in position space.
 * The claim [start, end) whose record starts at rs owns the boundaries in
 * (start, end] and stores, for each, rs if B <= rs else end, into
 * chunk_start[(B / chunk) % RING_CHUNKS] (an atomic max: a slow writer of an
 * older lap never moves an entry back). Every stored value is a claim or
 * record start, a place where a reader may resume. A value is trusted only
 * in [B, tail]; older entries (from a previous lap) fail that test.
 *
 * A commit word equal to P + 1 could also be a stale payload word of an
 * earlier lap. A reader trusts it without more only when the seq word
 * after it is the one it expects next; otherwise (a PAD, the first record
 * after a resync, a seq mismatch) the record must also lie below a tail
 * loaded after the commit. So the reader's common path never touches the
 * tail's cache line, which every claim writes (measured: 7 M msg/s with a
 * tail load per record, 17 M without).
 *
 * Flow control. "block": a claim must satisfy pos + len <= min(active
 * subscriber cursors) + capacity; publishers cache that limit and only
 * recompute it (a scan of the sub slots and their pages) when a claim
 * would exceed it. "drop": publishers overwrite; a lapped reader notices
 * (commit mismatch or the tail moved more than a lap past what it read),
 * resumes at the oldest record it can locate through the chunk index, and
 * learns its exact loss from the sequence numbers. A drop claim still never
 * laps a claim that is still being filled (its writer would copy over
 * newer records): it waits for that claim to end, which the broker forces
 * when the writer dies. "disconnect" is "block"
 * for the ring, with the broker evicting the laggard. A reader lapped under
 * "block" (a corrupt tail, or a slot released under a running reader) never
 * skips ahead: it reads only what is committed where it stands, and the
 * sleep check agrees.
 *
 * Wake-ups (see shared notes RING.md). The announcement lives in the
 * subscriber's own page, as a counter: no mask that every subscriber
 * writes. Subscriber going to sleep: make `sleeps` odd (a value not used
 * before), full fence, re-check for a record; only then block on its
 * eventfd; awake, it makes `sleeps` even again. Publisher after a batch:
 * full fence, then one load of `sleeps` per active sub slot (the set is
 * cached, and rebuilt when the broker's `epoch` moves: one more load). An
 * odd value it has not seen before is an announcement to answer: it
 * exchanges the slot's `woken` word in STATE for a key made of the page's
 * generation and that value, and signals the eventfd only if the word held
 * another key, so that of several publishers one signals. While
 * subscribers keep up no syscalls are made.
 *
 * Waiting for space ("block"). A publisher registers in `space_waiters`,
 * fences, finds the subscriber holding it back (the lowest cursor), loads
 * that page's `advanced` word, checks again and sleeps on that word as a
 * futex while it holds that value (FUTEX_WAIT and FUTEX_WAKE work on a
 * read-only shared mapping). A subscriber stores its cursor, fences, and
 * if anyone waits, bumps its own `advanced` and wakes it; a store the
 * publisher's check missed therefore changes the word it waits on. The
 * broker waits too (for socket publishers, `space_broker`): subscribers
 * then also signal their space eventfd, one per subscriber, so none can
 * consume a signal meant for the broker from another.
 *
 * Every value read from shared memory is untrusted: lengths, sizes,
 * positions, slot indices and the header are validated before use, and a
 * corrupt ring yields -EBADMSG, never an out-of-bounds access. A tail
 * within four laps of 2^64 is corrupt for good: publishers cannot claim
 * from it, readers neither resume at it nor count it as a lap. An unaligned
 * one is rounded up by whoever takes a position from it. Every
 * loop over shared values is bounded by a count (RING_READ_PASSES_MAX, claim
 * and chunk CAS tries, boundary scans), so no publisher can hold a reader or
 * a writer, the broker included, by rewriting words as fast as they are read.
 */
#pragma once

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RING_MAGIC         UINT64_C(0x31474e4952435049) /* "IPCRING1" */
#define RING_VERSION        3
#define RING_PAGE_BYTES    4096u
#define RING_SUB_PAGE_BYTES RING_PAGE_BYTES
#define RING_DATA_OFFSET   (2u * RING_PAGE_BYTES)
#define RING_RECORD_HEADER 40u
#define RING_ALIGN         8u
#define RING_CHUNKS        16u
#define RING_CAPACITY_MIN  (64u * 1024u)
#define RING_CAPACITY_MAX  (UINT64_C(1) << 30)
#define RING_SUB_SLOTS_MAX 64u
#define RING_PUB_SLOTS_MAX 64u
#define RING_NAME_MAX      255u
/*
 * Records one ring_read() passes over (PAD, SKIP, lapped resumes) before it
 * gives up with -EAGAIN, as if nothing had been committed yet: an honest
 * ring almost never has this many in a row, and a publisher rewriting
 * commit words as fast as a reader passes them must not keep that reader
 * (the broker's bridge among them) in one call for ever. The reader keeps
 * its progress; the next call goes on from there.
 */
#define RING_READ_PASSES_MAX 1024u

enum ring_record_type {
        RING_REC_DATA = 1,
        RING_REC_PAD = 2,
        RING_REC_SKIP = 3,
};

enum {
        RING_REC_RETAIN = 1u << 0,
};

enum ring_overflow {
        RING_OVERFLOW_BLOCK = 0,
        RING_OVERFLOW_DROP = 1,
        RING_OVERFLOW_DISCONNECT = 2,
};

enum ring_slot_state {
        RING_SLOT_FREE = 0,
        RING_SLOT_ACTIVE = 1,
};

/* DATA page 0. */
struct ring_header {
        uint64_t magic;
        uint32_t version;
        uint32_t header_bytes;      /* RING_DATA_OFFSET */
        uint64_t capacity;          /* power of two, RING_CAPACITY_MIN..MAX */
        uint32_t max_message_bytes; /* <= capacity / 4 */
        uint32_t sub_slots;         /* 1..RING_SUB_SLOTS_MAX */
        uint32_t pub_slots;         /* 1..RING_PUB_SLOTS_MAX */
        uint32_t overflow;          /* enum ring_overflow */
        uint32_t name_len;
        uint64_t first_seq; /* the tail's seq at format time (the first record's seq) */
        /*
         * The channel's epoch (ipc-broker(7) "Channel epochs"): a random
         * non-zero id the broker gave the channel when it created it, so
         * that it survives with the ring in the fd store and a subscriber
         * can tell a numbering that continued from one that started over.
         * 0 only in rings made outside the broker (tests, benchmarks).
         */
        uint64_t channel_epoch;
        char name[RING_NAME_MAX + 1];
};

/* DATA page 1: written by publishers (and the broker). */
struct ring_tail {
        alignas(16) _Atomic uint64_t pos; /* claimed up to here */
        _Atomic uint64_t seq;             /* next sequence number; {pos, seq} move together */
        alignas(64) _Atomic uint64_t chunk_start[RING_CHUNKS]; /* see ring.c: first record
                                                                  start at or after each
                                                                  chunk boundary */
};

/* STATE page 0. */
struct ring_state_header {
        uint64_t magic;
        uint32_t version;
        uint32_t sub_slots;
        uint32_t pub_slots;
        alignas(64) _Atomic uint32_t epoch; /* broker: bumped per sub slot activation and release */
        _Atomic uint32_t space_broker;      /* broker: it waits for space too (space eventfds) */
        alignas(64) _Atomic uint32_t
                space_waiters; /* publishers (and the broker) waiting for space */
};

/* STATE: one per sub slot, written by the broker except `woken`. */
struct ring_sub_slot {
        alignas(64) _Atomic uint32_t state; /* enum ring_slot_state */
        _Atomic uint32_t generation;        /* of the slot's current page; 0: none yet */
        _Atomic uint32_t pid;
        _Atomic uint64_t start_pos; /* the cursor at activation: a blind publisher's bound */
        _Atomic uint64_t start_seq; /* seq at the start position */
        _Atomic uint64_t woken;     /* publishers: key of the last announcement signalled */
};

/* PAGE: one subscriber's own writable state (the broker writes the start cursor). */
struct ring_sub_page {
        alignas(64) _Atomic uint64_t cursor; /* consumed up to here */
        _Atomic uint32_t advanced;           /* futex: bumped after a cursor store while
                                                anyone waits for space */
        _Atomic uint64_t delivered;          /* statistics, stored per batch */
        _Atomic uint64_t lost;
        _Atomic uint64_t corrupt;            /* corrupt records passed over */
        alignas(64) _Atomic uint64_t sleeps; /* odd: announced sleep (own line: read per batch) */
};

/* STATE: one per pub slot. */
struct ring_pub_slot {
        alignas(64) _Atomic uint64_t intent_pos; /* the claim being attempted or held */
        _Atomic uint64_t intent_seq;
        _Atomic uint32_t intent_len; /* total bytes claimed, skip/pad included */
        _Atomic uint32_t state;      /* enum ring_slot_state (broker writes) */
        _Atomic uint32_t pid;
        _Atomic uint32_t busy; /* 1 between intent and commit/abort */
        _Atomic uint64_t published; /* statistics, stored by the publisher */
        _Atomic uint64_t wakeups;   /* eventfd signals sent (ring_note_wakeups()) */
};

struct ring_params {
        uint64_t capacity;
        uint32_t max_message_bytes;
        uint32_t sub_slots;
        uint32_t pub_slots;
        enum ring_overflow overflow;
        uint64_t first_seq; /* sequence number of the first record */
        uint64_t channel_epoch; /* stored in the header (struct ring_header) */
        const char *name;
        size_t name_len;
};

/* Process-local view of a mapped ring: validated copies of the constants. */
struct ring {
        uint8_t *data; /* DATA mapping (read-only for subscribers) */
        size_t data_size;
        struct ring_tail *tail;
        uint8_t *area; /* data + RING_DATA_OFFSET */
        uint64_t capacity;
        uint64_t mask;
        uint64_t chunk_bytes; /* capacity / RING_CHUNKS */
        uint32_t max_message_bytes;
        uint32_t sub_slots;
        uint32_t pub_slots;
        enum ring_overflow overflow;
        uint64_t first_seq;
        uint64_t channel_epoch;
        struct ring_state_header *state;
        size_t state_size;
        struct ring_sub_slot *subs;
        struct ring_pub_slot *pubs;
        /* The sub slot pages mapped in this process (NULL: none) and their generations. */
        struct ring_sub_page *pages[RING_SUB_SLOTS_MAX];
        uint32_t page_gen[RING_SUB_SLOTS_MAX];
        /* Publisher: the active sub slots, as of STATE epoch watch_epoch. */
        bool watch_valid;
        uint32_t watch_epoch;
        uint64_t watch; /* active, and their current page is mapped here */
        uint64_t blind; /* active, but their current page is not mapped here */
        uint64_t sleeps_seen[RING_SUB_SLOTS_MAX]; /* last `sleeps` answered, per slot */
};

/* Sizes of DATA and STATE for a geometry (0 if the geometry is invalid); a PAGE is
 * RING_SUB_PAGE_BYTES. */
size_t ring_data_size(uint64_t capacity);
size_t ring_state_size(uint32_t sub_slots, uint32_t pub_slots);

/* Largest record for a payload of @size bytes (header + payload, aligned). */
uint64_t ring_record_bytes(size_t size);

/*
 * Broker: initialise freshly zeroed regions. Return: 0; -EINVAL for a
 * geometry out of range or regions of the wrong size.
 */
int ring_format(void *data, size_t data_size, void *state, size_t state_size,
                const struct ring_params *p);

/*
 * Any side: validate the header (read once) against the mapping sizes and
 * fill *ret. Return: 0; -EBADMSG (bad magic, corrupt field);
 * -EPROTONOSUPPORT (version); -EINVAL (sizes do not match the geometry).
 */
int ring_attach(struct ring *ret, void *data, size_t data_size, void *state, size_t state_size);

/*
 * Any side: records that this process maps sub slot @slot's page of
 * generation @gen at @page (RING_SUB_PAGE_BYTES, read-write for its
 * subscriber and the broker, read-only for publishers), or with @page NULL
 * that it maps none. The caller owns the mapping: unmap the one replaced
 * (r->pages[slot] before the call) after this returns. Return: 0; -EINVAL
 * (bad slot, or a page with generation 0).
 */
int ring_page_set(struct ring *r, uint32_t slot, uint32_t gen, struct ring_sub_page *page);

/* ---- Publisher ---- */

struct ring_claim {
        uint64_t pos; /* record position (after any skip/pad) */
        uint64_t seq;
        uint32_t length; /* record bytes */
        uint32_t size;   /* payload bytes */
        uint32_t pub_slot;
        uint32_t skip; /* bytes before pos covered by this claim (end-of-lap remainder) */
        uint16_t flags;
        void *payload; /* where to write the payload: area + offset + header */
};

/*
 * Reserves a record for @size payload bytes for publisher slot @pub_slot.
 * @limit: the caller's cached limit (start with 0); updated.
 * Return: 0; -EMSGSIZE (size over max_message_bytes); -EAGAIN (block
 * policy: no space until the slowest subscriber advances; drop policy: the
 * claim would overwrite another publisher's claim still being filled, a
 * lap behind, until that one ends; any policy: the
 * tail kept changing under tens of thousands of attempts, which only a
 * publisher scribbling on it makes happen; try again later); -EINVAL (bad
 * slot); -EBADMSG (the tail is corrupt: too close to 2^64).
 */
int ring_claim(struct ring *r, uint32_t pub_slot, size_t size, uint16_t flags, uint64_t *limit,
               struct ring_claim *ret);

/* Makes a filled claim visible to readers (and counts it in the slot's statistics). */
void ring_commit(struct ring *r, const struct ring_claim *c, uint64_t timestamp_ns);

/* Adds @n eventfd signals to publisher slot @pub_slot's statistics. */
void ring_note_wakeups(struct ring *r, uint32_t pub_slot, uint64_t n);

/* Gives a claim up: it becomes a SKIP record readers pass over. */
void ring_abort(struct ring *r, const struct ring_claim *c);

/*
 * After a batch of commits: full fence, then one load per active sub slot
 * whose page is mapped here (none changed: no RMW, no syscall for the
 * caller). Also refreshes which active slots are blind here
 * (ring_pages_missing()).
 * Return: the sub slots whose eventfds the caller must signal.
 */
uint64_t ring_take_sleepers(struct ring *r);

/*
 * Active sub slots whose current page (and eventfd) this process does not
 * have, as of the last ring_take_sleepers(). While there are any, the
 * caller asks the broker, which maps every page, to wake them (its relay
 * eventfd) after every batch, and gets their pages (ring_page_set()).
 */
uint64_t ring_pages_missing(const struct ring *r);

/* What to sleep on while there is no room: a futex word and the value it must still hold. */
struct ring_space_wait {
        _Atomic uint32_t *word; /* NULL: the slowest subscriber is blind here */
        uint32_t value;
};

/*
 * Waiting for space (block policy): ring_space_prepare() registers the
 * caller as a waiter (with a full fence), ring_space_available() checks;
 * when it says no, sleep on @ret's word (a futex in the page of the
 * subscriber holding us back) while it holds @ret's value, then check
 * again; ring_space_done() unregisters. @ret may be NULL (the broker
 * waits on space eventfds instead).
 */
void ring_space_prepare(struct ring *r);
bool ring_space_available(struct ring *r, size_t size, uint64_t *limit,
                          struct ring_space_wait *ret);
void ring_space_done(struct ring *r);

/* ---- Subscriber ---- */

struct ring_reader {
        uint32_t slot;
        bool resync;        /* after a lap or a corrupt record: a seq gap is loss */
        uint64_t pos;       /* next record to read */
        uint64_t next_seq;  /* sequence number expected next (slot's start_seq at first) */
        uint64_t tail_seen; /* last tail loaded (see the commit-word note above) */
        uint64_t published; /* last cursor value stored in the slot */
        uint64_t lost;      /* total messages lost to lapping (ESTALE views included) */
        uint64_t delivered; /* views released intact */
        uint64_t corrupt;   /* corrupt records seen */
};

struct ring_view {
        const void *payload;
        uint32_t size;
        uint16_t flags;
        uint64_t seq;
        uint64_t timestamp_ns;
        uint64_t lost; /* messages lost immediately before this one */
        uint64_t pos;  /* record position, for ring_release() */
        uint64_t end;  /* position after the record */
};

/*
 * Starts a reader at the cursor in its slot's page (set by the broker at
 * activation; map it with ring_page_set() first). Return: 0; -EINVAL (bad
 * or inactive slot, no page); -EBADMSG (cursor not within a lap behind the
 * tail).
 */
int ring_reader_init(struct ring *r, struct ring_reader *rd, uint32_t slot);

/*
 * The next message, as a view into the ring (zero-copy). Passes over PAD
 * and SKIP records, up to RING_READ_PASSES_MAX of them per call. Return: 0;
 * -EAGAIN (nothing committed yet, or that many records passed over: call
 * again); -EBADMSG (corrupt record: counted, the reader resynchronises at
 * the next chunk).
 */
int ring_read(struct ring *r, struct ring_reader *rd, struct ring_view *ret);

/*
 * Ends a view: checks that the bytes were not overwritten meanwhile (a
 * drop-policy publisher lapping the reader) and advances. Return: 0;
 * -ESTALE (overwritten: discard what was read; the loss is counted and the
 * next ring_read() resumes at the oldest available record); -EINVAL (@v
 * is not the reader's current record).
 */
int ring_release(struct ring *r, struct ring_reader *rd, const struct ring_view *v);

/*
 * Stores the reader's position and statistics in its page (call per batch,
 * not per message). When anyone waits for space it also bumps the page's
 * `advanced` word. Return: true then: the caller wakes all waiters on
 * ring_reader_space_word() and, when ring_space_broker_waiting(), signals
 * its space eventfd.
 */
bool ring_reader_publish(struct ring *r, struct ring_reader *rd);
uint32_t *ring_reader_space_word(struct ring *r, const struct ring_reader *rd);
bool ring_space_broker_waiting(struct ring *r);

/* The broker's own wait for space (it cannot block on a futex: it polls eventfds). */
void ring_space_broker_set(struct ring *r, bool waiting);

/*
 * Sleep handshake: announce, fence, re-check. Return: true when the caller
 * may now block on its eventfd; false when a record arrived meanwhile (the
 * announcement is withdrawn).
 */
bool ring_reader_prepare_sleep(struct ring *r, struct ring_reader *rd);

/* Withdraws a sleep announcement after waking. */
void ring_reader_end_sleep(struct ring *r, struct ring_reader *rd);

/*
 * Whether the last announcement is still unanswered: no publisher has
 * taken it (a blind publisher may still signal without taking it).
 */
bool ring_reader_sleep_pending(const struct ring *r, const struct ring_reader *rd);

/* ---- Broker ---- */

/*
 * Activates sub slot @slot, which the caller knows to be free, with the
 * page set for it (ring_page_set(): a fresh one for a new holder), its
 * cursor at the current tail. The cursor (and the start position in
 * STATE) is set once before and once after the slot turns active, so a
 * publisher whose cached limit predates the activation can never overrun
 * it. The second time comes from an atomic {pos, seq} snapshot, and
 * start_seq lets the reader count as lost whatever it misses from its very
 * first record. Bumps the epoch. Return: 0 and *ret_start_seq (may be
 * NULL); -EINVAL (bad slot, no page).
 *
 * ring_sub_slot_release() frees the slot, bumps the epoch and the page's
 * `advanced` word: the caller then wakes the futex waiters on it (the
 * slot may have been what they waited for) before unmapping the page.
 *
 * ring_pub_slot_activate() gives -EBUSY while the slot is active or still
 * holds an unrecovered claim.
 */
int ring_sub_slot_activate(struct ring *r, uint32_t slot, uint32_t pid, uint64_t *ret_start_seq);
void ring_sub_slot_release(struct ring *r, uint32_t slot);
int ring_pub_slot_activate(struct ring *r, uint32_t slot, uint32_t pid);
void ring_pub_slot_release(struct ring *r, uint32_t slot);

/*
 * After publisher slot @slot's process died and the slot was released: if
 * it held a claim nobody committed, writes a SKIP record over it. Return: 1
 * if a claim was skipped, 0 if there was none, -EBUSY if the slot is still
 * active (a live publisher's claim is never skipped), -EAGAIN if a live
 * publisher is still deciding the same tail pair (retry later), -EINVAL
 * (bad slot), -EBADMSG if the slot's intent is corrupt.
 */
int ring_recover_publisher(struct ring *r, uint32_t slot);

/* Bytes between the slowest active subscriber and the tail, at most a lap (for stats). */
uint64_t ring_fill_bytes(struct ring *r);

/* A sub slot's cursor as a publisher sees it: from its page, or its start position when blind. */
uint64_t ring_sub_cursor(const struct ring *r, uint32_t slot);
