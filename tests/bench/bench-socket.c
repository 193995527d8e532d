/* SPDX-License-Identifier: MIT */
/*
 * bench-socket: the broker's socket path (libipcclient -> ipc-brokerd ->
 * libipcclient) against raw sockets and eventfds measured in the same run.
 * Absolute figures swing up to 3x between runs on a shared 2-vCPU host, so
 * only the ratio to a same-run baseline means anything: rounds interleave
 * every measurement (order reversed every other round) and medians are
 * printed. Publisher and subscribers are separate processes pinned to CPU 0
 * and CPU 1; the broker is left to the scheduler, as in production. Every
 * client forces the socket transport (IPC_TRANSPORT_SOCKET) and checks it
 * got it: the shared-memory ring, the default for a local broker, is
 * bench-client's subject.
 *
 * Rate = messages received by all subscribers / (last receive - first
 * send), the two clock readings taken in different processes on
 * CLOCK_MONOTONIC. Channels use the default "block" policy, so every
 * message must arrive: the subscribers check count, size and sequence, and
 * the broker's own counters are checked against ours at the end.
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

#define ROUNDS_MAX  99
#define PILOT_BYTES (4u << 20) /* calibration run: this much payload, */
#define PILOT_MIN   2000       /* and at least this many messages */

/* One measured configuration; rounds fill value[] (msg/s, or p50 in us) and p99[]. */
struct meas {
        enum work_path path;
        size_t size;     /* payload bytes */
        unsigned n_subs; /* flows: receivers; 0 marks a round-trip test */
        unsigned flags;  /* ipc_publish() flags */
        uint64_t n;      /* messages (round trips) per round */
        double value[ROUNDS_MAX];
        double p99[ROUNDS_MAX];
};

enum {
        M_U64_MORE,
        M_U64_PLAIN,
        M_U64_RAW,
        M_U1K,
        M_U1K_RAW,
        M_U64K,
        M_U64K_RAW,
        M_T64,
        M_T64_RAW,
        M_T1K,
        M_T1K_RAW,
        M_T64K,
        M_T64K_RAW,
        M_FAN,
        M_FAN_RAW,
        M_RTT,
        M_RTT_EFD,
        M_RTT_UNIX,
        _M_MAX
};

#define MORE IPC_PUBLISH_MORE
static struct meas meas[_M_MAX] = {
        [M_U64_MORE] = {PATH_IPC_UNIX, 64, 1, MORE},
        [M_U64_PLAIN] = {PATH_IPC_UNIX, 64, 1, 0},
        [M_U64_RAW] = {PATH_RAW_UNIX, 64, 1},
        [M_U1K] = {PATH_IPC_UNIX, 1024, 1, MORE},
        [M_U1K_RAW] = {PATH_RAW_UNIX, 1024, 1},
        [M_U64K] = {PATH_IPC_UNIX, 65536, 1, MORE},
        [M_U64K_RAW] = {PATH_RAW_UNIX, 65536, 1},
        [M_T64] = {PATH_IPC_TCP, 64, 1, MORE},
        [M_T64_RAW] = {PATH_RAW_TCP, 64, 1},
        [M_T1K] = {PATH_IPC_TCP, 1024, 1, MORE},
        [M_T1K_RAW] = {PATH_RAW_TCP, 1024, 1},
        [M_T64K] = {PATH_IPC_TCP, 65536, 1, MORE},
        [M_T64K_RAW] = {PATH_RAW_TCP, 65536, 1},
        [M_FAN] = {PATH_IPC_UNIX, 64, 4, MORE},
        [M_FAN_RAW] = {PATH_RAW_UNIX, 64, 4},
        [M_RTT] = {PATH_IPC_UNIX, WORK_RTT_SIZE},
        [M_RTT_EFD] = {PATH_EVENTFD, 8},
        [M_RTT_UNIX] = {PATH_RAW_UNIX, WORK_RTT_SIZE},
};

enum metric { MSGS, MBYTES, P50, P99 };

