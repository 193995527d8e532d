/* SPDX-License-Identifier: MIT */
/*
 * fuzz-ring: the shared-memory ring (libclient/ring.c, ring-reader.c) fed a
 * ring corrupted the way a hostile client could: a small valid ring is
 * formatted in memory, then the input is a program of operations, among
 * them writing fuzz bytes over the header, the tail, the record area, the
 * STATE region or the subscriber's own page at fuzz-chosen offsets, and
 * publishing, aborting, dying mid-claim (and the broker's recovery),
 * attaching, reading, sleeping and rejoining with a new page.
 * Nothing may crash, hang, read outside the regions (all are heap blocks
 * of exactly their size, so ASan sees any overrun) or hand out a view
 * outside the record area; a reader's sleep check must agree with what it
 * can read (else the reading loops of the broker and the library spin);
 * before the first corruption every record read must be intact.
 *
 * Input: one byte of geometry (overflow policy, message limit, first
 * sequence number), then operations, one byte each followed by its
 * arguments (fuzz-ring.h).
 *
 * Uses only ring.h: ring_data_size(), ring_state_size(), ring_format(),
 * ring_attach(), ring_page_set() and the publisher, subscriber and broker
 * calls, and the layout facts RING_PAGE_BYTES / RING_DATA_OFFSET to aim
 * corruption at the header, the tail and the area. A change of the region
 * layout needs a new entry in the region table of patch() and its
 * allocation here, nothing else.
 */
#include "build-config.h"

#include <errno.h>

#include "fuzz-ring.h"
#include "fuzz.h"
#include "ring.h"
#include "util.h"

#define CAPACITY      RING_CAPACITY_MIN
#define SUB_SLOTS     2u
#define PUB_SLOTS     2u
#define PUB_LIVE      0u /* a publisher that keeps going */
#define PUB_DYING     1u /* a publisher that dies holding a claim */
#define SUB_SLOT      0u
#define OPS_MAX       512
#define READS_MAX     64
#define PATCH_MAX     16
#define RECOVER_TRIES 4

struct ring_fuzz {
        struct fuzz_input in;
        uint8_t *data;
        size_t data_size;
        uint8_t *state;
        size_t state_size;
        void *page;   /* the subscriber's, RING_SUB_PAGE_BYTES */
        uint32_t gen;  /* its generation */
        struct ring pub; /* the publishers' and the broker's view, attached once */
        struct ring sub; /* the subscriber's view, attached again on demand */
        bool sub_ok;     /* sub attached and rd initialised */
        struct ring_reader rd;
        uint64_t pub_limit;
        bool pristine; /* nothing overwritten yet: every record must be intact */
        uint8_t sink;
};

/* IPC_FUZZ_TRACE=1 in the environment: one line per operation on stderr (for replays). */
static bool trace;

#define TRACE(...)                                                                                 \
        do {                                                                                       \
                if (trace)                                                                         \
                        fprintf(stderr, __VA_ARGS__);                                              \
        } while (0)

static const uint32_t max_message_choices[] = {64, 1000, CAPACITY / 4};
static const uint64_t first_seq_choices[] = {1, UINT64_C(1) << 32, UINT64_MAX - 8};

/*
 * As the broker does for each new holder of the sub slot: a fresh page, one
 * generation up (the same memory zeroed here), which the publishers' and
 * the broker's view maps too.
 */
static void sub_page_new(struct ring_fuzz *f) {
        memset(f->page, 0, RING_SUB_PAGE_BYTES);
        f->gen++;
        FUZZ_CHECK(ring_page_set(&f->pub, SUB_SLOT, f->gen, f->page) == 0);
}

