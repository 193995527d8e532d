/* SPDX-License-Identifier: MIT */
/*
 * Dead ring peers stop holding a channel within a second. The misbehaving
 * peer is a child process (ring-peer) killed with SIGKILL:
 *  - a ring subscriber that stopped reading fills a 64 KiB "block" ring; a
 *    ring publisher blocked on it returns within a second of the kill, and
 *    so does the flow from a socket publisher the broker stopped reading;
 *  - a ring publisher killed between claim and commit holds readers back
 *    until the broker turns its claim into a SKIP record, within a second;
 *    readers then go on with nothing lost (the SKIP consumes its sequence
 *    number, it is not a loss), and other publishers keep publishing;
 *  - the same claim on a full ring of a channel configured "block": the
 *    readers stop at the claim, so the ring fills behind it and a live
 *    publisher blocks; the kill frees that publisher within a second;
 *  - kill -9 cycles, more than a ring has subscriber slots, of a stalled
 *    subscriber and a claiming publisher together: the channel flows
 *    within a second of each, and every slot comes back.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "harness.h"
#include "ring-util.h"

#define T_SEC RU_T_SEC
#define MSG   1024u

/* A 64 KiB ring holds about 60 records of 1 KiB: it fills at once. */
static const char small_ring_cfg[] =
        "{\"channels\": {\"crash.chan\": {\"ring_bytes\": 65536, \"max_message_bytes\": 4096}}}";

/* The same, with the policy stated: what these tests are about is "block". */
static const char block_ring_cfg[] = "{\"channels\": {\"crash.chan\": {\"ring_bytes\": 65536, "
                                     "\"max_message_bytes\": 4096, \"overflow\": \"block\"}}}";

/* A reader of crash.chan that checks every message: seq and index in step, nothing lost. */
struct reader {
        ipc_client *c;
        ipc_sub *sub;
        uint64_t n;
        uint64_t last_seq;
};

static void reader_open(struct reader *rd, const char *addr, int transport, int want) {
        *rd = (struct reader){.c = ru_connect(addr, "crash-reader", transport)};
        rd->sub = ru_sub(rd->c, "crash.chan", want);
}

static void reader_close(struct reader *rd) {
        ipc_sub_free(rd->sub);
        ipc_client_free(rd->c);
}

/* Checks one message: index @want_index (if not UINT64_MAX), the next seq or @skip after it. */
static void reader_check(struct reader *rd, const ipc_msg *m, uint64_t want_index, uint64_t skip) {
        uint64_t seq = ipc_msg_get_sequence(m), index;
        size_t size;
        const void *data = ipc_msg_get_data(m, &size);

        ru_payload_check(data, size, &index, NULL);
        if (want_index != UINT64_MAX && index != want_index)
                fail_msg("got index %" PRIu64 " (seq %" PRIu64 "), expected %" PRIu64, index, seq,
                         want_index);
        if (seq != rd->last_seq + 1 + skip)
                fail_msg("seq %" PRIu64 " after %" PRIu64 ", expected a gap of %" PRIu64, seq,
                         rd->last_seq, skip);
        assert_int_equal(ipc_msg_get_lost(m), 0);
        rd->last_seq = seq;
        rd->n++;
}

/* Receives what is ready, checking indexes count up from what was read. */
static void reader_drain(struct reader *rd) {
        const ipc_msg *m = NULL;
        int r;

        while ((r = ipc_client_receive(rd->c, 0, &m)) == 0)
                reader_check(rd, m, rd->n, 0);
        if (r != -EAGAIN)
                fail_msg("receive: %s (%s)", ipc_strerror(r), ipc_client_get_error(rd->c));
}

/* Receives until @n messages in all, each within the timeout, indexes counting up. */
static void reader_expect(struct reader *rd, uint64_t n) {
        while (rd->n < n)
                reader_check(rd, ru_receive(rd->c, rd->sub, T_SEC), rd->n, 0);
}

