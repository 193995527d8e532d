/* SPDX-License-Identifier: MIT */
/*
 * The broker hands a channel's shared-memory ring to local clients
 * (OPEN_RING). Raw clients speak the protocol by hand and collect the
 * descriptors with recvmsg(MSG_CMSG_CLOEXEC), map the regions and use the
 * ring directly (ring.h): a publisher's 1000 messages reach a subscriber in
 * order; a TCP peer is refused; slots run out and come back when their
 * holder disconnects; a publisher that dies holding a claim does not block
 * readers, because the broker turns the claim into a SKIP record; a record
 * a publisher corrupts is reported to a library subscriber and counted in
 * the broker's stats.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "platform.h"
#include "proto.h"
#include "ring-internal.h"
#include "ring.h"
#include "util.h"

#define T_SEC   (5 * HARNESS_USEC_PER_SEC)
#define N_MSGS  1000u
#define N_SLOTS 32u
#define CHANNEL "ring.handout"

/* One raw connection and, after OPEN_RING, the ring it was given. */
struct raw {
        int fd;
        int fds[PROTO_RING_FDS_MAX];
        size_t n_fds;
        struct proto_ring_reply rr;
        void *data;
        void *state;
        struct ring r;
        struct ring_reader rd;
        uint64_t limit;
};

#define RAW_NULL                                                                                   \
        { .fd = -1 }

