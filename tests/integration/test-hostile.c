/* SPDX-License-Identifier: MIT */
/*
 * Hostile clients against one live broker while a well-behaved client
 * keeps round-tripping on its own channel in a thread of its own
 * (good-client.h). Each test case is one phase of attack on the same
 * daemon; in each, the good client must complete round trips while the
 * attack is under way and after it, none may fail, and no gap between two
 * of its round trips may exceed GAP_MAX_USEC. Each phase also checks what
 * the hostile connections themselves got: the ERROR frame the protocol
 * prescribes, a refusal, a close. The last case checks the whole run and
 * that the daemon exits 0 on SIGTERM (so ASan/valgrind findings in it fail).
 *
 * test-misbehave.c checks each malformed frame on its own; here the same
 * kinds of input come many at a time, with the resource limits, and the
 * daemon's memory (VmRSS) and descriptors (/proc/PID/fd) are watched.
 *
 * This file holds the fixture and the phases about frames and limits;
 * hostile-slow.c, hostile-fds.c and hostile-flood.c hold one phase each,
 * hostile-util.c what every phase checks (hostile.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "good-client.h"
#include "hostile.h"
#include "proto.h"
#include "raw-client.h"
#include "util.h"

/* ---- Garbage ---------------------------------------------------------------- */

static uint64_t xorshift(uint64_t *s) {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        return *s;
}

/* @n random bytes that do not start with the frame magic. */
static void random_garbage(uint8_t *buf, size_t n, uint64_t *seed) {
        for (size_t i = 0; i < n; i++)
                buf[i] = (uint8_t)xorshift(seed);
        if (le16_get(buf) == PROTO_MAGIC)
                buf[0] ^= 0xff;
}

#define GARBAGE_CONNECTIONS 6

/*
 * Random bytes (before and after a good handshake), 1 MiB of them on one
 * connection, headers valid but for the magic or the type: each connection
 * gets the ERROR the protocol prescribes and is closed, all at once.
 */
static void test_garbage(void **state) {
        static uint8_t junk[MIB];
        struct hostile *f = *state;
        uint64_t seed = UINT64_C(0x9e3779b97f4a7c15);
        int pre[GARBAGE_CONNECTIONS], post[GARBAGE_CONNECTIONS], big, magic, type;
        uint8_t h[PROTO_HEADER_BYTES];

        hostile_phase_begin(f, "garbage");
        printf("# garbage seed 0x%" PRIx64 "\n", seed);
        for (int i = 0; i < GARBAGE_CONNECTIONS; i++) {
                pre[i] = raw_connect(f->b);
                post[i] = raw_ready(f->b, "garbage");
        }
        big = raw_ready(f->b, "garbage-big");
        magic = raw_ready(f->b, "garbage-magic");
        type = raw_ready(f->b, "garbage-type");
        for (int i = 0; i < GARBAGE_CONNECTIONS; i++) {
                size_t n = PROTO_HEADER_BYTES + xorshift(&seed) % 4096;

                random_garbage(junk, n, &seed);
                raw_send(pre[i], junk, n);
                random_garbage(junk, n, &seed);
                raw_send(post[i], junk, n);
        }
        raw_send(magic, h, raw_header(h, PROTO_MAGIC ^ 0x0101, PROTO_REQUEST, 0, 8));
        raw_send(type, h, raw_header(h, PROTO_MAGIC, 0x5a, 0, 0));
        random_garbage(junk, sizeof(junk), &seed);
        raw_send(big, junk, sizeof(junk)); /* discarded after the ERROR, then closed */
        hostile_phase_during(f);
        for (int i = 0; i < GARBAGE_CONNECTIONS; i++) {
                raw_expect_error_and_close(pre[i], EBADMSG);
                raw_expect_error_and_close(post[i], EBADMSG);
        }
        raw_expect_error_and_close(big, EBADMSG);
        raw_expect_error_and_close(magic, EBADMSG);
        raw_expect_error_and_close(type, EPROTO);
        hostile_phase_end(f);
}

/* ---- 4 GiB frames ------------------------------------------------------------ */

/*
 * Frames that declare a 0xffffffff-byte body, two connections per frame
 * type a client may send after the handshake, each followed by 64 KiB of
 * body: refused with EMSGSIZE on the header, nothing buffered (VmRSS).
 */