static struct harness_proc *spawn_stalled_subscriber(const char *addr) {
        const char *transport = NULL;
        struct harness_proc *p = ru_peer_spawn("sub", addr, "crash.chan", 0, &transport);

        assert_string_equal(transport, "ring");
        return p;
}

/* Publishes with timeout 0 until the ring is full, keeping @rd drained. Return: the count. */
static uint64_t fill_ring(ipc_pub *pub, struct reader *rd) {
        for (uint64_t i = 0; i < 1000; i++) {
                int r = ru_publish(pub, MSG, i, 0, 0, 0);

                if (r == -EAGAIN)
                        return i;
                if (r < 0)
                        fail_msg("publish %" PRIu64 ": %s", i, ipc_strerror(r));
                reader_drain(rd);
        }
        fail_msg("a subscriber that never reads did not hold the block-policy ring back");
        return 0;
}

/* Kills @p with SIGKILL and reaps it. Return: the time of the kill. */
static uint64_t kill_peer(struct harness_proc *p) {
        uint64_t t = harness_now_usec();
        int status = 0;

        assert_int_equal(harness_proc_kill(p, SIGKILL), 0);
        assert_int_equal(harness_proc_wait(p, T_SEC, &status), 0);
        assert_int_equal(status, 128 + SIGKILL);
        return t;
}

/* Asserts @what happened within a second (scaled) of the kill; logs how long it took. */
static void expect_within_second(const char *what, uint64_t killed_at, uint64_t at) {
        uint64_t usec = at - killed_at;

        fprintf(stderr, "# %s %" PRIu64 " us after the kill\n", what, usec);
        if (usec >= harness_timeout(HARNESS_USEC_PER_SEC))
                fail_msg("%s only %" PRIu64 " us after the kill", what, usec);
}

struct blocked_publish {
        ipc_pub *pub;
        uint64_t index;
        _Atomic pid_t tid;
        int result;
        uint64_t returned_at;
};

static void *blocked_publish_run(void *arg) {
        struct blocked_publish *bp = arg;

        atomic_store(&bp->tid, ru_gettid());
        bp->result = ru_publish(bp->pub, MSG, bp->index, 0, 0, harness_timeout(T_SEC));
        bp->returned_at = harness_now_usec();
        return NULL;
}

/* Joins @t within the timeout (a thread stuck in a lost wake-up fails the test, not hangs it). */
static void join_within(pthread_t t, uint64_t timeout_usec) {
        uint64_t deadline = harness_now_usec() + harness_timeout(timeout_usec);
        struct timespec ts;

        (void)clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (time_t)((deadline - harness_now_usec()) / HARNESS_USEC_PER_SEC) + 1;
        if (pthread_timedjoin_np(t, NULL, &ts) != 0)
                fail_msg("thread still blocked after %" PRIu64 " us", timeout_usec);
}

/*
 * A ring subscriber stops reading and fills the ring; a ring publisher
 * blocks on it (inside ipc_publish, 5 s timeout). Killing the subscriber
 * lets that very call return 0 within a second; the channel then flows.
 */