/* One line of the table: @ours beside @base. */
static const struct row {
        const char *label;
        int ours, base;
        enum metric metric;
} rows[] = {
        {"unix 64B msg/s (MORE)", M_U64_MORE, M_U64_RAW, MSGS},
        {"unix 64B msg/s (no MORE)", M_U64_PLAIN, M_U64_RAW, MSGS},
        {"unix 1KiB MB/s", M_U1K, M_U1K_RAW, MBYTES},
        {"unix 64KiB MB/s", M_U64K, M_U64K_RAW, MBYTES},
        {"tcp 64B msg/s", M_T64, M_T64_RAW, MSGS},
        {"tcp 1KiB MB/s", M_T1K, M_T1K_RAW, MBYTES},
        {"tcp 64KiB MB/s", M_T64K, M_T64K_RAW, MBYTES},
        {"unix 1->4 64B msg/s (sum)", M_FAN, M_FAN_RAW, MSGS},
        {"rtt 64B p50 us (eventfd)", M_RTT, M_RTT_EFD, P50},
        {"rtt 64B p99 us (eventfd)", M_RTT, M_RTT_EFD, P99},
        {"rtt 64B p50 us (unix)", M_RTT, M_RTT_UNIX, P50},
        {"rtt 64B p99 us (unix)", M_RTT, M_RTT_UNIX, P99},
};

static struct bench_broker broker = {.pid = -1, .pidfd = -1};
static int cpu_pub, cpu_sub;
static unsigned run_serial;
/* What the broker must have counted by the end (ipc runs only). */
static uint64_t expect_published, expect_delivered;

static void stop_broker(void) {
        bench_broker_stop(&broker);
}

/* ---- Running one measurement ------------------------------------------ */

static bool is_raw(const struct meas *m) {
        return m->path == PATH_RAW_UNIX || m->path == PATH_RAW_TCP;
}

/* What every worker of @m shares; fds and channels are filled in by the caller. */
static struct work work_of(const struct meas *m, uint64_t n) {
        return (struct work){
                .path = m->path,
                .size = m->size,
                .flags = m->flags,
                .n = n,
                .address = m->path == PATH_IPC_TCP ? broker.tcp_address : broker.unix_address,
                .n_fds = m->n_subs,
        };
}

/* The raw path's connected pairs: [i][0] for the sender, [i][1] for receiver i. */
static void raw_pairs(const struct meas *m, int pairs[][2]) {
        for (unsigned i = 0; i < m->n_subs; i++) {
                int r = m->path == PATH_RAW_TCP ? bench_tcp_pair(pairs[i]) : 0;

                if (m->path == PATH_RAW_UNIX &&
                    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pairs[i]) < 0)
                        r = -errno;
                if (r < 0)
                        bench_die("socket pair: %s", strerror(-r));
        }
}

/* Spawns the receivers on the subscriber CPU into p[0..n_subs-1], then the sender. */
static void flow_spawn(const struct meas *m, uint64_t n, struct work *k, struct bench_proc *p) {
        int pairs[WORK_FDS_MAX][2] = {};
        unsigned s;

        k[0] = work_of(m, n);
        (void)snprintf(k[0].channel, sizeof(k[0].channel), "bench.flow.%u", ++run_serial);
        if (is_raw(m))
                raw_pairs(m, pairs);
        for (s = 0; s < m->n_subs; s++) {
                k[s + 1] = k[0];
                k[s + 1].fds[0] = pairs[s][1];
                k[0].fds[s] = pairs[s][0];
                bench_spawn_or_die(cpu_sub, is_raw(m) ? work_raw_recv : work_ipc_recv, &k[s + 1], &p[s]);
        }
        bench_spawn_or_die(cpu_pub, is_raw(m) ? work_raw_send : work_ipc_send, &k[0], &p[s]);
        /* The workers hold their ends now. */
        for (s = 0; is_raw(m) && s < m->n_subs; s++) {
                (void)close(pairs[s][0]);
                (void)close(pairs[s][1]);
        }
}

