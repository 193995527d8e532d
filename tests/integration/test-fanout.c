/* SPDX-License-Identifier: MIT */
/*
 * Fan-out under the default "block" policy: every subscriber gets every
 * message of a channel, in publish order, none lost, however many there
 * are; and a channel fed by several publishers keeps one gap-free sequence.
 *
 * Readers run in threads, each with its own client (separate handle trees
 * are independent). cmocka assertions must stay in the main thread, so a
 * reader records its first problem and the main thread asserts after join.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "util.h"

#define T_SEC           (5 * HARNESS_USEC_PER_SEC)
#define FANOUT_MESSAGES 100000u
#define FANOUT_READERS  3
#define PAYLOAD_BYTES   24

struct reader {
        ipc_client *client;
        ipc_sub *sub;
        uint64_t expected;
        uint64_t received;
        uint64_t per_source[2]; /* next counter expected from each publisher */
        bool multi_source;      /* several publishers: check order per source */
        char problem[256];
        pthread_t thread;
};

/* Payload: u64 counter, u8 source, then a pattern derived from both. */
static void payload_fill(uint8_t *p, uint64_t counter, uint8_t source) {
        le64_put(p, counter);
        p[8] = source;
        for (size_t i = 9; i < PAYLOAD_BYTES; i++)
                p[i] = (uint8_t)(counter * 31 + i + source);
}

static bool payload_ok(const uint8_t *p, size_t size, uint64_t *ret_counter, uint8_t *ret_source) {
        uint8_t want[PAYLOAD_BYTES];

        if (size != PAYLOAD_BYTES || p[8] > 1)
                return false;
        payload_fill(want, le64_get(p), p[8]);
        *ret_counter = le64_get(p);
        *ret_source = p[8];
        return memcmp(want, p, PAYLOAD_BYTES) == 0;
}

/* Checks one message; returns false with r->problem set on the first violation. */
static bool reader_check(struct reader *r, const ipc_msg *m) {
        size_t size = 0;
        const uint8_t *p = ipc_msg_get_data(m, &size);
        uint64_t counter, seq = ipc_msg_get_sequence(m);
        uint8_t source;

        if (seq != r->received + 1 || ipc_msg_get_lost(m) != 0 || ipc_msg_get_flags(m) != 0)
                snprintf(r->problem, sizeof(r->problem),
                         "message %" PRIu64 ": seq %" PRIu64 ", lost %" PRIu64, r->received, seq,
                         ipc_msg_get_lost(m));
        else if (!payload_ok(p, size, &counter, &source))
                snprintf(r->problem, sizeof(r->problem),
                         "message %" PRIu64 ": bad payload (%zu bytes)", r->received, size);
        else if (counter != r->per_source[source] || (!r->multi_source && source != 0))
                snprintf(r->problem, sizeof(r->problem),
                         "message %" PRIu64 ": counter %" PRIu64
                         " from source %u, expected %" PRIu64,
                         r->received, counter, source, r->per_source[source]);
        else {
                r->per_source[source]++;
                return true;
        }
        return false;
}

static void *reader_run(void *userdata) {
        struct reader *r = userdata;
        uint64_t timeout = harness_timeout(T_SEC);

        while (r->received < r->expected) {
                const ipc_msg *m = NULL;
                int e = ipc_client_receive(r->client, timeout, &m);

                if (e < 0) {
                        snprintf(r->problem, sizeof(r->problem), "after %" PRIu64 " messages: %s",
                                 r->received, ipc_strerror(e));
                        break;
                }
                if (!reader_check(r, m))
                        break;
                r->received++;
        }
        return NULL;
}

static void reader_start(struct reader *r, const char *address, const char *channel,
                         uint64_t expected, bool multi_source) {
        memset(r, 0, sizeof(*r));
        r->client = harness_connect(address, "fanout-reader");
        r->expected = expected;
        r->multi_source = multi_source;
        /* Subscribed before any publish: the reply means the broker has it. */
        assert_int_equal(ipc_sub_new(r->client, channel, harness_timeout(T_SEC), &r->sub), 0);
        assert_int_equal(pthread_create(&r->thread, NULL, reader_run, r), 0);
}

static void reader_finish(struct reader *r) {
        assert_int_equal(pthread_join(r->thread, NULL), 0);
        if (r->problem[0])
                fail_msg("reader: %s", r->problem);
        assert_int_equal(r->received, r->expected);
        assert_int_equal(ipc_sub_get_lost(r->sub), 0);
        ipc_sub_free(r->sub);
        ipc_client_free(r->client);
}

/* Publishes @n messages from @source, batched with IPC_PUBLISH_MORE. */
static void publish_run(ipc_pub *pub, uint64_t n, uint8_t source) {
        uint8_t p[PAYLOAD_BYTES];

        for (uint64_t i = 0; i < n; i++) {
                unsigned flags = (i % 64 == 63 || i == n - 1) ? 0 : IPC_PUBLISH_MORE;
                int r;

                payload_fill(p, i, source);
                r = ipc_publish(pub, p, sizeof(p), flags, harness_timeout(T_SEC));
                if (r < 0)
                        fail_msg("publish %" PRIu64 ": %s", i, ipc_strerror(r));
        }
}

