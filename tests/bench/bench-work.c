/* SPDX-License-Identifier: MIT */
/*
 * What the pinned worker processes of bench-socket and bench-client run
 * (see bench-work.h): senders and receivers over raw sockets or
 * libipcclient (socket or ring), both ends of a ping-pong, and a memcpy.
 * Each sets up, calls bench_worker_ready() so setup never counts, and
 * checks its deadline every CHECK_EVERY messages. The timeout of the
 * libipcclient calls is refreshed at those checks too, not per message: a
 * clock read costs ~25 ns here, a third of a ring message.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench-util.h"
#include "bench-work.h"
#include "ipcclient.h"

#define CHECK_EVERY 1024 /* messages between deadline checks */
#define OPEN_USEC   5000000

/* Names the failing side; a timeout of 0 after the deadline gives -EAGAIN: report the stall. */
static int fail(struct bench_worker *w, int r, const char *what) {
        (void)snprintf(w->res.what, sizeof(w->res.what), "%s", what);
        if (w->deadline_ns && bench_worker_late(w))
                return -ETIMEDOUT;
        return r < 0 ? r : -EIO;
}

/* ---- Raw baselines ---------------------------------------------------- */

static int write_all(int fd, const void *buf, size_t size) {
        for (size_t off = 0; off < size;) {
                ssize_t n = write(fd, (const char *)buf + off, size - off);

                if (n < 0 && errno != EINTR)
                        return -errno;
                off += n > 0 ? (size_t)n : 0;
        }
        return 0;
}

static int read_full(int fd, void *buf, size_t size) {
        for (size_t off = 0; off < size;) {
                ssize_t n = read(fd, (char *)buf + off, size - off);

                if (n == 0)
                        return -ECONNRESET;
                if (n < 0 && errno != EINTR)
                        return -errno;
                off += n > 0 ? (size_t)n : 0;
        }
        return 0;
}

/* One write() per message per receiver: what a naive fan-out costs. */
int work_raw_send(void *arg, struct bench_worker *w) {
        struct work *k = arg;
        char *buf = calloc(1, k->size);
        int r = buf ? bench_worker_ready(w) : -ENOMEM;

        w->res.t_first_ns = bench_now_ns();
        for (uint64_t i = 0; r >= 0 && i < k->n; i++) {
                for (unsigned j = 0; r >= 0 && j < k->n_fds; j++)
                        r = write_all(k->fds[j], buf, k->size);
                if (i % CHECK_EVERY == 0 && bench_worker_late(w))
                        r = -ETIMEDOUT;
        }
        w->res.count = k->n;
        free(buf);
        return r < 0 ? fail(w, r, "raw writer") : 0;
}

/* Reads in large chunks, so the receiving side costs few syscalls. */
int work_raw_recv(void *arg, struct bench_worker *w) {
        struct work *k = arg;
        uint64_t want = k->n * k->size, got = 0;
        char *buf = malloc(WORK_READ_BYTES);
        int r = buf ? bench_worker_ready(w) : -ENOMEM;

        while (r >= 0 && got < want) {
                ssize_t n = read(k->fds[0], buf, WORK_READ_BYTES);

                if (n <= 0 && !(n < 0 && errno == EINTR))
                        r = n == 0 ? -ECONNRESET : -errno;
                got += n > 0 ? (uint64_t)n : 0;
                if (bench_worker_late(w))
                        r = -ETIMEDOUT;
        }
        w->res.t_last_ns = bench_now_ns();
        w->res.count = got / k->size;
        free(buf);
        return r < 0 ? fail(w, r, "raw reader") : 0;
}

/* ---- Through the broker ----------------------------------------------- */

static bool on_ring(const struct work *k) {
        return k->path == PATH_IPC_RING;
}