static void test_killed_subscriber_frees_publisher(void **state) {
        struct harness_broker *b = harness_start(state, small_ring_cfg, NULL);
        const char *addr = harness_broker_address(b);
        struct blocked_publish bp = {};
        struct harness_proc *peer;
        struct reader live;
        uint64_t filled, killed_at;
        ipc_client *pc;
        pthread_t t;
        json_t *stats;

        ru_allow_rings();
        reader_open(&live, addr, IPC_TRANSPORT_AUTO, IPC_TRANSPORT_RING);
        peer = spawn_stalled_subscriber(addr);
        pc = ru_connect(addr, "crash-pub", IPC_TRANSPORT_AUTO);
        bp.pub = ru_pub(pc, "crash.chan", IPC_TRANSPORT_RING);
        filled = fill_ring(bp.pub, &live);
        assert_in_range(filled, 30, 64);
        assert_int_equal(live.n, filled);

        bp.index = filled;
        assert_int_equal(pthread_create(&t, NULL, blocked_publish_run, &bp), 0);
        while (!atomic_load(&bp.tid))
                sched_yield();
        assert_int_equal(ru_wait_blocked(atomic_load(&bp.tid), T_SEC), 0);
        killed_at = kill_peer(peer);
        join_within(t, T_SEC);
        if (bp.result != 0)
                fail_msg("blocked publish: %s", ipc_strerror(bp.result));
        expect_within_second("the blocked publisher returned", killed_at, bp.returned_at);

        /* Laps of the ring now pass with only the live reader. */
        for (uint64_t i = filled + 1; i < filled + 1 + 500; i++) {
                assert_int_equal(ru_publish(bp.pub, MSG, i, 0, 0, harness_timeout(T_SEC)), 0);
                if (i % 16 == 0)
                        reader_expect(&live, i + 1);
        }
        reader_expect(&live, filled + 501);
        assert_int_equal(ipc_sub_get_lost(live.sub), 0);

        stats = ru_stats(pc);
        assert_int_equal(
                harness_json_int(json_object_get(ru_stats_channel(stats, "crash.chan"), "ring"),
                                 "subscribers"),
                1);
        json_decref(stats);
        harness_proc_free(peer);
        ipc_pub_free(bp.pub);
        ipc_client_free(pc);
        reader_close(&live);
}

#define SOCKET_N 100u

/*
 * The same with a socket publisher: the broker stops reading it while the
 * ring is full, and resumes, so the ring reader gets the rest, within a
 * second of the kill.
 */
static void test_killed_subscriber_frees_socket_publisher(void **state) {
        struct harness_broker *b = harness_start(state, small_ring_cfg, NULL);
        const char *addr = harness_broker_address(b);
        struct harness_proc *peer;
        struct reader live;
        const ipc_msg *m = NULL;
        uint64_t killed_at, stalled_at;
        ipc_client *pc;
        ipc_pub *pub;

        ru_allow_rings();
        reader_open(&live, addr, IPC_TRANSPORT_AUTO, IPC_TRANSPORT_RING);
        peer = spawn_stalled_subscriber(addr);
        pc = ru_connect(addr, "crash-socket-pub", IPC_TRANSPORT_SOCKET);
        pub = ru_pub(pc, "crash.chan", IPC_TRANSPORT_SOCKET);
        /* 100 KiB: more than the ring, far less than the socket buffers. */
        for (uint64_t i = 0; i < SOCKET_N; i++)
                assert_int_equal(ru_publish(pub, MSG, i, 0, 0, harness_timeout(T_SEC)), 0);
        assert_int_equal(ipc_client_flush(pc, harness_timeout(T_SEC)), 0);

        /* The reader gets what fits, then nothing: the broker holds the rest back. */
        for (;;) {
                int r = ipc_client_receive(live.c, harness_timeout(200 * HARNESS_USEC_PER_MSEC),
                                           &m);

                if (r == -ETIMEDOUT)
                        break;
                if (r < 0)
                        fail_msg("receive: %s", ipc_strerror(r));
                reader_check(&live, m, live.n, 0);
        }
        stalled_at = live.n;
        assert_in_range(stalled_at, 30, SOCKET_N - 1);

        killed_at = kill_peer(peer);
        reader_expect(&live, SOCKET_N);
        expect_within_second("the socket publisher's messages flowed", killed_at,
                             harness_now_usec());
        harness_expect_none(live.c);
        assert_int_equal(ipc_client_ping(pc, harness_timeout(T_SEC), NULL), 0);

        harness_proc_free(peer);
        ipc_pub_free(pub);
        ipc_client_free(pc);
        reader_close(&live);
}

/*
 * A ring publisher dies holding a claim (seq 11) between others' messages
 * 1-10 and 12-21: readers, ring and socket (the bridge), stop at the claim,
 * then pass over it within a second of the kill, losing nothing; a second
 * publisher opened afterwards continues at seq 22.
 */
