/* SPDX-License-Identifier: MIT */
/*
 * Worker bodies of bench-socket (bench_worker_fn, run in forked, pinned
 * processes). Each takes a struct work filled before the fork, so every
 * worker owns its copy, and fills w->res: count, t_first_ns (senders),
 * t_last_ns (receivers), p50_us/p99_us (the pinger).
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

enum work_path { PATH_RAW_UNIX, PATH_RAW_TCP, PATH_IPC_UNIX, PATH_IPC_TCP, PATH_EVENTFD };

struct work {
        enum work_path path;
        size_t size;         /* payload bytes */
        unsigned flags;      /* ipc_publish() flags */
        uint64_t n;          /* messages, or measured round trips */
        const char *address; /* ipc paths: the broker */
        char channel[64];    /* flows: the channel; rtt: "ping" */
        char channel2[64];   /* rtt: "pong" */
        /* Raw paths: sender: one socket per receiver; receiver: fds[0]; rtt:
         * a socket in fds[0], or the eventfd to write in [0] and to read in [1]. */
        int fds[WORK_FDS_MAX];
        unsigned n_fds;
};

/* ipc_client_connect() with the client name "bench-socket". */
int work_connect(const char *address, ipc_client **ret);

/* One write() per message per receiver socket. */
int work_raw_send(void *arg, struct bench_worker *w);

/* read()s in large chunks until n * size bytes arrived. */
int work_raw_recv(void *arg, struct bench_worker *w);

/* ipc_publish() n messages with the given flags, then ipc_client_flush(). */
int work_ipc_send(void *arg, struct bench_worker *w);

/* Receives n messages, checking size, sequence and loss: -EBADMSG on a gap. */
int work_ipc_recv(void *arg, struct bench_worker *w);

/* Sends a ping, waits for the pong; percentiles over n timed round trips. */
int work_rtt_ping(void *arg, struct bench_worker *w);

/* Answers every ping. */
int work_rtt_pong(void *arg, struct bench_worker *w);
