/* SPDX-License-Identifier: MIT */
/*
 * Overflow policies with a stalled subscriber (a client that subscribed
 * and then stopped reading), limits.output_queue_bytes at its 64 KiB
 * minimum so the broker's queue fills quickly:
 *   drop:       the stalled one loses messages and is told exactly how many;
 *               a reading subscriber loses nothing.
 *   block:      the publisher is slowed (ipc_publish gives -EAGAIN) while
 *               other channels keep flowing; nothing is lost; a subscriber
 *               stalled for limits.stall_timeout_ms is cut off, and the
 *               channel flows again.
 *   disconnect: the stalled subscriber is closed; the others carry on.
 * Single-threaded: the test interleaves publishing and reading, and every
 * loop is bounded in count and time.
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
#include "util.h"

#define T_SEC       (5 * HARNESS_USEC_PER_SEC)
#define SMALL_QUEUE "\"output_queue_bytes\": 65536"

/* One subscriber's view of a channel, checked message by message. */
struct tracker {
        ipc_client *client;
        ipc_sub *sub;
        uint64_t received;
        uint64_t last_seq;
        uint64_t lost_sum; /* sum of ipc_msg_get_lost() */
};

static void tracker_open(struct tracker *t, const char *address, const char *channel,
                         const char *name) {
        memset(t, 0, sizeof(*t));
        t->client = harness_connect(address, name);
        assert_int_equal(ipc_sub_new(t->client, channel, harness_timeout(T_SEC), &t->sub), 0);
}

static void tracker_close(struct tracker *t) {
        ipc_sub_free(t->sub);
        ipc_client_free(t->client);
}

/*
 * Checks a message: payloads carry their publish index (seq - 1) in the
 * first 8 bytes, and a sequence gap must equal the loss reported with it.
 */
static void tracker_check(struct tracker *t, const ipc_msg *m, size_t size) {
        uint64_t seq = ipc_msg_get_sequence(m), lost = ipc_msg_get_lost(m);
        const uint8_t *p = ipc_msg_get_data(m, NULL);

        assert_int_equal(ipc_msg_get_size(m), size);
        assert_int_equal(le64_get(p), seq - 1);
        if (seq <= t->last_seq || seq - t->last_seq - 1 != lost)
                fail_msg("seq %" PRIu64 " after %" PRIu64 " with lost %" PRIu64, seq, t->last_seq,
                         lost);
        t->last_seq = seq;
        t->lost_sum += lost;
        t->received++;
}

/* Receives whatever is ready without blocking. Return: 0, or the client's error. */
static int tracker_drain(struct tracker *t, size_t size) {
        for (;;) {
                const ipc_msg *m = NULL;
                int r = ipc_client_receive(t->client, 0, &m);

                if (r == -EAGAIN)
                        return 0;
                if (r < 0)
                        return r;
                tracker_check(t, m, size);
        }
}

/* Receives until @n messages in all, each within the timeout. */
static void tracker_expect(struct tracker *t, uint64_t n, size_t size) {
        while (t->received < n)
                tracker_check(t, harness_receive(t->client, T_SEC), size);
}

static int publish_indexed(ipc_pub *pub, uint64_t index, size_t size, unsigned flags,
                           uint64_t timeout) {
        uint8_t buf[4096] = {};

        assert_true(size >= 8 && size <= sizeof(buf));
        le64_put(buf, index);
        memset(buf + 8, (int)(index & 0xff), size - 8);
        return ipc_publish(pub, buf, size, flags, timeout);
}

/*
 * Publishes @n messages in batches, letting @fast catch up after each, so
 * the reading subscriber never falls behind by more than one batch.
 */
static void publish_lockstep(ipc_pub *pub, struct tracker *fast, uint64_t n, size_t size) {
        for (uint64_t i = 0; i < n; i++) {
                bool last = i % 64 == 63 || i == n - 1;

                assert_int_equal(publish_indexed(pub, i, size, last ? 0 : IPC_PUBLISH_MORE,
                                                 harness_timeout(T_SEC)),
                                 0);
                if (last)
                        tracker_expect(fast, i + 1, size);
        }
}

static json_t *stats_get(ipc_client *c) {
        char *text = NULL;
        json_t *j;

        assert_int_equal(ipc_client_stats(c, harness_timeout(T_SEC), &text), 0);
        j = harness_json_parse(text);
        ipc_free(text);
        return j;
}