static void test_killed_publisher_mid_claim(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        const char *addr = harness_broker_address(b);
        struct reader rr, sr;
        struct harness_proc *peer;
        const char *transport = NULL;
        const ipc_msg *m = NULL;
        uint64_t killed_at;
        ipc_client *pc, *pc2;
        ipc_pub *pub, *pub2;
        json_t *stats;

        ru_allow_rings();
        reader_open(&rr, addr, IPC_TRANSPORT_AUTO, IPC_TRANSPORT_RING);
        reader_open(&sr, addr, IPC_TRANSPORT_SOCKET, IPC_TRANSPORT_SOCKET);
        pc = ru_connect(addr, "claim-pub", IPC_TRANSPORT_AUTO);
        pub = ru_pub(pc, "crash.chan", IPC_TRANSPORT_RING);
        for (uint64_t i = 0; i < 10; i++)
                assert_int_equal(ru_publish(pub, 64, i, 0, 0, harness_timeout(T_SEC)), 0);
        reader_expect(&rr, 10);
        reader_expect(&sr, 10);

        peer = ru_peer_spawn("claim", addr, "crash.chan", 100, &transport);
        assert_string_equal(transport, "ring");
        ru_peer_expect(peer, "claimed");
        for (uint64_t i = 10; i < 20; i++)
                assert_int_equal(ru_publish(pub, 64, i, 0, 0, harness_timeout(T_SEC)), 0);
        /* Committed behind an open claim: nobody may read them yet. */
        assert_int_equal(ipc_client_receive(rr.c, 0, &m), -EAGAIN);
        harness_expect_none(sr.c);

        killed_at = kill_peer(peer);
        reader_check(&rr, ru_receive(rr.c, rr.sub, 2 * HARNESS_USEC_PER_SEC), 10, 1);
        expect_within_second("readers passed the dead claim", killed_at, harness_now_usec());
        reader_check(&sr, ru_receive(sr.c, sr.sub, T_SEC), 10, 1);
        reader_expect(&rr, 20);
        reader_expect(&sr, 20);
        assert_int_equal(rr.last_seq, 21);
        assert_int_equal(sr.last_seq, 21);

        pc2 = ru_connect(addr, "claim-pub-2", IPC_TRANSPORT_AUTO);
        pub2 = ru_pub(pc2, "crash.chan", IPC_TRANSPORT_RING);
        for (uint64_t i = 20; i < 30; i++) {
                assert_int_equal(
                        ru_publish(i % 2 ? pub : pub2, 64, i, 0, 0, harness_timeout(T_SEC)), 0);
        }
        reader_expect(&rr, 30);
        reader_expect(&sr, 30);
        assert_int_equal(rr.last_seq, 31);
        assert_int_equal(ipc_sub_get_lost(rr.sub), 0);
        assert_int_equal(ipc_sub_get_lost(sr.sub), 0);

        stats = ru_stats(pc);
        assert_int_equal(
                harness_json_int(json_object_get(ru_stats_channel(stats, "crash.chan"), "ring"),
                                 "publishers"),
                2);
        /* 30 messages and the SKIP: counted from the ring's seq, the SKIP may be included. */
        assert_in_range(harness_json_int(ru_stats_channel(stats, "crash.chan"), "published"), 30,
                        31);
        json_decref(stats);
        harness_proc_free(peer);
        ipc_pub_free(pub);
        ipc_pub_free(pub2);
        ipc_client_free(pc);
        ipc_client_free(pc2);
        reader_close(&rr);
        reader_close(&sr);
}

/*
 * A ring publisher dies holding a claim on a "block" channel; readers stop
 * at the claim, so the live publisher fills the ring behind it and then
 * blocks in ipc_publish(). After the kill the ring reader passes the claim
 * within a second, which lets that call return, and both readers (ring, and socket through the
 * broker's bridge) get every message, the SKIP being the only gap in the sequence.
 */
