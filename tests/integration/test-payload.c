/* SPDX-License-Identifier: MIT */
/*
 * Payloads: binary-safe (NUL bytes intact) up to the 1 MiB default limit on
 * UNIX and TCP, sizes around framing boundaries, and the size limits: one
 * byte over the broker-wide or a channel's own limit is -EMSGSIZE from
 * ipc_publish() without harming the connection.
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

#include <cmocka.h>

#include "harness.h"

#define T_SEC (5 * HARNESS_USEC_PER_SEC)
#define MIB   (1024u * 1024u)

/* Bytes that differ by position and seed, with a NUL every 7th byte and runs of them. */
static uint8_t *payload_new(size_t size, unsigned seed) {
        uint8_t *p = malloc(size ? size : 1);

        assert_non_null(p);
        for (size_t i = 0; i < size; i++)
                p[i] = (i % 7 == 0 || (i / 4096) % 5 == 1) ? 0 : (uint8_t)(i * 131 + seed);
        return p;
}

struct pair {
        ipc_client *sc, *pc;
        ipc_sub *sub;
        ipc_pub *pub;
};

static void pair_open(struct pair *p, const char *sub_address, const char *pub_address,
                      const char *channel) {
        p->sc = harness_connect(sub_address, "payload-sub");
        p->pc = harness_connect(pub_address, "payload-pub");
        assert_int_equal(ipc_sub_new(p->sc, channel, harness_timeout(T_SEC), &p->sub), 0);
        assert_int_equal(ipc_pub_new(p->pc, channel, harness_timeout(T_SEC), &p->pub), 0);
}

static void pair_close(struct pair *p) {
        ipc_pub_free(p->pub);
        ipc_sub_free(p->sub);
        ipc_client_free(p->pc);
        ipc_client_free(p->sc);
}

/* Publishes a payload of @size and byte-compares what arrives. */
static void send_and_compare(struct pair *p, size_t size, unsigned seed) {
        uint8_t *data = payload_new(size, seed);
        const ipc_msg *m;
        const void *got;
        size_t got_size = 0;

        assert_int_equal(ipc_publish(p->pub, data, size, 0, harness_timeout(T_SEC)), 0);
        /* Same thread: push out what the library buffered before waiting on the subscriber. */
        assert_int_equal(ipc_client_flush(p->pc, harness_timeout(T_SEC)), 0);
        m = harness_receive(p->sc, T_SEC);
        got = ipc_msg_get_data(m, &got_size);
        assert_int_equal(got_size, size);
        assert_int_equal(ipc_msg_get_size(m), size);
        if (size)
                assert_memory_equal(got, data, size);
        free(data);
}

static void test_1mib_binary(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        struct pair p;

        pair_open(&p, harness_broker_client_address(b), harness_broker_client_address(b),
                  "pay.big");
        assert_int_equal(ipc_pub_get_max_message_size(p.pub), MIB);
        send_and_compare(&p, MIB, 1);
        send_and_compare(&p, MIB, 2);
        pair_close(&p);
}

static void test_1mib_binary_tcp(void **state) {
        char tcp[64];
        int port = harness_free_tcp_port();
        const char *args[] = {"--listen", tcp, NULL};
        struct harness_broker *b;
        struct pair p;

        assert_true(port > 0);
        snprintf(tcp, sizeof(tcp), "tcp:127.0.0.1:%d", port);
        b = harness_start(state, NULL, args);
        pair_open(&p, tcp, harness_broker_address(b), "pay.big");
        send_and_compare(&p, MIB, 3);
        pair_close(&p);
        pair_open(&p, harness_broker_address(b), tcp, "pay.big2");
        send_and_compare(&p, MIB, 4);
        pair_close(&p);
}

