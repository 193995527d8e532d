/* SPDX-License-Identifier: MIT */
/*
 * Which transport libipcclient picks, end to end with a real broker:
 *  - on the UNIX socket with nothing forcing the socket, exact-name
 *    publishers and subscribers take the channel's ring, and the broker's
 *    stats say so (channel "transport": "ring", a "ring" object, per-client
 *    "transport": "ring" with their published/delivered counts), also as
 *    printed by "ipcctl stats --json", and the deliveries of a freed ring
 *    subscription stay counted;
 *  - IPC_TRANSPORT=socket in the environment, or
 *    ipc_options_set_transport(SOCKET), keeps a client off the ring;
 *  - a ring refused by the broker ("shared_memory": false, or a channel
 *    whose max_message_bytes exceeds ring_bytes / 4) leaves the client on
 *    the socket, and messages still flow;
 *  - TCP clients never use a ring, yet reach ring subscribers;
 *  - ipcctl subscribe uses the ring by itself.
 * These tests need rings whatever IPC_TEST_TRANSPORT says, so they unset
 * IPC_TRANSPORT themselves (ru_allow_rings()).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "ring-util.h"

#define T_SEC RU_T_SEC

/* Built-in default of channel ring_bytes (ipc-brokerd.json(5)). */
#define DEFAULT_RING_BYTES 4194304

/*
 * Publishes @n indexed messages of @size bytes from @source, each within the
 * timeout, then flushes @c: a socket publisher's output may exceed what the
 * socket buffers take while the test reads on another client.
 */
static void publish_n(ipc_client *c, ipc_pub *pub, uint64_t first, uint64_t n, size_t size,
                      uint8_t source) {
        for (uint64_t i = first; i < first + n; i++) {
                int r = ru_publish(pub, size, i, source, 0, harness_timeout(T_SEC));

                if (r < 0)
                        fail_msg("publish %" PRIu64 ": %s", i, ipc_strerror(r));
        }
        assert_int_equal(ipc_client_flush(c, harness_timeout(T_SEC)), 0);
}

/*
 * Receives @n messages on @sub of @c: from @source, indexes from @first on,
 * sequence numbers from @first_seq on, none lost; then nothing more.
 */
static void expect_n(ipc_client *c, ipc_sub *sub, uint64_t first, uint64_t n, uint8_t source,
                     uint64_t first_seq) {
        const ipc_msg *m = NULL;

        for (uint64_t i = 0; i < n; i++) {
                uint64_t index;
                uint8_t src;
                size_t size;
                const void *data;

                int r = ipc_client_receive(c, harness_timeout(T_SEC), &m);

                if (r < 0)
                        fail_msg("%s: message %" PRIu64 " of %" PRIu64 ": %s (%s)",
                                 ipc_sub_get_pattern(sub), i, n, ipc_strerror(r),
                                 ipc_client_get_error(c));
                data = ipc_msg_get_data(m, &size);
                ru_payload_check(data, size, &index, &src);
                assert_ptr_equal(ipc_msg_get_sub(m), sub);
                assert_int_equal(src, source);
                assert_int_equal(index, first + i);
                assert_int_equal(ipc_msg_get_sequence(m), first_seq + i);
                assert_int_equal(ipc_msg_get_lost(m), 0);
                assert_int_equal(ipc_msg_get_flags(m), 0);
        }
        assert_int_equal(ipc_client_receive(c, 0, &m), -EAGAIN);
        assert_int_equal(ipc_sub_get_lost(sub), 0);
}

/* Asserts the channel's stats show no ring and only @transport clients. */
static void expect_channel_on_socket(json_t *ch, const char *transport) {
        assert_string_equal(ru_json_str(ch, "transport"), "socket");
        assert_true(json_is_null(json_object_get(ch, "ring")));
        assert_int_equal(ru_count_clients(ch, "publisher", "ring", NULL, NULL), 0);
        assert_int_equal(ru_count_clients(ch, "subscriber", "ring", NULL, NULL), 0);
        assert_int_equal(ru_count_clients(ch, "publisher", transport, NULL, NULL), 1);
        assert_int_equal(ru_count_clients(ch, "subscriber", transport, NULL, NULL), 1);
}

