/* SPDX-License-Identifier: MIT */
/*
 * The ring-specific library API against a real broker:
 *  - zero-copy publishing: ipc_pub_claim / ipc_pub_commit / ipc_pub_abort,
 *    on the ring (an abort delivers nothing and uses up its sequence number
 *    without a loss) and on the socket;
 *  - zero-copy receiving: ipc_msg_release() is 0 on a "block" ring, and
 *    -ESTALE when a "drop" publisher overwrote the view meanwhile, which
 *    then counts as lost;
 *  - wake-ups: a subscriber blocked in ipc_client_receive() with an
 *    infinite timeout is woken by a publish (also one held back by
 *    IPC_PUBLISH_MORE until ipc_client_flush()); the pollable fd turns
 *    readable for a ring message after receive(0) gave -EAGAIN, and not
 *    before; and thousands of blocking ping-pong round trips between two
 *    threads lose no wake-up, with and without a spin budget.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
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

static void expect_text(ipc_client *c, ipc_sub *sub, const char *payload, uint64_t seq,
                        unsigned flags) {
        const ipc_msg *m = ru_receive(c, sub, T_SEC);
        size_t size;
        const void *data = ipc_msg_get_data(m, &size);

        assert_ptr_equal(ipc_msg_get_sub(m), sub);
        if (size != strlen(payload) || memcmp(data, payload, size) != 0)
                fail_msg("got \"%.*s\" (seq %" PRIu64 "), expected \"%s\"", (int)size,
                         (const char *)data, ipc_msg_get_sequence(m), payload);
        assert_int_equal(ipc_msg_get_sequence(m), seq);
        assert_int_equal(ipc_msg_get_flags(m), flags);
        assert_int_equal(ipc_msg_get_lost(m), 0);
}

/* Claims @text's size, fills it in place and commits with @flags. */
static void claim_commit(ipc_pub *pub, const char *text, unsigned flags) {
        void *buf = NULL;

        assert_int_equal(ipc_pub_claim(pub, strlen(text), harness_timeout(T_SEC), &buf), 0);
        assert_non_null(buf);
        memcpy(buf, text, strlen(text));
        assert_int_equal(ipc_pub_commit(pub, flags), 0);
}

static void claim_abort(ipc_pub *pub, size_t size) {
        void *buf = NULL;

        assert_int_equal(ipc_pub_claim(pub, size, harness_timeout(T_SEC), &buf), 0);
        assert_non_null(buf);
        memset(buf, 0x5a, size);
        assert_int_equal(ipc_pub_abort(pub), 0);
}

/*
 * Claim, fill, commit on the ring reaches a ring and a socket subscriber;
 * an abort delivers nothing and its seq is consumed without a loss; a
 * retained commit reaches a later subscriber; oversized claims and a commit
 * with nothing claimed are refused.
 */
