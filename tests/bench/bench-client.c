/* SPDX-License-Identifier: MIT */
/*
 * bench-client: libipcclient over the shared-memory ring with a real
 * ipc-brokerd (the broker hands out the rings, then stays out of the data
 * path), against baselines measured in the same run: a raw AF_UNIX stream
 * doing one write per message, a raw eventfd ping-pong between two
 * processes and a single-process memcpy. Only ratios to same-run baselines
 * mean anything on a shared 2-vCPU host, so rounds interleave every
 * measurement (order reversed every other round) and medians are printed
 * with the lowest and highest per-round ratio and the target.
 *
 * Publisher and subscribers are separate processes pinned to CPU 0 and
 * CPU 1; the broker is left to the scheduler, as in production. Every
 * client connects with the default transport (auto) and must get the ring:
 * a refused ring would fall back to the socket silently, so the workers
 * check ipc_pub_get_transport()/ipc_sub_get_transport() and fail instead.
 * Channels use the default "block" policy, so every message must arrive:
 * subscribers check count, sequence, loss and the index in each payload,
 * copy each payload out of the ring and release the view.
 *
 * Rate = messages received by all subscribers / (last receive - first
 * send), the two clock readings taken in different processes on
 * CLOCK_MONOTONIC. Wake-ups per message come from the broker's stats
 * (channel_stats[].clients[] of the publisher, read by the publisher
 * itself after its flush, while its slot is still live), cross-checked
 * with the kernel's count of the publisher's write syscalls.
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

#include <jansson.h>

#include "bench-util.h"
#include "bench-work.h"
#include "ipcclient.h"

#define ROUNDS_MAX      99
#define PILOT_BYTES     (8u << 20) /* calibration run: this much payload, */
#define PILOT_MIN       2000       /* and at least this many messages */
#define SPIN_USEC       50         /* spin-then-sleep budget of the spinning round trip */
#define MEMCPY_CAPACITY (4u << 20) /* the broker's default ring_bytes */
#define NOT_REPORTED    (-1.0)
#define ATTEMPTS_MAX    3 /* runs of one measurement in one round while contended */

enum kind { K_RING, K_RAW, K_MEMCPY, K_RTT_RING, K_RTT_EFD };

/* One measured configuration; rounds fill value[] (msg/s, or p50 in us) and the rest. */
struct meas {
        enum kind kind;
        size_t size;                /* payload bytes */
        unsigned n_subs;            /* flows: receivers */
        unsigned flags;             /* ring flows: ipc_publish() flags */
        uint64_t spin_usec;         /* ring round trip: ipc_options_set_spin() on both sides */
        const char *name;           /* ring flows: a line of the counters table */
        const char *id;             /* for --verbose */
        uint64_t n;                 /* messages (round trips) per round */
        bool contended[ROUNDS_MAX]; /* still contended after ATTEMPTS_MAX runs */
        double value[ROUNDS_MAX];
        double p99[ROUNDS_MAX];
        /* Ring flows, per message published: */
        double wakes[ROUNDS_MAX];      /* eventfd writes the broker counted; or NOT_REPORTED */
        double writes[ROUNDS_MAX];     /* publisher's write syscalls */
        double pub_sleeps[ROUNDS_MAX]; /* publisher's voluntary context switches */
        double sub_sleeps[ROUNDS_MAX]; /* per subscriber: voluntary context switches */
};

enum {
        M_R64_MORE,
        M_R64_PLAIN,
        M_U64,
        M_R1K,
        M_U1K,
        M_R64K,
        M_U64K,
        M_MEMCPY,
        M_RFAN,
        M_UFAN,
        M_RTT_BLOCK,
        M_RTT_SPIN,
        M_RTT_EFD,
        _M_MAX
};