static void ring_fuzz_setup(struct ring_fuzz *f) {
        uint8_t g = fuzz_u8(&f->in);
        struct ring_params p = {
                .capacity = CAPACITY,
                .max_message_bytes = max_message_choices[(g >> 2) % 3],
                .sub_slots = SUB_SLOTS,
                .pub_slots = PUB_SLOTS,
                .overflow = (enum ring_overflow)(g % 3),
                .first_seq = first_seq_choices[(g >> 4) % 3],
                .name = "fuzz.ring",
                .name_len = 9,
        };

        f->data_size = ring_data_size(p.capacity);
        f->state_size = ring_state_size(p.sub_slots, p.pub_slots);
        f->data = aligned_alloc(RING_PAGE_BYTES, f->data_size);
        f->state = aligned_alloc(RING_PAGE_BYTES, f->state_size);
        f->page = aligned_alloc(RING_PAGE_BYTES, RING_SUB_PAGE_BYTES);
        FUZZ_CHECK(f->data && f->state && f->page);
        /* What a fresh memfd gives: zeros everywhere. */
        memset(f->data, 0, f->data_size);
        memset(f->state, 0, f->state_size);
        FUZZ_CHECK(ring_format(f->data, f->data_size, f->state, f->state_size, &p) == 0);
        FUZZ_CHECK(ring_attach(&f->pub, f->data, f->data_size, f->state, f->state_size) == 0);
        FUZZ_CHECK(ring_pub_slot_activate(&f->pub, PUB_LIVE, 1) == 0);
        FUZZ_CHECK(ring_pub_slot_activate(&f->pub, PUB_DYING, 2) == 0);
        sub_page_new(f);
        FUZZ_CHECK(ring_sub_slot_activate(&f->pub, SUB_SLOT, 3, NULL) == 0);
        f->sub = f->pub;
        FUZZ_CHECK(ring_reader_init(&f->sub, &f->rd, SUB_SLOT) == 0);
        f->sub_ok = true;
        f->pristine = true;
}

/*
 * The subscriber maps the ring again: the header is checked afresh, and a
 * reader that was running carries on. @start (a fresh activation): the
 * reader starts at the slot's cursor, as a client does after OPEN_RING.
 */
static void sub_attach(struct ring_fuzz *f, bool start) {
        int r = ring_attach(&f->sub, f->data, f->data_size, f->state, f->state_size);

        FUZZ_CHECK(r == 0 || r == -EBADMSG || r == -EPROTONOSUPPORT || r == -EINVAL);
        if (r == 0)
                FUZZ_CHECK(ring_page_set(&f->sub, SUB_SLOT, f->gen,
                                         f->page) == 0);
        if (start)
                f->sub_ok = r == 0 && ring_reader_init(&f->sub, &f->rd, SUB_SLOT) == 0;
        else
                f->sub_ok = f->sub_ok && r == 0;
        TRACE("attach: %d, reader %s at %llu\n", r, f->sub_ok ? "ready" : "not ready",
              (unsigned long long)f->rd.pos);
        FUZZ_CHECK(f->sub_ok || !f->pristine);
}

/* A futex word a publisher or the subscriber would wait or wake on: in the page. */
static bool in_page(const struct ring_fuzz *f, const void *word) {
        const uint8_t *p = word, *page = f->page;

        return p >= page && p + sizeof(uint32_t) <= page + RING_SUB_PAGE_BYTES;
}

/* Payload bytes are the low byte of the record's seq, so a reader can check them. */
static void publish(struct ring_fuzz *f, uint32_t slot, bool commit) {
        size_t size = fuzz_u16(&f->in) % (f->pub.max_message_bytes + 64u);
        struct ring_claim c;
        int r = ring_claim(&f->pub, slot, size, fuzz_u8(&f->in) & RING_REC_RETAIN, &f->pub_limit,
                           &c);

        TRACE("%s size %zu: %d seq %llu pos %llu len %u skip %u\n", commit ? "publish" : "abort",
              size, r, r ? 0ULL : (unsigned long long)c.seq, r ? 0ULL : (unsigned long long)c.pos,
              r ? 0 : c.length, r ? 0 : c.skip);
        FUZZ_CHECK(r == 0 || r == -EMSGSIZE || r == -EAGAIN || r == -EBADMSG);
        FUZZ_CHECK(r != -EMSGSIZE || size > f->pub.max_message_bytes);
        if (r < 0)
                return;
        FUZZ_CHECK((uint8_t *)c.payload >= f->pub.area &&
                   (uint8_t *)c.payload + size <= f->pub.area + f->pub.capacity);
        memset(c.payload, (int)(c.seq & 0xff), size);
        if (commit)
                ring_commit(&f->pub, &c, c.seq);
        else
                ring_abort(&f->pub, &c);
}

