/* SPDX-License-Identifier: MIT */
/*
 * Misbehaving clients on a raw UNIX socket, frames crafted by hand: each
 * bad input gets the documented ERROR frame (where there is one) and then
 * the broker closes that connection only. A well-behaved publisher and
 * subscriber connected before the bad client keep round-tripping, and the
 * daemon keeps running. Non-fatal mistakes get a REPLY with a negative
 * status and leave the connection open.
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
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "proto.h"
#include "raw-client.h"
#include "util.h"

#define T_SEC (5 * HARNESS_USEC_PER_SEC)
#define MIB   (1024u * 1024u)

/* Handshake and frame timeouts short enough to test, long enough for any real client. */
#define FRAME_MS 300
#define CONFIG                                                                                     \
        "{\"limits\": {\"handshake_timeout_ms\": 300, \"frame_timeout_ms\": 300,"                  \
        " \"max_subscriptions\": 4},"                                                             \
        " \"channels\": {\"mis.small\": {\"max_message_bytes\": 100}}}"

struct fixture {
        struct harness_broker *b;
        ipc_client *sc, *pc;
        ipc_sub *sub;
        ipc_pub *pub;
        uint64_t seq;
};

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));

        if (!f || harness_broker_start(CONFIG, NULL, &f->b) < 0) {
                free(f);
                return -1;
        }
        *state = f;
        f->sc = harness_connect(harness_broker_address(f->b), "good-sub");
        f->pc = harness_connect(harness_broker_address(f->b), "good-pub");
        assert_int_equal(ipc_sub_new(f->sc, "mis.good", harness_timeout(T_SEC), &f->sub), 0);
        assert_int_equal(ipc_pub_new(f->pc, "mis.good", harness_timeout(T_SEC), &f->pub), 0);
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;
        void *broker = f->b;
        int r;

        ipc_pub_free(f->pub);
        ipc_sub_free(f->sub);
        ipc_client_free(f->pc);
        ipc_client_free(f->sc);
        r = harness_teardown(&broker); /* the daemon must still exit cleanly */
        free(f);
        return r;
}

/* The good clients still round-trip and the daemon still runs. */
static void good_clients_work(struct fixture *f) {
        const ipc_msg *m;

        assert_true(harness_broker_running(f->b));
        assert_int_equal(ipc_publish(f->pub, "ok", 2, 0, harness_timeout(T_SEC)), 0);
        m = harness_receive(f->sc, T_SEC);
        assert_int_equal(ipc_msg_get_sequence(m), ++f->seq);
        assert_memory_equal(ipc_msg_get_data(m, NULL), "ok", 2);
        assert_int_equal(ipc_client_ping(f->pc, harness_timeout(T_SEC), NULL), 0);
}

static struct harness_broker *broker(void **state) {
        return ((struct fixture *)*state)->b;
}

/* ---- Before the handshake -------------------------------------------- */

static void test_garbage(void **state) {
        static const char garbage[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
        int fd = raw_connect(broker(state));

        raw_send(fd, garbage, sizeof(garbage) - 1);
        raw_expect_error_and_close(fd, EBADMSG);
        good_clients_work(*state);
}

static void test_bad_magic(void **state) {
        uint8_t buf[PROTO_HEADER_BYTES + 8] = {};
        int fd = raw_connect(broker(state));

        raw_header(buf, 0x4250, PROTO_HELLO, 0, 8);
        le16_put(buf + 8, 1);
        le16_put(buf + 10, 1);
        raw_send(fd, buf, sizeof(buf));
        raw_expect_error_and_close(fd, EBADMSG);

        /* And after a good handshake. */
        fd = raw_ready(broker(state), "raw");
        raw_header(buf, 0x0000, PROTO_REQUEST, 0, 8);
        raw_send(fd, buf, sizeof(buf));
        raw_expect_error_and_close(fd, EBADMSG);
        good_clients_work(*state);
}

static void test_wrong_version(void **state) {
        int fd = raw_connect(broker(state));

        raw_hello_send(fd, 2, 7, "raw");
        raw_expect_error_and_close(fd, EPROTONOSUPPORT);
        fd = raw_connect(broker(state));
        raw_hello_send(fd, 0, 0, "raw");
        raw_expect_error_and_close(fd, EPROTONOSUPPORT);
        good_clients_work(*state);
}

static void test_first_frame_not_hello(void **state) {
        uint8_t body[8] = {};
        int fd = raw_connect(broker(state));

        le16_put(body + 4, PROTO_OP_PING);
        raw_frame_send(fd, PROTO_REQUEST, body, sizeof(body));
        raw_expect_error_and_close(fd, EPROTO);
        good_clients_work(*state);
}

static void test_malformed_hello(void **state) {
        int fd = raw_connect(broker(state));

        raw_frame_send(fd, PROTO_HELLO, "\x01\x00\x01", 3);
        raw_expect_error_and_close(fd, EBADMSG);
        good_clients_work(*state);
}

/* No HELLO within limits.handshake_timeout_ms (300): closed, with or without a partial frame. */
static void test_handshake_timeout(void **state) {
        uint8_t h[PROTO_HEADER_BYTES];
        int silent = raw_connect(broker(state)), partial = raw_connect(broker(state));

        raw_send(partial, h, raw_header(h, PROTO_MAGIC, PROTO_HELLO, 0, 11));
        good_clients_work(*state);
        raw_expect_closed(silent);
        raw_expect_closed(partial);
        (void)close(silent);
        (void)close(partial);
        good_clients_work(*state);
}

/*
 * After the handshake, a frame begun and not finished within
 * limits.frame_timeout_ms: ETIMEDOUT and closed, not held for ever (a
 * header alone, and a header with part of its body). A client idle between
 * frames for longer is not disconnected.
 */
static void test_frame_timeout(void **state) {
        uint8_t f[PROTO_HEADER_BYTES + 8];
        int idle = raw_ready(broker(state), "idle");
        int fds[2] = {raw_ready(broker(state), "header"), raw_ready(broker(state), "half")};
        uint64_t start = harness_now_usec();

        raw_header(f, PROTO_MAGIC, PROTO_REQUEST, 0, 8);
        raw_send(fds[0], f, PROTO_HEADER_BYTES);
        raw_send(fds[1], f, PROTO_HEADER_BYTES + 3);
        for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
                raw_expect_error_and_close(fds[i], ETIMEDOUT);
                (void)close(fds[i]);
        }
        /* libevent's cached clock may fire a timer a little early, never at half of it. */
        assert_true(harness_now_usec() - start >= FRAME_MS * HARNESS_USEC_PER_MSEC / 2);
        raw_ping(idle, 40); /* idle all along, longer than the timeout */
        (void)close(idle);
        good_clients_work(*state);
}