#define MORE IPC_PUBLISH_MORE
static struct meas meas[_M_MAX] = {
        [M_R64_MORE] = {K_RING, 64, 1, MORE, .name = "ring 64B 1->1 (MORE)", .id = "ring64"},
        [M_R64_PLAIN] = {K_RING, 64, 1, 0, .name = "ring 64B 1->1 (no MORE)", .id = "ring64-1"},
        [M_U64] = {K_RAW, 64, 1, .id = "unix64"},
        [M_R1K] = {K_RING, 1024, 1, MORE, .name = "ring 1KiB 1->1 (MORE)", .id = "ring1k"},
        [M_U1K] = {K_RAW, 1024, 1, .id = "unix1k"},
        [M_R64K] = {K_RING, 65536, 1, MORE, .name = "ring 64KiB 1->1 (MORE)", .id = "ring64k"},
        [M_U64K] = {K_RAW, 65536, 1, .id = "unix64k"},
        [M_MEMCPY] = {K_MEMCPY, 65536, 1, .id = "memcpy"},
        [M_RFAN] = {K_RING, 64, 4, MORE, .name = "ring 64B 1->4 (MORE)", .id = "ringfan"},
        [M_UFAN] = {K_RAW, 64, 4, .id = "unixfan"},
        [M_RTT_BLOCK] = {K_RTT_RING, WORK_RTT_SIZE, .id = "rtt-block"},
        [M_RTT_SPIN] = {K_RTT_RING, WORK_RTT_SIZE, .spin_usec = SPIN_USEC, .id = "rtt-spin"},
        [M_RTT_EFD] = {K_RTT_EFD, 8, .id = "rtt-efd"},
};

enum metric { MSGS, MBYTES, P50, P99, WAKES };

enum check { NONE, RATIO_GE, RATIO_LE, ABS_GE, ABS_LE };

struct goal {
        enum check check;
        double limit;
};

/* One line of the table: @ours beside @base (-1: none), and the targets for it. */
static const struct row {
        const char *label;
        int ours, base;
        enum metric metric;
        struct goal goal[2];
} rows[] = {
        {"64B msg/s (MORE) vs unix", M_R64_MORE, M_U64, MSGS, {{RATIO_GE, 20}, {ABS_GE, 15e6}}},
        {"64B msg/s (no MORE) vs unix", M_R64_PLAIN, M_U64, MSGS},
        {"1KiB MB/s vs unix", M_R1K, M_U1K, MBYTES, {{RATIO_GE, 10}}},
        {"64KiB MB/s vs unix", M_R64K, M_U64K, MBYTES, {{RATIO_GE, 2.5}}},
        {"64KiB MB/s vs memcpy", M_R64K, M_MEMCPY, MBYTES, {{RATIO_GE, 0.15}}},
        {"1->4 64B msg/s (sum) vs 1->1", M_RFAN, M_R64_MORE, MSGS, {{RATIO_GE, 1}}},
        {"1->4 64B msg/s vs unix 1->4", M_RFAN, M_UFAN, MSGS},
        {"rtt block p50 us vs eventfd", M_RTT_BLOCK, M_RTT_EFD, P50, {{RATIO_LE, 1.2}}},
        {"rtt block p99 us vs eventfd", M_RTT_BLOCK, M_RTT_EFD, P99, {{RATIO_LE, 2}}},
        {"rtt spin p50 us vs eventfd", M_RTT_SPIN, M_RTT_EFD, P50, {{ABS_LE, 2}}},
        {"rtt spin p99 us vs eventfd", M_RTT_SPIN, M_RTT_EFD, P99},
        {"efd writes/msg 64B (MORE)", M_R64_MORE, -1, WAKES, {{ABS_LE, 0.01}}},
        {"efd writes/msg 64B (no MORE)", M_R64_PLAIN, -1, WAKES, {{ABS_LE, 0.01}}},
        {"efd writes/msg 1->4 (MORE)", M_RFAN, -1, WAKES},
};

static struct bench_broker broker = {.pid = -1, .pidfd = -1};
static int cpu_pub, cpu_sub;
static unsigned run_serial;
/* Whether the broker reported wake-ups for every ring publisher; runs it miscounted. */
static bool broker_wakes = true;
static unsigned broker_mismatches;
/* Measurements repeated because other tasks had their CPU; ones kept anyway. */
static unsigned n_repeated, n_contended;

struct options {
        const char *brokerd;
        unsigned rounds;
        unsigned rtt_count;
        double target_s;
        bool verbose;
};

static void stop_broker(void) {
        bench_broker_stop(&broker);
}

/* ---- The broker's counters, read by the publisher ---------------------- */

static uint64_t json_u64(json_t *o, const char *key) {
        json_t *v = json_object_get(o, key);

        return json_is_integer(v) ? (uint64_t)json_integer_value(v) : UINT64_MAX;
}

