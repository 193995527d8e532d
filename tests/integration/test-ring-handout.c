/* SPDX-License-Identifier: MIT */
/*
 * The broker hands a channel's shared-memory ring to local clients
 * (OPEN_RING). Raw clients speak the protocol by hand and collect the
 * descriptors with recvmsg(MSG_CMSG_CLOEXEC), map the regions and use the
 * ring directly (ring.h): a publisher's 1000 messages reach a subscriber in
 * order; a TCP peer is refused; slots run out and come back when their
 * holder disconnects; a publisher that dies holding a claim does not block
 * readers, because the broker turns the claim into a SKIP record; a record
 * a publisher corrupts is reported to a library subscriber and counted in
 * the broker's stats; a subscriber that comes after a publisher is woken
 * through the broker's relay until the publisher has its page (RING_PAGES),
 * which the library gets by itself.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "platform.h"
#include "proto.h"
#include "ring-internal.h"
#include "ring-raw.h"
#include "ring.h"
#include "util.h"

#define T_SEC   (5 * HARNESS_USEC_PER_SEC)
#define N_MSGS  1000u
#define N_SLOTS 32u
#define CHANNEL "ring.handout"

/* Opens @role on CHANNEL. */
static int raw_open(struct raw *c, uint8_t role) {
        return raw_open_ring(c, CHANNEL, role);
}

static void raw_open_sub(struct harness_broker *b, struct raw *c) {
        raw_connect_unix(b, c);
        assert_int_equal(raw_open(c, PROTO_RING_SUBSCRIBER), 0);
}

/* Claims and commits one message carrying @index; signals sleepers. */
static void pub_one(struct raw *p, uint32_t index) {
        raw_pub(p, &index, sizeof(index));
}

/* The next message's index, sleeping on the eventfd while there is none. */
static uint32_t sub_next(struct raw *s, uint64_t *ret_seq, uint64_t timeout_usec) {
        uint32_t index;

        assert_int_equal(raw_sub_next(s, &index, sizeof(index), ret_seq, timeout_usec),
                         sizeof(index));
        return index;
}

static void *publisher_thread(void *arg) {
        for (uint32_t i = 0; i < N_MSGS; i++)
                pub_one(arg, i);
        return NULL;
}

static int64_t ring_clients(struct raw *c) {
        return raw_ring_clients(c, CHANNEL);
}

/*
 * A subscriber (DATA read-only) and a publisher (DATA read-write, every
 * eventfd) share the ring; 1000 messages arrive in order with consecutive
 * sequence numbers while the subscriber sleeps and is woken.
 */
static void test_roundtrip(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        struct raw s, p;
        pthread_t t;
        uint64_t seq, first_seq = 0;

        raw_open_sub(b, &s);
        assert_true(mmap(NULL, s.rr.data_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                         s.fds[RAW_SUB_DATA], 0) == MAP_FAILED);
        assert_int_equal(errno, EACCES);
        /* ...and cannot be opened again read-write through /proc either. */
        assert_int_equal(raw_reopen_rdwr_as_other_user(s.fds[RAW_SUB_DATA]), EACCES);
        raw_connect_unix(b, &p);
        assert_int_equal(raw_open(&p, PROTO_RING_PUBLISHER), 0);
        /* The publisher got the pages of the active sub slots: the subscriber's and the broker's.
         */
        assert_int_equal(p.rr.n_pages, 2);
        assert_int_equal(ring_clients(&p), 2);

        assert_int_equal(pthread_create(&t, NULL, publisher_thread, &p), 0);
        for (uint32_t i = 0; i < N_MSGS; i++) {
                assert_int_equal(sub_next(&s, &seq, T_SEC), i);
                if (i == 0)
                        first_seq = seq;
                assert_true(seq == first_seq + i);
        }
        assert_int_equal(pthread_join(t, NULL), 0);
        raw_close(&p);
        raw_close(&s);
}

/* Rings need a local peer: a TCP client gets -EOPNOTSUPP and no descriptors. */
static void test_tcp_refused(void **state) {
        int port = harness_free_tcp_port();
        char listen[64];
        const char *args[] = {"--listen", listen, NULL};
        struct raw c;

        assert_true(port > 0);
        (void)snprintf(listen, sizeof(listen), "tcp:127.0.0.1:%d", port);
        (void)harness_start(state, NULL, args);
        raw_connect_tcp(port, &c);
        assert_int_equal(raw_open(&c, PROTO_RING_SUBSCRIBER), -EOPNOTSUPP);
        raw_close(&c);
}