static ipc_pub *pub_open(ipc_client *c, const char *channel, int overflow) {
        ipc_pub *pub = NULL;

        assert_int_equal(ipc_pub_new(c, channel, harness_timeout(T_SEC), &pub), 0);
        assert_int_equal(ipc_pub_get_overflow(pub), overflow);
        return pub;
}

/*
 * drop: published == received + lost for the stalled subscriber, exactly,
 * both as ipc_sub_get_lost() and as the sum of per-message losses; the
 * reading one loses nothing.
 */
static void test_drop_accounts_every_message(void **state) {
        const char *cfg = "{\"limits\": {" SMALL_QUEUE "},"
                          " \"channels\": {\"pol.drop\": {\"overflow\": \"drop\"}}}";
        struct harness_broker *b = harness_start(state, cfg, NULL);
        const uint64_t n = 20000;
        const size_t size = 256;
        struct tracker slow, fast;
        uint64_t deadline;
        ipc_client *pc;
        ipc_pub *pub;
        json_t *stats, *ch;

        tracker_open(&slow, harness_broker_client_address(b), "pol.drop", "drop-slow");
        tracker_open(&fast, harness_broker_client_address(b), "pol.drop", "drop-fast");
        pc = harness_connect(harness_broker_client_address(b), "drop-pub");
        pub = pub_open(pc, "pol.drop", IPC_OVERFLOW_DROP);

        publish_lockstep(pub, &fast, n, size);
        assert_int_equal(ipc_sub_get_lost(fast.sub), 0);
        assert_int_equal(fast.lost_sum, 0);

        /* The stalled one resumes; its last LOSS may trail the last message. */
        deadline = harness_now_usec() + harness_timeout(T_SEC);
        while (slow.received + ipc_sub_get_lost(slow.sub) < n && harness_now_usec() < deadline) {
                const ipc_msg *m = NULL;
                int r = ipc_client_receive(slow.client, 100 * HARNESS_USEC_PER_MSEC, &m);

                if (r == 0)
                        tracker_check(&slow, m, size);
                else if (r != -ETIMEDOUT)
                        fail_msg("stalled subscriber: %s", ipc_strerror(r));
        }
        assert_int_equal(slow.received + ipc_sub_get_lost(slow.sub), n);
        assert_true(ipc_sub_get_lost(slow.sub) > 0); /* the test did overflow */
        assert_true(slow.received > 0);

        /* A message after the loss carries any loss not yet attached to one. */
        assert_int_equal(publish_indexed(pub, n, size, 0, harness_timeout(T_SEC)), 0);
        tracker_check(&slow, harness_receive(slow.client, T_SEC), size);
        tracker_expect(&fast, n + 1, size);
        assert_int_equal(slow.last_seq, n + 1);
        assert_int_equal(slow.lost_sum, ipc_sub_get_lost(slow.sub));
        assert_int_equal(slow.received + slow.lost_sum, n + 1);
        assert_int_equal(ipc_sub_get_lost(fast.sub), 0);

        stats = stats_get(pc);
        ch = harness_json_channel(json_object_get(stats, "channel_stats"), "pol.drop");
        assert_non_null(ch);
        assert_int_equal(harness_json_int(ch, "published"), n + 1);
        assert_int_equal(harness_json_int(ch, "dropped"), slow.lost_sum);
        assert_int_equal(harness_json_int(ch, "delivered"), slow.received + fast.received);
        assert_true(harness_json_int(stats, "dropped") >= (int64_t)slow.lost_sum);
        assert_int_equal(harness_json_int(stats, "slow_disconnects"), 0);
        json_decref(stats);

        ipc_pub_free(pub);
        ipc_client_free(pc);
        tracker_close(&slow);
        tracker_close(&fast);
}

/* Publishes 4 KiB messages with a short timeout until one gives -EAGAIN. Return: the count
 * published. */
static uint64_t publish_until_blocked(ipc_pub *pub) {
        const uint64_t cap = 16384; /* 64 MiB: far beyond every buffer on the way */

        for (uint64_t i = 0; i < cap; i++) {
                int r = publish_indexed(pub, i, 4096, 0, 20 * HARNESS_USEC_PER_MSEC);

                if (r == -EAGAIN)
                        return i;
                if (r < 0)
                        fail_msg("publish %" PRIu64 ": %s", i, ipc_strerror(r));
        }
        fail_msg("publisher never slowed down by a stalled block-policy subscriber");
        return 0;
}

