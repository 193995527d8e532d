/* SPDX-License-Identifier: MIT */
/*
 * bench-ring: the shared-memory ring module on its own (no broker), against
 * baselines measured in the same run: a raw AF_UNIX stream doing one write
 * per message, a raw eventfd ping-pong and a single-process memcpy. Only
 * ratios to same-run baselines mean anything on a shared 2-vCPU host, so
 * rounds interleave every measurement (order reversed every other round)
 * and medians are printed, with the lowest and highest per-round ratio.
 *
 * The parent plays the broker: it creates the two memfd regions of each
 * channel (plat_shm_create), formats them (ring_format), activates the
 * slots and creates the subscribers' eventfds, then forks publisher and
 * subscribers pinned to CPU 0 and CPU 1 (see bench-ring-work.c). Block
 * policy: every message must arrive, and subscribers check count,
 * contiguous sequence numbers and the message index in each payload.
 *
 * Rate = messages delivered to all subscribers / (last receive - first
 * send), the two readings taken in different processes on CLOCK_MONOTONIC.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench-ring-work.h"
#include "bench-util.h"
#include "bench-work.h"
#include "platform.h"
#include "ring.h"

#define ROUNDS_MAX   99
#define PILOT_BYTES  (8u << 20) /* calibration run: this much payload, */
#define PILOT_MIN    2000       /* and at least this many messages */
#define SPIN_NS      (50 * BENCH_NS_PER_USEC)
#define RING_MSG_MAX (64u * 1024u)

enum kind { K_RING, K_RAW, K_MEMCPY, K_RTT_RING, K_RTT_EFD };

/* One measured configuration; rounds fill value[] (msg/s, or p50 in us), p99[], wakes[]. */
struct meas {
        enum kind kind;
        size_t size;     /* payload bytes */
        unsigned n_subs; /* flows: receivers */
        bool spin;       /* ring rtt: spin-then-sleep */
        bool spread;     /* ring fan-out: subscribers alternate between both CPUs */
        uint64_t n;      /* messages (round trips) per round */
        double value[ROUNDS_MAX];
        double p99[ROUNDS_MAX];
        double wakes[ROUNDS_MAX]; /* ring flows: publisher eventfd writes per message */
        double space[ROUNDS_MAX]; /* ring flows: publisher space-futex sleeps per message */
};

enum {
        M_R64,
        M_U64,
        M_R1K,
        M_U1K,
        M_R64K,
        M_U64K,
        M_MEMCPY,
        M_RFAN,
        M_RFAN_SPREAD,
        M_UFAN,
        M_RTT_BLOCK,
        M_RTT_SPIN,
        M_RTT_EFD,
        _M_MAX
};

static struct meas meas[_M_MAX] = {
        [M_R64] = {K_RING, 64, 1},
        [M_U64] = {K_RAW, 64, 1},
        [M_R1K] = {K_RING, 1024, 1},
        [M_U1K] = {K_RAW, 1024, 1},
        [M_R64K] = {K_RING, 65536, 1},
        [M_U64K] = {K_RAW, 65536, 1},
        [M_MEMCPY] = {K_MEMCPY, 65536, 1},
        [M_RFAN] = {K_RING, 64, 4},
        [M_RFAN_SPREAD] = {K_RING, 64, 4, .spread = true},
        [M_UFAN] = {K_RAW, 64, 4},
        [M_RTT_BLOCK] = {K_RTT_RING, 64},
        [M_RTT_SPIN] = {K_RTT_RING, 64, .spin = true},
        [M_RTT_EFD] = {K_RTT_EFD, 8},
};

enum metric { MSGS, MBYTES, P50, P99, WAKES, SPACE };

