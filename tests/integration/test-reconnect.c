/* SPDX-License-Identifier: MIT */
/*
 * Clients survive the broker: a real ipc-brokerd is killed with SIGKILL and
 * started again on the same socket path (harness_broker_restart()), and
 *  - socket publishers and subscribers (an exact name and a pattern) come
 *    back on their own within a second of the broker being ready, keep
 *    their handles, report the loss (-ENOTCONN once) and the gap
 *    (IPC_MSG_RESUMED, unknown here: the new broker numbers from 1 again);
 *  - a subscriber the broker drops (the "disconnect" policy) while the
 *    broker stays up comes back with a resume point and the gap counted
 *    exactly, once (the broker's LOSS frame and the sequence numbers agree);
 *  - a publish while disconnected fails fast with -ENOTCONN, or, with
 *    publish wait, times out and succeeds once the broker is back;
 *  - with reconnecting off a lost broker is -ECONNRESET, as before;
 *  - ring publishers and subscribers keep exchanging messages while the
 *    broker is dead, then move to the new broker's ring;
 *  - ipcctl subscribe keeps printing across a restart and says so.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define T_SEC HARNESS_USEC_PER_SEC

/* Waits up to @usec for @fd to turn readable (an event loop's poll). */
static int wait_readable(int fd, uint64_t usec) {
        struct pollfd p = {.fd = fd, .events = POLLIN};

        return poll(&p, 1, (int)(usec / 1000) + 1);
}

static ipc_client *connect_with(const char *address, const char *name, int transport,
                                uint32_t initial_ms, uint32_t max_ms, bool publish_wait) {
        ipc_options *opts = NULL;
        ipc_client *c = NULL;
        int r;

        assert_int_equal(ipc_options_new(&opts), 0);
        assert_int_equal(ipc_options_set_connect_timeout(opts, harness_timeout(5 * T_SEC)), 0);
        assert_int_equal(ipc_options_set_name(opts, name), 0);
        assert_int_equal(ipc_options_set_transport(opts, transport), 0);
        assert_int_equal(ipc_options_set_reconnect(opts, initial_ms, max_ms), 0);
        assert_int_equal(ipc_options_set_publish_wait(opts, publish_wait), 0);
        if (strncmp(address, "tls:", 4) == 0) {
                /* A reconnect must say hello with the same TLS settings. */
                const struct harness_tls *t;

                assert_int_equal(harness_tls_default(&t), 0);
                assert_int_equal(ipc_options_set_tls(opts, t->ca, t->client_cert, t->client_key),
                                 0);
        }
        r = ipc_client_connect(address, opts, &c);
        ipc_options_free(opts);
        if (r < 0)
                fail_msg("connecting to %s: %s", address, ipc_strerror(r));
        return c;
}

/* A client with a short backoff, so "back within a second" holds with room to spare. */
static ipc_client *connect_fast(const char *address, const char *name, int transport) {
        return connect_with(address, name, transport, 20, 200, false);
}

/* Receives one message, passing over the one -ENOTCONN a loss gives. */
static const ipc_msg *receive_one(ipc_client *c, bool *ret_lost) {
        uint64_t deadline = harness_now_usec() + harness_timeout(5 * T_SEC);
        const ipc_msg *m = NULL;

        while (harness_now_usec() < deadline) {
                int r = ipc_client_receive(c, harness_timeout(T_SEC), &m);

                if (r == 0)
                        return m;
                if (r == -ENOTCONN && ret_lost) {
                        *ret_lost = true;
                        continue;
                }
                if (r != -ETIMEDOUT)
                        fail_msg("ipc_client_receive: %s (%s)", ipc_strerror(r),
                                 ipc_client_get_error(c));
        }
        fail_msg("no message within 5 s");
        return NULL;
}

static void expect_payload(const ipc_msg *m, const char *want) {
        size_t size;
        const void *data = ipc_msg_get_data(m, &size);

        if (size != strlen(want) || memcmp(data, want, size) != 0)
                fail_msg("got \"%.*s\", expected \"%s\"", (int)size, (const char *)data, want);
}

/*
 * Drives the clients (ipc_client_process(), which makes the attempts, on
 * each) until every one has reconnected @n times, within a second of the
 * broker being ready (scaled for sanitizers and valgrind).
 */