/* Another channel, with its own publisher and subscriber clients, flows meanwhile. */
static void expect_other_channel_flows(const char *address) {
        struct tracker other;
        ipc_client *pc = harness_connect(address, "block-other-pub");
        ipc_pub *pub = pub_open(pc, "pol.other", IPC_OVERFLOW_BLOCK);

        tracker_open(&other, address, "pol.other", "block-other-sub");
        for (uint64_t i = 0; i < 100; i++)
                assert_int_equal(publish_indexed(pub, i, 64, 0, harness_timeout(T_SEC)), 0);
        tracker_expect(&other, 100, 64);
        assert_int_equal(ipc_client_ping(pc, harness_timeout(T_SEC), NULL), 0);
        ipc_pub_free(pub);
        ipc_client_free(pc);
        tracker_close(&other);
}

/*
 * block: a stalled subscriber slows the publisher to a halt, other
 * channels keep flowing, and once it reads again it gets every message.
 */
static void test_block_slows_publisher(void **state) {
        struct harness_broker *b = harness_start(state, "{\"limits\": {" SMALL_QUEUE "}}", NULL);
        uint64_t published, deadline;
        struct tracker slow;
        ipc_client *pc;
        ipc_pub *pub;
        json_t *stats;

        tracker_open(&slow, harness_broker_client_address(b), "pol.block", "block-slow");
        pc = harness_connect(harness_broker_client_address(b), "block-pub");
        pub = pub_open(pc, "pol.block", IPC_OVERFLOW_BLOCK);
        published = publish_until_blocked(pub);
        expect_other_channel_flows(harness_broker_client_address(b));

        /* Resume: the publisher's buffered output drains as the subscriber reads. */
        deadline = harness_now_usec() + harness_timeout(4 * T_SEC);
        while (slow.received < published && harness_now_usec() < deadline) {
                int r = ipc_client_flush(pc, 0);

                assert_true(r == 0 || r == -ETIMEDOUT);
                assert_int_equal(tracker_drain(&slow, 4096), 0);
        }
        assert_int_equal(slow.received, published);
        assert_int_equal(slow.lost_sum, 0);
        assert_int_equal(ipc_client_flush(pc, harness_timeout(T_SEC)), 0);
        harness_expect_none(slow.client);

        stats = stats_get(pc);
        assert_int_equal(harness_json_int(stats, "dropped"), 0);
        assert_int_equal(harness_json_int(stats, "slow_disconnects"), 0);
        json_decref(stats);
        ipc_pub_free(pub);
        ipc_client_free(pc);
        tracker_close(&slow);
}

/* Reads a disconnected subscriber to its end: a gap-free prefix, then an error. */
static void expect_cut_off(struct tracker *t, size_t size) {
        uint64_t deadline = harness_now_usec() + harness_timeout(T_SEC);
        int r = 0;

        while (r == 0 && harness_now_usec() < deadline) {
                const ipc_msg *m = NULL;

                r = ipc_client_receive(t->client, harness_timeout(T_SEC), &m);
                if (r == 0)
                        tracker_check(t, m, size);
        }
        /* The library says -ENOTCONN and reconnects (its default). */
        if (r != -ENOTCONN)
                fail_msg(
                        "expected the broker to close the stalled subscriber, got %s after %" PRIu64
                        " messages",
                        r ? ipc_strerror(r) : "no error", t->received);
        assert_int_equal(t->lost_sum, 0);
        assert_int_equal(t->last_seq, t->received);
}

/*
 * block + stall_timeout_ms 500: the stalled subscriber is disconnected,
 * after which the publisher and a reading subscriber flow again.
 */
