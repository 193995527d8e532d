/* SPDX-License-Identifier: MIT */
/*
 * What the pinned worker processes of bench-ring run (see
 * bench-ring-work.h). The loops are the ones the client library is meant to
 * run: per message claim, copy, commit (publisher) and read, copy out,
 * release (subscriber); per batch of RING_WORK_BATCH the publisher checks
 * for sleepers and the subscriber publishes its cursor. Every blocking call
 * is bounded by the run's deadline, so a lost wake-up shows as a stall.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench-ring-work.h"
#include "platform.h"
#include "ring.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define CHECK_EVERY 1024 /* messages between deadline checks; a multiple of the batch */

/* One attached ring, as a publisher or a subscriber sees it. */
struct end {
        struct ring r;
        struct ring_reader rd;
        void *data, *state;
        size_t data_size, state_size;
        const int *efd;         /* publisher: the subscribers' eventfds */
        int my_efd;             /* subscriber: its own */
        uint64_t limit;         /* publisher: cached block-policy limit */
        uint64_t spin_ns;       /* subscriber: poll before sleeping */
        uint64_t deadline_usec; /* CLOCK_MONOTONIC, like the worker's deadline */
        uint64_t count[2];      /* reported as res.aux */
};

static int fail(struct bench_worker *w, int r, const char *what) {
        (void)snprintf(w->res.what, sizeof(w->res.what), "%s: %s", what,
                       r == -ETIMEDOUT ? "stalled: round over 10 s" : strerror(-r));
        return r < 0 ? r : -EIO;
}

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
}

/* Maps and attaches; faults the pages in now so that no run pays for it. */
static int end_attach(struct end *e, const struct ring_fds *f, bool publisher) {
        int r;

        e->data_size = f->data_size;
        e->state_size = f->state_size;
        r = plat_shm_map(publisher ? f->data : f->data_ro, f->data_size, publisher, &e->data);
        if (r >= 0)
                r = plat_shm_map(publisher ? f->state : f->state_ro, f->state_size, publisher,
                                 &e->state);
        if (r < 0)
                return r;
        (void)madvise(e->data, e->data_size, publisher ? MADV_POPULATE_WRITE : MADV_POPULATE_READ);
        e->efd = f->efd;
        return ring_attach(&e->r, e->data, e->data_size, e->state, e->state_size);
}

/* Sub slot @slot's page (generation 1, as ring_make() set it), read-write for its subscriber. */
static int end_page(struct end *e, const struct ring_fds *f, unsigned slot, bool writable) {
        void *page;
        int r = plat_shm_map(f->page[slot], RING_SUB_PAGE_BYTES, writable, &page);

        return r < 0 ? r : ring_page_set(&e->r, slot, 1, page);
}

static int end_pub(struct end *e, const struct ring_fds *f) {
        int r = end_attach(e, f, true);

        for (unsigned s = 0; r >= 0 && s < f->n_subs; s++)
                r = end_page(e, f, s, false);
        return r;
}

static int end_sub(struct end *e, const struct ring_fds *f, unsigned slot, uint64_t spin_ns) {
        int r;

        /* A subscriber holds only the read-only fds and its page, as the broker hands out. */
        (void)close(f->data);
        (void)close(f->state);
        r = end_attach(e, f, false);
        if (r >= 0)
                r = end_page(e, f, slot, true);
        if (r >= 0)
                r = ring_reader_init(&e->r, &e->rd, slot);
        e->my_efd = f->efd[slot];
        e->spin_ns = spin_ns;
        return r;
}

static void end_detach(struct end *e) {
        plat_shm_unmap(e->data, e->data_size);
        plat_shm_unmap(e->state, e->state_size);
        for (unsigned s = 0; s < RING_WORK_SUBS_MAX; s++)
                plat_shm_unmap(e->r.pages[s], RING_SUB_PAGE_BYTES);
}

/* Both sides' deadlines from the worker's, once it was released. */
static void ends_go(struct bench_worker *w, struct end *a, struct end *b) {
        a->deadline_usec = w->deadline_ns / BENCH_NS_PER_USEC;
        if (b)
                b->deadline_usec = a->deadline_usec;
}

/* ---- Publisher side ---------------------------------------------------- */

/* After a batch: signal whoever went to sleep. */
static int pub_wake(struct end *e) {
        uint64_t m = ring_take_sleepers(&e->r);

        while (m) {
                int r = plat_wake_signal(e->efd[__builtin_ctzll(m)]);

                if (r < 0)
                        return r;
                e->count[0]++;
                m &= m - 1;
        }
        return 0;
}