/* ---- Oversized and truncated frames ------------------------------------ */

/* A 4 GiB declared body: refused on the header, before any body is sent. */
static void test_huge_length(void **state) {
        uint8_t h[PROTO_HEADER_BYTES];
        int fd = raw_connect(broker(state));

        raw_send(fd, h, raw_header(h, PROTO_MAGIC, PROTO_HELLO, 0, UINT32_MAX));
        raw_expect_error_and_close(fd, EMSGSIZE);

        fd = raw_ready(broker(state), "raw");
        raw_send(fd, h, raw_header(h, PROTO_MAGIC, PROTO_PUBLISH, 0, UINT32_MAX));
        raw_expect_error_and_close(fd, EMSGSIZE);
        good_clients_work(*state);
}

/* One byte over the body limits: PUBLISH (pub id + 1 MiB payload) and control frames (64 KiB). */
static void test_over_limit_length(void **state) {
        uint8_t h[PROTO_HEADER_BYTES];
        int fd = raw_ready(broker(state), "raw");

        raw_send(fd, h, raw_header(h, PROTO_MAGIC, PROTO_PUBLISH, 0, 4 + MIB + 1));
        raw_expect_error_and_close(fd, EMSGSIZE);
        fd = raw_ready(broker(state), "raw");
        raw_send(fd, h, raw_header(h, PROTO_MAGIC, PROTO_SUBSCRIBE, 0, PROTO_CONTROL_BODY_MAX + 1));
        raw_expect_error_and_close(fd, EMSGSIZE);
        good_clients_work(*state);
}

/* A payload within the frame limit but over its channel's own limit (100 bytes). */
static void test_over_channel_limit(void **state) {
        uint8_t body[4 + 101];
        struct raw_frame fr;
        int fd = raw_ready(broker(state), "raw");

        raw_open(fd, PROTO_OPEN_PUB, 7, "mis.small");
        assert_int_equal(raw_frame_read(fd, &fr), 1);
        assert_int_equal(fr.type, PROTO_REPLY);
        assert_int_equal((int32_t)le32_get(fr.body + 4), 0);
        assert_int_equal(fr.length, 8 + PROTO_OPEN_REPLY_BYTES);
        assert_int_equal(le32_get(fr.body + 12), 100);
        memset(body, 'x', sizeof(body));
        le32_put(body, le32_get(fr.body + 8));
        raw_frame_send(fd, PROTO_PUBLISH, body, 4 + 100);
        raw_frame_send(fd, PROTO_PUBLISH, body, 4 + 101);
        raw_expect_error_and_close(fd, EMSGSIZE);
        good_clients_work(*state);
}

