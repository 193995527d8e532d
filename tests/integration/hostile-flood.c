/* SPDX-License-Identifier: MIT */
/*
 * Never-reading clients of the hostile-client test (see hostile.h):
 * subscribers of flooded channels that stop reading, one per overflow policy.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "hostile.h"
#include "proto.h"
#include "raw-client.h"
#include "util.h"

/* Bytes published to the "drop" channel: twice RSS_GROWTH_MAX_KIB. */
#define FLOOD_DROP_BYTES (128u * MIB)
#define FLOOD_MESSAGE    (64u * KIB)

/* A raw client subscribed to @channel that will never read again. */
static int never_reader(struct hostile *f, const char *name, const char *channel) {
        int fd = raw_ready(f->b, name);

        raw_open(fd, PROTO_SUBSCRIBE, 1, channel);
        raw_expect_reply(fd, 1, 0);
        return fd;
}

/* Reads and discards until the broker closes @fd (it was disconnected). */
static void expect_eof_after_backlog(int fd) {
        uint64_t deadline = harness_now_usec() + harness_timeout(T_SEC);
        static uint8_t buf[256 * KIB];

        for (;;) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                ssize_t n;

                if (poll(&p, 1, hostile_ms_until(deadline)) != 1)
                        fail_msg("a disconnected subscriber's connection stays open");
                n = recv(fd, buf, sizeof(buf), 0);
                if (n == 0 || (n < 0 && errno == ECONNRESET))
                        break;
                assert_true(n > 0);
        }
        (void)close(fd);
}

static int64_t slow_disconnects(struct hostile *f) {
        json_t *stats = hostile_stats(f);
        int64_t n = harness_json_int(stats, "slow_disconnects");

        json_decref(stats);
        return n;
}

/*
 * "drop" and "disconnect": a publisher floods both channels; the reader of
 * the first is dropped for, its broker queue stays at the cap, and the
 * reader of the second is disconnected.
 */
static void flood_drop_and_disconnect(struct hostile *f, ipc_client *flooder,
                                      unsigned long *rss_max) {
        static uint8_t payload[FLOOD_MESSAGE];
        uint64_t t = harness_timeout(T_SEC);
        int drop = never_reader(f, "never-reads-drop", "flood.drop");
        int disc = never_reader(f, "never-reads-disconnect", "flood.disconnect");
        int64_t disconnects = slow_disconnects(f);
        ipc_pub *pd, *pc;
        json_t *stats, *c;

        assert_int_equal(ipc_pub_new(flooder, "flood.drop", t, &pd), 0);
        assert_int_equal(ipc_pub_new(flooder, "flood.disconnect", t, &pc), 0);
        for (size_t i = 0; i < FLOOD_DROP_BYTES / FLOOD_MESSAGE; i++) {
                le64_put(payload, i);
                assert_int_equal(ipc_publish(pd, payload, sizeof(payload), 0, t), 0);
                if (i < 256)
                        assert_int_equal(ipc_publish(pc, payload, sizeof(payload), 0, t), 0);
                if (i % 64 == 0)
                        *rss_max = MAX(*rss_max, hostile_rss_kib(f));
        }
        assert_int_equal(ipc_client_flush(flooder, t), 0);
        hostile_phase_during(f);
        hostile_pace(f);
        *rss_max = MAX(*rss_max, hostile_rss_kib(f));
        stats = hostile_stats(f);
        c = hostile_stats_client(stats, "never-reads-drop");
        assert_non_null(c);
        printf("# never-reads-drop: %" PRId64 " messages dropped, %" PRId64 " bytes queued\n",
               harness_json_int(c, "dropped"), harness_json_int(c, "queued_bytes"));
        assert_true(harness_json_int(c, "dropped") > 0);
        assert_true(harness_json_int(c, "queued_bytes") <= 2 * QUEUE_BYTES + KIB);
        assert_null(hostile_stats_client(stats, "never-reads-disconnect"));
        assert_true(harness_json_int(stats, "slow_disconnects") > disconnects);
        json_decref(stats);
        expect_eof_after_backlog(disc);
        (void)close(drop);
        ipc_pub_free(pd);
        ipc_pub_free(pc);
}

/*
 * "block": the publisher is held back (ipc_publish gives -EAGAIN) while
 * the good client carries on, until the stall timeout evicts the reader
 * that never reads and the publisher flows again.
 */
static void flood_block(struct hostile *f, ipc_client *flooder, unsigned long *rss_max) {
        static uint8_t payload[FLOOD_MESSAGE];
        uint64_t t = harness_timeout(T_SEC);
        int fd = never_reader(f, "never-reads-block", "flood.block");
        int64_t disconnects = slow_disconnects(f);
        ipc_pub *pub;
        int r = 0;

        assert_int_equal(ipc_pub_new(flooder, "flood.block", t, &pub), 0);
        /*
         * A few MiB fill the reader's socket, the publisher's and the
         * library's buffer; the stall timeout is long enough for that to
         * happen before it evicts the reader and lets the publisher go.
         */
        for (size_t i = 0; i < 64 * MIB / FLOOD_MESSAGE && r == 0; i++)
                r = ipc_publish(pub, payload, sizeof(payload), 0, 0);
        assert_int_equal(r, -EAGAIN);
        *rss_max = MAX(*rss_max, hostile_rss_kib(f));
        hostile_phase_during(f);
        /* limits.stall_timeout_ms is 1000, checked once a second: 1 to 2 s. */
        hostile_wait_client_gone(f, "never-reads-block");
        assert_true(slow_disconnects(f) > disconnects);
        assert_int_equal(ipc_publish(pub, payload, sizeof(payload), 0, t), 0);
        assert_int_equal(ipc_client_flush(flooder, t), 0);
        expect_eof_after_backlog(fd);
        ipc_pub_free(pub);
}

/*
 * Clients that subscribe to a busy channel and never read: each channel's
 * overflow policy deals with them, the daemon's memory stays bounded, and
 * the good client, on a channel of its own, never stalls.
 */
void test_never_reads(void **state) {
        struct hostile *f = *state;
        unsigned long rss0, rss_max;
        ipc_client *flooder;

        hostile_phase_begin(f, "never reads");
        rss_max = rss0 = hostile_rss_kib(f);
        flooder = harness_connect(harness_broker_address(f->b), "flooder");
        flood_drop_and_disconnect(f, flooder, &rss_max);
        flood_block(f, flooder, &rss_max);
        ipc_client_free(flooder);
        hostile_rss_check(f, rss0, rss_max);
        hostile_phase_end(f);
}