/* Checks the ring side of a channel_stats entry after @n messages, 1 pub -> 1 sub. */
static void expect_ring_stats(json_t *ch, int64_t n) {
        json_t *ring = json_object_get(ch, "ring");
        int64_t published = 0, delivered = 0;

        assert_string_equal(ru_json_str(ch, "transport"), "ring");
        assert_true(json_is_object(ring));
        assert_int_equal(harness_json_int(ring, "capacity"), DEFAULT_RING_BYTES);
        assert_int_equal(harness_json_int(ring, "publishers"), 1);
        assert_int_equal(harness_json_int(ring, "subscribers"), 1);
        assert_in_range(harness_json_int(ring, "fill_bytes"), 0, DEFAULT_RING_BYTES);
        assert_true(harness_json_int(ring, "wakeups") >= 0);
        assert_int_equal(harness_json_int(ch, "published"), n);
        assert_int_equal(ru_count_clients(ch, "publisher", "ring", "published", &published), 1);
        assert_int_equal(ru_count_clients(ch, "subscriber", "ring", "delivered", &delivered), 1);
        assert_int_equal(published, n);
        /* The subscriber stored its statistics when it found the ring empty. */
        assert_int_equal(delivered, n);
        assert_int_equal(ru_count_clients(ch, "publisher", NULL, NULL, NULL), 1);
        assert_int_equal(ru_count_clients(ch, "subscriber", NULL, NULL, NULL), 1);
}

/* A ring publisher and a ring subscriber, seen from the API and from both stats readers. */
static void test_ring_is_used(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        const char *addr = harness_broker_address(b);
        const char *argv[] = {getenv("IPCCTL"), "-s", addr, "stats", "--json", NULL};
        struct harness_output o = {};
        ipc_client *pc, *sc, *qc;
        ipc_pub *pub;
        ipc_sub *sub;
        json_t *stats, *ctl;

        ru_allow_rings();
        sc = ru_connect(addr, "used-sub", IPC_TRANSPORT_AUTO);
        pc = ru_connect(addr, "used-pub", IPC_TRANSPORT_AUTO);
        sub = ru_sub(sc, "used.chan", IPC_TRANSPORT_RING);
        pub = ru_pub(pc, "used.chan", IPC_TRANSPORT_RING);
        publish_n(pc, pub, 0, 100, 64, 0);
        expect_n(sc, sub, 0, 100, 0, 1);

        qc = ru_connect(addr, "used-stats", IPC_TRANSPORT_SOCKET);
        stats = ru_stats(qc);
        expect_ring_stats(ru_stats_channel(stats, "used.chan"), 100);
        json_decref(stats);

        assert_non_null(argv[0]);
        assert_int_equal(harness_run(argv, NULL, 0, T_SEC, &o), 0);
        if (o.status != 0)
                fail_msg("ipcctl stats --json: status %d: %s", o.status, o.err);
        ctl = harness_json_parse(o.out);
        expect_ring_stats(ru_stats_channel(ctl, "used.chan"), 100);
        json_decref(ctl);
        harness_output_free(&o);

        /*
         * A subscription freed right after its last message (no -EAGAIN to end
         * the batch) still has every delivery counted: it hands its counters
         * over before it gives its slot back.
         */
        publish_n(pc, pub, 100, 10, 64, 0);
        for (uint64_t i = 0; i < 10; i++)
                (void)ru_receive(sc, sub, T_SEC);
        ipc_sub_free(sub);
        assert_int_equal(ipc_client_ping(sc, harness_timeout(T_SEC), NULL), 0);
        stats = ru_stats(qc);
        assert_int_equal(harness_json_int(ru_stats_channel(stats, "used.chan"), "delivered"), 110);
        json_decref(stats);

        ipc_pub_free(pub);
        ipc_client_free(qc);
        ipc_client_free(pc);
        ipc_client_free(sc);
}