/* A frame cut short by the client closing: only that connection goes. */
static void test_truncated_then_close(void **state) {
        uint8_t buf[PROTO_HEADER_BYTES + 10] = {};
        int fd = raw_connect(broker(state));

        raw_header(buf, PROTO_MAGIC, PROTO_HELLO, 0, 20);
        raw_send(fd, buf, sizeof(buf));
        (void)close(fd);

        fd = raw_ready(broker(state), "raw");
        raw_header(buf, PROTO_MAGIC, PROTO_PUBLISH, 0, 1000);
        raw_send(fd, buf, sizeof(buf));
        assert_int_equal(shutdown(fd, SHUT_WR), 0);
        raw_expect_closed(fd);
        (void)close(fd);

        fd = raw_ready(broker(state), "raw");
        raw_send(fd, buf, 5); /* half a header */
        (void)close(fd);
        good_clients_work(*state);
}

/* ---- After the handshake ------------------------------------------------ */

static void test_unknown_type(void **state) {
        int fd = raw_ready(broker(state), "raw");

        raw_frame_send(fd, 0x7f, "abcd", 4);
        raw_expect_error_and_close(fd, EPROTO);
        fd = raw_connect(broker(state));
        raw_frame_send(fd, 0xee, NULL, 0);
        raw_expect_error_and_close(fd, EPROTO);
        fd = raw_ready(broker(state), "raw");
        /* A server-to-client type sent by a client is no better. */
        raw_frame_send(fd, PROTO_MESSAGE, NULL, 0);
        assert_true(raw_frame_read(fd, &(struct raw_frame){}) >= 0);
        raw_expect_closed(fd);
        (void)close(fd);
        good_clients_work(*state);
}

static void test_publish_unknown_pub_id(void **state) {
        uint8_t body[4 + 3];
        int fd = raw_ready(broker(state), "raw");

        le32_put(body, 42);
        memcpy(body + 4, "abc", 3);
        raw_frame_send(fd, PROTO_PUBLISH, body, sizeof(body));
        raw_expect_error_and_close(fd, EBADF);
        good_clients_work(*state);
}

static void test_malformed_bodies(void **state) {
        uint8_t body[8] = {};
        int fd = raw_ready(broker(state), "raw");

        raw_frame_send(fd, PROTO_OPEN_PUB, body, 5); /* name length 0 */
        raw_expect_error_and_close(fd, EBADMSG);
        fd = raw_ready(broker(state), "raw");
        raw_frame_send(fd, PROTO_CLOSE_PUB, body, 3); /* too short */
        raw_expect_error_and_close(fd, EBADMSG);
        fd = raw_ready(broker(state), "raw");
        raw_open(fd, PROTO_OPEN_PUB, 1, "a..b");
        raw_expect_error_and_close(fd, EINVAL);
        fd = raw_ready(broker(state), "raw");
        raw_open(fd, PROTO_SUBSCRIBE, 1, "a.>.b");
        raw_expect_error_and_close(fd, EINVAL);
        good_clients_work(*state);
}

/* Mistakes a correct client can make get a failed REPLY; the connection stays. */
static void test_nonfatal_replies(void **state) {
        uint8_t body[8];
        int fd = raw_ready(broker(state), "raw");

        le32_put(body, 5);
        le16_put(body + 4, 99);
        le16_put(body + 6, 0);
        raw_frame_send(fd, PROTO_REQUEST, body, sizeof(body));
        raw_expect_reply(fd, 5, -EOPNOTSUPP);
        le32_put(body, 6);
        le32_put(body + 4, 77);
        raw_frame_send(fd, PROTO_CLOSE_PUB, body, sizeof(body));
        raw_expect_reply(fd, 6, -ENOENT);
        le32_put(body, 8);
        raw_frame_send(fd, PROTO_UNSUBSCRIBE, body, sizeof(body));
        raw_expect_reply(fd, 8, -ENOENT);
        le32_put(body, 0); /* request id 0: no reply wanted */
        raw_frame_send(fd, PROTO_UNSUBSCRIBE, body, sizeof(body));
        for (uint32_t i = 0; i < 4; i++) {
                raw_open(fd, PROTO_SUBSCRIBE, 10 + i, "mis.sub");
                raw_expect_reply(fd, 10 + i, 0);
        }
        raw_open(fd, PROTO_SUBSCRIBE, 20, "mis.sub"); /* limits.max_subscriptions is 4 */
        raw_expect_reply(fd, 20, -EMFILE);
        raw_ping(fd, 30);
        (void)close(fd);
        good_clients_work(*state);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(test_garbage),
                T(test_bad_magic),
                T(test_wrong_version),
                T(test_first_frame_not_hello),
                T(test_malformed_hello),
                T(test_handshake_timeout),
                T(test_frame_timeout),
                T(test_huge_length),
                T(test_over_limit_length),
                T(test_over_channel_limit),
                T(test_truncated_then_close),
                T(test_unknown_type),
                T(test_publish_unknown_pub_id),
                T(test_malformed_bodies),
                T(test_nonfatal_replies),
        };

        return cmocka_run_group_tests_name("misbehave", tests, NULL, NULL);
}
