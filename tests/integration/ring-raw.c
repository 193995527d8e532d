/* SPDX-License-Identifier: MIT */
/* Raw ring clients for the integration tests: see ring-raw.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "platform.h"
#include "ring-raw.h"
#include "util.h"

void raw_send(int fd, const void *p, size_t n) {
        while (n > 0) {
                ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

                if (k < 0 && errno == EINTR)
                        continue;
                assert_true(k > 0);
                p = (const uint8_t *)p + k;
                n -= (size_t)k;
        }
}

/* Reads exactly @n bytes, keeping every descriptor that comes with them. */
static void raw_read(struct raw *c, void *p, size_t n, uint64_t deadline) {
        while (n > 0) {
                union {
                        struct cmsghdr h;
                        char buf[CMSG_SPACE(sizeof(int) * PROTO_RING_FDS_MAX)];
                } u;
                struct iovec iov = {.iov_base = p, .iov_len = n};
                struct msghdr msg = {
                        .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = u.buf,
                        .msg_controllen = sizeof(u.buf),
                };
                struct pollfd pf = {.fd = c->fd, .events = POLLIN};
                ssize_t k;

                if (poll(&pf, 1, (int)((deadline - MIN(deadline, harness_now_usec())) / 1000)) == 0)
                        fail_msg("no answer from the broker");
                k = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC);
                assert_true(k > 0);
                assert_false(msg.msg_flags & MSG_CTRUNC);
                for (struct cmsghdr *h = CMSG_FIRSTHDR(&msg); h; h = CMSG_NXTHDR(&msg, h)) {
                        size_t m = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);

                        assert_int_equal(h->cmsg_type, SCM_RIGHTS);
                        assert_true(c->n_fds + m <= PROTO_RING_FDS_MAX);
                        memcpy(c->fds + c->n_fds, CMSG_DATA(h), m * sizeof(int));
                        c->n_fds += m;
                }
                p = (uint8_t *)p + k;
                n -= (size_t)k;
        }
}

size_t raw_expect(struct raw *c, uint8_t type, uint8_t **body) {
        uint64_t deadline = harness_now_usec() + harness_timeout(5 * HARNESS_USEC_PER_SEC);
        uint8_t h[PROTO_HEADER_BYTES];
        struct proto_header hdr;

        for (;;) {
                size_t before = c->n_fds;

                raw_read(c, h, sizeof(h), deadline);
                assert_int_equal(proto_header_decode(h, &hdr), 0);
                *body = malloc(hdr.length + 1);
                assert_non_null(*body);
                raw_read(c, *body, hdr.length, deadline);
                if (hdr.type == type)
                        return hdr.length;
                assert_int_equal(hdr.type, PROTO_MESSAGE);
                assert_int_equal(c->n_fds, before);
                free(*body);
        }
}

static void raw_hello(struct raw *c) {
        struct proto_hello h = {
                .version_min = 1, .version_max = 1, .name = "raw-ring", .name_len = 8};
        uint8_t buf[PROTO_HEAD_MAX];
        _cleanup_free_ uint8_t *body = NULL;

        raw_send(c->fd, buf, proto_encode_hello(buf, &h));
        raw_send(c->fd, h.name, h.name_len);
        (void)raw_expect(c, PROTO_WELCOME, &body);
}

static void raw_init(struct raw *c) {
        *c = (struct raw)RAW_NULL;
        for (size_t i = 0; i < RING_SUB_SLOTS_MAX; i++)
                c->sub_wake[i] = -1;
}

void raw_connect_path(const char *path, struct raw *c) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};

        raw_init(c);
        assert_true(strlen(path) < sizeof(sa.sun_path));
        c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(c->fd >= 0);
        strcpy(sa.sun_path, path);
        assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        raw_hello(c);
}

void raw_connect_unix(struct harness_broker *b, struct raw *c) {
        raw_connect_path(harness_broker_socket_path(b), c);
}

void raw_connect_tcp(int port, struct raw *c) {
        struct sockaddr_in sa = {
                .sin_family = AF_INET,
                .sin_port = htons((uint16_t)port),
                .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
        };

        raw_init(c);
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(c->fd >= 0);
        assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        raw_hello(c);
}

void raw_close(struct raw *c) {
        plat_shm_unmap(c->data, c->rr.data_size);
        plat_shm_unmap(c->state, c->rr.state_size);
        for (size_t i = 0; i < RING_SUB_SLOTS_MAX; i++)
                plat_shm_unmap(c->r.pages[i], RING_SUB_PAGE_BYTES);
        for (size_t i = 0; i < c->n_fds; i++)
                (void)close(c->fds[i]);
        if (c->fd >= 0)
                (void)close(c->fd);
        raw_init(c);
}

static void *raw_map(int fd, size_t size, bool writable) {
        void *p = NULL;

        assert_int_equal(plat_shm_map(fd, size, writable, &p), 0);
        return p;
}

/* A publisher's pages (read-only) and wake eventfds, as the entries say. */
static void raw_pub_pages(struct raw *c) {
        assert_int_equal(c->n_fds, PROTO_RING_PUB_FDS + 2 * c->rr.n_pages);
        for (size_t i = 0; i < c->rr.n_pages; i++) {
                const int *pair = c->fds + PROTO_RING_PUB_FDS + 2 * i;
                struct proto_ring_page *e = &c->pages[i];

                proto_decode_ring_page(c->rr.pages, i, e);
                assert_true(e->slot < c->r.sub_slots);
                assert_int_equal(ring_page_set(&c->r, e->slot, e->generation,
                                               raw_map(pair[1], RING_SUB_PAGE_BYTES, false)),
                                 0);
                c->sub_wake[e->slot] = pair[0];
        }
}

