/* SPDX-License-Identifier: MIT */
/*
 * Worker bodies of bench-socket and bench-client (bench_worker_fn, run in
 * forked, pinned processes). Each takes a struct work filled before the
 * fork, so every worker owns its copy, and fills w->res: count, t_first_ns
 * (senders), t_last_ns (receivers: the last receive; ipc senders: the end of
 * their publishing loop, before the flush), p50_us/p99_us (the pinger).
 *
 * Counters in w->res.aux of the libipcclient flows: the publisher reports
 * [0] and [1] through its after_send hook (bench-client: the broker's
 * wake-up and publish counts), [2] write syscalls and [3] voluntary context
 * switches during its loop; a subscriber [2] read syscalls and [3]
 * voluntary context switches (sleeps) during its loop.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "bench-util.h"
#include "ipcclient.h"

#define WORK_FDS_MAX    4
#define WORK_READ_BYTES (256 * 1024) /* raw receivers read() this much at a time */
#define WORK_RTT_WARMUP 200          /* round trips before the measured ones */
#define WORK_RTT_SIZE   64           /* ping-pong payload, bytes */

enum work_path {
        PATH_RAW_UNIX,
        PATH_RAW_TCP,
        PATH_IPC_UNIX, /* libipcclient, socket transport forced, UNIX socket */
        PATH_IPC_TCP,  /* libipcclient, socket transport forced, TCP */
        PATH_IPC_RING, /* libipcclient over the UNIX socket, transport auto: must be the ring */
        PATH_EVENTFD,
};

struct work;
struct bench_worker;

/* Called by an ipc publisher after its final flush, still connected (fills res.aux[0..1]). */
typedef int work_hook_fn(ipc_client *c, const struct work *k, struct bench_worker *w);

struct work {
        enum work_path path;
        size_t size;         /* payload bytes; ipc flows: >= 8, the first 8 carry the index */
        unsigned flags;      /* ipc_publish() flags */
        uint64_t n;          /* messages, or measured round trips */
        uint64_t spin_usec;  /* ipc clients: ipc_options_set_spin() */
        uint64_t capacity;   /* memcpy: destination bytes cycled through */
        const char *address; /* ipc paths: the broker */
        work_hook_fn *after_send;
        char channel[64];  /* flows: the channel; rtt: "ping" */
        char channel2[64]; /* rtt: "pong" */
        /* Raw paths: sender: one socket per receiver; receiver: fds[0]; rtt:
         * a socket in fds[0], or the eventfd to write in [0] and to read in [1]. */
        int fds[WORK_FDS_MAX];
        unsigned n_fds;
};

/* Microseconds left before the worker's deadline: the timeout of every blocking call. */
uint64_t work_usec_left(const struct bench_worker *w);

/* ipc_client_connect() as @k's path wants it: the socket forced, or auto (the ring). */
int work_connect(const struct work *k, ipc_client **ret);

/* One write() per message per receiver socket. */
int work_raw_send(void *arg, struct bench_worker *w);

/* read()s in large chunks until n * size bytes arrived. */
int work_raw_recv(void *arg, struct bench_worker *w);

/* ipc_publish() n messages with the given flags, then ipc_client_flush(). */
int work_ipc_send(void *arg, struct bench_worker *w);

/* Receives n messages, checking size, sequence, index and loss: -EBADMSG on a gap.
 * On the ring it copies each payload out (zero-copy views are not a receive by themselves)
 * and releases the view, which checks it was not overwritten. */
int work_ipc_recv(void *arg, struct bench_worker *w);

/* Sends a ping, waits for the pong; percentiles over n timed round trips. */
int work_rtt_ping(void *arg, struct bench_worker *w);

/* Answers every ping. */
int work_rtt_pong(void *arg, struct bench_worker *w);

/* Copies n blocks of size bytes into a capacity-byte buffer, cycling, in one process. */
int work_memcpy(void *arg, struct bench_worker *w);