/* One line of the table: @ours beside @base (-1: no baseline). */
static const struct row {
        const char *label;
        int ours, base;
        enum metric metric;
} rows[] = {
        {"ring 64B msg/s vs unix", M_R64, M_U64, MSGS},
        {"ring 1KiB MB/s vs unix", M_R1K, M_U1K, MBYTES},
        {"ring 64KiB MB/s vs unix", M_R64K, M_U64K, MBYTES},
        {"ring 64KiB MB/s vs memcpy", M_R64K, M_MEMCPY, MBYTES},
        {"ring 1->4 64B (sum) vs 1->1", M_RFAN, M_R64, MSGS},
        {"ring 1->4 spread vs 1->1", M_RFAN_SPREAD, M_R64, MSGS},
        {"ring 1->4 64B vs unix 1->4", M_RFAN, M_UFAN, MSGS},
        {"rtt block p50 us vs eventfd", M_RTT_BLOCK, M_RTT_EFD, P50},
        {"rtt block p99 us vs eventfd", M_RTT_BLOCK, M_RTT_EFD, P99},
        {"rtt spin p50 us vs eventfd", M_RTT_SPIN, M_RTT_EFD, P50},
        {"rtt spin p99 us vs eventfd", M_RTT_SPIN, M_RTT_EFD, P99},
        {"efd writes/msg 64B", M_R64, -1, WAKES},
        {"efd writes/msg 1KiB", M_R1K, -1, WAKES},
        {"efd writes/msg 64KiB", M_R64K, -1, WAKES},
        {"efd writes/msg 1->4", M_RFAN, -1, WAKES},
        {"space sleeps/msg 64B", M_R64, -1, SPACE},
        {"space sleeps/msg 1->4", M_RFAN, -1, SPACE},
};

/* Targets from the issue, checked against a row's medians. */
enum check { RATIO_GE, RATIO_LE, ABS_GE, ABS_LE };

static const struct target {
        const char *text;
        int row;
        enum check check;
        double limit;
} targets[] = {
        {"64B 1->1 >= 20x raw AF_UNIX msg/s", 0, RATIO_GE, 20},
        {"64B 1->1 >= 15 M msg/s", 0, ABS_GE, 15e6},
        {"1KiB >= 10x raw AF_UNIX", 1, RATIO_GE, 10},
        {"64KiB >= 2.5x raw AF_UNIX MB/s", 2, RATIO_GE, 2.5},
        {"64KiB >= 0.15x memcpy MB/s", 3, RATIO_GE, 0.15},
        {"1->4 sum >= 1->1 (subs share CPU 1)", 4, RATIO_GE, 1},
        {"1->4 sum >= 1->1 (subs spread)", 5, RATIO_GE, 1},
        {"rtt block p50 <= 1.2x eventfd", 7, RATIO_LE, 1.2},
        {"rtt block p99 <= 2x eventfd", 8, RATIO_LE, 2},
        {"rtt spin-then-sleep p50 <= 2 us", 9, ABS_LE, 2},
        {"eventfd writes/msg <= 0.01 (64B 1->1)", 11, ABS_LE, 0.01},
};

static int cpu_pub, cpu_sub;
static uint64_t capacity = 4u << 20;

/* ---- Rings, as the broker would set them up ---------------------------- */

static void check(int r, const char *what) {
        if (r < 0)
                bench_die("%s: %s", what, strerror(-r));
}

static void ring_make(unsigned n_subs, struct ring_fds *f) {
        struct ring_params p = {
                .capacity = capacity,
                .max_message_bytes = RING_MSG_MAX,
                .sub_slots = n_subs,
                .pub_slots = 1,
                .overflow = RING_OVERFLOW_BLOCK,
                .name = "bench",
                .name_len = 5,
        };
        void *data = NULL, *state = NULL;
        struct ring r;

        *f = (struct ring_fds){.n_subs = n_subs,
                               .data_size = ring_data_size(capacity),
                               .state_size = ring_state_size(n_subs, 1)};
        check(plat_shm_create(f->data_size, &f->data, &f->data_ro), "plat_shm_create");
        check(plat_shm_create(f->state_size, &f->state, &f->state_ro), "plat_shm_create");
        check(plat_shm_map(f->data, f->data_size, true, &data), "plat_shm_map");
        check(plat_shm_map(f->state, f->state_size, true, &state), "plat_shm_map");
        check(ring_format(data, f->data_size, state, f->state_size, &p), "ring_format");
        check(ring_attach(&r, data, f->data_size, state, f->state_size), "ring_attach");
        check(ring_pub_slot_activate(&r, 0, (uint32_t)getpid()), "ring_pub_slot_activate");
        for (unsigned s = 0; s < n_subs; s++) {
                void *page;

                check(plat_shm_create(RING_SUB_PAGE_BYTES, &f->page[s], NULL), "plat_shm_create");
                check(plat_shm_map(f->page[s], RING_SUB_PAGE_BYTES, true, &page), "plat_shm_map");
                check(ring_page_set(&r, s, 1, page), "ring_page_set");
                check(ring_sub_slot_activate(&r, s, (uint32_t)getpid(), NULL),
                      "ring_sub_slot_activate");
                plat_shm_unmap(page, RING_SUB_PAGE_BYTES);
                check(plat_wake_create(&f->efd[s]), "plat_wake_create");
        }
        plat_shm_unmap(data, f->data_size);
        plat_shm_unmap(state, f->state_size);
}