/* IPC_TRANSPORT=socket in the environment: the same pair stays on the socket. */
static void test_socket_forced_by_environment(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        const char *addr = harness_broker_address(b);
        ipc_client *pc, *sc;
        ipc_pub *pub;
        ipc_sub *sub;
        json_t *stats;

        /* Whatever IPC_TEST_TRANSPORT made of it. */
        assert_int_equal(setenv("IPC_TRANSPORT", "socket", 1), 0);
        sc = ru_connect(addr, "env-sub", IPC_TRANSPORT_AUTO);
        pc = ru_connect(addr, "env-pub", IPC_TRANSPORT_AUTO);
        sub = ru_sub(sc, "env.chan", IPC_TRANSPORT_SOCKET);
        pub = ru_pub(pc, "env.chan", IPC_TRANSPORT_SOCKET);
        publish_n(pc, pub, 0, 100, 64, 0);
        expect_n(sc, sub, 0, 100, 0, 1);

        stats = ru_stats(pc);
        expect_channel_on_socket(ru_stats_channel(stats, "env.chan"), "unix");
        json_decref(stats);

        ipc_pub_free(pub);
        ipc_sub_free(sub);
        ipc_client_free(pc);
        ipc_client_free(sc);
}

/*
 * ipc_options_set_transport(SOCKET) keeps one client off the ring while
 * another on the same channels uses it: each one's messages reach the
 * other, across the bridge in both directions.
 */
static void test_socket_forced_by_option(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        const char *addr = harness_broker_address(b);
        ipc_client *ring_c, *sock_c;
        ipc_pub *ring_pub, *sock_pub;
        ipc_sub *ring_sub, *sock_sub;
        json_t *stats, *ch;

        ru_allow_rings();
        ring_c = ru_connect(addr, "opt-ring", IPC_TRANSPORT_AUTO);
        sock_c = ru_connect(addr, "opt-socket", IPC_TRANSPORT_SOCKET);
        ring_sub = ru_sub(ring_c, "opt.to-ring", IPC_TRANSPORT_RING);
        sock_sub = ru_sub(sock_c, "opt.to-socket", IPC_TRANSPORT_SOCKET);
        ring_pub = ru_pub(ring_c, "opt.to-socket", IPC_TRANSPORT_RING);
        sock_pub = ru_pub(sock_c, "opt.to-ring", IPC_TRANSPORT_SOCKET);

        publish_n(ring_c, ring_pub, 0, 50, 100, 1);
        publish_n(sock_c, sock_pub, 0, 50, 100, 2);
        expect_n(ring_c, ring_sub, 0, 50, 2, 1);
        expect_n(sock_c, sock_sub, 0, 50, 1, 1);

        stats = ru_stats(sock_c);
        ch = ru_stats_channel(stats, "opt.to-socket");
        assert_string_equal(ru_json_str(ch, "transport"), "ring");
        assert_int_equal(ru_count_clients(ch, "publisher", "ring", NULL, NULL), 1);
        assert_int_equal(ru_count_clients(ch, "subscriber", "unix", NULL, NULL), 1);
        assert_int_equal(harness_json_int(ch, "published"), 50);
        ch = ru_stats_channel(stats, "opt.to-ring");
        assert_string_equal(ru_json_str(ch, "transport"), "ring");
        assert_int_equal(ru_count_clients(ch, "publisher", "unix", NULL, NULL), 1);
        assert_int_equal(ru_count_clients(ch, "subscriber", "ring", NULL, NULL), 1);
        assert_int_equal(harness_json_int(ch, "published"), 50);
        json_decref(stats);

        ipc_pub_free(ring_pub);
        ipc_pub_free(sock_pub);
        ipc_sub_free(ring_sub);
        ipc_sub_free(sock_sub);
        ipc_client_free(ring_c);
        ipc_client_free(sock_c);
}

/* A ring-capable client on channel @name gets the socket, and a round trip of @size works. */
static void expect_refused_roundtrip(const char *addr, const char *name, size_t size) {
        ipc_client *pc = ru_connect(addr, "refused-pub", IPC_TRANSPORT_AUTO);
        ipc_client *sc = ru_connect(addr, "refused-sub", IPC_TRANSPORT_AUTO);
        ipc_sub *sub = ru_sub(sc, name, IPC_TRANSPORT_SOCKET);
        ipc_pub *pub = ru_pub(pc, name, IPC_TRANSPORT_SOCKET);
        json_t *stats;

        publish_n(pc, pub, 0, 20, size, 3);
        expect_n(sc, sub, 0, 20, 3, 1);
        stats = ru_stats(pc);
        expect_channel_on_socket(ru_stats_channel(stats, name), "unix");
        json_decref(stats);
        ipc_pub_free(pub);
        ipc_sub_free(sub);
        ipc_client_free(pc);
        ipc_client_free(sc);
}