static bool json_str_is(json_t *o, const char *key, const char *want) {
        const char *s = json_string_value(json_object_get(o, key));

        return s && !strcmp(s, want);
}

/* The publisher's entry of @channel in channel_stats[].clients[] into aux[0..1]. */
static void publisher_counters(json_t *stats, const char *channel, uint64_t aux[2]) {
        json_t *ch, *cl;
        size_t i, j;

        json_array_foreach(json_object_get(stats, "channel_stats"), i, ch) {
                if (!json_str_is(ch, "name", channel))
                        continue;
                json_array_foreach(json_object_get(ch, "clients"), j, cl) {
                        if (!json_str_is(cl, "role", "publisher"))
                                continue;
                        aux[0] = json_u64(cl, "wakeups");
                        aux[1] = json_u64(cl, "published");
                }
        }
}

/* work_hook_fn: after the flush, what the broker counted for us (UINT64_MAX: nothing). */
static int pub_broker_counters(ipc_client *c, const struct work *k, struct bench_worker *w) {
        char *text = NULL;
        json_t *o = NULL;
        int r = ipc_client_stats(c, work_usec_left(w), &text);

        w->res.aux[0] = w->res.aux[1] = UINT64_MAX;
        if (r >= 0 && !(o = json_loads(text, 0, NULL)))
                r = -EPROTO;
        if (r >= 0)
                publisher_counters(o, k->channel, w->res.aux);
        json_decref(o);
        ipc_free(text);
        return r;
}

/* ---- Running one measurement ------------------------------------------ */

static struct work work_of(const struct meas *m, uint64_t n) {
        return (struct work){
                .path = m->kind == K_RAW       ? PATH_RAW_UNIX
                        : m->kind == K_RTT_EFD ? PATH_EVENTFD
                                               : PATH_IPC_RING,
                .size = m->size,
                .flags = m->flags,
                .n = n,
                .spin_usec = m->spin_usec,
                .capacity = MEMCPY_CAPACITY,
                .address = broker.unix_address,
                .after_send = m->kind == K_RING ? pub_broker_counters : NULL,
                .n_fds = m->n_subs,
        };
}

/* Receivers into p[0..n_subs-1] on the subscriber CPU, then the sender. */
static void flow_spawn(const struct meas *m, uint64_t n, struct work *k, struct bench_proc *p) {
        int pairs[WORK_FDS_MAX][2] = {};
        bool raw = m->kind == K_RAW;
        unsigned s;

        k[0] = work_of(m, n);
        (void)snprintf(k[0].channel, sizeof(k[0].channel), "bench.ring.%u", ++run_serial);
        for (s = 0; raw && s < m->n_subs; s++)
                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pairs[s]) < 0)
                        bench_die("socketpair: %s", strerror(errno));
        for (s = 0; s < m->n_subs; s++) {
                k[s + 1] = k[0];
                k[s + 1].fds[0] = pairs[s][1];
                k[0].fds[s] = pairs[s][0];
                bench_spawn_or_die(cpu_sub, raw ? work_raw_recv : work_ipc_recv, &k[s + 1], &p[s]);
        }
        bench_spawn_or_die(cpu_pub, raw ? work_raw_send : work_ipc_send, &k[0], &p[s]);
        for (s = 0; raw && s < m->n_subs; s++) {
                (void)close(pairs[s][0]);
                (void)close(pairs[s][1]);
        }
}

static double per_msg(uint64_t count, uint64_t n) {
        return count == UINT64_MAX ? NOT_REPORTED : (double)count / (double)n;
}

/* The ring flow's counters of one round (see bench-work.h for aux). */
static void flow_counters(struct meas *m, uint64_t n, const struct bench_result *res,
                          unsigned round) {
        const struct bench_result *pub = &res[m->n_subs];
        uint64_t sleeps = 0;

        if (pub->aux[1] != UINT64_MAX && pub->aux[1] != n)
                broker_mismatches++;
        broker_wakes = broker_wakes && pub->aux[0] != UINT64_MAX;
        for (unsigned s = 0; s < m->n_subs; s++)
                sleeps += res[s].aux[3];
        if (round >= ROUNDS_MAX)
                return;
        m->wakes[round] = per_msg(pub->aux[0], n);
        m->writes[round] = per_msg(pub->aux[2], n);
        m->pub_sleeps[round] = per_msg(pub->aux[3], n);
        m->sub_sleeps[round] = per_msg(sleeps, n * m->n_subs);
}