static void test_huge_declared_length(void **state) {
        static const uint8_t types[] = {
                PROTO_PUBLISH,   PROTO_RETAINED,    PROTO_OPEN_PUB,
                PROTO_SUBSCRIBE, PROTO_UNSUBSCRIBE, PROTO_CLOSE_PUB,
                PROTO_REQUEST,   PROTO_OPEN_RING,   PROTO_CLOSE_RING,
        };

        static uint8_t body[64 * KIB];
        struct hostile *f = *state;
        uint8_t h[PROTO_HEADER_BYTES];
        unsigned long rss0, rss1;
        int fds[2 * ARRAY_SIZE(types)];

        hostile_phase_begin(f, "4 GiB frames");
        rss0 = hostile_rss_kib(f);
        memset(body, 'x', sizeof(body));
        for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
                fds[i] = raw_ready(f->b, "huge");
                raw_send(fds[i], h,
                         raw_header(h, PROTO_MAGIC, types[i % ARRAY_SIZE(types)], 0, UINT32_MAX));
                raw_send(fds[i], body, sizeof(body));
        }
        hostile_phase_during(f);
        for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
                raw_expect_error_and_close(fds[i], EMSGSIZE);
        rss1 = hostile_rss_kib(f);
        hostile_rss_check(f, rss0, MAX(rss0, rss1));
        hostile_phase_end(f);
}

/* ---- Connections past max_connections ------------------------------------------ */

/* limits.max_connections is broker-wide: ERROR ENFILE (see ipc-brokerd.json(5), Quotas). */
static bool is_connection_limit_code(int code) {
        return code == ENFILE;
}

#define LIBRARY_CONNECTS 50

/* Connects and says HELLO. Return: the fd, or -1 refused (*ret_code, @text set). */
static int try_connect(struct hostile *f, uint32_t *ret_code, char *text, size_t size) {
        static struct raw_frame fr;
        const char *t;
        int fd = raw_connect(f->b);

        raw_hello_send(fd, PROTO_VERSION_MIN, PROTO_VERSION_MAX, "fill");
        assert_int_equal(raw_frame_read(fd, &fr), 1);
        if (fr.type == PROTO_WELCOME)
                return fd;
        assert_int_equal(fr.type, PROTO_ERROR);
        assert_true(fr.length > 4);
        *ret_code = le32_get(fr.body);
        t = (const char *)fr.body + 4;
        snprintf(text, size, "%.*s", (int)MIN(strlen(t), size - 1), t);
        raw_expect_closed(fd);
        (void)close(fd);
        return -1;
}

/* Retries until the broker has noticed closed connections and accepts again. */
static int connect_when_room(struct hostile *f) {
        uint64_t deadline = harness_now_usec() + harness_timeout(T_SEC);
        char text[256];
        uint32_t code;
        int fd;

        while ((fd = try_connect(f, &code, text, sizeof(text))) < 0) {
                if (harness_now_usec() > deadline)
                        fail_msg("still refused after closing connections: %u %s", code, text);
                hostile_pace(f);
        }
        return fd;
}

/*
 * Fill the broker up to limits.max_connections: the next ones are refused
 * with an ERROR (raw) or a negative code (library), the connections that
 * are in (the good client's among them) carry on, and once some close, new
 * ones get in.
 */
static void test_connection_limit(void **state) {
        struct hostile *f = *state;
        char text[256], again_text[256];
        uint32_t code = 0, again;
        json_t *stats = hostile_stats(f);
        int64_t before = harness_json_int(stats, "connections");
        ipc_client *c = NULL;
        int fd, r;

        json_decref(stats);
        hostile_phase_begin(f, "connection limit");
        while ((fd = try_connect(f, &code, text, sizeof(text))) >= 0)
                hostile_hold(f, fd);
        printf("# %zu connections accepted next to %" PRId64 ", then refused: code %u (%s)\n",
               f->n_held, before, code, text);
        /*
         * The probe and the good client hold two slots; connections of
         * earlier phases may still be closing, counted by the limit until
         * the broker frees them, so "before" is only a hint.
         */
        assert_true(f->n_held >= 1 && f->n_held <= MAX_CONNECTIONS - 2);
        assert_true(is_connection_limit_code((int)code));
        assert_true(strlen(text) > 0);
        for (int i = 0; i < 8; i++) {
                assert_true(try_connect(f, &again, again_text, sizeof(again_text)) < 0);
                assert_int_equal(again, code);
        }
        /* Many times: the refusal races with our HELLO (the broker closes without reading). */
        for (int i = 0; i < LIBRARY_CONNECTS; i++) {
                r = ipc_client_connect(harness_broker_address(f->b), NULL, &c);
                if (i == 0)
                        printf("# library connect at the limit: %d (%s)\n", r, ipc_strerror(r));
                if (r >= 0 || !is_connection_limit_code(-r))
                        fail_msg("library connect #%d at the limit gave %d (%s)", i + 1, r,
                                 ipc_strerror(r));
        }
        hostile_phase_during(f);
        hostile_pace(f);
        for (size_t i = 0; i < f->n_held; i++)
                raw_ping(f->held[i], (uint32_t)i + 1);
        for (size_t n = hostile_release(f); n > 0; n--)
                hostile_hold(f, connect_when_room(f));
        for (size_t i = 0; i < f->n_held; i++)
                raw_ping(f->held[i], (uint32_t)i + 1);
        (void)hostile_release(f);
        hostile_phase_end(f);
}