static void test_block_stall_disconnects(void **state) {
        struct harness_broker *b = harness_start(
                state, "{\"limits\": {" SMALL_QUEUE ", \"stall_timeout_ms\": 500}}", NULL);
        const uint64_t n = 4000; /* 16 MiB of 4 KiB messages */
        uint64_t published = 0, deadline, blocked_at = 0;
        struct tracker slow, fast;
        ipc_client *pc;
        ipc_pub *pub;
        json_t *stats;

        tracker_open(&slow, harness_broker_client_address(b), "pol.stall", "stall-slow");
        tracker_open(&fast, harness_broker_client_address(b), "pol.stall", "stall-fast");
        pc = harness_connect(harness_broker_client_address(b), "stall-pub");
        pub = pub_open(pc, "pol.stall", IPC_OVERFLOW_BLOCK);

        deadline = harness_now_usec() + harness_timeout(4 * T_SEC);
        while (fast.received < n && harness_now_usec() < deadline) {
                if (published < n) {
                        int r = publish_indexed(pub, published, 4096, 0, 5 * HARNESS_USEC_PER_MSEC);

                        if (r == 0)
                                published++;
                        else if (r == -EAGAIN && !blocked_at)
                                blocked_at = harness_now_usec();
                        else if (r != -EAGAIN)
                                fail_msg("publish: %s", ipc_strerror(r));
                } else {
                        /* Push out what the library still holds. */
                        int r = ipc_client_flush(pc, 5 * HARNESS_USEC_PER_MSEC);

                        assert_true(r == 0 || r == -ETIMEDOUT);
                }
                assert_int_equal(tracker_drain(&fast, 4096), 0);
        }
        if (published != n || fast.received != n)
                fail_msg("stuck: published %" PRIu64 ", fast subscriber got %" PRIu64 " of %" PRIu64
                         ", first -EAGAIN %s",
                         published, fast.received, n, blocked_at ? "seen" : "never seen");
        assert_int_equal(fast.received, n);
        assert_int_equal(fast.lost_sum, 0);
        assert_true(blocked_at != 0); /* the stalled subscriber did hold the publisher */
        /* Cut off after about stall_timeout_ms (500), not the 30 s default. */
        assert_true(harness_now_usec() - blocked_at < harness_timeout(T_SEC));

        stats = stats_get(pc);
        assert_true(harness_json_int(stats, "slow_disconnects") >= 1);
        assert_int_equal(harness_json_int(stats, "dropped"), 0);
        json_decref(stats);
        expect_cut_off(&slow, 4096);
        assert_true(slow.received < n);

        ipc_pub_free(pub);
        ipc_client_free(pc);
        tracker_close(&slow);
        tracker_close(&fast);
}

/* disconnect: the stalled subscriber is closed, the publisher is never slowed, others get all. */
static void test_disconnect_policy(void **state) {
        const char *cfg = "{\"limits\": {" SMALL_QUEUE "},"
                          " \"channels\": {\"pol.disc\": {\"overflow\": \"disconnect\"}}}";
        struct harness_broker *b = harness_start(state, cfg, NULL);
        const uint64_t n = 20000;
        struct tracker slow, fast;
        ipc_client *pc;
        ipc_pub *pub;
        json_t *stats;

        tracker_open(&slow, harness_broker_client_address(b), "pol.disc", "disc-slow");
        tracker_open(&fast, harness_broker_client_address(b), "pol.disc", "disc-fast");
        pc = harness_connect(harness_broker_client_address(b), "disc-pub");
        pub = pub_open(pc, "pol.disc", IPC_OVERFLOW_DISCONNECT);

        publish_lockstep(pub, &fast, n, 256);
        assert_int_equal(fast.lost_sum, 0);
        expect_cut_off(&slow, 256);
        assert_true(slow.received < n);

        /* The others carry on. */
        assert_int_equal(publish_indexed(pub, n, 256, 0, harness_timeout(T_SEC)), 0);
        tracker_expect(&fast, n + 1, 256);
        stats = stats_get(pc);
        assert_true(harness_json_int(stats, "slow_disconnects") >= 1);
        assert_int_equal(harness_json_int(stats, "connections"), 2);
        json_decref(stats);

        ipc_pub_free(pub);
        ipc_client_free(pc);
        tracker_close(&slow);
        tracker_close(&fast);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_drop_accounts_every_message, harness_teardown),
                cmocka_unit_test_teardown(test_block_slows_publisher, harness_teardown),
                cmocka_unit_test_teardown(test_block_stall_disconnects, harness_teardown),
                cmocka_unit_test_teardown(test_disconnect_policy, harness_teardown),
        };

        return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