static void test_claim_on_ring(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        const char *addr = harness_broker_address(b);
        ipc_client *pc, *rc, *sc, *late;
        ipc_sub *rsub, *ssub, *lsub;
        ipc_pub *pub;
        void *buf = NULL;

        ru_allow_rings();
        rc = ru_connect(addr, "claim-ring-sub", IPC_TRANSPORT_AUTO);
        sc = ru_connect(addr, "claim-socket-sub", IPC_TRANSPORT_SOCKET);
        pc = ru_connect(addr, "claim-pub", IPC_TRANSPORT_AUTO);
        rsub = ru_sub(rc, "zc.chan", IPC_TRANSPORT_RING);
        ssub = ru_sub(sc, "zc.chan", IPC_TRANSPORT_SOCKET);
        pub = ru_pub(pc, "zc.chan", IPC_TRANSPORT_RING);

        claim_commit(pub, "hello", 0);
        expect_text(rc, rsub, "hello", 1, 0);
        expect_text(sc, ssub, "hello", 1, 0);

        claim_abort(pub, 100);
        harness_expect_none(rc);
        harness_expect_none(sc);

        claim_commit(pub, "bye", 0);
        expect_text(rc, rsub, "bye", 3, 0);
        expect_text(sc, ssub, "bye", 3, 0);
        assert_int_equal(ipc_sub_get_lost(rsub), 0);
        assert_int_equal(ipc_sub_get_lost(ssub), 0);

        assert_int_equal(ipc_pub_claim(pub, ipc_pub_get_max_message_size(pub) + 1,
                                       harness_timeout(T_SEC), &buf),
                         -EMSGSIZE);
        assert_true(ipc_pub_commit(pub, 0) < 0);
        assert_true(ipc_pub_abort(pub) < 0);

        claim_commit(pub, "kept", IPC_PUBLISH_RETAIN);
        expect_text(rc, rsub, "kept", 4, 0);
        assert_int_equal(ipc_client_ping(pc, harness_timeout(T_SEC), NULL), 0);
        late = ru_connect(addr, "claim-late", IPC_TRANSPORT_AUTO);
        lsub = ru_sub(late, "zc.chan", IPC_TRANSPORT_RING);
        expect_text(late, lsub, "kept", 4, IPC_MSG_RETAINED);

        ipc_sub_free(lsub);
        ipc_client_free(late);
        ipc_pub_free(pub);
        ipc_sub_free(rsub);
        ipc_sub_free(ssub);
        ipc_client_free(pc);
        ipc_client_free(rc);
        ipc_client_free(sc);
}

/* The same calls on a socket publisher (no ring involved): same outcome, the abort uses no seq. */
static void test_claim_on_socket(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        const char *addr = harness_broker_address(b);
        ipc_client *pc, *sc;
        ipc_sub *sub;
        ipc_pub *pub;

        ru_allow_rings();
        sc = ru_connect(addr, "claim-sock-sub", IPC_TRANSPORT_SOCKET);
        pc = ru_connect(addr, "claim-sock-pub", IPC_TRANSPORT_SOCKET);
        sub = ru_sub(sc, "zcs.chan", IPC_TRANSPORT_SOCKET);
        pub = ru_pub(pc, "zcs.chan", IPC_TRANSPORT_SOCKET);

        claim_commit(pub, "one", 0);
        claim_abort(pub, 64);
        claim_commit(pub, "two", 0);
        expect_text(sc, sub, "one", 1, 0);
        expect_text(sc, sub, "two", 2, 0);
        harness_expect_none(sc);

        ipc_pub_free(pub);
        ipc_sub_free(sub);
        ipc_client_free(pc);
        ipc_client_free(sc);
}

/* A view on a "block" ring cannot be overwritten: releasing it gives 0. */
static void test_release_block(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        const char *addr = harness_broker_address(b);
        ipc_client *c;
        ipc_sub *sub;
        ipc_pub *pub;
        const ipc_msg *m;

        ru_allow_rings();
        c = ru_connect(addr, "release-block", IPC_TRANSPORT_AUTO);
        sub = ru_sub(c, "rel.chan", IPC_TRANSPORT_RING);
        pub = ru_pub(c, "rel.chan", IPC_TRANSPORT_RING);
        for (uint64_t i = 0; i < 3; i++)
                assert_int_equal(ru_publish(pub, 100, i, 0, 0, harness_timeout(T_SEC)), 0);
        for (uint64_t i = 0; i < 3; i++) {
                uint64_t index;

                m = harness_receive(c, T_SEC);
                ru_payload_check(ipc_msg_get_data(m, NULL), ipc_msg_get_size(m), &index, NULL);
                assert_int_equal(index, i);
                assert_int_equal(ipc_msg_release(m), 0);
        }
        assert_int_equal(ipc_client_receive(c, 0, &m), -EAGAIN);
        assert_int_equal(ipc_msg_release(NULL), -EINVAL);
        assert_int_equal(ipc_sub_get_lost(sub), 0);

        ipc_pub_free(pub);
        ipc_sub_free(sub);
        ipc_client_free(c);
}

#define STALE_N 300u