/* 32 subscribers fill the slots: the 33rd gets -ENOSPC; an unknown role gets -EINVAL. */
static void test_slots_exhausted(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        struct raw subs[N_SLOTS], extra;

        for (size_t i = 0; i < N_SLOTS; i++)
                raw_open_sub(b, &subs[i]);
        raw_connect_unix(b, &extra);
        assert_int_equal(raw_open(&extra, PROTO_RING_SUBSCRIBER), -ENOSPC);
        assert_int_equal(raw_open(&extra, 2), -EINVAL);
        assert_int_equal(ring_clients(&extra), N_SLOTS);
        raw_close(&extra);
        for (size_t i = 0; i < N_SLOTS; i++)
                raw_close(&subs[i]);
}

/* A subscriber that disconnects frees its slot: a new one takes it. */
static void test_slot_freed(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        uint64_t deadline = harness_now_usec() + harness_timeout(T_SEC);
        struct raw subs[N_SLOTS], extra;
        uint32_t freed;
        int r;

        for (size_t i = 0; i < N_SLOTS; i++)
                raw_open_sub(b, &subs[i]);
        freed = subs[7].rr.slot;
        raw_close(&subs[7]);
        raw_connect_unix(b, &extra);
        /* The broker frees the slot when it sees the close: no event tells us, so retry. */
        while ((r = raw_open(&extra, PROTO_RING_SUBSCRIBER)) == -ENOSPC &&
               harness_now_usec() < deadline)
                (void)usleep(10000);
        assert_int_equal(r, 0);
        assert_int_equal(extra.rr.slot, freed);
        raw_close(&extra);
        for (size_t i = 0; i < N_SLOTS; i++)
                if (i != 7)
                        raw_close(&subs[i]);
}

/*
 * A publisher killed between ring_claim() and ring_commit(): the broker
 * turns its claim into a SKIP within a second, and the subscriber, asleep
 * behind the hole, passes over it to the next committed message.
 */
static void test_dead_publisher(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        struct raw s, dead, live;
        struct ring_claim cl;
        uint64_t seq0, seq;
        uint64_t start;

        raw_open_sub(b, &s);
        raw_connect_unix(b, &dead);
        assert_int_equal(raw_open(&dead, PROTO_RING_PUBLISHER), 0);
        raw_connect_unix(b, &live);
        assert_int_equal(raw_open(&live, PROTO_RING_PUBLISHER), 0);

        pub_one(&dead, 1);
        assert_int_equal(sub_next(&s, &seq0, T_SEC), 1);
        assert_int_equal(ring_claim(&dead.r, dead.rr.slot, 4, 0, &dead.limit, &cl), 0);
        pub_one(&live, 3);
        start = harness_now_usec();
        raw_close(&dead);
        assert_int_equal(sub_next(&s, &seq, HARNESS_USEC_PER_SEC), 3);
        assert_true(harness_now_usec() - start < harness_timeout(HARNESS_USEC_PER_SEC));
        /* The dead claim consumed its sequence number: a SKIP is not a loss. */
        assert_true(seq == seq0 + 2);
        raw_close(&live);
        raw_close(&s);
}

/*
 * OPEN_RING while MESSAGE frames are still queued for the client: the
 * broker holds the reply back until its queue is empty, so the descriptors
 * arrive with the REPLY, after every MESSAGE, and none with a MESSAGE.
 */
static void test_reply_after_queue(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        struct proto_open o = {.request_id = 3, .name = CHANNEL, .name_len = strlen(CHANNEL)};
        static uint8_t payload[64 * 1024];
        _cleanup_free_ uint8_t *body = NULL;
        uint8_t buf[PROTO_HEAD_MAX];
        ipc_client *pc;
        ipc_pub *pub;
        struct raw s;

        raw_connect_unix(b, &s);
        raw_send(s.fd, buf, proto_encode_open(buf, PROTO_SUBSCRIBE, &o));
        (void)raw_expect(&s, PROTO_REPLY, &body);
        pc = harness_connect(harness_broker_address(b), "queue-pub");
        assert_int_equal(ipc_pub_new(pc, CHANNEL, harness_timeout(T_SEC), &pub), 0);
        for (size_t i = 0; i < 64; i++)
                assert_int_equal(
                        ipc_publish(pub, payload, sizeof(payload), 0, harness_timeout(T_SEC)), 0);
        /* Answered after the broker handled (and queued) every message above. */
        assert_int_equal(ipc_client_ping(pc, harness_timeout(T_SEC), NULL), 0);
        assert_int_equal(raw_open(&s, PROTO_RING_SUBSCRIBER), 0);
        ipc_pub_free(pub);
        ipc_client_free(pc);
        raw_close(&s);
}