int work_connect(const struct work *k, ipc_client **ret) {
        ipc_options *o = NULL;
        int r = ipc_options_new(&o);

        if (r >= 0)
                r = ipc_options_set_name(o, on_ring(k) ? "bench-ring" : "bench-socket");
        if (r >= 0)
                r = ipc_options_set_transport(o, on_ring(k) ? IPC_TRANSPORT_AUTO
                                                            : IPC_TRANSPORT_SOCKET);
        if (r >= 0 && k->spin_usec)
                r = ipc_options_set_spin(o, k->spin_usec);
        if (r >= 0)
                r = ipc_client_connect(k->address, o, ret);
        ipc_options_free(o);
        return r;
}

/* A refused ring falls back to the socket silently: a figure would then lie. */
static int check_transport(const struct work *k, int transport) {
        if (transport < 0)
                return transport;
        return transport == (on_ring(k) ? IPC_TRANSPORT_RING : IPC_TRANSPORT_SOCKET) ? 0 : -ENOTSUP;
}

static int open_pub(ipc_client *c, const struct work *k, const char *channel, ipc_pub **ret) {
        int r = ipc_pub_new(c, channel, OPEN_USEC, ret);

        return r < 0 ? r : check_transport(k, ipc_pub_get_transport(*ret));
}

static int open_sub(ipc_client *c, const struct work *k, const char *channel, ipc_sub **ret) {
        int r = ipc_sub_new(c, channel, OPEN_USEC, ret);

        return r < 0 ? r : check_transport(k, ipc_sub_get_transport(*ret));
}

uint64_t work_usec_left(const struct bench_worker *w) {
        uint64_t now = bench_now_ns();

        return now >= w->deadline_ns ? 0 : (w->deadline_ns - now) / BENCH_NS_PER_USEC;
}

/* Every CHECK_EVERY steps: the timeout for the calls until the next check; 0 when late. */
static uint64_t refresh_timeout(uint64_t i, uint64_t timeout, const struct bench_worker *w) {
        return i % CHECK_EVERY == 0 ? work_usec_left(w) : timeout;
}

/* Kernel counters over a loop, into res.aux[2..3]. */
static void usage_delta(const struct bench_usage *u0, bool writes, struct bench_worker *w) {
        struct bench_usage u;

        bench_usage_get(&u);
        w->res.aux[2] = writes ? u.write_calls - u0->write_calls : u.read_calls - u0->read_calls;
        if ((writes ? u0->write_calls : u0->read_calls) == UINT64_MAX)
                w->res.aux[2] = UINT64_MAX;
        w->res.aux[3] = u.sleeps - u0->sleeps;
}

static int ipc_send_loop(ipc_pub *pub, const struct work *k, char *buf, struct bench_worker *w) {
        uint64_t timeout = 0;
        int r = 0;

        w->res.t_first_ns = bench_now_ns();
        for (uint64_t i = 0; r >= 0 && i < k->n; i++) {
                timeout = refresh_timeout(i, timeout, w);
                memcpy(buf, &i, sizeof(i));
                r = timeout ? ipc_publish(pub, buf, k->size, k->flags, timeout) : -ETIMEDOUT;
        }
        w->res.t_last_ns = bench_now_ns();
        w->res.count = k->n;
        return r;
}

static const char *send_failure(int r) {
        return r == -ENOTSUP ? "publisher: not on the expected transport (ring refused?)"
                             : "publisher";
}

int work_ipc_send(void *arg, struct bench_worker *w) {
        struct work *k = arg;
        char *buf = k->size >= sizeof(uint64_t) ? calloc(1, k->size) : NULL;
        struct bench_usage u0;
        ipc_client *c = NULL;
        ipc_pub *pub = NULL;
        int r = buf ? work_connect(k, &c) : -ENOMEM;

        if (r >= 0)
                r = open_pub(c, k, k->channel, &pub);
        if (r >= 0)
                r = bench_worker_ready(w);
        bench_usage_get(&u0);
        if (r >= 0)
                r = ipc_send_loop(pub, k, buf, w);
        if (r >= 0)
                r = ipc_client_flush(c, work_usec_left(w));
        usage_delta(&u0, true, w);
        if (r >= 0 && k->after_send)
                r = k->after_send(c, k, w);
        ipc_pub_free(pub);
        ipc_client_free(c);
        free(buf);
        return r < 0 ? fail(w, r, send_failure(r)) : 0;
}

