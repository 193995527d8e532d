/* SPDX-License-Identifier: MIT */
/*
 * Benchmark helpers (see bench-util.h). Waits are poll()s on pipes, a
 * pidfd or the notify socket with deadlines, never sleeps.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"

extern char **environ;

static const char *bench_name = "bench-socket";

uint64_t bench_now_ns(void) {
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * BENCH_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

static int ms_until(uint64_t deadline_ns) {
        uint64_t now = bench_now_ns(), ms;

        if (now >= deadline_ns)
                return 0;
        ms = (deadline_ns - now + 999999) / 1000000;
        return ms > INT_MAX ? INT_MAX : (int)ms;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

        return (x > y) - (x < y);
}

double bench_median(double *v, size_t n) {
        if (n == 0)
                return 0;
        qsort(v, n, sizeof(*v), cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double bench_percentile_us(uint64_t *ns, size_t n, double p) {
        size_t i;

        if (n == 0)
                return 0;
        qsort(ns, n, sizeof(*ns), cmp_u64);
        i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
        return (double)ns[i < n ? i : n - 1] / (double)BENCH_NS_PER_USEC;
}

int bench_pick_cpus(int ret[2]) {
        cpu_set_t set;
        int n = 0;

        if (sched_getaffinity(0, sizeof(set), &set) < 0)
                return 0;
        for (int cpu = 0; cpu < CPU_SETSIZE && n < 2; cpu++)
                if (CPU_ISSET(cpu, &set))
                        ret[n++] = cpu;
        return n;
}

int bench_pin_cpu(int cpu) {
        cpu_set_t set;

        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        return sched_setaffinity(0, sizeof(set), &set) < 0 ? -errno : 0;
}

/* Nanoseconds the calling thread spent runnable, waiting for its CPU (0 if unknown). */
static uint64_t sched_wait_ns(void) {
        unsigned long long run, wait = 0;
        FILE *f = fopen("/proc/thread-self/schedstat", "re");

        if (f && fscanf(f, "%llu %llu", &run, &wait) != 2)
                wait = 0;
        if (f)
                (void)fclose(f);
        return wait;
}

/* Outside the measured loops only: it opens and reads a file. */
void bench_usage_get(struct bench_usage *ret) {
        struct rusage ru = {};
        char line[64];
        FILE *f = fopen("/proc/self/io", "re");
        unsigned long long v;

        *ret = (struct bench_usage){.read_calls = UINT64_MAX, .write_calls = UINT64_MAX};
        while (f && fgets(line, sizeof(line), f)) {
                if (sscanf(line, "syscr: %llu", &v) == 1)
                        ret->read_calls = v;
                else if (sscanf(line, "syscw: %llu", &v) == 1)
                        ret->write_calls = v;
        }
        if (f)
                (void)fclose(f);
        if (getrusage(RUSAGE_SELF, &ru) == 0)
                ret->sleeps = (uint64_t)ru.ru_nvcsw;
}

void bench_set_name(const char *name) {
        bench_name = name;
}

void bench_die(const char *fmt, ...) {
        va_list ap;

        fflush(stdout);
        fprintf(stderr, "%s: ", bench_name);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        exit(1);
}

int bench_tcp_pair(int fds[2]) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(sa);
        int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, r = 0;

        fds[0] = fds[1] = -1;
        if (l < 0)
                return -errno;
        if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 1) < 0 ||
            getsockname(l, (struct sockaddr *)&sa, &len) < 0)
                r = -errno;
        if (r == 0 && (fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
                r = -errno;
        if (r == 0 && connect(fds[0], (struct sockaddr *)&sa, sizeof(sa)) < 0)
                r = -errno;
        if (r == 0 && (fds[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC)) < 0)
                r = -errno;
        (void)close(l);
        if (r < 0) {
                if (fds[0] >= 0)
                        (void)close(fds[0]);
                return r;
        }
        for (int i = 0; i < 2; i++)
                (void)setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        return 0;
}

/* ---- Broker ---------------------------------------------------------- */

static int free_tcp_port(void) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
                r = -errno;
        else
                r = ntohs(sa.sin_port);
        (void)close(fd);
        return r;
}