/*
 * A view held on a 64 KiB "drop" ring while another client publishes
 * 300 KiB over it: ipc_msg_release() reports -ESTALE, and the overwritten
 * message counts as lost, so received + lost still equals published.
 */
static void test_release_stale(void **state) {
        const char *cfg = "{\"channels\": {\"stale.chan\": {\"overflow\": \"drop\","
                          " \"ring_bytes\": 65536, \"max_message_bytes\": 4096}}}";
        struct harness_broker *b = harness_start(state, cfg, NULL);
        const char *addr = harness_broker_address(b);
        ipc_client *sc, *pc;
        ipc_sub *sub;
        ipc_pub *pub;
        const ipc_msg *m;
        uint64_t received = 0, lost_sum = 0, last_seq;
        int r;

        ru_allow_rings();
        sc = ru_connect(addr, "stale-sub", IPC_TRANSPORT_AUTO);
        pc = ru_connect(addr, "stale-pub", IPC_TRANSPORT_AUTO);
        sub = ru_sub(sc, "stale.chan", IPC_TRANSPORT_RING);
        pub = ru_pub(pc, "stale.chan", IPC_TRANSPORT_RING);

        assert_int_equal(ru_publish(pub, 1000, 0, 0, 0, harness_timeout(T_SEC)), 0);
        m = harness_receive(sc, T_SEC);
        assert_int_equal(ipc_msg_get_sequence(m), 1);
        for (uint64_t i = 1; i < STALE_N; i++)
                assert_int_equal(ru_publish(pub, 1000, i, 0, 0, harness_timeout(T_SEC)), 0);
        assert_int_equal(ipc_msg_release(m), -ESTALE);

        last_seq = 1;
        while ((r = ipc_client_receive(sc, 0, &m)) == 0) {
                uint64_t seq = ipc_msg_get_sequence(m);

                ru_payload_check(ipc_msg_get_data(m, NULL), ipc_msg_get_size(m), NULL, NULL);
                assert_true(seq > last_seq);
                last_seq = seq;
                lost_sum += ipc_msg_get_lost(m);
                received++;
        }
        assert_int_equal(r, -EAGAIN);
        assert_int_equal(last_seq, STALE_N);
        assert_true(received > 0 && received < STALE_N);
        /*
         * The stale view counts as lost for the subscription; the messages'
         * own losses are the sequence gaps, which -ESTALE already told of one.
         */
        assert_int_equal(ipc_sub_get_lost(sub), STALE_N - received);
        assert_int_equal(lost_sum + 1, STALE_N - received);

        ipc_pub_free(pub);
        ipc_sub_free(sub);
        ipc_client_free(pc);
        ipc_client_free(sc);
}

/* A receiver thread: one ipc_client_receive() with an infinite timeout. */
struct waiter {
        ipc_client *c;
        _Atomic pid_t tid;
        int result;
        char payload[64];
        uint64_t seq;
        uint64_t returned_at;
        pthread_t thread;
};

static void *waiter_run(void *arg) {
        struct waiter *w = arg;
        const ipc_msg *m = NULL;

        atomic_store(&w->tid, ru_gettid());
        w->result = ipc_client_receive(w->c, IPC_USEC_INFINITY, &m);
        w->returned_at = harness_now_usec();
        if (w->result == 0) {
                size_t size = ipc_msg_get_size(m);

                snprintf(w->payload, sizeof(w->payload), "%.*s", (int)size,
                         (const char *)ipc_msg_get_data(m, NULL));
                w->seq = ipc_msg_get_sequence(m);
        }
        return NULL;
}

/* Starts a waiter on @c and returns once it sleeps in the kernel. */
static void waiter_start(struct waiter *w, ipc_client *c) {
        *w = (struct waiter){.c = c};
        assert_int_equal(pthread_create(&w->thread, NULL, waiter_run, w), 0);
        while (!atomic_load(&w->tid))
                sched_yield();
        assert_int_equal(ru_wait_blocked(atomic_load(&w->tid), T_SEC), 0);
}