/* The workers hold their own copies now. */
static void ring_fds_close(struct ring_fds *f) {
        (void)close(f->data);
        (void)close(f->data_ro);
        (void)close(f->state);
        (void)close(f->state_ro);
        for (unsigned s = 0; s < f->n_subs; s++) {
                (void)close(f->page[s]);
                (void)close(f->efd[s]);
        }
}

/* ---- Running one measurement ------------------------------------------- */

/* Receivers into p[0..n_subs-1] (CPU 1, or alternating when spread), then the sender. */
static void spawn_ring_flow(const struct meas *m, uint64_t n, struct ring_work *k,
                            struct bench_proc *p) {
        unsigned s;

        k[0] = (struct ring_work){.size = m->size, .n = n};
        ring_make(m->n_subs, &k[0].tx);
        for (s = 0; s < m->n_subs; s++) {
                k[s + 1] = k[0];
                k[s + 1].rx = k[0].tx;
                k[s + 1].slot = s;
                bench_spawn_or_die(m->spread && s % 2 ? cpu_pub : cpu_sub, ring_work_sub, &k[s + 1], &p[s]);
        }
        bench_spawn_or_die(cpu_pub, ring_work_pub, &k[0], &p[s]);
        ring_fds_close(&k[0].tx);
}

static void spawn_raw_flow(const struct meas *m, uint64_t n, struct work *k, struct bench_proc *p) {
        int pairs[WORK_FDS_MAX][2];
        unsigned s;

        k[0] = (struct work){.path = PATH_RAW_UNIX, .size = m->size, .n = n, .n_fds = m->n_subs};
        for (s = 0; s < m->n_subs; s++) {
                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pairs[s]) < 0)
                        bench_die("socketpair: %s", strerror(errno));
                k[0].fds[s] = pairs[s][0];
        }
        for (s = 0; s < m->n_subs; s++) {
                k[s + 1] = k[0];
                k[s + 1].fds[0] = pairs[s][1];
                bench_spawn_or_die(cpu_sub, work_raw_recv, &k[s + 1], &p[s]);
        }
        bench_spawn_or_die(cpu_pub, work_raw_send, &k[0], &p[s]);
        for (s = 0; s < m->n_subs; s++) {
                (void)close(pairs[s][0]);
                (void)close(pairs[s][1]);
        }
}