static void test_killed_publisher_mid_claim_full_ring(void **state) {
        struct harness_broker *b = harness_start(state, block_ring_cfg, NULL);
        const char *addr = harness_broker_address(b);
        struct blocked_publish bp = {};
        struct harness_proc *peer;
        struct reader rr, sr;
        const char *transport = NULL;
        uint64_t filled, killed_at;
        ipc_client *pc;
        pthread_t t;

        ru_allow_rings();
        reader_open(&rr, addr, IPC_TRANSPORT_AUTO, IPC_TRANSPORT_RING);
        reader_open(&sr, addr, IPC_TRANSPORT_SOCKET, IPC_TRANSPORT_SOCKET);
        pc = ru_connect(addr, "full-claim-pub", IPC_TRANSPORT_AUTO);
        bp.pub = ru_pub(pc, "crash.chan", IPC_TRANSPORT_RING);
        assert_int_equal(ipc_pub_get_overflow(bp.pub), IPC_OVERFLOW_BLOCK);
        for (uint64_t i = 0; i < 5; i++)
                assert_int_equal(ru_publish(bp.pub, MSG, i, 0, 0, harness_timeout(T_SEC)), 0);
        reader_expect(&rr, 5);
        reader_expect(&sr, 5);

        peer = ru_peer_spawn("claim", addr, "crash.chan", MSG, &transport);
        assert_string_equal(transport, "ring");
        ru_peer_expect(peer, "claimed");
        /*
         * Nothing passes the claim, so the readers never make room. The
         * ring reader drains each time: that stores its cursor, so the
         * ring is full because of the claim, not of a cursor not stored.
         */
        for (filled = 5; filled < 1000; filled++) {
                int r;

                reader_drain(&rr);
                r = ru_publish(bp.pub, MSG, filled, 0, 0, 0);

                if (r == -EAGAIN)
                        break;
                if (r < 0)
                        fail_msg("publish %" PRIu64 ": %s", filled, ipc_strerror(r));
        }
        /* 64 KiB hold about 60 records of 1 KiB after the claim, and the 5 were read. */
        assert_in_range(filled, 35, 70);
        reader_drain(&rr);
        assert_int_equal(rr.n, 5);

        bp.index = filled;
        assert_int_equal(pthread_create(&t, NULL, blocked_publish_run, &bp), 0);
        while (!atomic_load(&bp.tid))
                sched_yield();
        assert_int_equal(ru_wait_blocked(atomic_load(&bp.tid), T_SEC), 0);
        /* The ring reader passes the claim and so makes room for the blocked publisher. */
        killed_at = kill_peer(peer);
        reader_check(&rr, ru_receive(rr.c, rr.sub, T_SEC), 5, 1);
        expect_within_second("the ring reader passed the dead claim", killed_at,
                             harness_now_usec());
        reader_expect(&rr, filled + 1);
        join_within(t, T_SEC);
        if (bp.result != 0)
                fail_msg("publish blocked behind the dead claim: %s", ipc_strerror(bp.result));
        expect_within_second("the publisher blocked behind the dead claim returned", killed_at,
                             bp.returned_at);
        reader_check(&sr, ru_receive(sr.c, sr.sub, T_SEC), 5, 1);
        reader_expect(&sr, filled + 1);
        assert_int_equal(rr.last_seq, filled + 2);
        assert_int_equal(sr.last_seq, filled + 2);
        /* Laps of the ring pass again. */
        for (uint64_t i = filled + 1; i < filled + 1 + 200; i++) {
                assert_int_equal(ru_publish(bp.pub, MSG, i, 0, 0, harness_timeout(T_SEC)), 0);
                if (i % 16 == 0) {
                        reader_expect(&rr, i + 1);
                        reader_expect(&sr, i + 1);
                }
        }
        reader_expect(&rr, filled + 201);
        reader_expect(&sr, filled + 201);
        assert_int_equal(ipc_sub_get_lost(rr.sub), 0);
        assert_int_equal(ipc_sub_get_lost(sr.sub), 0);
        harness_proc_free(peer);
        ipc_pub_free(bp.pub);
        ipc_client_free(pc);
        reader_close(&rr);
        reader_close(&sr);
}