/* Runs @n messages through @m. Return: messages delivered per second, summed over receivers. */
static double run_flow(const struct meas *m, uint64_t n) {
        struct work k[WORK_FDS_MAX + 1];
        struct bench_proc p[WORK_FDS_MAX + 1];
        struct bench_result res[WORK_FDS_MAX + 1];
        size_t ps = m->n_subs;
        uint64_t t_last = 0;

        flow_spawn(m, n, k, p);
        bench_run_or_die(p, ps + 1, res);
        for (size_t s = 0; s < ps; s++) {
                if (res[s].count != n || res[ps].count != n)
                        bench_die("%s: sent %llu, receiver %zu got %llu of %llu", k[0].channel,
                                  (unsigned long long)res[ps].count, s,
                                  (unsigned long long)res[s].count, (unsigned long long)n);
                t_last = res[s].t_last_ns > t_last ? res[s].t_last_ns : t_last;
        }
        if (!is_raw(m)) {
                expect_published += n;
                expect_delivered += n * ps;
        }
        if (t_last <= res[ps].t_first_ns)
                bench_die("%s: last receive before first send", k[0].channel);
        return (double)(n * ps) * 1e9 / (double)(t_last - res[ps].t_first_ns);
}

/* eventfds: both sides share them, swapped; a socket pair: one end each. */
static void rtt_fds(const struct meas *m, struct work *ping, struct work *pong) {
        int fds[2] = {-1, -1};

        if (m->path == PATH_EVENTFD) {
                fds[0] = eventfd(0, EFD_CLOEXEC);
                fds[1] = eventfd(0, EFD_CLOEXEC);
                if (fds[0] < 0 || fds[1] < 0)
                        bench_die("eventfd: %s", strerror(errno));
        } else if (m->path == PATH_RAW_UNIX &&
                   socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) {
                bench_die("socketpair: %s", strerror(errno));
        }
        ping->fds[0] = pong->fds[1] = fds[0];
        ping->fds[1] = pong->fds[0] = fds[1];
}

static void run_rtt(struct meas *m, unsigned round) {
        struct work k = work_of(m, m->n), k2;
        struct bench_proc p[2];
        struct bench_result res[2];

        (void)snprintf(k.channel, sizeof(k.channel), "bench.ping.%u", ++run_serial);
        (void)snprintf(k.channel2, sizeof(k.channel2), "bench.pong.%u", run_serial);
        k2 = k;
        rtt_fds(m, &k, &k2);
        bench_spawn_or_die(cpu_sub, work_rtt_pong, &k2, &p[0]);
        bench_spawn_or_die(cpu_pub, work_rtt_ping, &k, &p[1]);
        for (int i = 0; i < 2; i++)
                if (k.fds[i] >= 0)
                        (void)close(k.fds[i]);
        bench_run_or_die(p, 2, res);
        m->value[round] = res[1].p50_us;
        m->p99[round] = res[1].p99_us;
        if (m->path == PATH_IPC_UNIX) {
                expect_published += 2 * (WORK_RTT_WARMUP + m->n);
                expect_delivered += 2 * (WORK_RTT_WARMUP + m->n);
        }
}

/* A short first run per flow warms up and sizes the rounds to about @target_s each. */
static void calibrate(struct meas *m, double target_s) {
        uint64_t pilot = PILOT_BYTES / m->size, n;

        pilot = pilot < PILOT_MIN ? PILOT_MIN : pilot;
        n = (uint64_t)(run_flow(m, pilot) / m->n_subs * target_s);
        m->n = n < PILOT_MIN ? PILOT_MIN : n;
}

static void run_one(struct meas *m, unsigned round) {
        if (m->n_subs == 0)
                run_rtt(m, round);
        else
                m->value[round] = run_flow(m, m->n);
}

/* ---- Report ----------------------------------------------------------- */

struct options {
        const char *brokerd;
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
        default:
                return m->value[round];
        }
}