/* A publisher dies holding a claim; the broker sees its connection close, frees the slot. */
static void publisher_dies(struct ring_fuzz *f) {
        size_t size = fuzz_u16(&f->in) % (f->pub.max_message_bytes + 1u);
        uint64_t limit = 0;
        struct ring_claim c;
        int r = ring_claim(&f->pub, PUB_DYING, size, 0, &limit, &c);

        TRACE("die holding a claim of %zu bytes: %d\n", size, r);
        FUZZ_CHECK(r == 0 || r == -EAGAIN || r == -EBADMSG);
        ring_pub_slot_release(&f->pub, PUB_DYING);
}

/* The broker repairs what the dead publisher left (a SKIP record) and reuses the slot. */
static void publisher_recover(struct ring_fuzz *f) {
        int r = 0;

        for (int i = 0; i < RECOVER_TRIES; i++) {
                r = ring_recover_publisher(&f->pub, PUB_DYING);
                TRACE("recover: %d\n", r);
                FUZZ_CHECK(r == 0 || r == 1 || r == -EBUSY || r == -EAGAIN || r == -EBADMSG);
                FUZZ_CHECK(!f->pristine || r >= 0 || r == -EBUSY);
                if (r != -EAGAIN)
                        break;
        }
        r = ring_pub_slot_activate(&f->pub, PUB_DYING, 2);
        FUZZ_CHECK(r == 0 || r == -EBUSY);
}

/* Where RING_OP_PATCH may write: the regions as the ring layout cuts them. */
static uint8_t *region(struct ring_fuzz *f, enum ring_fuzz_region which, size_t *ret_size) {
        switch (which) {
        case RING_REGION_HEADER:
                *ret_size = RING_PAGE_BYTES;
                return f->data;
        case RING_REGION_TAIL:
                *ret_size = RING_DATA_OFFSET - RING_PAGE_BYTES;
                return f->data + RING_PAGE_BYTES;
        case RING_REGION_AREA:
                *ret_size = f->data_size - RING_DATA_OFFSET;
                return f->data + RING_DATA_OFFSET;
        case RING_REGION_PAGE:
                *ret_size = RING_SUB_PAGE_BYTES;
                return f->page;
        default:
                *ret_size = f->state_size;
                return f->state;
        }
}

/* Fuzz bytes over one region, at a fuzz-chosen offset. */
static void patch(struct ring_fuzz *f) {
        enum ring_fuzz_region which = fuzz_u8(&f->in) % _RING_REGION_MAX;
        size_t size, off, len;
        uint8_t *base = region(f, which, &size);

        off = fuzz_u32(&f->in) % size;
        len = (size_t)(fuzz_u8(&f->in) % PATCH_MAX) + 1; /* not inside MIN(): read once */
        len = MIN(len, size - off);
        TRACE("patch region %u offset %zu length %zu\n", which, off, len);
        fuzz_take(&f->in, base + off, len);
        f->pristine = false;
}

/* Reads every byte of a view: ASan (or a fault) if it lies outside the ring. */
static void touch(struct ring_fuzz *f, const struct ring_view *v) {
        const uint8_t *p = v->payload;
        uint8_t expect = (uint8_t)(v->seq & 0xff);

        FUZZ_CHECK(v->size <= f->sub.max_message_bytes);
        FUZZ_CHECK(p >= f->sub.area && p + v->size <= f->sub.area + f->sub.capacity);
        for (uint32_t i = 0; i < v->size; i++) {
                f->sink ^= p[i];
                FUZZ_CHECK(!f->pristine || p[i] == expect);
        }
}

static void read_some(struct ring_fuzz *f, unsigned n) {
        for (unsigned i = 0; i < n && f->sub_ok; i++) {
                struct ring_view v;
                int r = ring_read(&f->sub, &f->rd, &v);

                TRACE("read: %d seq %llu size %u lost %llu pos %llu\n", r,
                      r ? 0ULL : (unsigned long long)v.seq, r ? 0 : v.size,
                      r ? 0ULL : (unsigned long long)v.lost, (unsigned long long)f->rd.pos);

                if (r == -EAGAIN)
                        break;
                FUZZ_CHECK(r == 0 || r == -EBADMSG);
                FUZZ_CHECK(r == 0 || !f->pristine);
                if (r < 0)
                        continue;
                touch(f, &v);
                r = ring_release(&f->sub, &f->rd, &v);
                FUZZ_CHECK(r == 0 || r == -ESTALE);
        }
        /* Someone waits for space: the caller would wake this word's futex waiters. */
        if (f->sub_ok && ring_reader_publish(&f->sub, &f->rd)) {
                uint32_t *word = ring_reader_space_word(&f->sub, &f->rd);

                FUZZ_CHECK(in_page(f, word));
                (void)ring_space_broker_waiting(&f->sub);
        }
}

