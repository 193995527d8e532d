/* SPDX-License-Identifier: MIT */
/*
 * What a hostile ring client can do to the others through shared memory
 * (see "threat model" in ipc-broker(7)). Hostile clients are raw ones
 * (ring-raw.h) that write what they like wherever their descriptors let
 * them; the victims are library clients and raw clients that behave.
 *
 *  - A subscriber can map nothing writable but its own page: every other
 *    descriptor refuses a writable shared mapping, the regions cannot be
 *    opened again read-write through /proc by another user, and no other
 *    subscriber's page is among its descriptors.
 *  - Garbage in its own page (a cursor pushed forward, sleep counters,
 *    futex words, counters) changes nothing for the others: every
 *    subscriber, ring and socket alike, gets the same complete stream.
 *  - A cursor pushed back (and kept moving back) is a stalled subscriber:
 *    the broker evicts it and the publisher goes on.
 *  - A subscriber that gave its slot back keeps its old page and eventfds;
 *    whatever it does with them does not reach the slot's next holder.
 *  - A publisher that writes garbage all over DATA and STATE damages its
 *    channel only: readers see corrupt records or losses, never a crash,
 *    and the broker (run under the sanitizers, stopped cleanly at the end)
 *    serves everyone, other channels included.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "platform.h"
#include "proto.h"
#include "ring-internal.h"
#include "ring-raw.h"
#include "ring-util.h"
#include "ring.h"
#include "util.h"

#define T_SEC   RU_T_SEC
#define CHANNEL "iso.chan"
#define OTHER   "iso.other"
#define MSG     100u

/* A 64 KiB block-policy ring (it laps every ~400 messages) and a short stall timeout. */
static const char cfg[] = "{\"limits\": {\"stall_timeout_ms\": 500}, \"channels\": {\"" CHANNEL
                          "\": {\"ring_bytes\": 65536, \"max_message_bytes\": 1024}}}";

static uint64_t rnd_next(uint64_t *x) {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        return *x;
}