static double metric_median(const struct meas *m, enum metric metric, unsigned rounds) {
        double v[ROUNDS_MAX];

        for (unsigned r = 0; r < rounds; r++)
                v[r] = metric_value(m, metric, r);
        return bench_median(v, rounds);
}

static void format_value(char *buf, size_t size, enum metric metric, double v) {
        if (metric == MSGS && v >= 1e6)
                (void)snprintf(buf, size, "%.2f M", v / 1e6);
        else if (metric == MSGS)
                (void)snprintf(buf, size, "%.1f k", v / 1e3);
        else
                (void)snprintf(buf, size, "%.1f", v);
}

static void format_count(char *buf, size_t size, uint64_t n) {
        if (n >= 10000)
                (void)snprintf(buf, size, "%lluk", (unsigned long long)(n / 1000));
        else
                (void)snprintf(buf, size, "%llu", (unsigned long long)n);
}

/* The medians, their ratio, the lowest and highest ratio of a single round, and n. */
static void print_row(const struct row *w, unsigned rounds) {
        const struct meas *o = &meas[w->ours], *b = &meas[w->base];
        double lo = 1e300, hi = 0, mo, mb;
        char so[24], sb[24], no[24], nb[24];

        for (unsigned r = 0; r < rounds; r++) {
                double ratio = metric_value(o, w->metric, r) / metric_value(b, w->metric, r);

                lo = ratio < lo ? ratio : lo;
                hi = ratio > hi ? ratio : hi;
        }
        mo = metric_median(o, w->metric, rounds);
        mb = metric_median(b, w->metric, rounds);
        format_value(so, sizeof(so), w->metric, mo);
        format_value(sb, sizeof(sb), w->metric, mb);
        format_count(no, sizeof(no), o->n);
        format_count(nb, sizeof(nb), b->n);
        printf("%-26s %10s %10s %7.2fx  %5.2f-%-5.2f  %s/%s\n", w->label, so, sb, mo / mb, lo, hi,
               no, nb);
}

static void print_table(const struct options *o) {
        printf("\n%-26s %10s %10s %8s  %-11s  %s\n", "test", "ours", "baseline", "ratio",
               "round range", "n/round");
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
                print_row(&rows[i], o->rounds);
        printf("\nratio = median ours / median baseline; msg/s and MB/s: higher is better, rtt\n"
               "(p50/p99 round trip): lower is better. round range: lowest and highest ratio\n"
               "within one round. n/round: messages (round trips) per round, ours/baseline;\n"
               "flows sized to ~%.2f s by a first calibration run, rtt after %d warm-up.\n"
               "Baselines: one write() per message on a raw socket (unix: socketpair, tcp:\n"
               "127.0.0.1 pair with TCP_NODELAY like the broker's, 1->4: four socketpairs),\n"
               "the reader read()ing %d KiB at a time; rtt: eventfd or 64-byte AF_UNIX\n"
               "ping-pong between the same two CPUs.\n",
               o->target_s, WORK_RTT_WARMUP, WORK_READ_BYTES / 1024);
}

static uint64_t json_u64(json_t *o, const char *key) {
        json_t *v = json_object_get(o, key);

        return json_is_integer(v) ? (uint64_t)json_integer_value(v) : UINT64_MAX;
}

/* The broker must have counted exactly what we sent and received, and dropped nothing. */
static void check_broker_stats(void) {
        ipc_client *c = NULL;
        char *text = NULL;
        json_t *o = NULL;
        struct work k = {.path = PATH_IPC_UNIX, .address = broker.unix_address};
        int r = work_connect(&k, &c);

        if (r >= 0)
                r = ipc_client_stats(c, 5000000, &text);
        if (r >= 0 && !(o = json_loads(text, 0, NULL)))
                r = -EPROTO;
        if (r < 0)
                bench_die("broker stats: %s", ipc_strerror(r));
        printf("broker stats: published %llu (expected %llu), delivered %llu (expected %llu), "
               "dropped %llu, slow disconnects %llu\n",
               (unsigned long long)json_u64(o, "published"), (unsigned long long)expect_published,
               (unsigned long long)json_u64(o, "delivered"), (unsigned long long)expect_delivered,
               (unsigned long long)json_u64(o, "dropped"),
               (unsigned long long)json_u64(o, "slow_disconnects"));
        if (json_u64(o, "published") != expect_published ||
            json_u64(o, "delivered") != expect_delivered || json_u64(o, "dropped") != 0 ||
            json_u64(o, "slow_disconnects") != 0)
                bench_die("broker counters disagree with what the benchmark saw");
        json_decref(o);
        ipc_free(text);
        ipc_client_free(c);
}