/* Joins the waiter within a second of @since and checks what it got. */
static void waiter_expect(struct waiter *w, uint64_t since, const char *payload, uint64_t seq) {
        uint64_t deadline = since + harness_timeout(HARNESS_USEC_PER_SEC);
        struct timespec ts;

        (void)clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (time_t)(harness_timeout(T_SEC) / HARNESS_USEC_PER_SEC);
        if (pthread_timedjoin_np(w->thread, NULL, &ts) != 0)
                fail_msg("the blocked receiver was not woken (lost wake-up)");
        if (w->result != 0)
                fail_msg("blocked receive: %s", ipc_strerror(w->result));
        assert_string_equal(w->payload, payload);
        assert_int_equal(w->seq, seq);
        if (w->returned_at > deadline)
                fail_msg("woken %" PRIu64 " us after the publish", w->returned_at - since);
}

/*
 * A ring subscriber blocked in ipc_client_receive(IPC_USEC_INFINITY) is
 * woken by a ring publish, and by a publish held with IPC_PUBLISH_MORE
 * once the publisher calls ipc_client_flush(); also when the same client
 * holds a socket subscription too (one epoll set over both).
 */
static void test_blocking_receive_woken(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        const char *addr = harness_broker_address(b);
        ipc_client *sc, *pc;
        ipc_sub *sub, *other;
        ipc_pub *pub;
        struct waiter w;
        uint64_t t;

        ru_allow_rings();
        sc = ru_connect(addr, "wake-sub", IPC_TRANSPORT_AUTO);
        pc = ru_connect(addr, "wake-pub", IPC_TRANSPORT_AUTO);
        sub = ru_sub(sc, "wake.chan", IPC_TRANSPORT_RING);
        other = ru_sub(sc, "wake.other.*", IPC_TRANSPORT_SOCKET);
        pub = ru_pub(pc, "wake.chan", IPC_TRANSPORT_RING);

        for (uint64_t i = 1; i <= 3; i++) {
                char text[16];

                snprintf(text, sizeof(text), "wake-%" PRIu64, i);
                waiter_start(&w, sc);
                t = harness_now_usec();
                assert_int_equal(ipc_publish(pub, text, strlen(text), 0, harness_timeout(T_SEC)),
                                 0);
                waiter_expect(&w, t, text, i);
        }

        waiter_start(&w, sc);
        assert_int_equal(ipc_publish(pub, "held", 4, IPC_PUBLISH_MORE, harness_timeout(T_SEC)), 0);
        t = harness_now_usec();
        assert_int_equal(ipc_client_flush(pc, harness_timeout(T_SEC)), 0);
        waiter_expect(&w, t, "held", 4);

        ipc_pub_free(pub);
        ipc_sub_free(sub);
        ipc_sub_free(other);
        ipc_client_free(pc);
        ipc_client_free(sc);
}

/* poll() on the client's fd, @timeout_usec scaled. Return: poll's result. */
static int poll_client(ipc_client *c, uint64_t timeout_usec) {
        struct pollfd p = {.fd = ipc_client_get_fd(c), .events = (short)ipc_client_get_events(c)};
        int r;

        assert_true(p.fd >= 0);
        do
                r = poll(&p, 1, (int)(harness_timeout(timeout_usec) / HARNESS_USEC_PER_MSEC));
        while (r < 0 && errno == EINTR);
        assert_true(r >= 0);
        return r;
}

/*
 * Event-loop use: after receive(0) drained the ring (-EAGAIN) the fd is
 * quiet (an idle loop sleeps); a publish makes it readable;
 * ipc_client_process() then reports a message, which receive(0) returns.
 */