/* Runs @n messages through @m (@round: ROUNDS_MAX when calibrating), into *@contention.
 * Return: messages delivered per second, summed over receivers. */
static double run_flow(struct meas *m, uint64_t n, unsigned round, double *contention) {
        struct work k[WORK_FDS_MAX + 1];
        struct bench_proc p[WORK_FDS_MAX + 1];
        struct bench_result res[WORK_FDS_MAX + 1];
        size_t ps = m->kind == K_MEMCPY ? 0 : m->n_subs;
        uint64_t t_last = 0;

        if (m->kind == K_MEMCPY) {
                k[0] = work_of(m, n);
                bench_spawn_or_die(cpu_pub, work_memcpy, &k[0], &p[0]);
        } else {
                flow_spawn(m, n, k, p);
        }
        bench_run_or_die(p, ps + 1, res);
        *contention = bench_contention(p, res, ps + 1);
        for (size_t s = 0; s < ps; s++) {
                if (res[s].count != n || res[ps].count != n)
                        bench_die("%s: sent %llu, receiver %zu got %llu of %llu", k[0].channel,
                                  (unsigned long long)res[ps].count, s,
                                  (unsigned long long)res[s].count, (unsigned long long)n);
                t_last = res[s].t_last_ns > t_last ? res[s].t_last_ns : t_last;
        }
        if (m->kind == K_MEMCPY)
                t_last = res[0].t_last_ns;
        if (m->kind == K_RING)
                flow_counters(m, n, res, round);
        if (t_last <= res[ps].t_first_ns)
                bench_die("%s: last receive before first send", k[0].channel);
        return (double)(n * (ps ? ps : 1)) * 1e9 / (double)(t_last - res[ps].t_first_ns);
}

static void run_rtt(struct meas *m, unsigned round, double *contention) {
        struct work k = work_of(m, m->n), k2;
        struct bench_proc p[2];
        struct bench_result res[2];

        (void)snprintf(k.channel, sizeof(k.channel), "bench.ping.%u", ++run_serial);
        (void)snprintf(k.channel2, sizeof(k.channel2), "bench.pong.%u", run_serial);
        k.fds[0] = k.fds[1] = -1;
        if (m->kind == K_RTT_EFD) {
                k.fds[0] = eventfd(0, EFD_CLOEXEC);
                k.fds[1] = eventfd(0, EFD_CLOEXEC);
                if (k.fds[0] < 0 || k.fds[1] < 0)
                        bench_die("eventfd: %s", strerror(errno));
        }
        k2 = k;
        k2.fds[0] = k.fds[1];
        k2.fds[1] = k.fds[0];
        bench_spawn_or_die(cpu_sub, work_rtt_pong, &k2, &p[0]);
        bench_spawn_or_die(cpu_pub, work_rtt_ping, &k, &p[1]);
        for (int i = 0; i < 2; i++)
                if (k.fds[i] >= 0)
                        (void)close(k.fds[i]);
        bench_run_or_die(p, 2, res);
        *contention = bench_contention(p, res, 2);
        m->value[round] = res[1].p50_us;
        m->p99[round] = res[1].p99_us;
}

/* A short first run per flow warms up and sizes the rounds to about @target_s each. */
static void calibrate(struct meas *m, double target_s) {
        uint64_t pilot = PILOT_BYTES / m->size, n;
        double contention;

        pilot = pilot < PILOT_MIN ? PILOT_MIN : pilot;
        n = (uint64_t)(run_flow(m, pilot, ROUNDS_MAX, &contention) / m->n_subs * target_s);
        m->n = n < PILOT_MIN ? PILOT_MIN : n;
}

/* --verbose: one line per measurement; ring flows add their counters per message. */
static void print_measurement(const struct meas *m, unsigned round, double contention) {
        fprintf(stderr, "  %-10s round %u: %.4g, kept off CPU %.1f%%", m->id, round + 1,
                m->value[round], contention * 100);
        if (m->kind == K_RING)
                fprintf(stderr, ", efd writes %.5f, pub sleeps %.5f, sub sleeps %.5f",
                        m->wakes[round], m->pub_sleeps[round], m->sub_sleeps[round]);
        fputc('\n', stderr);
}

