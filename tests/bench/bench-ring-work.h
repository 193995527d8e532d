/* SPDX-License-Identifier: MIT */
/*
 * Worker bodies of bench-ring (bench_worker_fn, run in forked, pinned
 * processes): a ring publisher, a ring subscriber and both ends of a ring
 * ping-pong (the memcpy baseline is bench-work.c's). The parent formats the
 * rings before the fork and hands each worker the fds in a struct ring_work;
 * every worker maps and attaches on its own, subscribers through the
 * read-only DATA and STATE fds and their own page, publishers with every
 * page read-only.
 *
 * Counters in w->res.aux: a publisher reports [0] eventfd writes
 * (plat_wake_signal calls) and [1] space-futex sleeps; a subscriber [0]
 * eventfd sleeps and [1] space-futex wakes it issued.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "bench-util.h"

#define RING_WORK_SUBS_MAX 4
#define RING_WORK_BATCH    64 /* messages per sleepers check and cursor publication */

/* One channel's regions, the subscribers' pages and their eventfds. */
struct ring_fds {
        int data;                     /* DATA, read-write (publishers) */
        int data_ro;                  /* DATA, read-only (subscribers) */
        int state;                    /* STATE, read-write (publishers) */
        int state_ro;                 /* STATE, read-only (subscribers) */
        int page[RING_WORK_SUBS_MAX]; /* per sub slot, read-write to its subscriber only */
        int efd[RING_WORK_SUBS_MAX];
        unsigned n_subs;
        size_t data_size;
        size_t state_size;
};

struct ring_work {
        size_t size;        /* payload bytes, >= 8: the first 8 carry the message index */
        uint64_t n;         /* messages, or measured round trips */
        uint64_t warmup;    /* round trips before the measured ones */
        uint64_t spin_ns;   /* subscribers: poll this long before the sleep handshake */
        unsigned slot;      /* subscriber: sub slot in rx */
        struct ring_fds tx; /* publisher, pinger, ponger: the ring written */
        struct ring_fds rx; /* subscriber, pinger, ponger: the ring read */
};

/* Publishes n messages of size bytes on tx (pub slot 0). */
int ring_work_pub(void *arg, struct bench_worker *w);

/* Reads n messages from rx (sub slot @slot), checking size, seq and index. */
int ring_work_sub(void *arg, struct bench_worker *w);

/* Publishes a ping on tx, waits for the pong on rx; percentiles of n round trips. */
int ring_work_ping(void *arg, struct bench_worker *w);

/* Answers every ping read from rx with a pong on tx. */
int ring_work_pong(void *arg, struct bench_worker *w);