static bool same_file(int a, int b) {
        struct stat sa, sb;

        assert_int_equal(fstat(a, &sa), 0);
        assert_int_equal(fstat(b, &sb), 0);
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* The descriptor of @p's page pair for sub slot @slot (entry order), or -1. */
static int pub_page_fd(const struct raw *p, uint32_t slot) {
        for (size_t i = 0; i < p->rr.n_pages; i++)
                if (p->pages[i].slot == slot)
                        return p->fds[PROTO_RING_PUB_FDS + 2 * i + 1];
        return -1;
}

/* Whether a writable shared mapping of @fd is refused, as for anything not ours. */
static bool map_refused(int fd) {
        void *m = mmap(NULL, RING_PAGE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

        if (m != MAP_FAILED) {
                (void)munmap(m, RING_PAGE_BYTES);
                return false;
        }
        return errno == EACCES || errno == EPERM || errno == ENODEV;
}

/*
 * (a) Of everything a subscriber receives, only its own page maps
 * writable; its shared regions cannot be reopened read-write; another
 * subscriber's page is not among its descriptors, while a publisher maps
 * each page, read-only.
 */
static void test_subscriber_fds_read_only(void **state) {
        struct harness_broker *b = harness_start(state, cfg, NULL);
        struct raw s1, s2, p;
        int fd;

        raw_connect_unix(b, &s1);
        assert_int_equal(raw_open_ring(&s1, CHANNEL, PROTO_RING_SUBSCRIBER), 0);
        raw_connect_unix(b, &s2);
        assert_int_equal(raw_open_ring(&s2, CHANNEL, PROTO_RING_SUBSCRIBER), 0);
        raw_connect_unix(b, &p);
        assert_int_equal(raw_open_ring(&p, CHANNEL, PROTO_RING_PUBLISHER), 0);

        assert_int_equal(s1.n_fds, PROTO_RING_SUB_FDS);
        for (size_t i = 0; i < s1.n_fds; i++) {
                if (i == RAW_SUB_PAGE) {
                        assert_false(map_refused(s1.fds[i]));
                        continue;
                }
                if (!map_refused(s1.fds[i]))
                        fail_msg("the subscriber's descriptor %zu maps writable", i);
                assert_false(same_file(s1.fds[i], s2.fds[RAW_SUB_PAGE]));
        }
        assert_int_equal(raw_reopen_rdwr_as_other_user(s1.fds[RAW_SUB_DATA]), EACCES);
        assert_int_equal(raw_reopen_rdwr_as_other_user(s1.fds[RAW_SUB_STATE]), EACCES);
        assert_false(same_file(s1.fds[RAW_SUB_PAGE], s2.fds[RAW_SUB_PAGE]));
        assert_true(s1.rr.slot != s2.rr.slot);

        /* The publisher reads both pages, and can write neither. */
        fd = pub_page_fd(&p, s1.rr.slot);
        assert_true(fd >= 0);
        assert_true(same_file(fd, s1.fds[RAW_SUB_PAGE]));
        assert_true(map_refused(fd));
        assert_true(map_refused(pub_page_fd(&p, s2.rr.slot)));
        raw_close(&p);
        raw_close(&s2);
        raw_close(&s1);
}

/* ---- A hostile subscriber's page ---- */

enum scribble {
        SCRIBBLE_FORWARD, /* cursor past the tail, everything else random */
        SCRIBBLE_BACK,    /* cursor ever further behind */
};

struct scribbler {
        struct raw *a;
        struct ring_sub_page *page; /* its own map, read-write */
        enum scribble how;
        uint64_t back_from; /* SCRIBBLE_BACK: first cursor written */
        atomic_bool stop;
        pthread_t thread;
};

static void *scribbler_run(void *arg) {
        struct scribbler *s = arg;
        uint64_t x = 0x2545f4914f6cdd1du, k = 0;

        while (!atomic_load(&s->stop)) {
                uint64_t tail = atomic_load(&s->a->r.tail->pos);

                if (s->how == SCRIBBLE_FORWARD)
                        atomic_store(&s->page->cursor, tail + 8 * (1 + rnd_next(&x) % 100000));
                else
                        atomic_store(&s->page->cursor, s->back_from - 8 * (++k % (1u << 20)));
                atomic_store(&s->page->sleeps, rnd_next(&x));
                atomic_store(&s->page->advanced, (uint32_t)rnd_next(&x));
                atomic_store(&s->page->delivered, rnd_next(&x));
                atomic_store(&s->page->lost, rnd_next(&x));
                atomic_store(&s->page->corrupt, rnd_next(&x));
                (void)plat_futex_wake_all((uint32_t *)(void *)&s->page->advanced);
                (void)plat_wake_signal(s->a->fds[RAW_SUB_SPACE]);
                (void)usleep(200);
        }
        return NULL;
}

static void scribbler_start(struct scribbler *s, struct raw *a, enum scribble how) {
        void *page;

        *s = (struct scribbler){.a = a, .how = how};
        assert_int_equal(plat_shm_map(a->fds[RAW_SUB_PAGE], RING_SUB_PAGE_BYTES, true, &page), 0);
        s->page = page;
        s->back_from = atomic_load(&s->page->cursor);
        assert_int_equal(pthread_create(&s->thread, NULL, scribbler_run, s), 0);
}

static void scribbler_stop(struct scribbler *s) {
        atomic_store(&s->stop, true);
        assert_int_equal(pthread_join(s->thread, NULL), 0);
        plat_shm_unmap(s->page, RING_SUB_PAGE_BYTES);
}

/* A library publisher of @n messages, in a thread of its own. */
struct feeder {
        ipc_client *c;
        ipc_pub *pub;
        uint64_t from, n;
        int result;
        pthread_t thread;
};

static void *feeder_run(void *arg) {
        struct feeder *f = arg;

        for (uint64_t i = f->from; i < f->from + f->n && f->result == 0; i++)
                f->result = ru_publish(f->pub, MSG, i, 1, 0, harness_timeout(T_SEC));
        return NULL;
}

static void feeder_start(struct feeder *f, const char *addr, uint64_t from, uint64_t n) {
        *f = (struct feeder){.from = from, .n = n};
        f->c = ru_connect(addr, "iso-feeder", IPC_TRANSPORT_AUTO);
        f->pub = ru_pub(f->c, CHANNEL, IPC_TRANSPORT_RING);
        assert_int_equal(pthread_create(&f->thread, NULL, feeder_run, f), 0);
}

static void feeder_join(struct feeder *f) {
        assert_int_equal(pthread_join(f->thread, NULL), 0);
        if (f->result < 0)
                fail_msg("publishing: %s", ipc_strerror(f->result));
        ipc_pub_free(f->pub);
        ipc_client_free(f->c);
}

/* A victim: a library subscriber that must see index i at seq first_seq + i, nothing lost. */
struct victim {
        ipc_client *c;
        ipc_sub *sub;
        uint64_t next, first_seq;
};

/* A victim on the ring (@ring) or the socket. */
static void victim_open(struct victim *v, const char *addr, bool ring) {
        *v = (struct victim){
                .c = ru_connect(addr, "iso-victim",
                                ring ? IPC_TRANSPORT_AUTO : IPC_TRANSPORT_SOCKET),
        };
        v->sub = ru_sub(v->c, CHANNEL, ring ? IPC_TRANSPORT_RING : IPC_TRANSPORT_SOCKET);
}

/* Takes what is ready. Return: how many. */
static uint64_t victim_take(struct victim *v) {
        const ipc_msg *m;
        uint64_t n = 0, index;
        int r;

        while ((r = ipc_client_receive(v->c, 0, &m)) == 0) {
                size_t size;
                const void *data = ipc_msg_get_data(m, &size);

                ru_payload_check(data, size, &index, NULL);
                if (v->next == 0)
                        v->first_seq = ipc_msg_get_sequence(m) - index;
                if (index != v->next || ipc_msg_get_sequence(m) != v->first_seq + index ||
                    ipc_msg_get_lost(m) != 0)
                        fail_msg("got index %" PRIu64 " seq %" PRIu64 " lost %" PRIu64
                                 ", expected index %" PRIu64,
                                 index, ipc_msg_get_sequence(m), ipc_msg_get_lost(m), v->next);
                v->next++;
                n++;
        }
        if (r != -EAGAIN)
                fail_msg("receive: %s (%s)", ipc_strerror(r), ipc_client_get_error(v->c));
        return n;
}

/* Receives on every victim, by turns, until each has @n messages. */
static void victims_expect(struct victim *v, size_t n_v, uint64_t n) {
        uint64_t deadline = harness_now_usec() + harness_timeout(4 * T_SEC);

        for (;;) {
                bool done = true;

                for (size_t i = 0; i < n_v; i++) {
                        (void)victim_take(&v[i]);
                        done = done && v[i].next >= n;
                }
                if (done)
                        return;
                if (harness_now_usec() > deadline)
                        fail_msg("victims stuck at %" PRIu64 " and %" PRIu64 " of %" PRIu64,
                                 v[0].next, n_v > 1 ? v[1].next : 0, n);
                (void)usleep(200);
        }
}

static void victim_close(struct victim *v) {
        assert_int_equal(ipc_client_ping(v->c, harness_timeout(T_SEC), NULL), 0);
        ipc_sub_free(v->sub);
        ipc_client_free(v->c);
}

/*
 * (b) A subscriber writes garbage into its page without pause, its cursor
 * always past the tail: a ring subscriber and a socket subscriber (fed by
 * the broker's own reader) get the same complete stream across many laps.
 */
static void test_subscriber_garbage_harmless(void **state) {
        struct harness_broker *b = harness_start(state, cfg, NULL);
        const char *addr = harness_broker_address(b);
        const uint64_t n = 20000;
        struct victim v[2];
        struct scribbler s;
        struct feeder f;
        struct raw a;
        json_t *stats;

        ru_allow_rings();
        victim_open(&v[0], addr, true);
        victim_open(&v[1], addr, false);
        raw_connect_unix(b, &a);
        assert_int_equal(raw_open_ring(&a, CHANNEL, PROTO_RING_SUBSCRIBER), 0);
        scribbler_start(&s, &a, SCRIBBLE_FORWARD);
        feeder_start(&f, addr, 0, n);
        victims_expect(v, 2, n);
        feeder_join(&f);
        scribbler_stop(&s);
        assert_int_equal(v[0].first_seq, v[1].first_seq);
        /* Its counters are whatever it wrote: the broker's stats still come out. */
        stats = ru_stats(v[0].c);
        assert_non_null(ru_stats_channel(stats, CHANNEL));
        json_decref(stats);
        victim_close(&v[0]);
        victim_close(&v[1]);
        raw_close(&a);
}

/*
 * A cursor pushed back, and moved further back at every look, holds the
 * publisher back: the broker evicts that subscriber (ERROR ETIMEDOUT after
 * the stall timeout) even though its cursor never stays put, and the
 * publisher and the other subscriber go on.
 */
static void test_subscriber_cursor_back_evicted(void **state) {
        struct harness_broker *b = harness_start(state, cfg, NULL);
        const char *addr = harness_broker_address(b);
        _cleanup_free_ uint8_t *body = NULL;
        struct proto_error e;
        struct victim v;
        struct scribbler s;
        struct feeder f;
        struct raw a;
        size_t len;

        ru_allow_rings();
        victim_open(&v, addr, true);
        /* Some laps first, so that "behind" has room below the hostile one's start. */
        feeder_start(&f, addr, 0, 2000);
        victims_expect(&v, 1, 2000);
        feeder_join(&f);
        raw_connect_unix(b, &a);
        assert_int_equal(raw_open_ring(&a, CHANNEL, PROTO_RING_SUBSCRIBER), 0);
        scribbler_start(&s, &a, SCRIBBLE_BACK);
        feeder_start(&f, addr, 2000, 3000);
        victims_expect(&v, 1, 5000);
        feeder_join(&f);
        len = raw_expect(&a, PROTO_ERROR, &body);
        assert_int_equal(proto_decode_error(body, len, &e), 0);
        assert_int_equal(e.code, ETIMEDOUT);
        scribbler_stop(&s);
        victim_close(&v);
        raw_close(&a);
}

/*
 * (b) A subscriber gives its slot back and goes on with its old page and
 * eventfds: cursor moved back, sleep announcements, futex wake-ups, its
 * old wake eventfd drained without pause. The slot's next holder has a
 * page and eventfds of its own, sleeps and is woken, and is never held
 * back or evicted for what the old one does.
 */
static void test_previous_holder_cannot_reach_next(void **state) {
        struct harness_broker *b = harness_start(state, cfg, NULL);
        const char *addr = harness_broker_address(b);
        struct proto_close_ring cr;
        uint8_t head[PROTO_HEAD_MAX];
        struct scribbler s;
        struct feeder f;
        struct raw a, d;
        uint64_t seq, first_seq = 0;
        ipc_client *keeper;
        ipc_pub *keep;
        uint32_t slot;

        ru_allow_rings();
        /* A publisher that publishes nothing keeps the channel and its ring alive. */
        keeper = ru_connect(addr, "iso-keeper", IPC_TRANSPORT_AUTO);
        keep = ru_pub(keeper, CHANNEL, IPC_TRANSPORT_RING);
        raw_connect_unix(b, &a);
        assert_int_equal(raw_open_ring(&a, CHANNEL, PROTO_RING_SUBSCRIBER), 0);
        slot = a.rr.slot;
        cr = (struct proto_close_ring){.request_id = 0, .handle = a.rr.handle};
        raw_send(a.fd, head, proto_encode_close_ring(head, &cr));
        /* Handled in order: the listing that follows no longer counts the slot. */
        assert_true(raw_ring_clients(&a, CHANNEL) == 1);
        scribbler_start(&s, &a, SCRIBBLE_BACK);
        raw_connect_unix(b, &d);
        assert_int_equal(raw_open_ring(&d, CHANNEL, PROTO_RING_SUBSCRIBER), 0);
        assert_int_equal(d.rr.slot, slot);
        assert_true(d.rr.generation > a.rr.generation);
        assert_false(same_file(d.fds[RAW_SUB_PAGE], a.fds[RAW_SUB_PAGE]));

        feeder_start(&f, addr, 0, 3000);
        for (uint64_t i = 0; i < 3000; i++) {
                uint8_t buf[MSG];
                uint64_t index;

                /* Meanwhile the old holder eats every signal its old eventfd gets. */
                (void)plat_wake_drain(a.fds[RAW_SUB_WAKE]);
                assert_int_equal(raw_sub_next(&d, buf, sizeof(buf), &seq, T_SEC), MSG);
                ru_payload_check(buf, MSG, &index, NULL);
                assert_int_equal(index, i);
                if (i == 0)
                        first_seq = seq;
                assert_int_equal(seq, first_seq + i);
        }
        feeder_join(&f);
        scribbler_stop(&s);
        assert_true(raw_ring_clients(&d, CHANNEL) == 2); /* d, not evicted, and the keeper */
        raw_close(&d);
        raw_close(&a);
        ipc_pub_free(keep);
        ipc_client_free(keeper);
}

/* ---- A hostile publisher ---- */

struct vandal {
        struct raw *h;
        atomic_bool tails; /* the tail too: after that, the channel is lost for good */
        atomic_bool stop;
        uint64_t writes;
        pthread_t thread;
};

/* Random words into every part of DATA and STATE a publisher can write. */
static void *vandal_run(void *arg) {
        struct vandal *v = arg;
        struct ring *r = &v->h->r;
        uint8_t *state = v->h->state;
        uint64_t x = 0x9e3779b97f4a7c15u;

        while (!atomic_load(&v->stop)) {
                uint64_t w = rnd_next(&x), what = w % 8;
                size_t off;

                switch (what) {
                case 0: /* the tail: rarely, or nobody would ever get anywhere */
                        if (atomic_load(&v->tails) && w % 64 == 0)
                                atomic_store(&r->tail->pos, rnd_next(&x));
                        break;
                case 1:
                        atomic_store(&r->tail->chunk_start[w % RING_CHUNKS], rnd_next(&x));
                        break;
                case 2: /* STATE, anywhere after its constants */
                        off = RING_PAGE_BYTES / 2 +
                              (size_t)(w % (v->h->rr.state_size - RING_PAGE_BYTES / 2 - 8));
                        __atomic_store_n((uint64_t *)(void *)(state + (off & ~(size_t)7)),
                                         rnd_next(&x), __ATOMIC_RELAXED);
                        break;
                case 3:
                        atomic_store(&r->state->epoch, (uint32_t)rnd_next(&x));
                        atomic_store(&r->state->space_waiters, (uint32_t)rnd_next(&x) % 4);
                        atomic_store(&r->state->space_broker, (uint32_t)rnd_next(&x) % 2);
                        break;
                default: /* the record area: headers and payloads alike */
                        off = (size_t)(w % r->capacity) & ~(size_t)7;
                        __atomic_store_n((uint64_t *)(void *)(r->area + off), rnd_next(&x),
                                         __ATOMIC_RELAXED);
                        break;
                }
                if (++v->writes % 64 == 0)
                        (void)usleep(50);
        }
        return NULL;
}

/*
 * Commits @n records and spoils one field of every fifth header afterwards
 * (length, type, payload size, sequence number): committed records that
 * no check may let through.
 */
static void publish_spoiled(struct raw *h, uint64_t n) {
        for (uint64_t i = 0; i < n; i++) {
                struct ring_record *rec;
                struct ring_claim cl;

                assert_int_equal(ring_claim(&h->r, h->rr.slot, MSG, 0, &h->limit, &cl), 0);
                ru_payload_fill(cl.payload, MSG, i, 5);
                ring_commit(&h->r, &cl, plat_realtime_nsec());
                rec = ring_record_at(&h->r, cl.pos);
                switch (i % 5 == 4 ? i / 5 % 4 : 4) {
                case 0:
                        rec->length = 12;
                        break;
                case 1:
                        rec->type = 9;
                        break;
                case 2:
                        rec->size = 4096;
                        break;
                case 3:
                        rec->seq += 1000;
                        break;
                default:
                        break;
                }
        }
}

/* The corrupt records counted for CHANNEL in the broker's stats. */
static int64_t ring_corrupt_count(ipc_client *c) {
        json_t *stats = ru_stats(c);
        json_t *ring = json_object_get(ru_stats_channel(stats, CHANNEL), "ring");
        int64_t n = harness_json_int(ring, "corrupt");

        json_decref(stats);
        return n;
}

/* Publishes and receives on OTHER through fresh clients: the broker serves everyone else. */
static void other_channel_works(const char *addr) {
        ipc_client *c = ru_connect(addr, "iso-other", IPC_TRANSPORT_AUTO);
        ipc_sub *sub = ru_sub(c, OTHER, IPC_TRANSPORT_RING);
        ipc_pub *pub = ru_pub(c, OTHER, IPC_TRANSPORT_RING);
        uint64_t index;

        assert_int_equal(ru_publish(pub, MSG, 7, 2, 0, harness_timeout(T_SEC)), 0);
        ru_payload_check(ipc_msg_get_data(ru_receive(c, sub, T_SEC), NULL), MSG, &index, NULL);
        assert_int_equal(index, 7);
        ipc_pub_free(pub);
        ipc_sub_free(sub);
        ipc_client_free(c);
}

/*
 * Receives whatever comes for @usec, corrupt records and losses allowed.
 * A ring subscriber may even be evicted (the garbage tail makes it look
 * stalled): damage to the channel is what a hostile publisher can do.
 * Return: the corrupt records reported.
 */
static unsigned receive_anything(ipc_client *c, uint64_t usec, bool may_be_evicted, uint64_t *got) {
        uint64_t deadline = harness_now_usec() + usec;
        unsigned bad = 0;

        while (harness_now_usec() < deadline) {
                const ipc_msg *m;
                int r = ipc_client_receive(c, 10 * HARNESS_USEC_PER_MSEC, &m);

                if (r == 0)
                        (*got)++;
                else if (r == -EBADMSG)
                        bad++;
                else if (may_be_evicted && (r == -ETIMEDOUT || r == -ENOBUFS) &&
                         ipc_client_ping(c, 0, NULL) < 0)
                        return bad;
                else if (r < 0 && r != -EAGAIN && r != -ETIMEDOUT)
                        fail_msg("receive: %s (%s)", ipc_strerror(r), ipc_client_get_error(c));
        }
        return bad;
}

/*
 * (c) A ring publisher writes garbage all over DATA and STATE while a ring
 * publisher, a socket publisher (through the broker's own slot), a ring
 * subscriber and a socket subscriber (through the broker's reader) use the
 * channel. Everyone survives: the readers see corrupt records or losses,
 * the broker stays up and serves another channel, its statistics, and a
 * clean shutdown (no sanitizer report) at teardown.
 */
static void test_hostile_publisher_contained(void **state) {
        struct harness_broker *b = harness_start(state, cfg, NULL);
        const char *addr = harness_broker_address(b);
        ipc_client *rc, *sc, *pc, *spc;
        ipc_sub *rsub, *ssub;
        ipc_pub *rpub, *spub;
        struct vandal v = {};
        uint64_t got = 0;
        unsigned bad = 0;
        struct raw h;
        json_t *stats;

        ru_allow_rings();
        rc = ru_connect(addr, "iso-ring-sub", IPC_TRANSPORT_AUTO);
        rsub = ru_sub(rc, CHANNEL, IPC_TRANSPORT_RING);
        sc = ru_connect(addr, "iso-sock-sub", IPC_TRANSPORT_SOCKET);
        ssub = ru_sub(sc, CHANNEL, IPC_TRANSPORT_SOCKET);
        pc = ru_connect(addr, "iso-ring-pub", IPC_TRANSPORT_AUTO);
        rpub = ru_pub(pc, CHANNEL, IPC_TRANSPORT_RING);
        spc = ru_connect(addr, "iso-sock-pub", IPC_TRANSPORT_SOCKET);
        spub = ru_pub(spc, CHANNEL, IPC_TRANSPORT_SOCKET);
        raw_connect_unix(b, &h);
        assert_int_equal(raw_open_ring(&h, CHANNEL, PROTO_RING_PUBLISHER), 0);

        /* Spoiled records: reported as corrupt (and what they hid as lost), never delivered. */
        publish_spoiled(&h, 200);
        bad = receive_anything(rc, 300 * HARNESS_USEC_PER_MSEC, false, &got);
        fprintf(stderr, "# spoiled records: %" PRIu64 " messages, %u corrupt\n", got, bad);
        assert_true(bad >= 1);
        assert_true(got >= 1 && got < 200);
        (void)receive_anything(sc, 100 * HARNESS_USEC_PER_MSEC, false, &got);
        assert_true(ring_corrupt_count(spc) >= 1); /* the broker's reader met them too */

        /* Then garbage everywhere, while everyone goes on using the channel. */
        got = 0;
        bad = 0;
        v.h = &h;
        assert_int_equal(pthread_create(&v.thread, NULL, vandal_run, &v), 0);
        for (int round = 0; round < 20; round++) {
                if (round == 15)
                        atomic_store(&v.tails, true);
                /* Errors are allowed (no room in a ring whose tail is garbage): no crash, no hang.
                 */
                for (uint64_t i = 0; i < 50; i++) {
                        (void)ru_publish(rpub, MSG, i, 3, 0, 10 * HARNESS_USEC_PER_MSEC);
                        (void)ru_publish(spub, MSG, i, 4, 0, 10 * HARNESS_USEC_PER_MSEC);
                }
                bad += receive_anything(rc, 20 * HARNESS_USEC_PER_MSEC, true, &got);
                bad += receive_anything(sc, 20 * HARNESS_USEC_PER_MSEC, false, &got);
                assert_true(harness_broker_running(b));
        }
        atomic_store(&v.stop, true);
        assert_int_equal(pthread_join(v.thread, NULL), 0);
        fprintf(stderr, "# %" PRIu64 " words scribbled; %" PRIu64 " messages, %u corrupt records\n",
                v.writes, got, bad);
        raw_close(&h);

        /* The broker serves: the socket clients, another channel, its statistics. */
        assert_int_equal(ipc_client_ping(sc, harness_timeout(T_SEC), NULL), 0);
        assert_int_equal(ipc_client_ping(spc, harness_timeout(T_SEC), NULL), 0);
        other_channel_works(addr);
        stats = ru_stats(spc);
        assert_non_null(ru_stats_channel(stats, CHANNEL));
        json_decref(stats);
        ipc_pub_free(spub);
        ipc_pub_free(rpub);
        ipc_sub_free(ssub);
        ipc_sub_free(rsub);
        ipc_client_free(spc);
        ipc_client_free(pc);
        ipc_client_free(sc);
        ipc_client_free(rc);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_subscriber_fds_read_only, harness_teardown),
                cmocka_unit_test_teardown(test_subscriber_garbage_harmless, harness_teardown),
                cmocka_unit_test_teardown(test_subscriber_cursor_back_evicted, harness_teardown),
                cmocka_unit_test_teardown(test_previous_holder_cannot_reach_next, harness_teardown),
                cmocka_unit_test_teardown(test_hostile_publisher_contained, harness_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