static void path_in(const struct bench_broker *b, const char *name, char *buf, size_t size) {
        (void)snprintf(buf, size, "%s/%s", b->dir, name);
}

static int bind_notify(const struct bench_broker *b) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -errno;
        path_in(b, "notify.sock", sa.sun_path, sizeof(sa.sun_path));
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int r = -errno;

                (void)close(fd);
                return r;
        }
        return fd;
}

/* The child: log to DIR/broker.log, a config of built-in defaults (no /etc file). */
__attribute__((noreturn)) static void broker_exec(const struct bench_broker *b, const char *path,
                                                  const char *tcp) {
        char sock[128], config[128], log[128], env[160];
        int fd;

        path_in(b, "broker.sock", sock, sizeof(sock));
        path_in(b, "config.json", config, sizeof(config));
        path_in(b, "broker.log", log, sizeof(log));
        path_in(b, "notify.sock", env + 14, sizeof(env) - 14);
        memcpy(env, "NOTIFY_SOCKET=", 14);
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
                _exit(127);
        (void)putenv(env);
        execl(path, path, "--socket", sock, "-c", config, "--listen", tcp, (char *)NULL);
        _exit(127);
}

static int write_config(const struct bench_broker *b) {
        char config[128];
        FILE *f;

        path_in(b, "config.json", config, sizeof(config));
        f = fopen(config, "we");
        if (!f)
                return -errno;
        (void)fputs("{}\n", f);
        return fclose(f) == 0 ? 0 : -EIO;
}

static int notify_wait_ready(int notify_fd, int pidfd) {
        uint64_t deadline = bench_now_ns() + BENCH_STALL_NS;

        for (;;) {
                struct pollfd p[2] = {{.fd = notify_fd, .events = POLLIN},
                                      {.fd = pidfd, .events = POLLIN}};
                char msg[4097];
                ssize_t n;
                int r = poll(p, 2, ms_until(deadline));

                if (r == 0)
                        return -ETIMEDOUT;
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r < 0)
                        continue;
                if (p[0].revents && (n = recv(notify_fd, msg, sizeof(msg) - 1, 0)) > 0) {
                        msg[n] = 0;
                        if (!strncmp(msg, "READY=1", 7) || strstr(msg, "\nREADY=1"))
                                return 0;
                        continue;
                }
                if (p[1].revents)
                        return -ECHILD;
        }
}

static void broker_print_log(const struct bench_broker *b) {
        char log[128], line[1024];
        FILE *f;

        path_in(b, "broker.log", log, sizeof(log));
        f = fopen(log, "re");
        if (!f)
                return;
        fputs("--- broker log ---\n", stderr);
        while (fgets(line, sizeof(line), f))
                fputs(line, stderr);
        fputs("--- end of broker log ---\n", stderr);
        (void)fclose(f);
}

static int broker_launch(struct bench_broker *b, const char *path) {
        int port = free_tcp_port(), notify_fd, r;

        if (port < 0)
                return port;
        (void)snprintf(b->tcp_address, sizeof(b->tcp_address), "tcp:127.0.0.1:%d", port);
        notify_fd = bind_notify(b);
        if (notify_fd < 0)
                return notify_fd;
        b->pid = fork();
        if (b->pid == 0)
                broker_exec(b, path, b->tcp_address);
        r = b->pid < 0 ? -errno : 0;
        if (r == 0 && (b->pidfd = pidfd_open(b->pid, 0)) < 0)
                r = -errno;
        if (r == 0)
                r = notify_wait_ready(notify_fd, b->pidfd);
        (void)close(notify_fd);
        return r;
}