static void await_reconnects(ipc_client **cs, size_t count, uint64_t n, unsigned *ret_notconn) {
        uint64_t deadline = harness_now_usec() + harness_timeout(T_SEC);

        for (;;) {
                size_t back = 0;

                for (size_t i = 0; i < count; i++) {
                        int r = ipc_client_process(cs[i]);

                        if (r == -ENOTCONN && ret_notconn)
                                ret_notconn[i]++;
                        if (r < 0 && r != -ENOTCONN)
                                fail_msg("ipc_client_process: %s", ipc_strerror(r));
                        if (ipc_client_get_reconnects(cs[i]) >= n &&
                            ipc_client_is_connected(cs[i]) == 1)
                                back++;
                }
                if (back == count)
                        return;
                if (harness_now_usec() >= deadline)
                        fail_msg("%zu of %zu clients back within a second of the broker", back,
                                 count);
                /* Not a receive: that would take (and hide) the -ENOTCONN of cs[0]. */
                (void)wait_readable(ipc_client_get_fd(cs[0]), 5000);
        }
}

/* Socket publisher and subscribers (exact and pattern) across SIGKILL + restart. */
static void test_restart_socket(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        const char *addr = harness_broker_client_address(b);
        ipc_client *sc = connect_fast(addr, "re-sub", IPC_TRANSPORT_SOCKET);
        ipc_client *pc = connect_fast(addr, "re-pub", IPC_TRANSPORT_SOCKET);
        unsigned notconn[2] = {0, 0};
        ipc_sub *exact, *pattern;
        ipc_pub *pub;
        const ipc_msg *m;
        char text[32];

        assert_int_equal(ipc_sub_new(sc, "re.chan", harness_timeout(T_SEC), &exact), 0);
        assert_int_equal(ipc_sub_new(sc, "re.*", harness_timeout(T_SEC), &pattern), 0);
        assert_int_equal(ipc_pub_new(pc, "re.chan", harness_timeout(T_SEC), &pub), 0);
        for (int i = 0; i < 6; i++) {
                snprintf(text, sizeof(text), "before %d", i / 2);
                if (i % 2 == 0)
                        assert_int_equal(ipc_publish(pub, text, strlen(text), 0, T_SEC), 0);
                m = receive_one(sc, NULL);
                expect_payload(m, text);
                assert_int_equal(ipc_msg_get_flags(m), 0);
        }

        assert_int_equal(harness_broker_restart(b), 0);
        /* Both notice on their next I/O, and say so once. */
        await_reconnects((ipc_client *[]){sc, pc}, 2, 1, notconn);
        /* Each said once that it lost the broker. */
        assert_int_equal(notconn[0], 1);
        assert_int_equal(notconn[1], 1);
        assert_int_equal(ipc_client_get_reconnects(sc), 1);
        assert_int_equal(harness_wait_subscribers(addr, "re.chan", 2, 5 * T_SEC), 0);

        assert_int_equal(ipc_publish(pub, "after", 5, 0, T_SEC), 0);
        for (int i = 0; i < 2; i++) {
                m = receive_one(sc, NULL);
                expect_payload(m, "after");
                /* The new broker numbers from 1 again: how many were missed is unknown. */
                assert_int_equal(ipc_msg_get_flags(m), IPC_MSG_RESUMED | IPC_MSG_GAP_UNKNOWN);
                assert_int_equal(ipc_msg_get_sequence(m), 1);
        }
        assert_int_equal(ipc_publish(pub, "again", 5, 0, T_SEC), 0);
        for (int i = 0; i < 2; i++) {
                m = receive_one(sc, NULL);
                expect_payload(m, "again");
                assert_int_equal(ipc_msg_get_flags(m), 0);
                assert_int_equal(ipc_msg_get_lost(m), 0);
        }
        ipc_sub_free(exact);
        ipc_sub_free(pattern);
        ipc_pub_free(pub);
        ipc_client_free(sc);
        ipc_client_free(pc);
}

/*
 * The broker stays up but drops a subscriber that stopped reading (the
 * "disconnect" policy): the channel's numbering goes on, so the gap the
 * subscriber reports after coming back is exact.
 */
