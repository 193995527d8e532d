/* SPDX-License-Identifier: MIT */
/*
 * Slowloris phase of the hostile-client test (see hostile.h): connections
 * that trickle their frames one byte at a time.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "good-client.h"
#include "hostile.h"
#include "proto.h"
#include "raw-client.h"
#include "util.h"

#define TICK_USEC   (50 * HARNESS_USEC_PER_MSEC)
#define SLOW_HELLOS 16
#define SLOW_FRAMES 4

struct slow {
        int fd;
        const uint8_t *stream; /* what it trickles, one byte per tick */
        size_t len, sent;
        uint64_t opened_usec;
};

/* Sends the next byte, but never the last one while @hold_last. */
static void slow_tick(struct slow *s, bool hold_last) {
        if (s->fd >= 0 && s->sent < s->len - (hold_last ? 1 : 0))
                raw_send(s->fd, s->stream + s->sent++, 1);
}

/* One of the pre-handshake connections is readable: it must be a close, never a frame. */
static void slow_closed(struct slow *s) {
        uint8_t byte;
        ssize_t n = recv(s->fd, &byte, 1, MSG_DONTWAIT);
        uint64_t lived = harness_now_usec() - s->opened_usec;

        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
        if (n > 0)
                fail_msg("a connection that never finished its HELLO got a frame");
        assert_true(n == 0 || errno == ECONNRESET);
        /*
         * The timer starts at accept, after our connect, but libevent reads
         * the time from a coarse clock cached once per loop turn, and one
         * turn accepts many connections: it may fire a little early. Half
         * the timeout still tells the timer apart from any other close.
         */
        if (lived < HANDSHAKE_MS * HARNESS_USEC_PER_MSEC / 2)
                fail_msg("closed after %" PRIu64 " us, long before the %u ms handshake timeout",
                         lived, HANDSHAKE_MS);
        (void)close(s->fd);
        s->fd = -1;
}

/*
 * Trickles until every pre-handshake connection is closed and the good
 * client got round trips through meanwhile; the frames after a handshake
 * are held back by their last byte until then.
 */
static void slow_trickle(struct hostile *f, struct slow *pre, size_t n_pre, struct slow *post,
                         size_t n_post) {
        uint64_t deadline = harness_now_usec() + harness_timeout(10 * HARNESS_USEC_PER_SEC);
        uint64_t next_tick = harness_now_usec();
        struct good_client_report rep;
        struct pollfd pfd[64];
        uint64_t start;
        size_t open, held;

        good_client_report(f->good, &rep);
        start = rep.round_trips;
        assert_true(n_pre <= ARRAY_SIZE(pfd));
        for (;;) {
                uint64_t now = harness_now_usec();

                open = held = 0;
                for (size_t i = 0; i < n_pre; i++)
                        open += pre[i].fd >= 0;
                for (size_t i = 0; i < n_post; i++)
                        held += post[i].sent + 1 == post[i].len;
                good_client_report(f->good, &rep);
                if (rep.error < 0)
                        fail_msg("the good client failed: %s", rep.error_text);
                if (open == 0 && held == n_post && rep.round_trips >= start + DURING_ROUND_TRIPS)
                        break;
                if (now > deadline)
                        fail_msg("%zu slow connections still open, good client at %" PRIu64
                                 " round trips (from %" PRIu64 ")",
                                 open, rep.round_trips, start);
                if (now >= next_tick) {
                        for (size_t i = 0; i < n_pre; i++)
                                slow_tick(&pre[i], false);
                        for (size_t i = 0; i < n_post; i++)
                                slow_tick(&post[i], true);
                        next_tick += TICK_USEC;
                        continue;
                }
                for (size_t i = 0; i < n_pre; i++)
                        pfd[i] = (struct pollfd){.fd = pre[i].fd, .events = POLLIN};
                if (poll(pfd, n_pre, hostile_ms_until(next_tick)) > 0)
                        for (size_t i = 0; i < n_pre; i++)
                                if (pfd[i].revents)
                                        slow_closed(&pre[i]);
        }
}

/*
 * Many connections trickle a HELLO one byte per 50 ms, far too slowly to
 * finish it: limits.handshake_timeout_ms closes them (without a frame: no
 * HELLO, nothing to answer). Connections past the handshake trickle a PING
 * the same way: there the broker waits (limits.frame_timeout_ms, 30 s by
 * default, is far off; test-misbehave runs into it) and answers once the
 * frame is complete.
 */
void test_slowloris(void **state) {
        struct hostile *f = *state;
        uint8_t hello[PROTO_HEADER_BYTES + 8 + PROTO_NAME_MAX];
        uint8_t ping[SLOW_FRAMES][PROTO_HEADER_BYTES + 8];
        struct slow pre[SLOW_HELLOS], post[SLOW_FRAMES];

        hostile_phase_begin(f, "slowloris");
        raw_header(hello, PROTO_MAGIC, PROTO_HELLO, 0, 8 + PROTO_NAME_MAX);
        le16_put(hello + 8, PROTO_VERSION_MIN);
        le16_put(hello + 10, PROTO_VERSION_MAX);
        le32_put(hello + 12, 0);
        memset(hello + 16, 's', PROTO_NAME_MAX);
        for (size_t i = 0; i < SLOW_HELLOS; i++)
                pre[i] = (struct slow){.fd = raw_connect(f->b),
                                       .stream = hello,
                                       .len = sizeof(hello),
                                       .opened_usec = harness_now_usec()};
        for (size_t i = 0; i < SLOW_FRAMES; i++) {
                raw_header(ping[i], PROTO_MAGIC, PROTO_REQUEST, 0, 8);
                le32_put(ping[i] + 8, 100 + (uint32_t)i);
                le16_put(ping[i] + 12, PROTO_OP_PING);
                le16_put(ping[i] + 14, 0);
                post[i] = (struct slow){.fd = raw_ready(f->b, "slow-frame"),
                                        .stream = ping[i],
                                        .len = sizeof(ping[i])};
        }
        slow_trickle(f, pre, SLOW_HELLOS, post, SLOW_FRAMES);
        for (size_t i = 0; i < SLOW_FRAMES; i++) {
                slow_tick(&post[i], false);
                assert_int_equal(post[i].sent, post[i].len);
                raw_expect_reply(post[i].fd, 100 + (uint32_t)i, 0);
                (void)close(post[i].fd);
        }
        hostile_phase_end(f);
}