/*
 * One round of @m. Other processes on the pinned CPUs (a shared host)
 * make a figure meaningless, so a contended measurement is repeated, up
 * to ATTEMPTS_MAX times; the last one is kept and marked.
 */
static void run_one(struct meas *m, unsigned round, bool verbose) {
        double contention = 0;

        for (unsigned attempt = 1; attempt <= ATTEMPTS_MAX; attempt++) {
                if (m->kind == K_RTT_RING || m->kind == K_RTT_EFD)
                        run_rtt(m, round, &contention);
                else
                        m->value[round] = run_flow(m, m->n, round, &contention);
                if (verbose)
                        print_measurement(m, round, contention);
                if (contention <= BENCH_CONTENDED)
                        return;
                n_repeated += attempt < ATTEMPTS_MAX;
        }
        m->contended[round] = true;
        n_contended++;
}

/* ---- Report ----------------------------------------------------------- */

/* Wake-ups: the broker's count, or the publisher's write syscalls when it reports none. */
static double metric_value(const struct meas *m, enum metric metric, unsigned round) {
        switch (metric) {
        case MBYTES:
                return m->value[round] * (double)m->size / 1e6;
        case P99:
                return m->p99[round];
        case WAKES:
                return broker_wakes ? m->wakes[round] : m->writes[round];
        default:
                return m->value[round];
        }
}

static double median_of(const double *values, unsigned rounds) {
        double v[ROUNDS_MAX];

        memcpy(v, values, rounds * sizeof(*v));
        return bench_median(v, rounds);
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
        else if (metric == WAKES)
                (void)snprintf(buf, size, "%.5f", v);
        else
                (void)snprintf(buf, size, "%.2f", v);
}

static void format_goal(char *buf, size_t size, const struct goal *g, enum metric metric) {
        const char *op = g->check == RATIO_GE || g->check == ABS_GE ? ">=" : "<=";
        char v[20];

        if (g->check == RATIO_GE || g->check == RATIO_LE) {
                (void)snprintf(buf, size, "%s%gx", op, g->limit);
                return;
        }
        format_value(v, sizeof(v), metric, g->limit);
        (void)snprintf(buf, size, "%s%s", op, v);
}

/* Whether the row's medians (@ours, and @ratio to the baseline) meet @g. */
static bool goal_met(const struct goal *g, double ours, double ratio) {
        switch (g->check) {
        case RATIO_GE:
                return ratio >= g->limit;
        case RATIO_LE:
                return ratio <= g->limit;
        case ABS_GE:
                return ours >= g->limit;
        case ABS_LE:
                return ours <= g->limit;
        default:
                return true;
        }
}

/* Targets and verdict, e.g. ">=20x >=15.00 M" and "met" or "MISSED". */
static void print_goals(const struct row *w, double ours, double ratio, unsigned *missed) {
        char text[48] = "", one[24];
        bool ok = true;

        for (size_t i = 0; i < 2 && w->goal[i].check != NONE; i++) {
                format_goal(one, sizeof(one), &w->goal[i], w->metric);
                (void)snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s%s",
                               i ? " " : "", one);
                ok = ok && goal_met(&w->goal[i], ours, ratio);
        }
        if (w->goal[0].check == NONE) {
                printf("  %-16s %s\n", "-", "-");
                return;
        }
        printf("  %-16s %s\n", text, ok ? "met" : "MISSED");
        *missed += !ok;
}

static bool any_contended(int i, unsigned rounds) {
        for (unsigned r = 0; i >= 0 && r < rounds; r++)
                if (meas[i].contended[r])
                        return true;
        return false;
}

