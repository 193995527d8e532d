/* SPDX-License-Identifier: MIT */
/*
 * Benchmark helpers: clocks, statistics, CPU pinning, a private ipc-brokerd
 * awaited on NOTIFY_SOCKET, and worker processes that report through pipes.
 *
 * A worker is a forked process (no exec) pinned to one CPU. It sets itself
 * up (connects, subscribes), calls bench_worker_ready(), which reports READY
 * and blocks until the parent says go, runs its loop and returns; its
 * struct bench_result then travels to the parent. The parent starts all
 * workers of one measurement, waits until every one is ready, releases them
 * together and collects the results, so setup never counts in a figure.
 * Every wait is bounded by BENCH_STALL_NS: a stalled round is an error.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_NS_PER_SEC  UINT64_C(1000000000)
#define BENCH_NS_PER_USEC UINT64_C(1000)
/* A phase of a round (setup, or the run after go) that takes longer aborts. */
#define BENCH_STALL_NS (10 * BENCH_NS_PER_SEC)

/* What a worker reports. Fixed size, below PIPE_BUF: one atomic write. */
struct bench_result {
        int32_t phase;       /* BENCH_PHASE_* */
        int32_t err;         /* 0 or a negative errno */
        uint64_t count;      /* messages sent, received or round trips done */
        uint64_t t_first_ns; /* CLOCK_MONOTONIC: first send */
        uint64_t t_last_ns;  /* CLOCK_MONOTONIC: last receive */
        double p50_us;
        double p99_us;
        uint64_t aux[4];  /* worker-defined counters (see the worker's header) */
        uint64_t run_ns;  /* from go to the worker's return */
        uint64_t wait_ns; /* of which runnable but kept off its CPU by another task */
        char what[96];    /* what failed, when err != 0 */
};

enum {
        BENCH_PHASE_READY = 1,
        BENCH_PHASE_DONE = 2,
};

/* A running worker, as the parent sees it. */
struct bench_proc {
        pid_t pid;
        int go_fd;  /* parent writes one byte: start */
        int res_fd; /* parent reads struct bench_result */
        int cpu;
};

/* The worker's side: its pipes, and the deadline of its run once released. */
struct bench_worker {
        int go_fd;
        int res_fd;
        uint64_t deadline_ns;
        uint64_t go_ns, go_wait_ns; /* when released, and its run-queue wait then */
        struct bench_result res;
};

typedef int bench_worker_fn(void *arg, struct bench_worker *w);

/* A broker private to the benchmark run. */
struct bench_broker {
        char dir[64];
        char unix_address[128];
        char tcp_address[64];
        pid_t pid;
        int pidfd;
};

/* CLOCK_MONOTONIC in nanoseconds: comparable between processes. */
uint64_t bench_now_ns(void);

/* Median of @n values (reorders @v); 0 when @n is 0. */
double bench_median(double *v, size_t n);

/* Sorts @ns and returns its @p-th percentile (0..100) in microseconds. */
double bench_percentile_us(uint64_t *ns, size_t n, double p);

/* The first two CPUs we may run on, into @ret. Return: how many there are (0..2). */
int bench_pick_cpus(int ret[2]);

/* Pins the calling process to @cpu. Return: 0 or a negative errno. */
int bench_pin_cpu(int cpu);

/* What the calling process did so far, from the kernel's own counters. */
struct bench_usage {
        uint64_t read_calls; /* read-family syscalls (/proc/self/io syscr), UINT64_MAX if unknown */
        uint64_t write_calls; /* write-family syscalls (syscw), UINT64_MAX if unknown */
        uint64_t sleeps;      /* voluntary context switches (getrusage ru_nvcsw) */
};

void bench_usage_get(struct bench_usage *ret);

/* Names the program in bench_die() messages ("bench-socket" unless set). */
void bench_set_name(const char *name);

/* Prints "NAME: ..." to stderr and exits 1 (workers die with us). */
__attribute__((noreturn, format(printf, 1, 2))) void bench_die(const char *fmt, ...);

/* A connected TCP loopback pair, Nagle off on both ends like the broker's. */
int bench_tcp_pair(int fds[2]);

/**
 * bench_broker_start() - start @path in a mkdtemp directory with a built-in
 * default config, listening on a UNIX socket there and on a free
 * 127.0.0.1 TCP port; wait (BENCH_STALL_NS) for READY=1 on NOTIFY_SOCKET.
 * On failure the broker's log is printed.
 * Return: 0; -ECHILD (exited before READY=1); -ETIMEDOUT; other negative errno.
 */
int bench_broker_start(const char *path, struct bench_broker *b);

/* SIGTERM, wait, SIGKILL if needed; remove the directory. Idempotent. */
void bench_broker_stop(struct bench_broker *b);

/**
 * bench_spawn() - fork a worker pinned to @cpu that runs @fn(@arg) and
 * _exit()s; it dies with the parent (PR_SET_PDEATHSIG).
 * Return: 0; negative errno from pipe2/fork.
 */
int bench_spawn(int cpu, bench_worker_fn *fn, void *arg, struct bench_proc *ret);

/**
 * bench_worker_ready() - in a worker: report READY, wait for go, then set
 * w->deadline_ns for the run.
 * Return: 0; -ETIMEDOUT (no go); -EPIPE (parent gone).
 */
int bench_worker_ready(struct bench_worker *w);

/* In a worker: whether the run's deadline has passed (checked every call). */
int bench_worker_late(const struct bench_worker *w);

/**
 * bench_run() - wait until all @n workers are ready, release them, collect
 * their results into @res and reap them. Kills all on any failure.
 * Return: 0; -ETIMEDOUT; -EPROTO (a worker died or failed: see @res[i].what).
 */
int bench_run(struct bench_proc *p, size_t n, struct bench_result *res);

/* bench_spawn() and bench_run() that end the program with bench_die() on failure. */
void bench_spawn_or_die(int cpu, bench_worker_fn *fn, void *arg, struct bench_proc *ret);
void bench_run_or_die(struct bench_proc *p, size_t n, struct bench_result *res);

/*
 * How much other tasks disturbed a run: the largest share of its run time
 * any of the @n workers spent runnable but off its CPU (the kernel's
 * schedstat run-queue wait), 0..1. On a shared host other processes land
 * on the pinned CPUs; a measurement above BENCH_CONTENDED is worth redoing.
 * Workers that share a CPU wait for each other, so only those alone on
 * their CPU are judged.
 */
#define BENCH_CONTENDED 0.02
double bench_contention(const struct bench_proc *p, const struct bench_result *res, size_t n);