/* ---- Main ------------------------------------------------------------- */

static void usage(FILE *f) {
        fprintf(f,
                "Usage: bench-socket [OPTIONS] [BROKERD]\n"
                "Measure ipc-brokerd's socket path against raw sockets in the same run.\n\n"
                "  BROKERD            the ipc-brokerd binary (default: $IPC_BROKERD)\n"
                "  -q, --quick        3 rounds of ~0.25 s, 5000 round trips (default 5, ~0.6 s,\n"
                "                     20000)\n"
                "  -r, --rounds N     rounds (1..%d)\n"
                "  -h, --help         print this help and exit\n\n"
                "Needs 2 CPUs: publishers run on CPU 0, subscribers on CPU 1.\n",
                ROUNDS_MAX);
}

static void parse_args(int argc, char **argv, struct options *o) {
        static const struct option longopts[] = {
                {"quick", no_argument, NULL, 'q'},
                {"rounds", required_argument, NULL, 'r'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        int c, rounds = 0;

        *o = (struct options){.rounds = 5, .rtt_count = 20000, .target_s = 0.6};
        while ((c = getopt_long(argc, argv, "qr:h", longopts, NULL)) >= 0) {
                if (c == 'q') {
                        *o = (struct options){.rounds = 3, .rtt_count = 5000, .target_s = 0.25};
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
        o->brokerd = optind < argc ? argv[optind++] : getenv("IPC_BROKERD");
        if (optind < argc)
                bench_die("unexpected argument '%s'", argv[optind]);
        if (!o->brokerd || !*o->brokerd)
                bench_die("no broker: pass the ipc-brokerd path or set IPC_BROKERD");
}

static void setup(const struct options *o) {
        int cpus[2] = {0, 0}, n = bench_pick_cpus(cpus);

        (void)signal(SIGPIPE, SIG_IGN);
        if (n == 0)
                bench_die("sched_getaffinity: no usable CPU");
        cpu_pub = cpus[0];
        cpu_sub = cpus[n - 1];
        if (bench_broker_start(o->brokerd, &broker) < 0)
                exit(1);
        (void)atexit(stop_broker);
        printf("bench-socket: %s, %u rounds interleaved (order reversed every other round), "
               "medians\n",
               o->brokerd, o->rounds);
        printf("pinning: publisher/pinger CPU %d, subscribers/ponger CPU %d, broker unpinned "
               "(%ld CPUs online)\n",
               cpu_pub, cpu_sub, sysconf(_SC_NPROCESSORS_ONLN));
        if (n < 2)
                printf("warning: one CPU only: both sides share it, figures mean little\n");
}

int main(int argc, char **argv) {
        struct options o;

        parse_args(argc, argv, &o);
        setup(&o);
        for (size_t i = 0; i < _M_MAX; i++) {
                if (meas[i].n_subs > 0)
                        calibrate(&meas[i], o.target_s);
                else
                        meas[i].n = o.rtt_count;
        }
        for (unsigned r = 0; r < o.rounds; r++) {
                for (size_t j = 0; j < _M_MAX; j++)
                        run_one(&meas[r % 2 ? _M_MAX - 1 - j : j], r);
                fprintf(stderr, "round %u/%u done\n", r + 1, o.rounds);
        }
        print_table(&o);
        check_broker_stats();
        return 0;
}