static void test_poll_fd_wakeup(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        const char *addr = harness_broker_address(b);
        ipc_client *sc, *pc;
        ipc_sub *sub;
        ipc_pub *pub;
        const ipc_msg *m = NULL;
        uint64_t received = 0;

        ru_allow_rings();
        sc = ru_connect(addr, "poll-sub", IPC_TRANSPORT_AUTO);
        pc = ru_connect(addr, "poll-pub", IPC_TRANSPORT_AUTO);
        sub = ru_sub(sc, "poll.chan", IPC_TRANSPORT_RING);
        pub = ru_pub(pc, "poll.chan", IPC_TRANSPORT_RING);
        /* The contract: drain with receive(0) until -EAGAIN, then poll. */
        assert_int_equal(ipc_client_receive(sc, 0, &m), -EAGAIN);

        for (uint64_t round = 0; round < 5; round++) {
                for (uint64_t i = 0; i < 3; i++)
                        assert_int_equal(
                                ru_publish(pub, 32, received + i, 0, 0, harness_timeout(T_SEC)), 0);
                /* Level-triggered: readable while messages wait. */
                assert_int_equal(poll_client(sc, T_SEC), 1);
                assert_true(ipc_client_process(sc) >= 0);
                while (ipc_client_receive(sc, 0, &m) == 0) {
                        uint64_t index;

                        ru_payload_check(ipc_msg_get_data(m, NULL), ipc_msg_get_size(m), &index,
                                         NULL);
                        assert_int_equal(index, received);
                        assert_int_equal(ipc_msg_get_sequence(m), received + 1);
                        received++;
                }
                assert_int_equal(received, 3 * (round + 1));
                assert_int_equal(ipc_client_receive(sc, 0, &m), -EAGAIN);
                /* Drained and announced asleep: an idle event loop must not spin. */
                assert_int_equal(poll_client(sc, 0), 0);
        }

        assert_int_equal(ru_publish(pub, 32, received, 0, 0, harness_timeout(T_SEC)), 0);
        assert_int_equal(poll_client(sc, HARNESS_USEC_PER_SEC), 1);
        assert_int_equal(ipc_client_process(sc), 1);
        assert_int_equal(ipc_client_receive(sc, 0, &m), 0);
        assert_int_equal(ipc_msg_get_sequence(m), received + 1);
        assert_int_equal(ipc_client_receive(sc, 0, &m), -EAGAIN);
        assert_int_equal(ipc_sub_get_lost(sub), 0);

        ipc_pub_free(pub);
        ipc_sub_free(sub);
        ipc_client_free(pc);
        ipc_client_free(sc);
}

#define PINGPONG_ROUNDS 3000u

/* One side of the ping-pong: receives on @sub, answers on @pub. */
struct player {
        ipc_client *c;
        ipc_sub *sub;
        ipc_pub *pub;
        bool serves; /* publishes first */
        char problem[256];
        pthread_t thread;
};

static int player_round(struct player *p, uint64_t i) {
        uint8_t out[16] = {0};
        const ipc_msg *m = NULL;
        uint64_t got;
        int r;

        if (p->serves) {
                memcpy(out, &i, sizeof(i));
                r = ipc_publish(p->pub, out, sizeof(out), 0, harness_timeout(T_SEC));
                if (r < 0)
                        return snprintf(p->problem, sizeof(p->problem), "publish %" PRIu64 ": %s",
                                        i, ipc_strerror(r));
        }
        r = ipc_client_receive(p->c, harness_timeout(T_SEC), &m);
        if (r < 0)
                return snprintf(p->problem, sizeof(p->problem),
                                "round %" PRIu64 ": %s (a lost wake-up if it timed out)", i,
                                ipc_strerror(r));
        memcpy(&got, ipc_msg_get_data(m, NULL), sizeof(got));
        if (got != i || ipc_msg_get_sequence(m) != i + 1)
                return snprintf(p->problem, sizeof(p->problem),
                                "round %" PRIu64 ": got %" PRIu64 " seq %" PRIu64, i, got,
                                ipc_msg_get_sequence(m));
        if (!p->serves) {
                memcpy(out, &i, sizeof(i));
                r = ipc_publish(p->pub, out, sizeof(out), 0, harness_timeout(T_SEC));
                if (r < 0)
                        return snprintf(p->problem, sizeof(p->problem), "reply %" PRIu64 ": %s", i,
                                        ipc_strerror(r));
        }
        return 0;
}