static void raw_send(int fd, const void *p, size_t n) {
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

/*
 * Reads one frame of @type into @body (malloc'd), passing over MESSAGE
 * frames before it, which must carry no descriptors. Return: the body length.
 */
static size_t raw_expect(struct raw *c, uint8_t type, uint8_t **body) {
        uint64_t deadline = harness_now_usec() + harness_timeout(T_SEC);
        uint8_t h[PROTO_HEADER_BYTES];
        struct proto_header hdr;

        for (;;) {
                raw_read(c, h, sizeof(h), deadline);
                assert_int_equal(proto_header_decode(h, &hdr), 0);
                *body = malloc(hdr.length + 1);
                assert_non_null(*body);
                raw_read(c, *body, hdr.length, deadline);
                if (hdr.type == type)
                        return hdr.length;
                assert_int_equal(hdr.type, PROTO_MESSAGE);
                assert_int_equal(c->n_fds, 0);
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

static void raw_connect_unix(struct harness_broker *b, struct raw *c) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};

        *c = (struct raw)RAW_NULL;
        c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(c->fd >= 0);
        strcpy(sa.sun_path, harness_broker_socket_path(b));
        assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        raw_hello(c);
}

static void raw_connect_tcp(int port, struct raw *c) {
        struct sockaddr_in sa = {
                .sin_family = AF_INET,
                .sin_port = htons((uint16_t)port),
                .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
        };

        *c = (struct raw)RAW_NULL;
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(c->fd >= 0);
        assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        raw_hello(c);
}

/* Unmaps, closes the descriptors and the connection. */
static void raw_close(struct raw *c) {
        plat_shm_unmap(c->data, c->rr.data_size);
        plat_shm_unmap(c->state, c->rr.state_size);
        for (size_t i = 0; i < c->n_fds; i++)
                (void)close(c->fds[i]);
        if (c->fd >= 0)
                (void)close(c->fd);
        *c = (struct raw)RAW_NULL;
}

/* Sends OPEN_RING. Return: the reply status; on success the ring is mapped and attached. */
static int raw_open_ring(struct raw *c, uint8_t role) {
        struct proto_open_ring m = {
                .request_id = 77, .role = role, .name = CHANNEL, .name_len = strlen(CHANNEL)};
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
        assert_int_equal(proto_decode_ring_reply(rep.body, rep.body_len, &c->rr), 0);
        assert_int_equal(c->rr.n_fds, c->n_fds);
        /* A publisher gets every sub slot's eventfd, the broker's own (the bridge) too. */
        assert_int_equal(c->n_fds,
                         role == PROTO_RING_SUBSCRIBER ? PROTO_RING_SUB_FDS : 3 + N_SLOTS);
        assert_int_equal(
                plat_shm_map(c->fds[0], c->rr.data_size, role == PROTO_RING_PUBLISHER, &c->data),
                0);
        assert_int_equal(plat_shm_map(c->fds[1], c->rr.state_size, true, &c->state), 0);
        assert_int_equal(ring_attach(&c->r, c->data, c->rr.data_size, c->state, c->rr.state_size),
                         0);
        if (role == PROTO_RING_SUBSCRIBER)
                assert_int_equal(ring_reader_init(&c->r, &c->rd, c->rr.slot), 0);
        return 0;
}

static void raw_open_sub(struct harness_broker *b, struct raw *c) {
        raw_connect_unix(b, c);
        assert_int_equal(raw_open_ring(c, PROTO_RING_SUBSCRIBER), 0);
}

/* Claims and commits one message carrying @index; signals sleepers. */
static void pub_one(struct raw *p, uint32_t index) {
        struct ring_claim cl;
        uint64_t m;

        assert_int_equal(ring_claim(&p->r, p->rr.slot, sizeof(index), 0, &p->limit, &cl), 0);
        memcpy(cl.payload, &index, sizeof(index));
        ring_commit(&p->r, &cl, plat_realtime_nsec());
        for (m = ring_take_sleepers(&p->r); m; m &= m - 1)
                assert_int_equal(plat_wake_signal(p->fds[2 + __builtin_ctzll(m)]), 0);
}

/* The next message, sleeping on the eventfd (with the handshake) while there is none. */
static uint32_t sub_next(struct raw *s, uint64_t *ret_seq, uint64_t timeout_usec) {
        uint64_t deadline = harness_now_usec() + harness_timeout(timeout_usec);
        struct ring_view v;
        uint32_t index;
        int r;

        while ((r = ring_read(&s->r, &s->rd, &v)) == -EAGAIN) {
                (void)ring_reader_publish(&s->r, &s->rd);
                if (!ring_reader_prepare_sleep(&s->r, &s->rd))
                        continue;
                r = plat_wake_wait(s->fds[2], deadline);
                ring_reader_end_sleep(&s->r, &s->rd);
                if (r == 0)
                        fail_msg("no message from the ring in time");
                assert_int_equal(r, 1);
        }
        assert_int_equal(r, 0);
        assert_int_equal(v.size, sizeof(index));
        assert_int_equal(v.lost, 0);
        memcpy(&index, v.payload, sizeof(index));
        *ret_seq = v.seq;
        assert_int_equal(ring_release(&s->r, &s->rd, &v), 0);
        return index;
}

static void *publisher_thread(void *arg) {
        for (uint32_t i = 0; i < N_MSGS; i++)
                pub_one(arg, i);
        return NULL;
}

/* ring_clients of CHANNEL in LIST_CHANNELS, asked over @c's connection. */
static int64_t ring_clients(struct raw *c) {
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
        n = harness_json_int(harness_json_channel(doc, CHANNEL), "ring_clients");
        json_decref(doc);
        return n;
}

/*
 * open(/proc/self/fd/@fd, O_RDWR) by a process of another user, as a
 * hostile client would try to turn a read-only descriptor into a writable
 * one. As root this forks a child that becomes "nobody" (dumpable again, so
 * that /proc/self is its own); otherwise the broker runs as our user and
 * the region's owner is as far as we get.
 * Return: 0 if the open succeeded, else its errno.
 */
static int reopen_rdwr_as_other_user(int fd) {
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

/*
 * A subscriber (DATA read-only) and a publisher (DATA read-write, every
 * eventfd) share the ring; 1000 messages arrive in order with consecutive
 * sequence numbers while the subscriber sleeps and is woken.
 */
static void test_roundtrip(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        struct raw s, p;
        pthread_t t;
        uint64_t seq, first_seq = 0;

        raw_open_sub(b, &s);
        assert_true(mmap(NULL, s.rr.data_size, PROT_READ | PROT_WRITE, MAP_SHARED, s.fds[0], 0) ==
                    MAP_FAILED);
        assert_int_equal(errno, EACCES);
        /* ...and cannot be opened again read-write through /proc either. */
        assert_int_equal(reopen_rdwr_as_other_user(s.fds[0]), EACCES);
        raw_connect_unix(b, &p);
        assert_int_equal(raw_open_ring(&p, PROTO_RING_PUBLISHER), 0);
        assert_int_equal(ring_clients(&p), 2);

        assert_int_equal(pthread_create(&t, NULL, publisher_thread, &p), 0);
        for (uint32_t i = 0; i < N_MSGS; i++) {
                assert_int_equal(sub_next(&s, &seq, T_SEC), i);
                if (i == 0)
                        first_seq = seq;
                assert_true(seq == first_seq + i);
        }
        assert_int_equal(pthread_join(t, NULL), 0);
        raw_close(&p);
        raw_close(&s);
}

/* Rings need a local peer: a TCP client gets -EOPNOTSUPP and no descriptors. */
static void test_tcp_refused(void **state) {
        int port = harness_free_tcp_port();
        char listen[64];
        const char *args[] = {"--listen", listen, NULL};
        struct raw c;

        assert_true(port > 0);
        (void)snprintf(listen, sizeof(listen), "tcp:127.0.0.1:%d", port);
        (void)harness_start(state, NULL, args);
        raw_connect_tcp(port, &c);
        assert_int_equal(raw_open_ring(&c, PROTO_RING_SUBSCRIBER), -EOPNOTSUPP);
        raw_close(&c);
}

/* 32 subscribers fill the slots: the 33rd gets -ENOSPC; an unknown role gets -EINVAL. */
static void test_slots_exhausted(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        struct raw subs[N_SLOTS], extra;

        for (size_t i = 0; i < N_SLOTS; i++)
                raw_open_sub(b, &subs[i]);
        raw_connect_unix(b, &extra);
        assert_int_equal(raw_open_ring(&extra, PROTO_RING_SUBSCRIBER), -ENOSPC);
        assert_int_equal(raw_open_ring(&extra, 2), -EINVAL);
        assert_int_equal(ring_clients(&extra), N_SLOTS);
        raw_close(&extra);
        for (size_t i = 0; i < N_SLOTS; i++)
                raw_close(&subs[i]);
}

/* A subscriber that disconnects frees its slot: a new one takes it. */
static void test_slot_freed(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        uint64_t deadline = harness_now_usec() + harness_timeout(T_SEC);
        struct raw subs[N_SLOTS], extra;
        uint32_t freed;
        int r;

        for (size_t i = 0; i < N_SLOTS; i++)
                raw_open_sub(b, &subs[i]);
        freed = subs[7].rr.slot;
        raw_close(&subs[7]);
        raw_connect_unix(b, &extra);
        /* The broker frees the slot when it sees the close: no event tells us, so retry. */
        while ((r = raw_open_ring(&extra, PROTO_RING_SUBSCRIBER)) == -ENOSPC &&
               harness_now_usec() < deadline)
                (void)usleep(10000);
        assert_int_equal(r, 0);
        assert_int_equal(extra.rr.slot, freed);
        raw_close(&extra);
        for (size_t i = 0; i < N_SLOTS; i++)
                if (i != 7)
                        raw_close(&subs[i]);
}

/*
 * A publisher killed between ring_claim() and ring_commit(): the broker
 * turns its claim into a SKIP within a second, and the subscriber, asleep
 * behind the hole, passes over it to the next committed message.
 */
static void test_dead_publisher(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        struct raw s, dead, live;
        struct ring_claim cl;
        uint64_t seq0, seq;
        uint64_t start;

        raw_open_sub(b, &s);
        raw_connect_unix(b, &dead);
        assert_int_equal(raw_open_ring(&dead, PROTO_RING_PUBLISHER), 0);
        raw_connect_unix(b, &live);
        assert_int_equal(raw_open_ring(&live, PROTO_RING_PUBLISHER), 0);

        pub_one(&dead, 1);
        assert_int_equal(sub_next(&s, &seq0, T_SEC), 1);
        assert_int_equal(ring_claim(&dead.r, dead.rr.slot, 4, 0, &dead.limit, &cl), 0);
        pub_one(&live, 3);
        start = harness_now_usec();
        raw_close(&dead);
        assert_int_equal(sub_next(&s, &seq, HARNESS_USEC_PER_SEC), 3);
        assert_true(harness_now_usec() - start < harness_timeout(HARNESS_USEC_PER_SEC));
        /* The dead claim consumed its sequence number: a SKIP is not a loss. */
        assert_true(seq == seq0 + 2);
        raw_close(&live);
        raw_close(&s);
}

/*
 * OPEN_RING while MESSAGE frames are still queued for the client: the
 * broker holds the reply back until its queue is empty, so the descriptors
 * arrive with the REPLY, after every MESSAGE, and none with a MESSAGE.
 */
static void test_reply_after_queue(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        struct proto_open o = {.request_id = 3, .name = CHANNEL, .name_len = strlen(CHANNEL)};
        static uint8_t payload[64 * 1024];
        _cleanup_free_ uint8_t *body = NULL;
        uint8_t buf[PROTO_HEAD_MAX];
        ipc_client *pc;
        ipc_pub *pub;
        struct raw s;

        raw_connect_unix(b, &s);
        raw_send(s.fd, buf, proto_encode_open(buf, PROTO_SUBSCRIBE, &o));
        (void)raw_expect(&s, PROTO_REPLY, &body);
        pc = harness_connect(harness_broker_address(b), "queue-pub");
        assert_int_equal(ipc_pub_new(pc, CHANNEL, harness_timeout(T_SEC), &pub), 0);
        for (size_t i = 0; i < 64; i++)
                assert_int_equal(
                        ipc_publish(pub, payload, sizeof(payload), 0, harness_timeout(T_SEC)), 0);
        /* Answered after the broker handled (and queued) every message above. */
        assert_int_equal(ipc_client_ping(pc, harness_timeout(T_SEC), NULL), 0);
        assert_int_equal(raw_open_ring(&s, PROTO_RING_SUBSCRIBER), 0);
        ipc_pub_free(pub);
        ipc_client_free(pc);
        raw_close(&s);
}

/* The message a library subscriber receives next, or its error (-EBADMSG). */
static int lib_next(ipc_client *c, uint32_t *ret_index, uint64_t *ret_lost) {
        const ipc_msg *m;
        int r;

        r = ipc_client_receive(c, harness_timeout(T_SEC), &m);
        if (r < 0)
                return r;
        assert_int_equal(ipc_msg_get_size(m), sizeof(*ret_index));
        memcpy(ret_index, ipc_msg_get_data(m, NULL), sizeof(*ret_index));
        *ret_lost = ipc_msg_get_lost(m);
        return 0;
}

/* "corrupt" of CHANNEL's "ring" in the broker's stats. */
static int64_t ring_corrupt(ipc_client *c) {
        _cleanup_free_ char *text = NULL;
        json_t *doc, *arr, *ch;
        int64_t n = -1;
        size_t i;

        assert_int_equal(ipc_client_stats(c, harness_timeout(T_SEC), &text), 0);
        doc = harness_json_parse(text);
        arr = json_object_get(doc, "channel_stats");
        json_array_foreach(arr, i, ch) {
                if (strcmp(json_string_value(json_object_get(ch, "name")), CHANNEL) == 0)
                        n = harness_json_int(json_object_get(ch, "ring"), "corrupt");
        }
        json_decref(doc);
        return n;
}

/*
 * A publisher scribbles over a committed record's length: the library
 * subscriber gets -EBADMSG once (no crash, no out-of-bounds read), resumes
 * at the next chunk with the skipped messages counted as lost, and the
 * broker's stats count the corrupt record.
 */
static void test_corrupt_record_reported(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        const uint32_t n = 8000; /* more than a chunk (256 KiB) of 48-byte records */
        uint32_t index, next = 0, got = 0, bad = 0;
        uint64_t lost, lost_total = 0;
        struct ring_claim cl;
        ipc_client *c;
        ipc_sub *sub;
        struct raw p;
        int r;

        unsetenv("IPC_TRANSPORT");
        c = harness_connect(harness_broker_client_address(b), "victim");
        assert_int_equal(ipc_sub_new(c, CHANNEL, harness_timeout(T_SEC), &sub), 0);
        assert_int_equal(ipc_sub_get_transport(sub), IPC_TRANSPORT_RING);
        raw_connect_unix(b, &p);
        assert_int_equal(raw_open_ring(&p, PROTO_RING_PUBLISHER), 0);

        pub_one(&p, 0);
        assert_int_equal(ring_claim(&p.r, p.rr.slot, sizeof(index), 0, &p.limit, &cl), 0);
        memcpy(cl.payload, &(uint32_t){1}, sizeof(uint32_t));
        ring_commit(&p.r, &cl, plat_realtime_nsec());
        ((struct ring_record *)(void *)(p.r.area + (cl.pos & p.r.mask)))->length = 12;
        for (uint32_t i = 2; i < n; i++)
                pub_one(&p, i);

        while (next < n) {
                r = lib_next(c, &index, &lost);
                if (r == -EBADMSG) {
                        bad++;
                        continue;
                }
                assert_int_equal(r, 0);
                assert_true(index >= next);
                lost_total += lost;
                next = index + 1;
                got++;
        }
        assert_int_equal(bad, 1);
        /* Message 1 and the rest of its chunk are gone, and said to be. */
        assert_int_equal(got + lost_total, n);
        assert_true(lost_total >= 1);
        assert_int_equal(ipc_client_receive(c, 0, &(const ipc_msg *){NULL}), -EAGAIN);
        assert_true(ring_corrupt(c) >= 1);
        ipc_sub_free(sub);
        ipc_client_free(c);
        raw_close(&p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_roundtrip, harness_teardown),
                cmocka_unit_test_teardown(test_tcp_refused, harness_teardown),
                cmocka_unit_test_teardown(test_slots_exhausted, harness_teardown),
                cmocka_unit_test_teardown(test_slot_freed, harness_teardown),
                cmocka_unit_test_teardown(test_dead_publisher, harness_teardown),
                cmocka_unit_test_teardown(test_reply_after_queue, harness_teardown),
                cmocka_unit_test_teardown(test_corrupt_record_reported, harness_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