static json_t *channel_stats(ipc_client *c, const char *name) {
        char *text = NULL;
        json_t *stats, *ch;

        assert_int_equal(ipc_client_stats(c, harness_timeout(T_SEC), &text), 0);
        stats = harness_json_parse(text);
        ipc_free(text);
        ch = json_incref(harness_json_channel(json_object_get(stats, "channel_stats"), name));
        assert_non_null(ch);
        json_decref(stats);
        return ch;
}

/* 3 subscribers (one over TCP) each get all 100,000 messages of one publisher, in order. */
static void test_fanout_three_subscribers(void **state) {
        char tcp[64];
        int port = harness_free_tcp_port();
        const char *args[] = {"--listen", tcp, NULL};
        struct harness_broker *b;
        struct reader readers[FANOUT_READERS];
        ipc_client *pc;
        ipc_pub *pub = NULL;
        json_t *ch;

        assert_true(port > 0);
        snprintf(tcp, sizeof(tcp), "tcp:127.0.0.1:%d", port);
        b = harness_start(state, NULL, args);
        for (size_t i = 0; i < FANOUT_READERS; i++)
                reader_start(&readers[i], i == 2 ? tcp : harness_broker_client_address(b),
                             "fan.out", FANOUT_MESSAGES, false);

        pc = harness_connect(harness_broker_client_address(b), "fanout-pub");
        assert_int_equal(ipc_pub_new(pc, "fan.out", harness_timeout(T_SEC), &pub), 0);
        publish_run(pub, FANOUT_MESSAGES, 0);
        assert_int_equal(ipc_client_flush(pc, harness_timeout(T_SEC)), 0);
        for (size_t i = 0; i < FANOUT_READERS; i++)
                reader_finish(&readers[i]);

        ch = channel_stats(pc, "fan.out");
        assert_int_equal(harness_json_int(ch, "published"), FANOUT_MESSAGES);
        assert_int_equal(harness_json_int(ch, "delivered"), FANOUT_READERS * FANOUT_MESSAGES);
        assert_int_equal(harness_json_int(ch, "dropped"), 0);
        json_decref(ch);
        ipc_pub_free(pub);
        ipc_client_free(pc);
}

struct publisher {
        ipc_client *client;
        ipc_pub *pub;
        uint64_t n;
        uint8_t source;
        int error;
        pthread_t thread;
};

static void *publisher_run(void *userdata) {
        struct publisher *p = userdata;
        uint8_t buf[PAYLOAD_BYTES];

        for (uint64_t i = 0; i < p->n && p->error == 0; i++) {
                payload_fill(buf, i, p->source);
                p->error = ipc_publish(p->pub, buf, sizeof(buf), IPC_PUBLISH_MORE,
                                       harness_timeout(T_SEC));
        }
        if (p->error == 0)
                p->error = ipc_client_flush(p->client, harness_timeout(T_SEC));
        return NULL;
}

/*
 * Two publishers on one channel at once: the subscriber sees one sequence
 * 1..N without gaps, and each publisher's messages in its own order.
 */
static void test_fanin_two_publishers(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        struct publisher pubs[2];
        struct reader reader;
        const uint64_t n = 20000;

        reader_start(&reader, harness_broker_client_address(b), "fan.in", 2 * n, true);
        for (uint8_t i = 0; i < 2; i++) {
                pubs[i] = (struct publisher){.n = n, .source = i};
                pubs[i].client = harness_connect(harness_broker_client_address(b), "fanin-pub");
                assert_int_equal(
                        ipc_pub_new(pubs[i].client, "fan.in", harness_timeout(T_SEC), &pubs[i].pub),
                        0);
        }
        for (size_t i = 0; i < 2; i++)
                assert_int_equal(pthread_create(&pubs[i].thread, NULL, publisher_run, &pubs[i]), 0);
        for (size_t i = 0; i < 2; i++) {
                assert_int_equal(pthread_join(pubs[i].thread, NULL), 0);
                if (pubs[i].error < 0)
                        fail_msg("publisher %zu: %s", i, ipc_strerror(pubs[i].error));
        }
        reader_finish(&reader);
        assert_int_equal(reader.per_source[0], n);
        assert_int_equal(reader.per_source[1], n);
        for (size_t i = 0; i < 2; i++) {
                ipc_pub_free(pubs[i].pub);
                ipc_client_free(pubs[i].client);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_fanout_three_subscribers, harness_teardown),
                cmocka_unit_test_teardown(test_fanin_two_publishers, harness_teardown),
        };

        return cmocka_run_group_tests_name("fanout", tests, NULL, NULL);
}