/* ---- Subscriptions past max_subscriptions --------------------------------------- */

/* limits.max_subscriptions is per connection: -EMFILE for SUBSCRIBE and OPEN_PUB alike. */
static bool is_subscription_limit_code(int r) {
        return r == -EMFILE;
}

/* The library's view: refused with a code and a text; the connection stays usable. */
static void subscription_limit_library(struct hostile *f) {
        ipc_client *c = harness_connect(harness_broker_address(f->b), "subscriber");
        ipc_sub *subs[MAX_SUBSCRIPTIONS], *extra = NULL;
        ipc_pub *pubs[MAX_SUBSCRIPTIONS], *pub = NULL;
        uint64_t t = harness_timeout(T_SEC);
        const ipc_msg *m;
        char name[32];
        int r;

        for (int i = 0; i < MAX_SUBSCRIPTIONS; i++) {
                snprintf(name, sizeof(name), "lim.%d", i);
                assert_int_equal(ipc_sub_new(c, name, t, &subs[i]), 0);
        }
        r = ipc_sub_new(c, "lim.extra", t, &extra);
        printf("# subscription past the limit: %d (%s): %s\n", r, ipc_strerror(r),
               ipc_client_get_error(c));
        assert_true(is_subscription_limit_code(r));
        assert_true(strlen(ipc_client_get_error(c)) > 0);
        assert_int_equal(ipc_sub_new(c, "lim.>", t, &extra), r);
        for (int i = 0; i < MAX_SUBSCRIPTIONS; i++) {
                snprintf(name, sizeof(name), "lim.pub.%d", i);
                assert_int_equal(ipc_pub_new(c, name, t, &pubs[i]), 0);
        }
        assert_int_equal(ipc_pub_new(c, "lim.pub.extra", t, &pub), r);

        /* Still usable: pings, deliveries, and a freed slot can be taken again. */
        assert_int_equal(ipc_client_ping(c, t, NULL), 0);
        assert_int_equal(ipc_pub_new(f->probe, "lim.3", t, &pub), 0);
        assert_int_equal(ipc_publish(pub, "still", 5, 0, t), 0);
        m = harness_receive(c, T_SEC);
        assert_string_equal(ipc_msg_get_channel(m), "lim.3");
        assert_memory_equal(ipc_msg_get_data(m, NULL), "still", 5);
        ipc_pub_free(pub);
        subs[0] = ipc_sub_free(subs[0]);
        assert_int_equal(ipc_sub_new(c, "lim.extra", t, &subs[0]), 0);
        for (int i = 0; i < MAX_SUBSCRIPTIONS; i++) {
                ipc_sub_free(subs[i]);
                ipc_pub_free(pubs[i]);
        }
        ipc_client_free(c);
}

#define BURST_FRAMES    (MAX_SUBSCRIPTIONS + 2000)
#define BURST_FRAME_MAX (PROTO_HEADER_BYTES + 5 + 16)

/*
 * Thousands of SUBSCRIBEs past the limit in one burst on a raw connection:
 * each refused with the same code, the first ones accepted, the connection
 * still answering afterwards.
 */