/*
 * The broker refuses the ring for a channel with "shared_memory": false and
 * for one whose messages may exceed a quarter of its ring; the clients fall
 * back to the socket, while another channel on the same broker gets its ring.
 */
static void test_refused_ring_falls_back(void **state) {
        const char *cfg = "{\"channels\": {"
                          " \"noshm.chan\": {\"shared_memory\": false},"
                          " \"big.chan\": {\"ring_bytes\": 65536, \"max_message_bytes\": 32768}}}";
        struct harness_broker *b = harness_start(state, cfg, NULL);
        const char *addr = harness_broker_address(b);
        ipc_client *c;
        ipc_pub *pub;
        ipc_sub *sub;

        ru_allow_rings();
        expect_refused_roundtrip(addr, "noshm.chan", 200);
        /* Larger than the 16 KiB a 64 KiB ring could carry. */
        expect_refused_roundtrip(addr, "big.chan", 30000);

        c = ru_connect(addr, "refused-control", IPC_TRANSPORT_AUTO);
        sub = ru_sub(c, "fine.chan", IPC_TRANSPORT_RING);
        pub = ru_pub(c, "fine.chan", IPC_TRANSPORT_RING);
        publish_n(c, pub, 0, 10, 50, 4);
        expect_n(c, sub, 0, 10, 4, 1);
        ipc_pub_free(pub);
        ipc_sub_free(sub);
        ipc_client_free(c);
}

/*
 * Over TCP the library never maps a ring, even when allowed to; a TCP
 * publisher still reaches a ring subscriber and a ring publisher a TCP
 * subscriber.
 */
static void test_tcp_never_ring(void **state) {
        char tcp[64];
        int port = harness_free_tcp_port();
        const char *args[] = {"--listen", tcp, NULL};
        struct harness_broker *b;
        ipc_client *tc, *uc;
        ipc_pub *tpub, *upub;
        ipc_sub *tsub, *usub;
        json_t *stats, *ch;

        assert_true(port > 0);
        snprintf(tcp, sizeof(tcp), "tcp:127.0.0.1:%d", port);
        b = harness_start(state, NULL, args);
        ru_allow_rings();
        tc = ru_connect(tcp, "tcp-client", IPC_TRANSPORT_AUTO);
        uc = ru_connect(harness_broker_address(b), "unix-client", IPC_TRANSPORT_AUTO);
        tsub = ru_sub(tc, "tcp.down", IPC_TRANSPORT_SOCKET);
        usub = ru_sub(uc, "tcp.up", IPC_TRANSPORT_RING);
        tpub = ru_pub(tc, "tcp.up", IPC_TRANSPORT_SOCKET);
        upub = ru_pub(uc, "tcp.down", IPC_TRANSPORT_RING);

        publish_n(tc, tpub, 0, 50, 300, 5);
        publish_n(uc, upub, 0, 50, 300, 6);
        expect_n(uc, usub, 0, 50, 5, 1);
        expect_n(tc, tsub, 0, 50, 6, 1);

        stats = ru_stats(tc);
        ch = ru_stats_channel(stats, "tcp.up");
        assert_int_equal(ru_count_clients(ch, "publisher", "tcp", NULL, NULL), 1);
        assert_int_equal(ru_count_clients(ch, "subscriber", "ring", NULL, NULL), 1);
        ch = ru_stats_channel(stats, "tcp.down");
        assert_int_equal(ru_count_clients(ch, "publisher", "ring", NULL, NULL), 1);
        assert_int_equal(ru_count_clients(ch, "subscriber", "tcp", NULL, NULL), 1);
        json_decref(stats);

        ipc_pub_free(tpub);
        ipc_pub_free(upub);
        ipc_sub_free(tsub);
        ipc_sub_free(usub);
        ipc_client_free(tc);
        ipc_client_free(uc);
}