/* The medians, their ratio, the lowest and highest ratio of a single round, the targets. */
static void print_row(const struct row *w, unsigned rounds, unsigned *missed) {
        const struct meas *o = &meas[w->ours];
        double lo = 1e300, hi = 0, mo = metric_median(w->ours, w->metric, rounds), mb = 0;
        char so[24], sb[24] = "-", sr[16] = "-", range[24] = "-";
        bool mark = any_contended(w->ours, rounds) || any_contended(w->base, rounds);

        format_value(so, sizeof(so), w->metric, mo);
        if (w->base >= 0) {
                for (unsigned r = 0; r < rounds; r++) {
                        double ratio = metric_value(o, w->metric, r) /
                                       metric_value(&meas[w->base], w->metric, r);

                        lo = ratio < lo ? ratio : lo;
                        hi = ratio > hi ? ratio : hi;
                }
                mb = metric_median(w->base, w->metric, rounds);
                format_value(sb, sizeof(sb), w->metric, mb);
                (void)snprintf(sr, sizeof(sr), "%.2fx", mo / mb);
                (void)snprintf(range, sizeof(range), "%.2f-%.2f", lo, hi);
        }
        printf("%-30s %10s %10s %8s  %-11s", w->label, so, sb, sr, range);
        printf("%s", mark ? "*" : " ");
        print_goals(w, mo, mb > 0 ? mo / mb : 0, missed);
}

static void format_counter(char *buf, size_t size, const double *v, unsigned rounds) {
        double m = median_of(v, rounds);

        if (m < 0)
                (void)snprintf(buf, size, "n/a");
        else
                (void)snprintf(buf, size, "%.5f", m);
}

/* Per ring flow: what each message cost in wake-ups, syscalls and sleeps. */
static void print_counters(unsigned rounds) {
        printf("\n%-26s %12s %12s %12s %12s\n", "counters per message", "efd(broker)",
               "pub write()", "pub sleeps", "sub sleeps");
        for (size_t i = 0; i < _M_MAX; i++) {
                const struct meas *m = &meas[i];
                char c[4][24];

                if (m->kind != K_RING)
                        continue;
                format_counter(c[0], sizeof(c[0]), m->wakes, rounds);
                format_counter(c[1], sizeof(c[1]), m->writes, rounds);
                format_counter(c[2], sizeof(c[2]), m->pub_sleeps, rounds);
                format_counter(c[3], sizeof(c[3]), m->sub_sleeps, rounds);
                printf("%-26s %12s %12s %12s %12s\n", m->name, c[0], c[1], c[2], c[3]);
        }
}

static void print_notes(const struct options *o) {
        printf("\nratio = median ours / median baseline; msg/s and MB/s: higher is better, rtt\n"
               "(p50/p99 round trip) and efd writes/msg: lower is better. round range: lowest\n"
               "and highest ratio within one round. Flows sized to ~%.2f s by a calibration\n"
               "run; rtt: %u round trips after %d warm-up. Ring: the broker's defaults (4 MiB,\n"
               "block), publisher ipc_publish() (MORE: IPC_PUBLISH_MORE on every message, one\n"
               "ipc_client_flush() at the end), subscribers ipc_client_receive() with copy-out\n"
               "and ipc_msg_release(); rtt spin: ipc_options_set_spin(%d us) on both sides.\n"
               "Baselines: one write() per message on a socketpair (1->4: four), the reader\n"
               "read()ing %d KiB at a time; eventfd ping-pong between the same two CPUs;\n"
               "memcpy of 64 KiB blocks cycling through 4 MiB in one process.\n"
               "efd writes/msg: %s\n"
               "Counters: efd(broker) = the broker's wakeups / messages (n/a: not reported);\n"
               "pub write() = publisher write syscalls (/proc/self/io syscw) / messages;\n"
               "sleeps = voluntary context switches / messages (per subscriber).\n",
               o->target_s, o->rtt_count, WORK_RTT_WARMUP, SPIN_USEC, WORK_READ_BYTES / 1024,
               broker_wakes ? "the broker's stats, channel_stats[].clients[].wakeups / messages"
                            : "FALLBACK: the broker's stats report no clients[].wakeups, so this\n"
                              "is the publisher's write syscalls per message (an upper bound)");
        printf("Contention: %u measurements were repeated because other tasks kept a worker off\n"
               "its CPU for over %.0f%% of the run; %u stayed so after %d runs (rows marked *).\n",
               n_repeated, BENCH_CONTENDED * 100, n_contended, ATTEMPTS_MAX);
        if (broker_mismatches)
                printf("WARNING: in %u runs the broker's published count for the publisher "
                       "differed from what it sent\n",
                       broker_mismatches);
}

static unsigned print_report(const struct options *o) {
        unsigned missed = 0, with_goal = 0;

        printf("\n%-30s %10s %10s %8s  %-11s   %-16s %s\n", "figure (ring)", "value", "baseline",
               "ratio", "round range", "target", "result");
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                print_row(&rows[i], o->rounds, &missed);
                with_goal += rows[i].goal[0].check != NONE;
        }
        print_counters(o->rounds);
        print_notes(o);
        printf("\ntargets: %u met, %u missed\n", with_goal - missed, missed);
        return missed;
}