static void test_subscription_limit(void **state) {
        static uint8_t burst[BURST_FRAMES * BURST_FRAME_MAX];
        struct hostile *f = *state;
        struct raw_frame fr;
        size_t len = 0;
        int32_t refused = 0;
        int fd;

        hostile_phase_begin(f, "subscription limit");
        subscription_limit_library(f);
        fd = raw_ready(f->b, "subscribe-burst");
        for (uint32_t i = 0; i < BURST_FRAMES; i++) {
                uint8_t *p = burst + len;
                int n = snprintf((char *)p + PROTO_HEADER_BYTES + 5, 17, "burst.%u", i);

                raw_header(p, PROTO_MAGIC, PROTO_SUBSCRIBE, 0, 5 + (uint32_t)n);
                le32_put(p + PROTO_HEADER_BYTES, i + 1);
                p[PROTO_HEADER_BYTES + 4] = (uint8_t)n;
                len += PROTO_HEADER_BYTES + 5 + (size_t)n;
        }
        raw_send(fd, burst, len);
        hostile_phase_during(f);
        for (uint32_t i = 0; i < BURST_FRAMES; i++) {
                int32_t status;

                assert_int_equal(raw_frame_read(fd, &fr), 1);
                assert_int_equal(fr.type, PROTO_REPLY);
                assert_int_equal(le32_get(fr.body), i + 1);
                status = (int32_t)le32_get(fr.body + 4);
                if (i < MAX_SUBSCRIPTIONS) {
                        assert_int_equal(status, 0);
                        continue;
                }
                if (!refused)
                        refused = status;
                assert_true(is_subscription_limit_code(status));
                assert_int_equal(status, refused);
                assert_true(fr.length > 8); /* with a text */
        }
        raw_ping(fd, BURST_FRAMES + 1);
        (void)close(fd);
        hostile_phase_end(f);
}

/* ---- The whole run ------------------------------------------------------------------ */

/* The good client never failed or stalled; the daemon shuts down cleanly. */
static void test_survived(void **state) {
        struct hostile *f = *state;
        struct good_client_report rep;
        int status = -1;

        assert_true(harness_broker_running(f->b));
        f->good = good_client_stop(f->good, &rep);
        printf("# good client: %" PRIu64 " round trips, longest gap %" PRIu64 " us\n",
               rep.round_trips, rep.max_gap_usec);
        if (rep.error < 0)
                fail_msg("the good client failed: %s", rep.error_text);
        assert_true(rep.max_gap_usec <= harness_timeout(GAP_MAX_USEC));
        f->probe = ipc_client_free(f->probe);
        assert_int_equal(harness_broker_stop(f->b, SIGTERM, &status), 0);
        if (status != 0)
                fail_msg("the daemon exited with status %d:\n%s", status, harness_broker_log(f->b));
}

/*
 * ASan keeps freed memory in a quarantine of 256 MiB by default, which the
 * flood phase would fill and VmRSS would show as growth. The daemon gets a
 * 16 MiB one (the test itself keeps its own settings: they are read at
 * start-up). Harmless in other builds.
 */
static void daemon_small_quarantine(void) {
        const char *old = getenv("ASAN_OPTIONS");
        char *opts;

        assert_true(asprintf(&opts, "%s%squarantine_size_mb=16", old ? old : "",
                             old && *old ? ":" : "") > 0);
        assert_int_equal(setenv("ASAN_OPTIONS", opts, 1), 0);
        free(opts);
}

static int group_setup(void **state) {
        struct hostile *f = calloc(1, sizeof(*f));

        if (!f)
                return -1;
        daemon_small_quarantine();
        if (harness_broker_start(CONFIG, NULL, &f->b) < 0) {
                free(f);
                return -1;
        }
        *state = f;
        f->probe = harness_connect(harness_broker_address(f->b), "probe");
        f->good = good_client_start(harness_broker_address(f->b), "good.rt");
        good_client_wait(f->good, DURING_ROUND_TRIPS, T_SEC, "at start");
        return 0;
}

static int group_teardown(void **state) {
        struct hostile *f = *state;
        void *broker = f->b;
        int r;

        f->good = good_client_stop(f->good, NULL);
        ipc_client_free(f->probe);
        r = harness_teardown(&broker); /* SIGTERM, exit 0, unless test_survived did it */
        free(f);
        return r;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_garbage),
                cmocka_unit_test(test_huge_declared_length),
                cmocka_unit_test(test_slowloris),
                cmocka_unit_test(test_connection_limit),
                cmocka_unit_test(test_subscription_limit),
                cmocka_unit_test(test_unexpected_fds),
                cmocka_unit_test(test_never_reads),
                cmocka_unit_test(test_survived),
        };

        return cmocka_run_group_tests_name("hostile", tests, group_setup, group_teardown);
}