/* Runs @n messages through @m. Return: messages delivered per second, summed over receivers. */
static double run_flow(struct meas *m, uint64_t n, unsigned round) {
        struct ring_work rk[RING_WORK_SUBS_MAX + 1];
        struct work wk[WORK_FDS_MAX + 1];
        struct bench_proc p[RING_WORK_SUBS_MAX + 1];
        struct bench_result res[RING_WORK_SUBS_MAX + 1];
        size_t ps = m->n_subs;
        uint64_t t_last = 0;

        if (m->kind == K_RING)
                spawn_ring_flow(m, n, rk, p);
        else if (m->kind == K_RAW)
                spawn_raw_flow(m, n, wk, p);
        else
                bench_spawn_or_die(cpu_pub, work_memcpy,
                      &(struct work){.size = m->size, .n = n, .capacity = capacity}, &p[0]);
        ps = m->kind == K_MEMCPY ? 0 : ps;
        bench_run_or_die(p, ps + 1, res);
        for (size_t s = 0; s < ps; s++) {
                if (res[s].count != n || res[ps].count != n)
                        bench_die("sent %llu, receiver %zu got %llu of %llu",
                                  (unsigned long long)res[ps].count, s,
                                  (unsigned long long)res[s].count, (unsigned long long)n);
                t_last = res[s].t_last_ns > t_last ? res[s].t_last_ns : t_last;
        }
        if (m->kind == K_MEMCPY)
                t_last = res[0].t_last_ns;
        if (round < ROUNDS_MAX) {
                m->wakes[round] = (double)res[ps].aux[0] / (double)n;
                m->space[round] = (double)res[ps].aux[1] / (double)n;
        }
        if (t_last <= res[ps].t_first_ns)
                bench_die("last receive before first send");
        return (double)(n * (ps ? ps : 1)) * 1e9 / (double)(t_last - res[ps].t_first_ns);
}

static void run_rtt(struct meas *m, unsigned round) {
        struct ring_work rk = {.size = 64,
                               .n = m->n,
                               .warmup = WORK_RTT_WARMUP,
                               .spin_ns = m->spin ? SPIN_NS : 0},
                         rk2;
        struct work k = {.path = PATH_EVENTFD, .size = 8, .n = m->n}, k2;
        struct bench_proc p[2];
        struct bench_result res[2];

        if (m->kind == K_RTT_RING) {
                ring_make(1, &rk.tx);
                ring_make(1, &rk.rx);
                rk2 = rk;
                rk2.tx = rk.rx;
                rk2.rx = rk.tx;
                bench_spawn_or_die(cpu_sub, ring_work_pong, &rk2, &p[0]);
                bench_spawn_or_die(cpu_pub, ring_work_ping, &rk, &p[1]);
                ring_fds_close(&rk.tx);
                ring_fds_close(&rk.rx);
        } else {
                k.fds[0] = eventfd(0, EFD_CLOEXEC);
                k.fds[1] = eventfd(0, EFD_CLOEXEC);
                if (k.fds[0] < 0 || k.fds[1] < 0)
                        bench_die("eventfd: %s", strerror(errno));
                k2 = k;
                k2.fds[0] = k.fds[1];
                k2.fds[1] = k.fds[0];
                bench_spawn_or_die(cpu_sub, work_rtt_pong, &k2, &p[0]);
                bench_spawn_or_die(cpu_pub, work_rtt_ping, &k, &p[1]);
                (void)close(k.fds[0]);
                (void)close(k.fds[1]);
        }
        bench_run_or_die(p, 2, res);
        m->value[round] = res[1].p50_us;
        m->p99[round] = res[1].p99_us;
}

/* A short first run per flow warms up and sizes the rounds to about @target_s each. */
static void calibrate(struct meas *m, double target_s) {
        uint64_t pilot = PILOT_BYTES / m->size, n;

        pilot = pilot < PILOT_MIN ? PILOT_MIN : pilot;
        n = (uint64_t)(run_flow(m, pilot, ROUNDS_MAX) / m->n_subs * target_s);
        m->n = n < PILOT_MIN ? PILOT_MIN : n;
}

static void run_one(struct meas *m, unsigned round) {
        if (m->kind == K_RTT_RING || m->kind == K_RTT_EFD)
                run_rtt(m, round);
        else
                m->value[round] = run_flow(m, m->n, round);
}

/* ---- Report ------------------------------------------------------------ */

struct options {
        unsigned rounds;
        unsigned rtt_count;
        double target_s;
};

static double metric_value(const struct meas *m, enum metric metric, unsigned round) {
        switch (metric) {
        case MBYTES:
                return m->value[round] * (double)m->size / 1e6;
        case P99:
                return m->p99[round];
        case WAKES:
                return m->wakes[round];
        case SPACE:
                return m->space[round];
        default:
                return m->value[round];
        }
}

static double metric_median(int i, enum metric metric, unsigned rounds) {
        double v[ROUNDS_MAX];

        for (unsigned r = 0; r < rounds; r++)
                v[r] = metric_value(&meas[i], metric, r);
        return bench_median(v, rounds);
}