/* ---- Main ------------------------------------------------------------- */

static void usage(FILE *f) {
        fprintf(f,
                "Usage: bench-client [OPTIONS] [BROKERD]\n"
                "Measure libipcclient over the shared-memory ring, with a real ipc-brokerd,\n"
                "against raw AF_UNIX, eventfd and memcpy baselines in the same run.\n\n"
                "  BROKERD            the ipc-brokerd binary (default: $IPC_BROKERD)\n"
                "  -q, --quick        3 rounds of ~0.2 s, 5000 round trips (default 5, ~0.5 s,\n"
                "                     20000)\n"
                "  -r, --rounds N     rounds (1..%d)\n"
                "  -v, --verbose      print every measurement and its contention to stderr\n"
                "  -h, --help         print this help and exit\n\n"
                "Needs 2 CPUs: publishers run on the first, subscribers on the second.\n"
                "Exit status: 0, also when a target is missed (see the table); 1 on errors.\n",
                ROUNDS_MAX);
}

static void parse_args(int argc, char **argv, struct options *o) {
        static const struct option longopts[] = {
                {"quick", no_argument, NULL, 'q'},
                {"rounds", required_argument, NULL, 'r'},
                {"verbose", no_argument, NULL, 'v'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        int c, rounds = 0;
        bool verbose = false;

        *o = (struct options){.rounds = 5, .rtt_count = 20000, .target_s = 0.5};
        while ((c = getopt_long(argc, argv, "qr:vh", longopts, NULL)) >= 0) {
                if (c == 'q') {
                        *o = (struct options){.rounds = 3, .rtt_count = 5000, .target_s = 0.2};
                } else if (c == 'v') {
                        verbose = true;
                } else if (c == 'r') {
                        rounds = atoi(optarg);
                        if (rounds < 1 || rounds > ROUNDS_MAX)
                                bench_die("--rounds: expected 1..%d", ROUNDS_MAX);
                } else if (c == 'h') {
                        usage(stdout);
                        exit(0);
                } else {
                        usage(stderr);
                        exit(2);
                }
        }
        o->rounds = rounds ? (unsigned)rounds : o->rounds;
        o->verbose = verbose;
        o->brokerd = optind < argc ? argv[optind++] : getenv("IPC_BROKERD");
        if (optind < argc)
                bench_die("unexpected argument '%s'", argv[optind]);
        if (!o->brokerd || !*o->brokerd)
                bench_die("no broker: pass the ipc-brokerd path or set IPC_BROKERD");
}

static void setup(const struct options *o) {
        int cpus[2] = {0, 0}, n = bench_pick_cpus(cpus);
        const char *forced = getenv(IPC_TRANSPORT_ENV);

        (void)signal(SIGPIPE, SIG_IGN);
        if (n == 0)
                bench_die("sched_getaffinity: no usable CPU");
        if (forced && *forced)
                bench_die("%s=%s is set: the ring would not be used; unset it", IPC_TRANSPORT_ENV,
                          forced);
        cpu_pub = cpus[0];
        cpu_sub = cpus[n - 1];
        if (bench_broker_start(o->brokerd, &broker) < 0)
                exit(1);
        (void)atexit(stop_broker);
        printf("bench-client: libipcclient over the ring, %s, %u rounds interleaved (order\n"
               "reversed every other round), medians\n",
               o->brokerd, o->rounds);
        printf("pinning: publisher/pinger CPU %d, subscribers/ponger CPU %d, broker unpinned "
               "(%ld CPUs online)\n",
               cpu_pub, cpu_sub, sysconf(_SC_NPROCESSORS_ONLN));
        if (n < 2)
                printf("warning: one CPU only: both sides share it, figures mean little\n");
}

int main(int argc, char **argv) {
        struct options o;

        bench_set_name("bench-client");
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
                        run_one(&meas[r % 2 ? _M_MAX - 1 - j : j], r, o.verbose);
                fprintf(stderr, "round %u/%u done\n", r + 1, o.rounds);
        }
        (void)print_report(&o);
        return 0;
}
