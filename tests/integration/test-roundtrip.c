/* SPDX-License-Identifier: MIT */
/*
 * Publish/subscribe round trips through libipcclient and a real broker, on
 * the UNIX socket and on TCP 127.0.0.1: payload and metadata (channel,
 * sequence from 1, timestamp, size), several subscriptions on one client,
 * and unsubscribing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define T_SEC (5 * HARNESS_USEC_PER_SEC)

static uint64_t realtime_nsec(void) {
        struct timespec ts;

        (void)clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void publish_str(ipc_pub *pub, const char *s) {
        assert_int_equal(ipc_publish(pub, s, strlen(s), 0, harness_timeout(T_SEC)), 0);
}

/* Receives one message and checks its channel, payload and subscription. */
static const ipc_msg *expect_msg(ipc_client *c, ipc_sub *sub, const char *channel,
                                 const char *payload) {
        const ipc_msg *m = harness_receive(c, T_SEC);
        size_t size = 0;
        const void *data = ipc_msg_get_data(m, &size);

        assert_string_equal(ipc_msg_get_channel(m), channel);
        assert_ptr_equal(ipc_msg_get_sub(m), sub);
        assert_int_equal(size, strlen(payload));
        assert_int_equal(ipc_msg_get_size(m), strlen(payload));
        assert_memory_equal(data, payload, size);
        assert_int_equal(ipc_msg_get_flags(m), 0);
        assert_int_equal(ipc_msg_get_lost(m), 0);
        return m;
}

/*
 * Subscriber and publisher on separate clients: three messages arrive with
 * sequence numbers 1, 2, 3, timestamps taken while they were in flight, and
 * their payloads and sizes intact.
 */
static void roundtrip(const char *sub_address, const char *pub_address) {
        ipc_client *sc = harness_connect(sub_address, "rt-sub");
        ipc_client *pc = harness_connect(pub_address, "rt-pub");
        const char *payloads[] = {"first", "", "third message"};
        ipc_sub *sub = NULL;
        ipc_pub *pub = NULL;
        uint64_t before, after, last_ts = 0;

        assert_int_equal(ipc_sub_new(sc, "rt.chan", harness_timeout(T_SEC), &sub), 0);
        assert_string_equal(ipc_sub_get_pattern(sub), "rt.chan");
        assert_int_equal(ipc_pub_new(pc, "rt.chan", harness_timeout(T_SEC), &pub), 0);
        assert_string_equal(ipc_pub_get_channel(pub), "rt.chan");
        assert_int_equal(ipc_pub_get_overflow(pub), IPC_OVERFLOW_BLOCK);
        assert_int_equal(ipc_pub_get_max_message_size(pub), 1048576);

        before = realtime_nsec();
        for (size_t i = 0; i < 3; i++)
                publish_str(pub, payloads[i]);
        for (size_t i = 0; i < 3; i++) {
                const ipc_msg *m = expect_msg(sc, sub, "rt.chan", payloads[i]);
                uint64_t ts = ipc_msg_get_timestamp(m);

                after = realtime_nsec();
                assert_int_equal(ipc_msg_get_sequence(m), i + 1);
                /* 1 s of slack for clock steps; still catches units and byte-order bugs. */
                assert_in_range(ts, before - 1000000000u, after + 1000000000u);
                assert_true(ts >= last_ts);
                last_ts = ts;
        }
        harness_expect_none(sc);

        ipc_pub_free(pub);
        ipc_sub_free(sub);
        ipc_client_free(pc);
        ipc_client_free(sc);
}

static void test_roundtrip_default(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        ipc_client *c;

        c = harness_connect(harness_broker_client_address(b), NULL);
        assert_non_null(strstr(ipc_client_get_server(c), "ipc-brokerd"));
        assert_int_equal(ipc_client_get_max_message_size(c), 1048576);
        assert_string_equal(ipc_client_get_address(c), harness_broker_client_address(b));
        ipc_client_free(c);

        roundtrip(harness_broker_client_address(b), harness_broker_client_address(b));
}

/* A client subscribed to its own publications gets them like anyone else. */
static void test_roundtrip_same_client(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        ipc_client *c;
        ipc_sub *sub = NULL;
        ipc_pub *pub = NULL;

        c = harness_connect(harness_broker_client_address(b), NULL);
        assert_int_equal(ipc_sub_new(c, "self", harness_timeout(T_SEC), &sub), 0);
        assert_int_equal(ipc_pub_new(c, "self", harness_timeout(T_SEC), &pub), 0);
        publish_str(pub, "echo");
        assert_int_equal(ipc_msg_get_sequence(expect_msg(c, sub, "self", "echo")), 1);
        ipc_pub_free(pub);
        ipc_sub_free(sub);
        ipc_client_free(c);
}