/* Reads the next line of a background ipcctl and returns its "seq", checking "payload". */
static int64_t ctl_expect_json(struct harness_proc *p, const char *payload, bool retained) {
        char *line = NULL;
        json_t *j;
        int64_t seq;
        int r = harness_proc_read_line(p, T_SEC, &line);

        if (r < 0)
                fail_msg("ipcctl subscribe: no line (%s): %s", strerror(-r),
                         harness_proc_stderr(p));
        j = harness_json_parse(line);
        assert_string_equal(ru_json_str(j, "payload"), payload);
        assert_int_equal(json_is_true(json_object_get(j, "retained")), retained);
        seq = harness_json_int(j, "seq");
        json_decref(j);
        free(line);
        return seq;
}

/*
 * "ipcctl subscribe" takes the ring by itself; "ipcctl subscribe
 * --socket-only" does not. A retained value published first tells when each is subscribed.
 */
static void test_ipcctl_uses_ring(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        const char *addr = harness_broker_address(b);
        const char *ring_argv[] = {getenv("IPCCTL"), "-s",       addr, "subscribe", "-n", "2",
                                   "--json",         "ctl.chan", NULL};
        const char *sock_argv[] = {getenv("IPCCTL"), "-s", addr, "subscribe",
                                   "--socket-only",  "-n", "2",  "--json",
                                   "ctl.chan",       NULL};
        struct harness_proc *ring_p = NULL, *sock_p = NULL;
        const char *v = "retained-value", *next = "after";
        ipc_client *pc;
        ipc_pub *pub;
        json_t *stats, *ch;
        int status = -1;

        ru_allow_rings();
        assert_non_null(ring_argv[0]);
        pc = ru_connect(addr, "ctl-pub", IPC_TRANSPORT_AUTO);
        pub = ru_pub(pc, "ctl.chan", IPC_TRANSPORT_RING);
        assert_int_equal(ipc_publish(pub, v, strlen(v), IPC_PUBLISH_RETAIN, harness_timeout(T_SEC)),
                         0);
        assert_int_equal(harness_spawn(ring_argv, &ring_p), 0);
        assert_int_equal(harness_spawn(sock_argv, &sock_p), 0);
        assert_int_equal(ctl_expect_json(ring_p, v, true), 1);
        assert_int_equal(ctl_expect_json(sock_p, v, true), 1);

        stats = ru_stats(pc);
        ch = ru_stats_channel(stats, "ctl.chan");
        assert_int_equal(ru_count_clients(ch, "subscriber", "ring", NULL, NULL), 1);
        assert_int_equal(ru_count_clients(ch, "subscriber", "unix", NULL, NULL), 1);
        json_decref(stats);

        assert_int_equal(ipc_publish(pub, next, strlen(next), 0, harness_timeout(T_SEC)), 0);
        assert_int_equal(ctl_expect_json(ring_p, next, false), 2);
        assert_int_equal(ctl_expect_json(sock_p, next, false), 2);
        assert_int_equal(harness_proc_wait(ring_p, T_SEC, &status), 0);
        assert_int_equal(status, 0);
        assert_int_equal(harness_proc_wait(sock_p, T_SEC, &status), 0);
        assert_int_equal(status, 0);

        harness_proc_free(ring_p);
        harness_proc_free(sock_p);
        ipc_pub_free(pub);
        ipc_client_free(pc);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_ring_is_used, harness_teardown),
                cmocka_unit_test_teardown(test_socket_forced_by_environment, harness_teardown),
                cmocka_unit_test_teardown(test_socket_forced_by_option, harness_teardown),
                cmocka_unit_test_teardown(test_refused_ring_falls_back, harness_teardown),
                cmocka_unit_test_teardown(test_tcp_never_ring, harness_teardown),
                cmocka_unit_test_teardown(test_ipcctl_uses_ring, harness_teardown),
        };

        return cmocka_run_group_tests_name("ring-transport", tests, NULL, NULL);
}
