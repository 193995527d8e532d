/* SPDX-License-Identifier: MIT */
/*
 * Raw clients for misbehaviour tests (see raw-client.h), moved out of
 * test-misbehave.c so test-hostile.c drives the same crafted frames.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness-internal.h"
#include "proto.h"
#include "raw-client.h"
#include "util.h"

#define RAW_TIMEOUT_USEC (5 * HARNESS_USEC_PER_SEC)

int raw_connect(const struct harness_broker *b) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        const char *path = harness_broker_socket_path(b);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        assert_true(strlen(path) < sizeof(sa.sun_path));
        strcpy(sa.sun_path, path);
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        return fd;
}

void raw_send(int fd, const void *p, size_t n) {
        while (n > 0) {
                ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        assert_true(errno == EPIPE || errno == ECONNRESET);
                        return;
                }
                p = (const uint8_t *)p + k;
                n -= (size_t)k;
        }
}

size_t raw_header(uint8_t *buf, uint16_t magic, uint8_t type, uint8_t flags, uint32_t len) {
        le16_put(buf, magic);
        buf[2] = type;
        buf[3] = flags;
        le32_put(buf + 4, len);
        return PROTO_HEADER_BYTES;
}

void raw_frame_send(int fd, uint8_t type, const void *body, size_t len) {
        uint8_t buf[PROTO_HEADER_BYTES];

        raw_send(fd, buf, raw_header(buf, PROTO_MAGIC, type, 0, (uint32_t)len));
        if (len)
                raw_send(fd, body, len);
}

void raw_hello_send(int fd, uint16_t vmin, uint16_t vmax, const char *name) {
        uint8_t body[8 + PROTO_NAME_MAX];
        size_t len = strlen(name);

        assert_true(len <= PROTO_NAME_MAX);
        le16_put(body, vmin);
        le16_put(body + 2, vmax);
        le32_put(body + 4, 0);
        memcpy(body + 8, name, len);
        raw_frame_send(fd, PROTO_HELLO, body, 8 + len);
}

int raw_read(int fd, void *p, size_t n, uint64_t deadline) {
        while (n > 0) {
                struct pollfd pf = {.fd = fd, .events = POLLIN};
                ssize_t k;

                if (poll(&pf, 1, harness_ms_until(deadline)) == 0)
                        return -ETIMEDOUT;
                k = recv(fd, p, n, 0);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k == 0 || (k < 0 && errno == ECONNRESET))
                        return 0;
                assert_true(k > 0);
                p = (uint8_t *)p + k;
                n -= (size_t)k;
        }
        return 1;
}

int raw_frame_read(int fd, struct raw_frame *fr) {
        uint64_t deadline = harness_now_usec() + harness_timeout(RAW_TIMEOUT_USEC);
        uint8_t h[PROTO_HEADER_BYTES];
        int r = raw_read(fd, h, sizeof(h), deadline);

        if (r == -ETIMEDOUT)
                fail_msg("the broker neither answered nor closed the connection");
        if (r == 0)
                return 0;
        assert_int_equal(le16_get(h), PROTO_MAGIC);
        fr->type = h[2];
        fr->flags = h[3];
        fr->length = le32_get(h + 4);
        assert_true(fr->length <= RAW_FRAME_BODY_MAX);
        r = raw_read(fd, fr->body, fr->length, deadline);
        assert_int_equal(r, 1);
        fr->body[fr->length] = 0;
        return 1;
}

void raw_expect_closed(int fd) {
        struct raw_frame fr;

        if (raw_frame_read(fd, &fr) != 0)
                fail_msg("expected the connection closed, got frame type 0x%02x", fr.type);
}

uint32_t raw_read_error_and_close(int fd, struct raw_frame *fr, const char **ret_text) {
        if (raw_frame_read(fd, fr) != 1)
                fail_msg("connection closed without an ERROR frame");
        if (fr->type != PROTO_ERROR)
                fail_msg("expected an ERROR frame, got type 0x%02x", fr->type);
        assert_true(fr->length >= 4);
        raw_expect_closed(fd);
        (void)close(fd);
        *ret_text = (const char *)fr->body + 4;
        return le32_get(fr->body);
}

void raw_expect_error_and_close(int fd, uint32_t code) {
        struct raw_frame fr;
        const char *text;
        uint32_t got = raw_read_error_and_close(fd, &fr, &text);

        if (got != code)
                fail_msg("ERROR code %u (%s), expected %u", got, text, code);
}

void raw_expect_reply(int fd, uint32_t request_id, int32_t status) {
        struct raw_frame fr;

        assert_int_equal(raw_frame_read(fd, &fr), 1);
        assert_int_equal(fr.type, PROTO_REPLY);
        assert_true(fr.length >= 8);
        assert_int_equal(le32_get(fr.body), request_id);
        assert_int_equal((int32_t)le32_get(fr.body + 4), status);
}

int raw_ready(const struct harness_broker *b, const char *name) {
        struct raw_frame fr;
        int fd = raw_connect(b);

        raw_hello_send(fd, PROTO_VERSION_MIN, PROTO_VERSION_MAX, name);
        assert_int_equal(raw_frame_read(fd, &fr), 1);
        assert_int_equal(fr.type, PROTO_WELCOME);
        assert_int_equal(le16_get(fr.body), 1);
        return fd;
}

void raw_ping(int fd, uint32_t request_id) {
        uint8_t body[8];

        le32_put(body, request_id);
        le16_put(body + 4, PROTO_OP_PING);
        le16_put(body + 6, 0);
        raw_frame_send(fd, PROTO_REQUEST, body, sizeof(body));
        raw_expect_reply(fd, request_id, 0);
}

void raw_open(int fd, uint8_t type, uint32_t request_id, const char *name) {
        uint8_t body[5 + PROTO_NAME_MAX];
        size_t len = strlen(name);

        assert_true(len >= 1 && len <= PROTO_NAME_MAX);
        le32_put(body, request_id);
        body[4] = (uint8_t)len;
        memcpy(body + 5, name, len);
        raw_frame_send(fd, type, body, 5 + len);
}