/* One client, two subscriptions: each message names the subscription it matched. */
static void test_multiple_subscriptions(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        ipc_client *sc, *pc;
        ipc_sub *sx = NULL, *sy = NULL;
        ipc_pub *px = NULL, *py = NULL;
        const ipc_msg *m;

        sc = harness_connect(harness_broker_client_address(b), "multi-sub");
        pc = harness_connect(harness_broker_client_address(b), "multi-pub");
        assert_int_equal(ipc_sub_new(sc, "multi.x", harness_timeout(T_SEC), &sx), 0);
        assert_int_equal(ipc_sub_new(sc, "multi.y", harness_timeout(T_SEC), &sy), 0);
        ipc_sub_set_userdata(sy, sc);
        assert_ptr_equal(ipc_sub_get_userdata(sy), sc);
        assert_int_equal(ipc_pub_new(pc, "multi.x", harness_timeout(T_SEC), &px), 0);
        assert_int_equal(ipc_pub_new(pc, "multi.y", harness_timeout(T_SEC), &py), 0);

        publish_str(px, "x1");
        publish_str(py, "y1");
        publish_str(px, "x2");
        m = expect_msg(sc, sx, "multi.x", "x1");
        assert_int_equal(ipc_msg_get_sequence(m), 1);
        m = expect_msg(sc, sy, "multi.y", "y1");
        /* Sequence numbers are per channel. */
        assert_int_equal(ipc_msg_get_sequence(m), 1);
        m = expect_msg(sc, sx, "multi.x", "x2");
        assert_int_equal(ipc_msg_get_sequence(m), 2);
        harness_expect_none(sc);

        ipc_pub_free(px);
        ipc_pub_free(py);
        ipc_sub_free(sx);
        ipc_sub_free(sy);
        ipc_client_free(pc);
        ipc_client_free(sc);
}

static json_t *channel_stats(ipc_client *c, const char *name) {
        char *text = NULL;
        json_t *stats, *ch;

        assert_int_equal(ipc_client_stats(c, harness_timeout(T_SEC), &text), 0);
        stats = harness_json_parse(text);
        ipc_free(text);
        ch = harness_json_channel(json_object_get(stats, "channel_stats"), name);
        assert_non_null(ch);
        json_incref(ch);
        json_decref(stats);
        return ch;
}

/*
 * After ipc_sub_free() nothing more is delivered: the library shows no
 * message, and the broker counts no further delivery and no subscriber.
 */
static void test_unsubscribe_stops_delivery(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        ipc_client *sc, *pc;
        ipc_sub *sub = NULL, *fence = NULL;
        ipc_pub *pub = NULL, *pfence = NULL;
        json_t *ch;

        sc = harness_connect(harness_broker_client_address(b), "unsub-sub");
        pc = harness_connect(harness_broker_client_address(b), "unsub-pub");
        assert_int_equal(ipc_sub_new(sc, "unsub.data", harness_timeout(T_SEC), &sub), 0);
        assert_int_equal(ipc_sub_new(sc, "unsub.fence", harness_timeout(T_SEC), &fence), 0);
        assert_int_equal(ipc_pub_new(pc, "unsub.data", harness_timeout(T_SEC), &pub), 0);
        assert_int_equal(ipc_pub_new(pc, "unsub.fence", harness_timeout(T_SEC), &pfence), 0);

        publish_str(pub, "before");
        expect_msg(sc, sub, "unsub.data", "before");
        ipc_sub_free(sub);
        /* The UNSUBSCRIBE is on the wire before this round trip completes. */
        assert_int_equal(ipc_client_ping(sc, harness_timeout(T_SEC), NULL), 0);
        publish_str(pub, "after-1");
        publish_str(pub, "after-2");
        publish_str(pfence, "fence");
        expect_msg(sc, fence, "unsub.fence", "fence");
        harness_expect_none(sc);

        ch = channel_stats(pc, "unsub.data");
        assert_int_equal(harness_json_int(ch, "published"), 3);
        assert_int_equal(harness_json_int(ch, "delivered"), 1);
        assert_int_equal(harness_json_int(ch, "subscribers"), 0);
        json_decref(ch);

        ipc_pub_free(pub);
        ipc_pub_free(pfence);
        ipc_sub_free(fence);
        ipc_client_free(pc);
        ipc_client_free(sc);
}

static const char *const *tcp_args(char *buf, size_t size) {
        static const char *args[3];
        int port = harness_free_tcp_port();

        assert_true(port > 0);
        snprintf(buf, size, "tcp:127.0.0.1:%d", port);
        args[0] = "--listen";
        args[1] = buf;
        args[2] = NULL;
        return args;
}

/* The same round trip over TCP, and across transports (UNIX publisher, TCP subscriber). */
static void test_roundtrip_tcp(void **state) {
        char tcp[64];
        const char *const *args = tcp_args(tcp, sizeof(tcp));
        struct harness_broker *b = harness_start(state, NULL, args);
        ipc_client *c;
        char *text = NULL;
        json_t *stats, *client;
        size_t i;
        bool seen = false;

        roundtrip(tcp, tcp);
        roundtrip(tcp, harness_broker_address(b));
        roundtrip(harness_broker_address(b), tcp);

        c = harness_connect(tcp, "tcp-stats");
        assert_string_equal(ipc_client_get_address(c), tcp);
        assert_int_equal(ipc_client_stats(c, harness_timeout(T_SEC), &text), 0);
        stats = harness_json_parse(text);
        json_array_foreach(json_object_get(stats, "clients"), i, client) {
                if (strcmp(json_string_value(json_object_get(client, "name")) ?: "", "tcp-stats"))
                        continue;
                assert_string_equal(json_string_value(json_object_get(client, "transport")), "tcp");
                seen = true;
        }
        assert_true(seen);
        json_decref(stats);
        ipc_free(text);
        ipc_client_free(c);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_roundtrip_default, harness_teardown),
                cmocka_unit_test_teardown(test_roundtrip_same_client, harness_teardown),
                cmocka_unit_test_teardown(test_multiple_subscriptions, harness_teardown),
                cmocka_unit_test_teardown(test_unsubscribe_stops_delivery, harness_teardown),
                cmocka_unit_test_teardown(test_roundtrip_tcp, harness_teardown),
        };

        return cmocka_run_group_tests_name("roundtrip", tests, NULL, NULL);
}