static void test_dropped_subscriber_counts_gap(void **state) {
        struct harness_broker *b =
                harness_start(state,
                              "{\"limits\": {\"output_queue_bytes\": 65536},"
                              " \"channels\": {\"gap.chan\": {\"overflow\": \"disconnect\"}}}",
                              NULL);
        const char *addr = harness_broker_client_address(b);
        ipc_client *sc = connect_fast(addr, "gap-sub", IPC_TRANSPORT_SOCKET);
        ipc_client *pc = connect_fast(addr, "gap-pub", IPC_TRANSPORT_SOCKET);
        static char payload[4096];
        uint64_t last = 0, published = 0;
        bool lost = false;
        ipc_sub *sub;
        ipc_pub *pub;

        assert_int_equal(ipc_sub_new(sc, "gap.chan", harness_timeout(T_SEC), &sub), 0);
        assert_int_equal(ipc_pub_new(pc, "gap.chan", harness_timeout(T_SEC), &pub), 0);
        /* A few read, so the subscriber knows where the numbering stood... */
        for (; published < 10; published++) {
                assert_int_equal(ipc_publish(pub, "a", 1, 0, T_SEC), 0);
                assert_int_equal(ipc_msg_get_sequence(receive_one(sc, NULL)), published + 1);
        }
        last = published;
        /* ...then far more than its queue holds while it does not read. */
        while (published < 4000) {
                int r = ipc_publish(pub, payload, sizeof(payload), 0, harness_timeout(T_SEC));

                if (r < 0)
                        fail_msg("publish %" PRIu64 ": %s", published, ipc_strerror(r));
                published++;
        }
        assert_int_equal(ipc_client_flush(pc, harness_timeout(5 * T_SEC)), 0);
        /* Read what was queued before the broker dropped us, then the loss, until back. */
        while (!lost || ipc_client_is_connected(sc) != 1) {
                const ipc_msg *m = NULL;
                int r = ipc_client_receive(sc, harness_timeout(T_SEC), &m);

                if (r == -ENOTCONN) {
                        lost = true;
                        continue;
                }
                if (r == -ETIMEDOUT)
                        continue;
                if (r < 0)
                        fail_msg("receive: %s", ipc_strerror(r));
                assert_false(lost);
                assert_int_equal(ipc_msg_get_sequence(m), last + 1);
                last = ipc_msg_get_sequence(m);
        }
        if (last < 10 || last >= published)
                fail_msg("read %" PRIu64 " of %" PRIu64 " before the broker dropped us", last,
                         published);
        assert_int_equal(harness_wait_subscribers(addr, "gap.chan", 1, 5 * T_SEC), 0);
        assert_int_equal(ipc_publish(pub, "x", 1, 0, T_SEC), 0);
        {
                const ipc_msg *m = receive_one(sc, NULL);
                uint64_t seq = ipc_msg_get_sequence(m);

                assert_int_equal(seq, published + 1);
                assert_int_equal(ipc_msg_get_flags(m), IPC_MSG_RESUMED);
                assert_int_equal(ipc_msg_get_lost(m), seq - last - 1);
                assert_int_equal(ipc_sub_get_missed(sub), seq - last - 1);
                /* The resume point's LOSS and the seq gap are the same messages: counted once. */
                assert_int_equal(ipc_sub_get_lost(sub), 0);
        }
        ipc_sub_free(sub);
        ipc_pub_free(pub);
        ipc_client_free(sc);
        ipc_client_free(pc);
}

/* Publish while disconnected: -ENOTCONN at once, or (publish wait) a timeout, then success. */
static void test_publish_while_down(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        const char *addr = harness_broker_client_address(b);
        ipc_client *fast = connect_fast(addr, "pub-fast", IPC_TRANSPORT_SOCKET);
        ipc_client *wait = connect_with(addr, "pub-wait", IPC_TRANSPORT_SOCKET, 20, 200, true);
        ipc_client *sc;
        ipc_pub *pf, *pw;
        ipc_sub *sub;
        uint64_t start;

        assert_int_equal(ipc_pub_new(fast, "down.chan", harness_timeout(T_SEC), &pf), 0);
        assert_int_equal(ipc_pub_new(wait, "down.chan", harness_timeout(T_SEC), &pw), 0);
        assert_int_equal(harness_broker_stop(b, SIGKILL, NULL), 0);
        assert_int_equal(ipc_client_process(fast), -ENOTCONN);
        assert_int_equal(ipc_client_process(wait), -ENOTCONN);
        assert_int_equal(ipc_client_is_connected(fast), 0);

        start = harness_now_usec();
        assert_int_equal(ipc_publish(pf, "x", 1, 0, 10 * T_SEC), -ENOTCONN);
        assert_true(harness_now_usec() - start < 5 * T_SEC); /* fails fast, not the timeout */
        assert_int_equal(ipc_publish(pw, "x", 1, 0, 50000), -ETIMEDOUT);
        assert_int_equal(ipc_client_ping(fast, T_SEC, NULL), -ENOTCONN);

        assert_int_equal(harness_broker_restart(b), 0);
        assert_int_equal(ipc_publish(pw, "waited", 6, 0, harness_timeout(5 * T_SEC)), 0);
        assert_int_equal(ipc_client_get_reconnects(wait), 1);
        sc = connect_fast(addr, "down-sub", IPC_TRANSPORT_SOCKET);
        assert_int_equal(ipc_sub_new(sc, "down.chan", harness_timeout(T_SEC), &sub), 0);
        assert_int_equal(ipc_publish(pw, "later", 5, 0, T_SEC), 0);
        expect_payload(receive_one(sc, NULL), "later");
        /* The fail-fast publisher comes back too. */
        await_reconnects((ipc_client *[]){fast}, 1, 1, NULL);
        assert_int_equal(ipc_publish(pf, "fast", 4, 0, T_SEC), 0);
        expect_payload(receive_one(sc, NULL), "fast");
        ipc_sub_free(sub);
        ipc_pub_free(pf);
        ipc_pub_free(pw);
        ipc_client_free(sc);
        ipc_client_free(fast);
        ipc_client_free(wait);
}

