/* SPDX-License-Identifier: MIT */
/*
 * SCM_RIGHTS phase of the hostile-client test (see hostile.h): ordinary
 * frames with descriptors attached.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "hostile.h"
#include "proto.h"
#include "raw-client.h"
#include "util.h"

#define PASSED_FDS 200

/* Sends @len bytes as one message with @PASSED_FDS copies of @pass attached. */
static void send_with_fds(int fd, const void *data, size_t len, int pass) {
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(PASSED_FDS * sizeof(int))];
        } u = {};
        struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
        struct msghdr msg = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = u.buf,
                .msg_controllen = sizeof(u.buf),
        };
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        int *fds = (int *)CMSG_DATA(c);

        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(PASSED_FDS * sizeof(int));
        for (int i = 0; i < PASSED_FDS; i++)
                fds[i] = pass;
        assert_int_equal(sendmsg(fd, &msg, MSG_NOSIGNAL), (ssize_t)len);
}

/*
 * The answer to request @id on a connection that sent descriptors: the
 * protocol allows the broker to carry on (REPLY) or to drop the client
 * (ERROR, close). Return: true carried on; false dropped (fd closed).
 */
static bool reply_or_dropped(int fd, uint32_t id) {
        struct raw_frame fr;

        assert_int_equal(raw_frame_read(fd, &fr), 1);
        if (fr.type == PROTO_ERROR) {
                printf("# dropped for passing descriptors: %u %s\n", le32_get(fr.body),
                       (const char *)fr.body + 4);
                raw_expect_closed(fd);
                (void)close(fd);
                return false;
        }
        assert_int_equal(fr.type, PROTO_REPLY);
        assert_int_equal(le32_get(fr.body), id);
        assert_int_equal((int32_t)le32_get(fr.body + 4), 0);
        return true;
}

static size_t ping_frame(uint8_t *buf, uint32_t id) {
        raw_header(buf, PROTO_MAGIC, PROTO_REQUEST, 0, 8);
        le32_put(buf + 8, id);
        le16_put(buf + 12, PROTO_OP_PING);
        le16_put(buf + 14, 0);
        return PROTO_HEADER_BYTES + 8;
}

/* Descriptors on the HELLO itself, before the broker knows the client. */
static int fds_on_hello(struct hostile *f, int pass) {
        uint8_t hello[PROTO_HEADER_BYTES + 8 + 3];
        uint8_t ping[16];
        struct raw_frame fr;
        int fd = raw_connect(f->b);

        raw_header(hello, PROTO_MAGIC, PROTO_HELLO, 0, 8 + 3);
        le16_put(hello + 8, PROTO_VERSION_MIN);
        le16_put(hello + 10, PROTO_VERSION_MAX);
        le32_put(hello + 12, 0);
        memcpy(hello + 16, "fds", 3);
        send_with_fds(fd, hello, sizeof(hello), pass);
        assert_int_equal(raw_frame_read(fd, &fr), 1);
        if (fr.type == PROTO_ERROR) {
                raw_expect_closed(fd);
                (void)close(fd);
                return -1;
        }
        assert_int_equal(fr.type, PROTO_WELCOME);
        raw_send(fd, ping, ping_frame(ping, 1));
        return reply_or_dropped(fd, 1) ? fd : -1;
}

/* Descriptors on PING requests, one batch at a time (bounded in flight). */
static int fds_on_requests(struct hostile *f, int pass) {
        uint8_t ping[16];
        int fd = raw_ready(f->b, "fds");

        for (uint32_t i = 1; i <= 10; i++) {
                send_with_fds(fd, ping, ping_frame(ping, i), pass);
                if (!reply_or_dropped(fd, i))
                        return -1;
        }
        /* And on the first bytes of a frame whose rest comes without any. */
        send_with_fds(fd, ping, 3, pass);
        raw_send(fd, ping + 3, ping_frame(ping, 11) - 3);
        return reply_or_dropped(fd, 11) ? fd : -1;
}

/* Descriptors on PUBLISH frames, then a ping shows they were all handled. */
static int fds_on_publishes(struct hostile *f, int pass) {
        uint8_t frame[PROTO_HEADER_BYTES + 4 + 5];
        struct raw_frame fr;
        uint8_t ping[16];
        int fd = raw_ready(f->b, "fds");

        raw_open(fd, PROTO_OPEN_PUB, 1, "fds.chan");
        assert_int_equal(raw_frame_read(fd, &fr), 1);
        assert_int_equal(fr.type, PROTO_REPLY);
        assert_int_equal((int32_t)le32_get(fr.body + 4), 0);
        raw_header(frame, PROTO_MAGIC, PROTO_PUBLISH, 0, 4 + 5);
        le32_put(frame + PROTO_HEADER_BYTES, le32_get(fr.body + 8));
        memcpy(frame + PROTO_HEADER_BYTES + 4, "hello", 5);
        for (int i = 0; i < 10; i++)
                send_with_fds(fd, frame, sizeof(frame), pass);
        raw_send(fd, ping, ping_frame(ping, 2));
        return reply_or_dropped(fd, 2) ? fd : -1;
}

/* Waits until the read end of a pipe reports EOF: every copy of the write end is closed. */
static void expect_pipe_eof(int rd) {
        uint64_t deadline = harness_now_usec() + harness_timeout(T_SEC);
        struct pollfd p = {.fd = rd, .events = POLLIN};
        char c;

        if (poll(&p, 1, hostile_ms_until(deadline)) != 1)
                fail_msg("copies of a descriptor passed to the broker are still open");
        assert_int_equal(read(rd, &c, 1), 0);
}

/*
 * Ordinary frames with 200 descriptors attached (the write end of a pipe):
 * the broker takes no descriptors from clients, so it must not keep any.
 * Its /proc/PID/fd count returns to the baseline, and once every
 * connection that carried them is closed, the pipe reports EOF: no copy of
 * the write end survives anywhere in the broker.
 */
void test_unexpected_fds(void **state) {
        struct hostile *f = *state;
        unsigned before, during;
        uint64_t deadline;
        int p[2], fds[3];

        hostile_phase_begin(f, "SCM_RIGHTS");
        before = hostile_fd_count(f);
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        fds[0] = fds_on_hello(f, p[1]);
        fds[1] = fds_on_requests(f, p[1]);
        fds[2] = fds_on_publishes(f, p[1]);
        (void)close(p[1]);
        during = hostile_fd_count(f);
        printf("# broker descriptors: %u before, %u with the 3 connections that passed %d\n",
               before, during, (1 + 11 + 10) * PASSED_FDS);
        assert_true(during <= before + ARRAY_SIZE(fds));
        hostile_phase_during(f);
        for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
                if (fds[i] >= 0)
                        (void)close(fds[i]);
        expect_pipe_eof(p[0]);
        (void)close(p[0]);
        deadline = harness_now_usec() + harness_timeout(T_SEC);
        while (hostile_fd_count(f) > before) {
                if (harness_now_usec() > deadline)
                        fail_msg("broker holds %u descriptors, %u before", hostile_fd_count(f),
                                 before);
                hostile_pace(f);
        }
        hostile_phase_end(f);
}