/* Checks each message: nothing lost, nothing reordered, nothing cut, the right payload. */
static int ipc_check(const ipc_msg *msg, const struct work *k, uint64_t index, char *buf,
                     uint64_t *seq) {
        uint64_t s = ipc_msg_get_sequence(msg), got;
        const void *data = ipc_msg_get_data(msg, NULL);

        if (ipc_msg_get_size(msg) != k->size || ipc_msg_get_lost(msg) != 0 ||
            (*seq && s != *seq + 1))
                return -EBADMSG;
        *seq = s;
        if (on_ring(k)) {
                memcpy(buf, data, k->size);
                data = buf;
                if (ipc_msg_release(msg) < 0)
                        return -EBADMSG;
        }
        memcpy(&got, data, sizeof(got));
        return got == index ? 0 : -EBADMSG;
}

static const char *recv_failure(int r) {
        return r == -EBADMSG   ? "subscriber: lost, overwritten or bad message"
               : r == -ENOTSUP ? "subscriber: not on the expected transport (ring refused?)"
                               : "subscriber";
}

int work_ipc_recv(void *arg, struct bench_worker *w) {
        struct work *k = arg;
        const ipc_msg *msg;
        char *buf = k->size >= sizeof(uint64_t) ? malloc(k->size) : NULL;
        struct bench_usage u0;
        ipc_client *c = NULL;
        ipc_sub *sub = NULL;
        uint64_t got = 0, seq = 0, timeout = 0;
        int r = buf ? work_connect(k, &c) : -ENOMEM;

        if (r >= 0)
                r = open_sub(c, k, k->channel, &sub);
        if (r >= 0)
                r = bench_worker_ready(w);
        bench_usage_get(&u0);
        while (r >= 0 && got < k->n) {
                timeout = refresh_timeout(got, timeout, w);
                r = timeout ? ipc_client_receive(c, timeout, &msg) : -ETIMEDOUT;
                if (r >= 0)
                        r = ipc_check(msg, k, got, buf, &seq);
                got += r >= 0;
        }
        w->res.t_last_ns = bench_now_ns();
        usage_delta(&u0, false, w);
        w->res.count = got;
        ipc_sub_free(sub);
        ipc_client_free(c);
        free(buf);
        return r < 0 ? fail(w, r, recv_failure(r)) : 0;
}

/* ---- Round trips ------------------------------------------------------ */

/* One side of a ping-pong: the fds (or the client) and how to send and wait. */
struct rtt_end {
        const struct work *k;
        ipc_client *c;
        ipc_pub *pub;
        ipc_sub *sub;
        struct bench_worker *w;
        uint64_t timeout; /* of the ipc calls, refreshed every CHECK_EVERY round trips */
        char buf[WORK_RTT_SIZE];
};