/*
 * What the broker's bridge and the library do with a ring: read until there
 * is nothing, then announce sleep; a reader told not to sleep (something is
 * ready) reads again. ring_read() and the sleep check must agree: if the
 * check says "ready" for nothing, that loop spins (each round must find
 * something, within a bound); if it says "sleep" with a record there, the
 * reader sleeps on it.
 */
static void drain(struct ring_fuzz *f) {
        for (unsigned round = 0; f->sub_ok; round++) {
                struct ring_view v;

                FUZZ_CHECK(round < CAPACITY / RING_ALIGN);
                read_some(f, CAPACITY / RING_RECORD_HEADER + 16);
                if (ring_reader_prepare_sleep(&f->sub, &f->rd)) {
                        FUZZ_CHECK(ring_read(&f->sub, &f->rd, &v) == -EAGAIN);
                        ring_reader_end_sleep(&f->sub, &f->rd);
                        return;
                }
                TRACE("not sleeping: something is ready at %llu\n", (unsigned long long)f->rd.pos);
        }
}

/* The broker's periodic look at the ring, and the space and sleep handshakes. */
static void housekeeping(struct ring_fuzz *f) {
        uint8_t what = fuzz_u8(&f->in);
        struct ring_space_wait w;
        uint64_t limit = 0;

        (void)ring_fill_bytes(&f->pub);
        (void)ring_take_sleepers(&f->pub);
        /* Only our sub slot has a page to miss, unless STATE was scribbled on (any slot "active"). */
        FUZZ_CHECK(!f->pristine || (ring_pages_missing(&f->pub) & ~(UINT64_C(1) << SUB_SLOT)) == 0);
        (void)ring_space_prepare(&f->pub);
        /* A publisher about to sleep: on the futex word of a page, never elsewhere. */
        if (!ring_space_available(&f->pub, fuzz_u16(&f->in), &limit, &w) && w.word)
                FUZZ_CHECK(in_page(f, w.word));
        ring_space_done(&f->pub);
        ring_space_broker_set(&f->pub, what & 1);
        (void)ring_space_broker_waiting(&f->pub);
        if (f->sub_ok && (what & 2) && ring_reader_prepare_sleep(&f->sub, &f->rd)) {
                (void)ring_reader_sleep_pending(&f->sub, &f->rd);
                ring_reader_end_sleep(&f->sub, &f->rd);
        }
}

/* The subscriber leaves and comes back (a new activation and page, cursor at the tail). */
static void sub_rejoin(struct ring_fuzz *f) {
        ring_sub_slot_release(&f->pub, SUB_SLOT);
        sub_page_new(f);
        FUZZ_CHECK(ring_sub_slot_activate(&f->pub, SUB_SLOT, 3, NULL) == 0);
        sub_attach(f, true);
}

static void ring_step(struct ring_fuzz *f) {
        switch (fuzz_u8(&f->in) % _RING_OP_MAX) {
        case RING_OP_PUBLISH:
                publish(f, PUB_LIVE, true);
                break;
        case RING_OP_ABORT:
                publish(f, PUB_LIVE, false);
                break;
        case RING_OP_DIE:
                publisher_dies(f);
                break;
        case RING_OP_PATCH:
                patch(f);
                break;
        case RING_OP_READ:
                read_some(f, fuzz_u8(&f->in) % READS_MAX);
                break;
        case RING_OP_ATTACH:
                sub_attach(f, false);
                break;
        case RING_OP_HOUSE:
                housekeeping(f);
                break;
        case RING_OP_REJOIN:
                sub_rejoin(f);
                break;
        case RING_OP_RECOVER:
                publisher_recover(f);
                break;
        }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        trace = getenv("IPC_FUZZ_TRACE") != NULL;
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct ring_fuzz f = {.in = {.p = data, .left = size}};

        ring_fuzz_setup(&f);
        for (int i = 0; i < OPS_MAX && !fuzz_empty(&f.in); i++)
                ring_step(&f);
        drain(&f);
        free(f.data);
        free(f.state);
        free(f.page);
        return 0;
}