/* Sizes around header, buffer and read-chunk boundaries, in one stream. */
static void test_sizes(void **state) {
        static const size_t sizes[] = {0,      1,      7,       8,     255,   256,
                                       4095,   4096,   65535,   65536, 65537, 65528,
                                       131072, 300001, MIB - 1, MIB,   3,     0};
        struct harness_broker *b = harness_start(state, NULL, NULL);
        struct pair p;

        pair_open(&p, harness_broker_client_address(b), harness_broker_client_address(b),
                  "pay.sizes");
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
                send_and_compare(&p, sizes[i], (unsigned)i);
        pair_close(&p);
}

/* One byte over the limit: -EMSGSIZE, nothing sent, the connection still works. */
static void test_over_limit(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        uint8_t *data = payload_new(MIB + 1, 5);
        struct pair p;
        char *text = NULL;
        json_t *list;

        pair_open(&p, harness_broker_client_address(b), harness_broker_client_address(b),
                  "pay.limit");
        assert_int_equal(ipc_client_get_max_message_size(p.pc), MIB);
        assert_int_equal(ipc_publish(p.pub, data, MIB + 1, 0, harness_timeout(T_SEC)), -EMSGSIZE);
        assert_int_equal(ipc_publish(p.pub, data, 64 * MIB, 0, harness_timeout(T_SEC)), -EMSGSIZE);
        free(data);
        send_and_compare(&p, 10, 6);
        harness_expect_none(p.sc);

        assert_int_equal(ipc_client_list_channels(p.pc, harness_timeout(T_SEC), &text), 0);
        list = harness_json_parse(text);
        assert_int_equal(harness_json_int(harness_json_channel(list, "pay.limit"), "published"), 1);
        json_decref(list);
        ipc_free(text);
        pair_close(&p);
}

/*
 * A lower broker-wide limit caps every channel; a channel's own lower limit
 * is reported to the publisher and enforced at exactly that size.
 */
static void test_configured_limits(void **state) {
        const char *cfg = "{\"limits\": {\"max_message_bytes\": 200000},"
                          " \"channels\": {\"pay.small\": {\"max_message_bytes\": 100}}}";
        struct harness_broker *b = harness_start(state, cfg, NULL);
        uint8_t *data = payload_new(200001, 7);
        struct pair big, small;
        char *text = NULL;
        json_t *list;

        pair_open(&big, harness_broker_client_address(b), harness_broker_client_address(b),
                  "pay.default");
        pair_open(&small, harness_broker_client_address(b), harness_broker_client_address(b),
                  "pay.small");
        assert_int_equal(ipc_client_get_max_message_size(big.pc), 200000);
        assert_int_equal(ipc_pub_get_max_message_size(big.pub), 200000);
        assert_int_equal(ipc_pub_get_max_message_size(small.pub), 100);

        assert_int_equal(ipc_publish(big.pub, data, 200001, 0, harness_timeout(T_SEC)), -EMSGSIZE);
        send_and_compare(&big, 200000, 8);
        assert_int_equal(ipc_publish(small.pub, data, 101, 0, harness_timeout(T_SEC)), -EMSGSIZE);
        send_and_compare(&small, 100, 9);

        assert_int_equal(ipc_client_list_channels(big.pc, harness_timeout(T_SEC), &text), 0);
        list = harness_json_parse(text);
        assert_int_equal(
                harness_json_int(harness_json_channel(list, "pay.small"), "max_message_bytes"),
                100);
        assert_int_equal(
                harness_json_int(harness_json_channel(list, "pay.default"), "max_message_bytes"),
                200000);
        json_decref(list);
        ipc_free(text);
        free(data);
        pair_close(&small);
        pair_close(&big);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_1mib_binary, harness_teardown),
                cmocka_unit_test_teardown(test_1mib_binary_tcp, harness_teardown),
                cmocka_unit_test_teardown(test_sizes, harness_teardown),
                cmocka_unit_test_teardown(test_over_limit, harness_teardown),
                cmocka_unit_test_teardown(test_configured_limits, harness_teardown),
        };

        return cmocka_run_group_tests_name("payload", tests, NULL, NULL);
}