static int rtt_send(struct rtt_end *e) {
        uint64_t one = 1;

        switch (e->k->path) {
        case PATH_EVENTFD:
                return write(e->k->fds[0], &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
        case PATH_RAW_UNIX:
                return write_all(e->k->fds[0], e->buf, WORK_RTT_SIZE);
        default:
                return ipc_publish(e->pub, e->buf, WORK_RTT_SIZE, 0, e->timeout);
        }
}

static int rtt_wait(struct rtt_end *e) {
        const ipc_msg *msg;
        uint64_t v;
        int r;

        switch (e->k->path) {
        case PATH_EVENTFD:
                return read(e->k->fds[1], &v, sizeof(v)) == sizeof(v) ? 0 : -errno;
        case PATH_RAW_UNIX:
                return read_full(e->k->fds[0], e->buf, WORK_RTT_SIZE);
        default:
                r = ipc_client_receive(e->c, e->timeout, &msg);
                if (r < 0)
                        return r;
                if (ipc_msg_get_size(msg) != WORK_RTT_SIZE)
                        return -EBADMSG;
                /* Copied: the view dies with the next call on the client. */
                memcpy(e->buf, ipc_msg_get_data(msg, NULL), WORK_RTT_SIZE);
                return on_ring(e->k) ? ipc_msg_release(msg) : 0;
        }
}

/* ipc paths: subscribe to what we wait for, open what we send on. */
static int rtt_setup(struct rtt_end *e, const char *send_on, const char *wait_on) {
        int r;

        if (e->k->path != PATH_IPC_UNIX && !on_ring(e->k))
                return 0;
        r = work_connect(e->k, &e->c);
        if (r >= 0)
                r = open_sub(e->c, e->k, wait_on, &e->sub);
        if (r >= 0)
                r = open_pub(e->c, e->k, send_on, &e->pub);
        return r;
}

static void rtt_teardown(struct rtt_end *e) {
        ipc_pub_free(e->pub);
        ipc_sub_free(e->sub);
        ipc_client_free(e->c);
}

int work_rtt_ping(void *arg, struct bench_worker *w) {
        struct work *k = arg;
        struct rtt_end e = {.k = k, .w = w};
        uint64_t *ns = malloc(k->n * sizeof(*ns)), i;
        int r = ns ? rtt_setup(&e, k->channel, k->channel2) : -ENOMEM;

        if (r >= 0)
                r = bench_worker_ready(w);
        for (i = 0; r >= 0 && i < WORK_RTT_WARMUP + k->n; i++) {
                uint64_t t0;

                e.timeout = refresh_timeout(i, e.timeout, w);
                t0 = bench_now_ns();
                r = e.timeout ? rtt_send(&e) : -ETIMEDOUT;
                if (r >= 0)
                        r = rtt_wait(&e);
                if (i >= WORK_RTT_WARMUP)
                        ns[i - WORK_RTT_WARMUP] = bench_now_ns() - t0;
        }
        w->res.count = r >= 0 ? k->n : 0;
        w->res.p50_us = bench_percentile_us(ns, w->res.count, 50);
        w->res.p99_us = bench_percentile_us(ns, w->res.count, 99);
        rtt_teardown(&e);
        free(ns);
        return r < 0 ? fail(w, r, "pinger") : 0;
}

int work_rtt_pong(void *arg, struct bench_worker *w) {
        struct work *k = arg;
        struct rtt_end e = {.k = k, .w = w};
        int r = rtt_setup(&e, k->channel2, k->channel);

        if (r >= 0)
                r = bench_worker_ready(w);
        for (uint64_t i = 0; r >= 0 && i < WORK_RTT_WARMUP + k->n; i++) {
                e.timeout = refresh_timeout(i, e.timeout, w);
                r = e.timeout ? rtt_wait(&e) : -ETIMEDOUT;
                if (r >= 0)
                        r = rtt_send(&e);
        }
        rtt_teardown(&e);
        return r < 0 ? fail(w, r, "ponger") : 0;
}

/* ---- Memory bandwidth ------------------------------------------------- */

int work_memcpy(void *arg, struct bench_worker *w) {
        struct work *k = arg;
        char *src = malloc(k->size), *dst = malloc(k->capacity);
        uint64_t mask = k->capacity - 1, off = 0;
        int r = src && dst ? 0 : -ENOMEM;

        if (r >= 0) {
                memset(src, 1, k->size);
                memset(dst, 0, k->capacity);
                r = bench_worker_ready(w);
        }
        w->res.t_first_ns = bench_now_ns();
        for (uint64_t i = 0; r >= 0 && i < k->n; i++) {
                memcpy(dst + off, src, k->size);
                __asm__ __volatile__("" ::: "memory"); /* keep every copy */
                off = (off + k->size) & mask;
                if (i % CHECK_EVERY == 0 && bench_worker_late(w))
                        r = -ETIMEDOUT;
        }
        w->res.t_last_ns = bench_now_ns();
        w->res.count = k->n;
        free(src);
        free(dst);
        return r < 0 ? fail(w, r, "memcpy") : 0;
}