/* Reconnecting off: a lost broker is -ECONNRESET, for good. */
static void test_reconnect_disabled(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        const char *addr = harness_broker_client_address(b);
        ipc_client *c = connect_with(addr, "no-re", IPC_TRANSPORT_SOCKET, 0, 0, false);
        const ipc_msg *m = NULL;
        ipc_options *o;
        ipc_sub *sub;
        int r;

        assert_int_equal(ipc_options_new(&o), 0);
        assert_int_equal(ipc_options_set_reconnect(o, 0, 100), -EINVAL);
        assert_int_equal(ipc_options_set_reconnect(o, 200, 100), -EINVAL);
        ipc_options_free(o);
        assert_int_equal(ipc_sub_new(c, "off.chan", harness_timeout(T_SEC), &sub), 0);
        assert_int_equal(harness_broker_restart(b), 0);
        r = ipc_client_receive(c, harness_timeout(T_SEC), &m);
        assert_int_equal(r, -ECONNRESET);
        assert_int_equal(ipc_client_receive(c, 0, &m), -ECONNRESET);
        assert_int_equal(ipc_client_is_connected(c), 0);
        assert_int_equal(ipc_client_get_reconnects(c), 0);
        ipc_sub_free(sub);
        ipc_client_free(c);
}

/*
 * Ring publisher and subscriber keep exchanging messages while the broker
 * is dead, then both move to the restarted broker's new ring.
 */
static void test_ring_flows_while_down(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        const char *addr = harness_broker_address(b);
        ipc_client *sc, *pc;
        ipc_sub *sub;
        ipc_pub *pub;
        char text[32];

        /* Rings need the UNIX socket and no IPC_TRANSPORT=socket pin. */
        (void)unsetenv("IPC_TRANSPORT");
        sc = connect_fast(addr, "ring-sub", IPC_TRANSPORT_AUTO);
        pc = connect_fast(addr, "ring-pub", IPC_TRANSPORT_AUTO);
        assert_int_equal(ipc_sub_new(sc, "ring.chan", harness_timeout(T_SEC), &sub), 0);
        assert_int_equal(ipc_pub_new(pc, "ring.chan", harness_timeout(T_SEC), &pub), 0);
        if (ipc_pub_get_transport(pub) != IPC_TRANSPORT_RING ||
            ipc_sub_get_transport(sub) != IPC_TRANSPORT_RING)
                fail_msg("expected both on the ring");
        assert_int_equal(ipc_publish(pub, "up", 2, 0, T_SEC), 0);
        expect_payload(receive_one(sc, NULL), "up");

        assert_int_equal(harness_broker_stop(b, SIGKILL, NULL), 0);
        assert_int_equal(ipc_client_process(pc), -ENOTCONN);
        assert_int_equal(ipc_client_process(sc), -ENOTCONN);
        for (int i = 0; i < 100; i++) {
                const ipc_msg *m;

                snprintf(text, sizeof(text), "down %d", i);
                assert_int_equal(ipc_publish(pub, text, strlen(text), 0, T_SEC), 0);
                m = receive_one(sc, NULL);
                expect_payload(m, text);
                assert_int_equal(ipc_msg_get_sequence(m), (uint64_t)i + 2);
        }
        assert_false(harness_broker_running(b));
        assert_int_equal(ipc_client_is_connected(sc), 0);

        assert_int_equal(harness_broker_restart(b), 0);
        await_reconnects((ipc_client *[]){sc, pc}, 2, 1, NULL);
        assert_int_equal(ipc_publish(pub, "new ring", 8, 0, T_SEC), 0);
        assert_int_equal(ipc_pub_get_transport(pub), IPC_TRANSPORT_RING);
        {
                const ipc_msg *m = receive_one(sc, NULL);

                expect_payload(m, "new ring");
                /* Another ring, numbered afresh: the gap is unknown. */
                assert_int_equal(ipc_msg_get_flags(m), IPC_MSG_RESUMED | IPC_MSG_GAP_UNKNOWN);
        }
        assert_int_equal(ipc_sub_get_transport(sub), IPC_TRANSPORT_RING);
        assert_int_equal(ipc_publish(pub, "next", 4, 0, T_SEC), 0);
        expect_payload(receive_one(sc, NULL), "next");
        ipc_sub_free(sub);
        ipc_pub_free(pub);
        ipc_client_free(sc);
        ipc_client_free(pc);
}