int bench_broker_start(const char *path, struct bench_broker *b) {
        const char *tmp = getenv("TMPDIR");
        int r;

        *b = (struct bench_broker){.pid = -1, .pidfd = -1};
        if (access(path, X_OK) < 0) {
                r = -errno;
                fprintf(stderr, "%s: %s: %s\n", bench_name, path, strerror(-r));
                return r;
        }
        /* sun_path holds 108 bytes: keep the directory short. */
        if (!tmp || !*tmp || strlen(tmp) > 40)
                tmp = "/tmp";
        (void)snprintf(b->dir, sizeof(b->dir), "%s/ipc-bench-XXXXXX", tmp);
        if (!mkdtemp(b->dir))
                return -errno;
        (void)snprintf(b->unix_address, sizeof(b->unix_address), "unix:%s/broker.sock", b->dir);
        r = write_config(b);
        if (r == 0)
                r = broker_launch(b, path);
        if (r < 0) {
                fprintf(stderr, "%s: starting %s failed: %s\n", bench_name, path,
                        r == -ECHILD ? "it exited before READY=1" : strerror(-r));
                broker_print_log(b);
                bench_broker_stop(b);
        }
        return r;
}

void bench_broker_stop(struct bench_broker *b) {
        static const char *const files[] = {"broker.sock", "notify.sock", "config.json",
                                            "broker.log"};
        char path[128];

        if (b->pid > 0) {
                struct pollfd p = {.fd = b->pidfd, .events = POLLIN};

                (void)kill(b->pid, SIGTERM);
                if (b->pidfd < 0 || poll(&p, 1, (int)(BENCH_STALL_NS / 1000000)) <= 0)
                        (void)kill(b->pid, SIGKILL);
                (void)waitpid(b->pid, NULL, 0);
        }
        if (b->pidfd >= 0)
                (void)close(b->pidfd);
        b->pid = b->pidfd = -1;
        if (!b->dir[0])
                return;
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
                path_in(b, files[i], path, sizeof(path));
                (void)unlink(path);
        }
        (void)rmdir(b->dir);
        b->dir[0] = 0;
}

/* ---- Workers --------------------------------------------------------- */

static int write_result(int fd, const struct bench_result *res) {
        ssize_t n;

        do
                n = write(fd, res, sizeof(*res));
        while (n < 0 && errno == EINTR);
        return n == (ssize_t)sizeof(*res) ? 0 : -EPIPE;
}

/* Reads one result before @deadline_ns. Return: 0; -ETIMEDOUT; -EPIPE (died). */
static int read_result(int fd, uint64_t deadline_ns, struct bench_result *res) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t n;
        int r;

        do
                r = poll(&p, 1, ms_until(deadline_ns));
        while (r < 0 && errno == EINTR);
        if (r == 0)
                return -ETIMEDOUT;
        n = read(fd, res, sizeof(*res));
        return n == (ssize_t)sizeof(*res) ? 0 : -EPIPE;
}

__attribute__((noreturn)) static void worker_main(int cpu, bench_worker_fn *fn, void *arg,
                                                  int go_fd, int res_fd) {
        struct bench_worker w = {.go_fd = go_fd, .res_fd = res_fd};
        int r;

        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        r = bench_pin_cpu(cpu);
        if (r < 0)
                (void)snprintf(w.res.what, sizeof(w.res.what), "sched_setaffinity(CPU %d)", cpu);
        else
                r = fn(arg, &w);
        if (w.go_ns) {
                w.res.run_ns = bench_now_ns() - w.go_ns;
                w.res.wait_ns = sched_wait_ns() - w.go_wait_ns;
        }
        w.res.phase = BENCH_PHASE_DONE;
        w.res.err = r < 0 ? r : 0;
        (void)write_result(res_fd, &w.res);
        _exit(r < 0 ? 1 : 0);
}

int bench_spawn(int cpu, bench_worker_fn *fn, void *arg, struct bench_proc *ret) {
        int go[2], res[2];
        pid_t pid;

        if (pipe2(go, O_CLOEXEC) < 0)
                return -errno;
        if (pipe2(res, O_CLOEXEC) < 0) {
                (void)close(go[0]);
                (void)close(go[1]);
                return -errno;
        }
        fflush(NULL); /* or buffered output is printed twice */
        pid = fork();
        if (pid == 0) {
                (void)close(go[1]);
                (void)close(res[0]);
                worker_main(cpu, fn, arg, go[0], res[1]);
        }
        (void)close(go[0]);
        (void)close(res[1]);
        if (pid < 0) {
                (void)close(go[1]);
                (void)close(res[0]);
                return -errno;
        }
        *ret = (struct bench_proc){.pid = pid, .go_fd = go[1], .res_fd = res[0], .cpu = cpu};
        return 0;
}