/* More kill cycles than a ring has subscriber slots (32), so a slot not given back shows. */
#define KILL_CYCLES 36u

/*
 * Each cycle starts a ring subscriber that never reads and a ring
 * publisher that claims and never commits, publishes behind the claim,
 * and kill -9s both: the live reader gets the messages within a second.
 * A slot of a killed peer that the broker kept would make a later peer
 * fall back to the socket (the "ready" line says which), and the broker's
 * stats count only the live ring clients at the end.
 */
static void test_kill_cycles_give_slots_back(void **state) {
        struct harness_broker *b = harness_start(state, block_ring_cfg, NULL);
        const char *addr = harness_broker_address(b);
        struct reader rr;
        uint64_t index = 0, skips = 0;
        ipc_client *pc;
        ipc_pub *pub;
        json_t *stats, *ring;

        ru_allow_rings();
        reader_open(&rr, addr, IPC_TRANSPORT_AUTO, IPC_TRANSPORT_RING);
        pc = ru_connect(addr, "cycle-pub", IPC_TRANSPORT_AUTO);
        pub = ru_pub(pc, "crash.chan", IPC_TRANSPORT_RING);
        for (unsigned cycle = 0; cycle < KILL_CYCLES; cycle++) {
                const char *sub_transport = NULL, *claim_transport = NULL;
                struct harness_proc *sub, *claim;
                uint64_t killed_at;

                sub = ru_peer_spawn("sub", addr, "crash.chan", 0, &sub_transport);
                claim = ru_peer_spawn("claim", addr, "crash.chan", 64, &claim_transport);
                if (strcmp(sub_transport, "ring") != 0 || strcmp(claim_transport, "ring") != 0)
                        fail_msg("cycle %u: subscriber on the %s, publisher on the %s", cycle,
                                 sub_transport, claim_transport);
                ru_peer_expect(claim, "claimed");
                for (unsigned i = 0; i < 3; i++)
                        assert_int_equal(
                                ru_publish(pub, 64, index + i, 0, 0, harness_timeout(T_SEC)), 0);
                killed_at = kill_peer(sub);
                (void)kill_peer(claim);
                reader_check(&rr, ru_receive(rr.c, rr.sub, T_SEC), index, 1);
                expect_within_second("the reader passed the dead claim", killed_at,
                                     harness_now_usec());
                index += 3;
                skips++;
                reader_expect(&rr, index);
                harness_proc_free(sub);
                harness_proc_free(claim);
        }
        assert_int_equal(rr.last_seq, index + skips);
        assert_int_equal(ipc_sub_get_lost(rr.sub), 0);

        stats = ru_stats(pc);
        ring = json_object_get(ru_stats_channel(stats, "crash.chan"), "ring");
        assert_int_equal(harness_json_int(ring, "subscribers"), 1);
        assert_int_equal(harness_json_int(ring, "publishers"), 1);
        json_decref(stats);
        ipc_pub_free(pub);
        ipc_client_free(pc);
        reader_close(&rr);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_killed_subscriber_frees_publisher, harness_teardown),
                cmocka_unit_test_teardown(test_killed_subscriber_frees_socket_publisher,
                                          harness_teardown),
                cmocka_unit_test_teardown(test_killed_publisher_mid_claim, harness_teardown),
                cmocka_unit_test_teardown(test_killed_publisher_mid_claim_full_ring,
                                          harness_teardown),
                cmocka_unit_test_teardown(test_kill_cycles_give_slots_back, harness_teardown),
        };

        return cmocka_run_group_tests_name("ring-crash", tests, NULL, NULL);
}