/* Reads ipcctl's stdout until @want, within 5 s (scaled). */
static void expect_line(struct harness_proc *p, const char *want) {
        char *line = NULL;
        int r = harness_proc_read_line(p, harness_timeout(5 * T_SEC), &line);

        if (r < 0)
                fail_msg("ipcctl subscribe: no line (%s); stderr:\n%s", strerror(-r),
                         harness_proc_stderr(p));
        if (strcmp(line, want) != 0)
                fail_msg("ipcctl subscribe printed \"%s\", expected \"%s\"", line, want);
        free(line);
}

/* ipcctl subscribe survives a restart, keeps printing, and says it reconnected. */
static void test_ipcctl_subscribe_survives(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        const char *addr = harness_broker_address(b); /* ipcctl here without TLS options */
        const char *argv[] = {getenv("IPCCTL"), "-s", addr, "subscribe", "cli.chan", NULL};
        ipc_client *pc = connect_fast(addr, "cli-pub", IPC_TRANSPORT_SOCKET);
        struct harness_proc *p = NULL;
        uint64_t deadline;
        ipc_pub *pub;

        assert_int_equal(harness_spawn(argv, &p), 0);
        assert_int_equal(harness_wait_subscribers(addr, "cli.chan", 1, 5 * T_SEC), 0);
        assert_int_equal(ipc_pub_new(pc, "cli.chan", harness_timeout(T_SEC), &pub), 0);
        assert_int_equal(ipc_publish(pub, "one", 3, 0, T_SEC), 0);
        expect_line(p, "one");

        assert_int_equal(harness_broker_restart(b), 0);
        await_reconnects((ipc_client *[]){pc}, 1, 1, NULL);
        assert_int_equal(harness_wait_subscribers(addr, "cli.chan", 1, 5 * T_SEC), 0);
        assert_int_equal(ipc_publish(pub, "two", 3, 0, T_SEC), 0);
        expect_line(p, "two");
        deadline = harness_now_usec() + harness_timeout(5 * T_SEC);
        while (!strstr(harness_proc_stderr(p), "reconnected to") && harness_now_usec() < deadline)
                (void)ipc_client_ping(pc, T_SEC, NULL);
        assert_non_null(strstr(harness_proc_stderr(p), "lost; reconnecting"));
        assert_non_null(strstr(harness_proc_stderr(p), "reconnected to"));
        assert_non_null(strstr(harness_proc_stderr(p), "cli.chan: resumed after reconnecting"));
        assert_int_equal(harness_proc_kill(p, SIGTERM), 0);
        harness_proc_free(p);
        ipc_pub_free(pub);
        ipc_client_free(pc);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_restart_socket, harness_teardown),
                cmocka_unit_test_teardown(test_dropped_subscriber_counts_gap, harness_teardown),
                cmocka_unit_test_teardown(test_publish_while_down, harness_teardown),
                cmocka_unit_test_teardown(test_reconnect_disabled, harness_teardown),
                cmocka_unit_test_teardown(test_ring_flows_while_down, harness_teardown),
                cmocka_unit_test_teardown(test_ipcctl_subscribe_survives, harness_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