static void format_value(char *buf, size_t size, enum metric metric, double v) {
        if (metric == MSGS && v >= 1e6)
                (void)snprintf(buf, size, "%.2f M", v / 1e6);
        else if (metric == MSGS)
                (void)snprintf(buf, size, "%.1f k", v / 1e3);
        else if (metric == WAKES || metric == SPACE)
                (void)snprintf(buf, size, "%.5f", v);
        else
                (void)snprintf(buf, size, "%.2f", v);
}

static void format_count(char *buf, size_t size, uint64_t n) {
        if (n >= 10000)
                (void)snprintf(buf, size, "%lluk", (unsigned long long)(n / 1000));
        else
                (void)snprintf(buf, size, "%llu", (unsigned long long)n);
}

/* The medians, their ratio, the lowest and highest ratio of a single round, and n. */
static void print_row(const struct row *w, unsigned rounds) {
        const struct meas *o = &meas[w->ours];
        double lo = 1e300, hi = 0, mo = metric_median(w->ours, w->metric, rounds), mb;
        char so[24], sb[24], no[24], nb[24];

        format_value(so, sizeof(so), w->metric, mo);
        format_count(no, sizeof(no), o->n);
        if (w->base < 0) {
                printf("%-29s %10s %10s %8s  %-11s  %s\n", w->label, so, "-", "-", "-", no);
                return;
        }
        for (unsigned r = 0; r < rounds; r++) {
                double ratio =
                        metric_value(o, w->metric, r) / metric_value(&meas[w->base], w->metric, r);

                lo = ratio < lo ? ratio : lo;
                hi = ratio > hi ? ratio : hi;
        }
        mb = metric_median(w->base, w->metric, rounds);
        format_value(sb, sizeof(sb), w->metric, mb);
        format_count(nb, sizeof(nb), meas[w->base].n);
        printf("%-29s %10s %10s %7.2fx  %5.2f-%-5.2f  %s/%s\n", w->label, so, sb, mo / mb, lo, hi,
               no, nb);
}

static void print_target(const struct target *t, unsigned rounds) {
        const struct row *w = &rows[t->row];
        double v = metric_median(w->ours, w->metric, rounds);
        bool ratio = t->check == RATIO_GE || t->check == RATIO_LE, ok;

        if (ratio)
                v /= metric_median(w->base, w->metric, rounds);
        ok = t->check == RATIO_GE || t->check == ABS_GE ? v >= t->limit : v <= t->limit;
        printf("  %-40s %12.5g%s  %s\n", t->text, v, ratio ? "x" : " ", ok ? "met" : "MISSED");
}

static void print_report(const struct options *o) {
        printf("\n%-29s %10s %10s %8s  %-11s  %s\n", "test", "ours", "baseline", "ratio",
               "round range", "n/round");
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
                print_row(&rows[i], o->rounds);
        printf("\ntargets (medians):\n");
        for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++)
                print_target(&targets[i], o->rounds);
        printf("\nratio = median ours / median baseline; msg/s and MB/s: higher is better, rtt\n"
               "(p50/p99 round trip): lower is better. round range: lowest and highest ratio\n"
               "within one round. n/round: messages (round trips) per round, ours/baseline;\n"
               "flows sized to ~%.2f s by a first calibration run, rtt after %d warm-up.\n"
               "Ring: capacity %llu KiB, block policy, batch %d (sleepers check and cursor\n"
               "publication), subscribers copy each payload out; 1->4: subscribers share\n"
               "CPU %d, or alternate CPU %d/%d when spread. rtt spin: poll %llu us before the\n"
               "sleep handshake. Baselines: one write() per message on a socketpair (1->4:\n"
               "four), the reader read()ing %d KiB at a time; eventfd ping-pong between the\n"
               "same two CPUs; memcpy of 64 KiB blocks cycling through a capacity-sized buffer\n"
               "in one process. efd writes/msg and space sleeps/msg: publisher's\n"
               "plat_wake_signal calls and space-futex sleeps per message.\n",
               o->target_s, WORK_RTT_WARMUP, (unsigned long long)(capacity >> 10), RING_WORK_BATCH,
               cpu_sub, cpu_sub, cpu_pub, (unsigned long long)(SPIN_NS / BENCH_NS_PER_USEC),
               WORK_READ_BYTES / 1024);
}