int raw_open_ring(struct raw *c, const char *channel, uint8_t role) {
        return raw_open_ring_resume(c, channel, role, NULL, 0);
}

int raw_open_ring_resume(struct raw *c, const char *channel, uint8_t role,
                         const uint64_t *resume_seq, uint64_t resume_epoch) {
        struct proto_open_ring m = {.request_id = 77,
                                    .role = role,
                                    .name = channel,
                                    .name_len = strlen(channel),
                                    .resume = resume_seq != NULL,
                                    .resume_seq = resume_seq ? *resume_seq : 0,
                                    .resume_epoch = resume_epoch};
        bool sub = role == PROTO_RING_SUBSCRIBER;
        uint8_t buf[PROTO_HEAD_MAX];
        _cleanup_free_ uint8_t *body = NULL;
        struct proto_reply rep;
        size_t len;

        raw_send(c->fd, buf, proto_encode_open_ring(buf, &m));
        len = raw_expect(c, PROTO_REPLY, &body);
        assert_int_equal(proto_decode_reply(body, len, &rep), 0);
        assert_int_equal(rep.request_id, 77);
        if (rep.status < 0) {
                assert_int_equal(c->n_fds, 0);
                return rep.status;
        }
        c->role = role;
        assert_int_equal(proto_decode_ring_reply(rep.body, rep.body_len, role, &c->rr), 0);
        assert_int_equal(c->rr.n_fds, c->n_fds);
        c->data = raw_map(c->fds[0], c->rr.data_size, !sub);
        c->state = raw_map(c->fds[1], c->rr.state_size, !sub);
        assert_int_equal(ring_attach(&c->r, c->data, c->rr.data_size, c->state, c->rr.state_size),
                         0);
        if (!sub) {
                raw_pub_pages(c);
                c->rr.pages = NULL; /* points into body, freed here */
                return 0;
        }
        assert_int_equal(c->n_fds, PROTO_RING_SUB_FDS);
        c->rr.retained = NULL;
        assert_int_equal(ring_page_set(&c->r, c->rr.slot, c->rr.generation,
                                       raw_map(c->fds[RAW_SUB_PAGE], RING_SUB_PAGE_BYTES, true)),
                         0);
        assert_int_equal(ring_reader_init(&c->r, &c->rd, c->rr.slot), 0);
        return 0;
}

void raw_pub(struct raw *p, const void *data, size_t size) {
        struct ring_claim cl;
        uint64_t m;

        if (ring_claim(&p->r, p->rr.slot, size, 0, &p->limit, &cl) < 0)
                fail_msg("ring_claim failed");
        memcpy(cl.payload, data, size);
        ring_commit(&p->r, &cl, plat_realtime_nsec());
        for (m = ring_take_sleepers(&p->r); m; m &= m - 1) {
                int fd = p->sub_wake[__builtin_ctzll(m)];

                if (fd >= 0)
                        (void)plat_wake_signal(fd);
        }
        /* Subscribers that came after us: the broker wakes them for us. */
        if (ring_pages_missing(&p->r))
                (void)plat_wake_signal(p->fds[RAW_PUB_RELAY]);
}

size_t raw_sub_next(struct raw *s, void *buf, size_t cap, uint64_t *ret_seq,
                    uint64_t timeout_usec) {
        uint64_t deadline = harness_now_usec() + harness_timeout(timeout_usec);
        struct ring_view v;
        size_t size;
        int r;

        while ((r = ring_read(&s->r, &s->rd, &v)) == -EAGAIN) {
                if (ring_reader_publish(&s->r, &s->rd))
                        (void)plat_futex_wake_all(ring_reader_space_word(&s->r, &s->rd));
                if (!ring_reader_prepare_sleep(&s->r, &s->rd))
                        continue;
                r = plat_wake_wait(s->fds[RAW_SUB_WAKE], deadline);
                ring_reader_end_sleep(&s->r, &s->rd);
                if (r == 0)
                        fail_msg("no message from the ring in time");
                assert_int_equal(r, 1);
        }
        assert_int_equal(r, 0);
        assert_true(v.size <= cap);
        size = v.size;
        memcpy(buf, v.payload, size);
        if (ret_seq)
                *ret_seq = v.seq;
        assert_int_equal(ring_release(&s->r, &s->rd, &v), 0);
        return size;
}

int raw_reopen_rdwr_as_other_user(int fd) {
        char path[64];
        int status, r;
        pid_t pid;

        (void)snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        if (geteuid() != 0) {
                r = open(path, O_RDWR | O_CLOEXEC);
                if (r >= 0)
                        (void)close(r);
                return r >= 0 ? 0 : errno;
        }
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0 ||
                    prctl(PR_SET_DUMPABLE, 1) < 0)
                        _exit(255);
                r = open(path, O_RDWR | O_CLOEXEC);
                _exit(r >= 0 ? 0 : errno & 0x7f);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 255);
        return WEXITSTATUS(status);
}

int64_t raw_ring_clients(struct raw *c, const char *channel) {
        struct proto_request q = {.request_id = 5, .op = PROTO_OP_LIST_CHANNELS};
        uint8_t buf[PROTO_HEAD_MAX];
        _cleanup_free_ uint8_t *body = NULL;
        struct proto_reply rep;
        json_t *doc;
        int64_t n;
        size_t len;

        raw_send(c->fd, buf, proto_encode_request(buf, &q));
        len = raw_expect(c, PROTO_REPLY, &body);
        assert_int_equal(proto_decode_reply(body, len, &rep), 0);
        assert_int_equal(rep.status, 0);
        body[len] = '\0';
        doc = harness_json_parse((const char *)rep.body);
        n = harness_json_int(harness_json_channel(doc, channel), "ring_clients");
        json_decref(doc);
        return n;
}