/*
 * Ring full: wake the readers first (they free the space), then the futex
 * handshake on the word of the subscriber holding us back.
 */
static int pub_wait_space(struct end *e, size_t size) {
        struct ring_space_wait sw;
        int r = pub_wake(e);

        if (r < 0)
                return r;
        if (plat_now_usec() > e->deadline_usec)
                return -ETIMEDOUT;
        ring_space_prepare(&e->r);
        if (!ring_space_available(&e->r, size, &e->limit, &sw) && sw.word) {
                r = plat_futex_wait((uint32_t *)(void *)sw.word, sw.value, e->deadline_usec);
                e->count[1]++;
        }
        ring_space_done(&e->r);
        return r;
}

static int pub_one(struct end *e, const char *src, size_t size, uint64_t index, uint64_t ts) {
        struct ring_claim c;
        int r;

        while ((r = ring_claim(&e->r, 0, size, 0, &e->limit, &c)) == -EAGAIN) {
                r = pub_wait_space(e, size);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        memcpy(c.payload, &index, sizeof(index));
        memcpy((char *)c.payload + sizeof(index), src + sizeof(index), size - sizeof(index));
        ring_commit(&e->r, &c, ts);
        return 0;
}

/* ---- Subscriber side --------------------------------------------------- */

/* Stores the cursor; wakes publishers blocked for space when there are any. */
static int sub_publish(struct end *e) {
        int r;

        if (e->rd.pos == e->rd.published || !ring_reader_publish(&e->r, &e->rd))
                return 0;
        r = plat_futex_wake_all(ring_reader_space_word(&e->r, &e->rd));
        e->count[1]++;
        return r < 0 ? r : 0;
}

/* Nothing to read: publish the cursor, announce, re-check, block on the eventfd. */
static int sub_sleep(struct end *e) {
        int r = sub_publish(e);

        if (r < 0 || !ring_reader_prepare_sleep(&e->r, &e->rd))
                return r;
        /* plat_wake_wait() drains the eventfd itself once it is readable. */
        r = plat_wake_wait(e->my_efd, e->deadline_usec);
        ring_reader_end_sleep(&e->r, &e->rd);
        e->count[0]++;
        return r == 0 ? -ETIMEDOUT : r < 0 ? r : 0;
}

/* The next record: polls up to spin_ns (when set), then sleeps until one arrives. */
static int sub_next(struct end *e, struct ring_view *v) {
        uint64_t spin_end = 0;

        for (;;) {
                int r = ring_read(&e->r, &e->rd, v);

                if (r != -EAGAIN)
                        return r;
                if (e->spin_ns && !spin_end) {
                        r = sub_publish(e);
                        spin_end = bench_now_ns() + e->spin_ns;
                } else if (e->spin_ns && bench_now_ns() < spin_end) {
                        cpu_relax();
                        continue;
                } else {
                        r = sub_sleep(e);
                        spin_end = 0;
                }
                if (r < 0)
                        return r;
        }
}

/* Copies the record out (as a receiver would) and checks it is message @index. */
static int sub_take(struct end *e, char *buf, size_t size, uint64_t index, uint64_t first_seq) {
        struct ring_view v;
        uint64_t got;
        int r = sub_next(e, &v);

        if (r < 0)
                return r;
        if (v.size != size || v.lost || v.seq != first_seq + index)
                return -EBADMSG;
        memcpy(buf, v.payload, size);
        memcpy(&got, buf, sizeof(got));
        if (got != index)
                return -EBADMSG;
        return ring_release(&e->r, &e->rd, &v);
}

/* ---- Workers ----------------------------------------------------------- */

int ring_work_pub(void *arg, struct bench_worker *w) {
        struct ring_work *k = arg;
        struct end e = {};
        char *src = calloc(1, k->size);
        uint64_t ts = 0, i;
        int r = src ? end_pub(&e, &k->tx) : -ENOMEM;

        if (r >= 0)
                r = bench_worker_ready(w);
        ends_go(w, &e, NULL);
        w->res.t_first_ns = bench_now_ns();
        for (i = 0; r >= 0 && i < k->n; i++) {
                /* One timestamp per batch: a clock read per message would cost ~15%. */
                if (i % RING_WORK_BATCH == 0) {
                        r = i ? pub_wake(&e) : 0;
                        ts = plat_realtime_nsec();
                }
                if (r >= 0)
                        r = pub_one(&e, src, k->size, i, ts);
                if (i % CHECK_EVERY == 0 && bench_worker_late(w))
                        r = -ETIMEDOUT;
        }
        if (r >= 0)
                r = pub_wake(&e);
        w->res.count = r >= 0 ? k->n : i;
        memcpy(w->res.aux, e.count, sizeof(e.count));
        end_detach(&e);
        free(src);
        return r < 0 ? fail(w, r, "ring publisher") : 0;
}

int ring_work_sub(void *arg, struct bench_worker *w) {
        struct ring_work *k = arg;
        struct end e = {};
        char *buf = malloc(k->size);
        uint64_t got = 0, first_seq = 0;
        int r = buf ? end_sub(&e, &k->rx, k->slot, k->spin_ns) : -ENOMEM;

        first_seq = e.rd.next_seq;
        if (r >= 0)
                r = bench_worker_ready(w);
        ends_go(w, &e, NULL);
        while (r >= 0 && got < k->n) {
                r = sub_take(&e, buf, k->size, got, first_seq);
                got += r >= 0;
                if (got % RING_WORK_BATCH == 0 && r >= 0)
                        r = sub_publish(&e);
                if (got % CHECK_EVERY == 0 && bench_worker_late(w))
                        r = -ETIMEDOUT;
        }
        if (r >= 0)
                r = sub_publish(&e);
        w->res.t_last_ns = bench_now_ns();
        w->res.count = got;
        memcpy(w->res.aux, e.count, sizeof(e.count));
        end_detach(&e);
        free(buf);
        return r < 0 ? fail(w, r,
                            r == -EBADMSG ? "ring subscriber: lost or bad message"
                                          : "ring subscriber")
                     : 0;
}

/* One side of the ping-pong: send on tx, then wait on rx, or the other way round. */
static int rtt_step(struct end *tx, struct end *rx, char *buf, uint64_t index, uint64_t first_seq,
                    bool send_first) {
        int r = 0;

        if (!send_first) {
                r = sub_take(rx, buf, 64, index, first_seq);
                if (r >= 0)
                        r = sub_publish(rx);
        }
        if (r >= 0)
                r = pub_one(tx, buf, 64, index, plat_realtime_nsec());
        if (r >= 0)
                r = pub_wake(tx);
        if (r >= 0 && send_first) {
                r = sub_take(rx, buf, 64, index, first_seq);
                if (r >= 0)
                        r = sub_publish(rx);
        }
        return r;
}

static int rtt_run(struct ring_work *k, struct bench_worker *w, uint64_t *ns, bool pinger) {
        struct end tx = {}, rx = {};
        char buf[64] = {};
        uint64_t first_seq, i;
        int r = end_pub(&tx, &k->tx);

        if (r >= 0)
                r = end_sub(&rx, &k->rx, 0, k->spin_ns);
        first_seq = rx.rd.next_seq;
        if (r >= 0)
                r = bench_worker_ready(w);
        ends_go(w, &tx, &rx);
        for (i = 0; r >= 0 && i < k->warmup + k->n; i++) {
                uint64_t t0 = bench_now_ns();

                r = rtt_step(&tx, &rx, buf, i, first_seq, pinger);
                if (ns && i >= k->warmup)
                        ns[i - k->warmup] = bench_now_ns() - t0;
                if (i % CHECK_EVERY == 0 && bench_worker_late(w))
                        r = -ETIMEDOUT;
        }
        w->res.count = r >= 0 ? k->n : 0;
        w->res.aux[0] = tx.count[0];
        w->res.aux[1] = rx.count[0];
        end_detach(&tx);
        end_detach(&rx);
        return r;
}

int ring_work_ping(void *arg, struct bench_worker *w) {
        struct ring_work *k = arg;
        uint64_t *ns = malloc(k->n * sizeof(*ns));
        int r = ns ? rtt_run(k, w, ns, true) : -ENOMEM;

        w->res.p50_us = bench_percentile_us(ns, w->res.count, 50);
        w->res.p99_us = bench_percentile_us(ns, w->res.count, 99);
        free(ns);
        return r < 0 ? fail(w, r, "ring pinger") : 0;
}

int ring_work_pong(void *arg, struct bench_worker *w) {
        int r = rtt_run(arg, w, NULL, false);

        return r < 0 ? fail(w, r, "ring ponger") : 0;
}