static void *player_run(void *arg) {
        struct player *p = arg;

        for (uint64_t i = 0; i < PINGPONG_ROUNDS && !p->problem[0]; i++)
                (void)player_round(p, i);
        return NULL;
}

static void player_open(struct player *p, const char *addr, uint64_t spin_usec, const char *in,
                        const char *out, bool serves) {
        ipc_options *opts = NULL;

        *p = (struct player){.serves = serves};
        assert_int_equal(ipc_options_new(&opts), 0);
        assert_int_equal(ipc_options_set_spin(opts, spin_usec), 0);
        assert_int_equal(ipc_options_set_transport(opts, IPC_TRANSPORT_AUTO), 0);
        assert_int_equal(ipc_client_connect(addr, opts, &p->c), 0);
        ipc_options_free(opts);
        p->sub = ru_sub(p->c, in, IPC_TRANSPORT_RING);
        p->pub = ru_pub(p->c, out, IPC_TRANSPORT_RING);
}

static void player_close(struct player *p) {
        ipc_pub_free(p->pub);
        ipc_sub_free(p->sub);
        ipc_client_free(p->c);
}

/*
 * Two threads bounce a message PINGPONG_ROUNDS times; each receive blocks
 * and must be woken. Then the stats (read through @stats_c while the
 * channels still exist) count the wake-ups sent.
 */
static void pingpong(const char *addr, ipc_client *stats_c, uint64_t spin_usec, const char *ping,
                     const char *pong) {
        struct player a, z;
        json_t *stats, *ring;

        player_open(&a, addr, spin_usec, pong, ping, true);
        player_open(&z, addr, spin_usec, ping, pong, false);
        assert_int_equal(pthread_create(&z.thread, NULL, player_run, &z), 0);
        assert_int_equal(pthread_create(&a.thread, NULL, player_run, &a), 0);
        assert_int_equal(pthread_join(a.thread, NULL), 0);
        assert_int_equal(pthread_join(z.thread, NULL), 0);
        if (a.problem[0] || z.problem[0])
                fail_msg("ping-pong (spin %" PRIu64 " us): %s %s", spin_usec, a.problem, z.problem);

        stats = ru_stats(stats_c);
        ring = json_object_get(ru_stats_channel(stats, ping), "ring");
        assert_true(json_is_object(ring));
        assert_in_range(harness_json_int(ring, "wakeups"), spin_usec ? 0 : 1, PINGPONG_ROUNDS);
        json_decref(stats);
        player_close(&a);
        player_close(&z);
}

/*
 * Lost wake-ups: thousands of blocking round trips, each receive finding
 * the ring empty and sleeping, with spin 0 and with a 50 µs spin budget.
 */
static void test_pingpong_wakeups(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        const char *addr = harness_broker_address(b);
        ipc_client *c;

        ru_allow_rings();
        c = ru_connect(addr, "pp-stats", IPC_TRANSPORT_SOCKET);
        pingpong(addr, c, 0, "pp.ping", "pp.pong");
        pingpong(addr, c, 50, "pp.spin.ping", "pp.spin.pong");
        ipc_client_free(c);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_claim_on_ring, harness_teardown),
                cmocka_unit_test_teardown(test_claim_on_socket, harness_teardown),
                cmocka_unit_test_teardown(test_release_block, harness_teardown),
                cmocka_unit_test_teardown(test_release_stale, harness_teardown),
                cmocka_unit_test_teardown(test_blocking_receive_woken, harness_teardown),
                cmocka_unit_test_teardown(test_poll_fd_wakeup, harness_teardown),
                cmocka_unit_test_teardown(test_pingpong_wakeups, harness_teardown),
        };

        return cmocka_run_group_tests_name("ring-api", tests, NULL, NULL);
}