/* The message a library subscriber receives next, or its error (-EBADMSG). */
static int lib_next(ipc_client *c, uint32_t *ret_index, uint64_t *ret_lost) {
        const ipc_msg *m;
        int r;

        r = ipc_client_receive(c, harness_timeout(T_SEC), &m);
        if (r < 0)
                return r;
        assert_int_equal(ipc_msg_get_size(m), sizeof(*ret_index));
        memcpy(ret_index, ipc_msg_get_data(m, NULL), sizeof(*ret_index));
        *ret_lost = ipc_msg_get_lost(m);
        return 0;
}

/* "corrupt" of CHANNEL's "ring" in the broker's stats. */
static int64_t ring_corrupt(ipc_client *c) {
        _cleanup_free_ char *text = NULL;
        json_t *doc, *arr, *ch;
        int64_t n = -1;
        size_t i;

        assert_int_equal(ipc_client_stats(c, harness_timeout(T_SEC), &text), 0);
        doc = harness_json_parse(text);
        arr = json_object_get(doc, "channel_stats");
        json_array_foreach(arr, i, ch) {
                if (strcmp(json_string_value(json_object_get(ch, "name")), CHANNEL) == 0)
                        n = harness_json_int(json_object_get(ch, "ring"), "corrupt");
        }
        json_decref(doc);
        return n;
}

/*
 * A publisher scribbles over a committed record's length: the library
 * subscriber gets -EBADMSG once (no crash, no out-of-bounds read), resumes
 * at the next chunk with the skipped messages counted as lost, and the
 * broker's stats count the corrupt record.
 */
static void test_corrupt_record_reported(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        const uint32_t n = 8000; /* more than a chunk (256 KiB) of 48-byte records */
        uint32_t index, next = 0, got = 0, bad = 0;
        uint64_t lost, lost_total = 0;
        struct ring_claim cl;
        ipc_client *c;
        ipc_sub *sub;
        struct raw p;
        int r;

        unsetenv("IPC_TRANSPORT");
        c = harness_connect(harness_broker_client_address(b), "victim");
        assert_int_equal(ipc_sub_new(c, CHANNEL, harness_timeout(T_SEC), &sub), 0);
        assert_int_equal(ipc_sub_get_transport(sub), IPC_TRANSPORT_RING);
        raw_connect_unix(b, &p);
        assert_int_equal(raw_open(&p, PROTO_RING_PUBLISHER), 0);

        pub_one(&p, 0);
        assert_int_equal(ring_claim(&p.r, p.rr.slot, sizeof(index), 0, &p.limit, &cl), 0);
        memcpy(cl.payload, &(uint32_t){1}, sizeof(uint32_t));
        ring_commit(&p.r, &cl, plat_realtime_nsec());
        ((struct ring_record *)(void *)(p.r.area + (cl.pos & p.r.mask)))->length = 12;
        for (uint32_t i = 2; i < n; i++)
                pub_one(&p, i);

        while (next < n) {
                r = lib_next(c, &index, &lost);
                if (r == -EBADMSG) {
                        bad++;
                        continue;
                }
                assert_int_equal(r, 0);
                assert_true(index >= next);
                lost_total += lost;
                next = index + 1;
                got++;
        }
        assert_int_equal(bad, 1);
        /* Message 1 and the rest of its chunk are gone, and said to be. */
        assert_int_equal(got + lost_total, n);
        assert_true(lost_total >= 1);
        assert_int_equal(ipc_client_receive(c, 0, &(const ipc_msg *){NULL}), -EAGAIN);
        assert_true(ring_corrupt(c) >= 1);
        ipc_sub_free(sub);
        ipc_client_free(c);
        raw_close(&p);
}

/* Sends RING_PAGES for @handle; returns the reply status, and on success its entry count. */
static int raw_ring_pages(struct raw *c, uint32_t handle, size_t *ret_n) {
        struct proto_ring_pages m = {.request_id = 91, .handle = handle};
        uint8_t buf[PROTO_HEAD_MAX];
        _cleanup_free_ uint8_t *body = NULL;
        struct proto_reply rep;
        size_t len, before = c->n_fds;

        raw_send(c->fd, buf, proto_encode_ring_pages(buf, &m));
        len = raw_expect(c, PROTO_REPLY, &body);
        assert_int_equal(proto_decode_reply(body, len, &rep), 0);
        assert_int_equal(rep.request_id, 91);
        if (rep.status < 0) {
                assert_int_equal(c->n_fds, before);
                return rep.status;
        }
        assert_int_equal(proto_decode_ring_pages_reply(rep.body, rep.body_len, ret_n), 0);
        assert_int_equal(c->n_fds, before + 2 * *ret_n);
        return 0;
}