/* ---- Main -------------------------------------------------------------- */

static void usage(FILE *f) {
        fprintf(f,
                "usage: bench-ring [--quick] [--rounds N] [--capacity BYTES[K|M|G]]\n"
                "  --quick     3 shorter rounds instead of 5\n"
                "  --rounds N  interleaved rounds (1..%d)\n"
                "  --capacity  ring capacity, a power of two, 256K..1G (default 4M)\n",
                ROUNDS_MAX);
}

static uint64_t parse_size(const char *s) {
        char *end;
        unsigned long long v = strtoull(s, &end, 10);
        unsigned shift = *end == 'K' ? 10 : *end == 'M' ? 20 : *end == 'G' ? 30 : 0;

        end += shift != 0;
        if (*end || v == 0 || v > (RING_CAPACITY_MAX >> shift))
                return 0;
        return (uint64_t)v << shift;
}

static void parse_args(int argc, char **argv, struct options *o) {
        static const struct option longopts[] = {
                {"quick", no_argument, NULL, 'q'},
                {"rounds", required_argument, NULL, 'r'},
                {"capacity", required_argument, NULL, 'c'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        int c, rounds = 0;

        *o = (struct options){.rounds = 5, .rtt_count = 20000, .target_s = 0.5};
        while ((c = getopt_long(argc, argv, "qr:c:h", longopts, NULL)) >= 0) {
                if (c == 'q') {
                        *o = (struct options){.rounds = 3, .rtt_count = 5000, .target_s = 0.2};
                } else if (c == 'r') {
                        rounds = atoi(optarg);
                        if (rounds < 1 || rounds > ROUNDS_MAX)
                                bench_die("--rounds: expected 1..%d", ROUNDS_MAX);
                } else if (c == 'c') {
                        capacity = parse_size(optarg);
                        if (capacity < 4 * RING_MSG_MAX || (capacity & (capacity - 1)))
                                bench_die("--capacity: a power of two from 256K to 1G");
                } else if (c == 'h') {
                        usage(stdout);
                        exit(0);
                } else {
                        usage(stderr);
                        exit(2);
                }
        }
        o->rounds = rounds ? (unsigned)rounds : o->rounds;
        if (optind < argc)
                bench_die("unexpected argument '%s'", argv[optind]);
}

static void setup(const struct options *o) {
        int cpus[2] = {0, 0}, n = bench_pick_cpus(cpus);

        (void)signal(SIGPIPE, SIG_IGN);
        if (n == 0)
                bench_die("sched_getaffinity: no usable CPU");
        cpu_pub = cpus[0];
        cpu_sub = cpus[n - 1];
        printf("bench-ring: %u rounds interleaved (order reversed every other round), medians\n",
               o->rounds);
        printf("pinning: publisher/pinger CPU %d, subscribers/ponger CPU %d (%ld CPUs online)\n",
               cpu_pub, cpu_sub, sysconf(_SC_NPROCESSORS_ONLN));
        if (n < 2)
                printf("warning: one CPU only: both sides share it, figures mean little\n");
}

int main(int argc, char **argv) {
        struct options o;

        bench_set_name("bench-ring");
        parse_args(argc, argv, &o);
        setup(&o);
        for (size_t i = 0; i < _M_MAX; i++) {
                if (meas[i].kind == K_RTT_RING || meas[i].kind == K_RTT_EFD)
                        meas[i].n = o.rtt_count;
                else
                        calibrate(&meas[i], o.target_s);
        }
        for (unsigned r = 0; r < o.rounds; r++) {
                for (size_t j = 0; j < _M_MAX; j++)
                        run_one(&meas[r % 2 ? _M_MAX - 1 - j : j], r);
                fprintf(stderr, "round %u/%u done\n", r + 1, o.rounds);
        }
        print_report(&o);
        return 0;
}