int bench_worker_ready(struct bench_worker *w) {
        struct pollfd p = {.fd = w->go_fd, .events = POLLIN};
        struct bench_result ready = {.phase = BENCH_PHASE_READY};
        char go;

        if (write_result(w->res_fd, &ready) < 0)
                return -EPIPE;
        if (poll(&p, 1, (int)(BENCH_STALL_NS / 1000000)) <= 0)
                return -ETIMEDOUT;
        if (read(w->go_fd, &go, 1) != 1)
                return -EPIPE;
        w->go_wait_ns = sched_wait_ns();
        w->go_ns = bench_now_ns();
        w->deadline_ns = w->go_ns + BENCH_STALL_NS;
        return 0;
}

int bench_worker_late(const struct bench_worker *w) {
        return bench_now_ns() > w->deadline_ns;
}

static void procs_finish(struct bench_proc *p, size_t n, int kill_them) {
        for (size_t i = 0; i < n; i++) {
                if (kill_them)
                        (void)kill(p[i].pid, SIGKILL);
                (void)waitpid(p[i].pid, NULL, 0);
                (void)close(p[i].go_fd);
                (void)close(p[i].res_fd);
        }
}

/* Reads one result per worker, each expected in @phase. Return: 0 or negative errno. */
static int procs_collect(struct bench_proc *p, size_t n, int32_t phase, struct bench_result *res) {
        uint64_t deadline = bench_now_ns() + BENCH_STALL_NS + BENCH_NS_PER_SEC;

        for (size_t i = 0; i < n; i++) {
                int r = read_result(p[i].res_fd, deadline, &res[i]);

                if (r < 0) {
                        res[i].err = r;
                        (void)snprintf(res[i].what, sizeof(res[i].what), "worker on CPU %d %s",
                                       p[i].cpu, r == -ETIMEDOUT ? "stalled" : "died");
                        return r;
                }
                if (res[i].err < 0)
                        return -EPROTO;
                if (res[i].phase != phase) {
                        res[i].err = -EPROTO;
                        (void)snprintf(res[i].what, sizeof(res[i].what), "worker out of step");
                        return -EPROTO;
                }
        }
        return 0;
}

int bench_run(struct bench_proc *p, size_t n, struct bench_result *res) {
        int r;

        memset(res, 0, n * sizeof(*res));
        r = procs_collect(p, n, BENCH_PHASE_READY, res);
        for (size_t i = 0; r == 0 && i < n; i++)
                if (write(p[i].go_fd, "g", 1) != 1)
                        r = -EPIPE;
        if (r == 0)
                r = procs_collect(p, n, BENCH_PHASE_DONE, res);
        procs_finish(p, n, r < 0);
        return r;
}

static bool cpu_shared(const struct bench_proc *p, size_t n, size_t i) {
        for (size_t j = 0; j < n; j++)
                if (j != i && p[j].cpu == p[i].cpu)
                        return true;
        return false;
}

double bench_contention(const struct bench_proc *p, const struct bench_result *res, size_t n) {
        double worst = 0;

        for (size_t i = 0; i < n; i++) {
                double share = res[i].run_ns ? (double)res[i].wait_ns / (double)res[i].run_ns : 0;

                if (!cpu_shared(p, n, i))
                        worst = share > worst ? share : worst;
        }
        return worst;
}

void bench_spawn_or_die(int cpu, bench_worker_fn *fn, void *arg, struct bench_proc *ret) {
        int r = bench_spawn(cpu, fn, arg, ret);

        if (r < 0)
                bench_die("fork: %s", strerror(-r));
}

void bench_run_or_die(struct bench_proc *p, size_t n, struct bench_result *res) {
        int r = bench_run(p, n, res);

        if (r >= 0)
                return;
        for (size_t i = 0; i < n; i++)
                if (res[i].err < 0)
                        bench_die("%s: %s", res[i].what,
                                  res[i].err == -ETIMEDOUT ? "stalled: round over 10 s"
                                                           : strerror(-res[i].err));
        bench_die("workers failed: %s", strerror(-r));
}