/*
 * A subscriber that comes after a publisher has a page and eventfds the
 * publisher was not given: the publisher sees it as missing, wakes it
 * through the broker's relay eventfd (the subscriber sleeps and is woken),
 * is bounded by its start position (a lap past it, no further), and gets
 * the new page with RING_PAGES; other grants get -ENOENT or -EINVAL.
 */
static void test_late_subscriber(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        struct raw p, s;
        struct ring_claim cl;
        uint64_t seq;
        size_t n;

        raw_connect_unix(b, &p);
        assert_int_equal(raw_open(&p, PROTO_RING_PUBLISHER), 0);
        assert_int_equal(p.rr.n_pages, 1); /* the broker's own reader only */
        raw_open_sub(b, &s);
        pub_one(&p, 1);
        assert_int_equal(ring_pages_missing(&p.r), UINT64_C(1) << s.rr.slot);
        assert_int_equal(sub_next(&s, &seq, T_SEC), 1);
        pub_one(&p, 2); /* after the subscriber went to sleep: the relay wakes it */
        assert_int_equal(sub_next(&s, &seq, T_SEC), 2);
        /* Blind, the publisher may not go a lap past where the subscriber started. */
        p.limit = 0;
        while (ring_claim(&p.r, p.rr.slot, 1000, 0, &p.limit, &cl) == 0)
                ring_commit(&p.r, &cl, 0);
        assert_true(atomic_load(&p.r.tail->pos) <= ring_sub_cursor(&p.r, s.rr.slot) + p.r.capacity);

        assert_int_equal(raw_ring_pages(&p, p.rr.handle, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(raw_ring_pages(&p, p.rr.handle + 100, &n), -ENOENT);
        assert_int_equal(raw_ring_pages(&s, s.rr.handle, &n), -EINVAL);
        raw_close(&s);
        raw_close(&p);
}

/*
 * The library does the same by itself: a publisher that was there first
 * streams many laps of a small block-policy ring to a subscriber that came
 * later, which it could not do without the new page (it would stop a lap
 * past the subscriber's start), and every message arrives in order.
 */
struct early_pub {
        ipc_pub *pub;
        uint32_t n;
        int result;
};

static void *early_pub_run(void *arg) {
        struct early_pub *e = arg;

        for (uint32_t i = 0; i < e->n && e->result == 0; i++)
                e->result = ipc_publish(e->pub, &i, sizeof(i), 0, harness_timeout(T_SEC));
        return NULL;
}

static void test_late_subscriber_library(void **state) {
        struct harness_broker *b =
                harness_start(state,
                              "{\"channels\": {\"" CHANNEL
                              "\": {\"ring_bytes\": 65536, \"max_message_bytes\": 1024}}}",
                              NULL);
        const char *addr = harness_broker_client_address(b);
        struct early_pub e = {.n = 20000}; /* 48-byte records: about 15 laps */
        ipc_client *pc, *sc;
        ipc_sub *sub;
        uint32_t index;
        uint64_t lost;
        pthread_t t;

        unsetenv("IPC_TRANSPORT");
        pc = harness_connect(addr, "early-pub");
        assert_int_equal(ipc_pub_new(pc, CHANNEL, harness_timeout(T_SEC), &e.pub), 0);
        assert_int_equal(ipc_pub_get_transport(e.pub), IPC_TRANSPORT_RING);
        sc = harness_connect(addr, "late-sub");
        assert_int_equal(ipc_sub_new(sc, CHANNEL, harness_timeout(T_SEC), &sub), 0);
        assert_int_equal(ipc_sub_get_transport(sub), IPC_TRANSPORT_RING);
        assert_int_equal(pthread_create(&t, NULL, early_pub_run, &e), 0);
        for (uint32_t i = 0; i < e.n; i++) {
                int r = lib_next(sc, &index, &lost);

                if (r < 0)
                        fail_msg("message %u: %s", i, ipc_strerror(r));
                assert_int_equal(index, i);
                assert_int_equal(lost, 0);
        }
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_int_equal(e.result, 0);
        ipc_pub_free(e.pub);
        ipc_sub_free(sub);
        ipc_client_free(sc);
        ipc_client_free(pc);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_roundtrip, harness_teardown),
                cmocka_unit_test_teardown(test_tcp_refused, harness_teardown),
                cmocka_unit_test_teardown(test_slots_exhausted, harness_teardown),
                cmocka_unit_test_teardown(test_slot_freed, harness_teardown),
                cmocka_unit_test_teardown(test_dead_publisher, harness_teardown),
                cmocka_unit_test_teardown(test_reply_after_queue, harness_teardown),
                cmocka_unit_test_teardown(test_corrupt_record_reported, harness_teardown),
                cmocka_unit_test_teardown(test_late_subscriber, harness_teardown),
                cmocka_unit_test_teardown(test_late_subscriber_library, harness_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
