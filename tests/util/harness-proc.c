/* SPDX-License-Identifier: MIT */
/*
 * Integration test harness, child processes (see harness.h): run to
 * completion or in the background with captured output; every wait is on
 * a pidfd or pipe with a deadline, never a sleep.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness-internal.h"
#include "harness.h"

extern char **environ;

struct harness_proc {
        pid_t pid;
        int pidfd;
        int stdin_fd;
        int stdout_fd;
        int stderr_fd; /* memfd */
        char *linebuf;
        size_t line_len;
        char *err;
};

/* Tests write to sockets and pipes whose readers may be gone: EPIPE, not death. */
__attribute__((constructor)) static void harness_ignore_sigpipe(void) {
        (void)signal(SIGPIPE, SIG_IGN);
}

uint64_t harness_now_usec(void) {
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * HARNESS_USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t harness_timeout(uint64_t usec) {
        const char *s = getenv("IPC_TEST_TIMEOUT_SCALE");
        const char *w = getenv("IPC_BROKERD_WRAPPER");
        unsigned long scale = 1;

        if (s && *s)
                scale = strtoul(s, NULL, 10);
        else if (w && strstr(w, "valgrind"))
                scale = 10;
        if (scale < 1)
                scale = 1;
        return usec > UINT64_MAX / scale ? UINT64_MAX : usec * scale;
}

/* Milliseconds left until @deadline for poll(2), rounded up. */
int harness_ms_until(uint64_t deadline) {
        uint64_t now = harness_now_usec(), ms;

        if (now >= deadline)
                return 0;
        ms = (deadline - now + 999) / 1000;
        return ms > INT_MAX ? INT_MAX : (int)ms;
}

int buf_append(struct buf *b, const void *p, size_t n) {
        if (b->len + n + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 4096;
                char *d;

                while (cap < b->len + n + 1)
                        cap *= 2;
                d = realloc(b->data, cap);
                if (!d)
                        return -ENOMEM;
                b->data = d;
                b->cap = cap;
        }
        memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = 0;
        return 0;
}

/* Reads what is available from a non-blocking fd. Return: 1 more may come, 0 EOF, <0 error. */
int buf_read_fd(struct buf *b, int fd) {
        char chunk[65536];

        for (;;) {
                ssize_t n = read(fd, chunk, sizeof(chunk));

                if (n > 0) {
                        if (buf_append(b, chunk, (size_t)n) < 0)
                                return -ENOMEM;
                        continue;
                }
                if (n == 0)
                        return 0;
                if (errno == EINTR)
                        continue;
                return errno == EAGAIN ? 1 : -errno;
        }
}

/* Reads a whole file (from offset 0) into a new NUL-terminated string. */
char *buf_read_whole(int fd) {
        struct buf b = {};
        char chunk[65536];
        off_t off = 0;

        for (;;) {
                ssize_t n = pread(fd, chunk, sizeof(chunk), off);

                if (n <= 0)
                        break;
                if (buf_append(&b, chunk, (size_t)n) < 0)
                        break;
                off += n;
        }
        return b.data ? b.data : strdup("");
}

static int status_code(int st) {
        if (WIFEXITED(st))
                return WEXITSTATUS(st);
        if (WIFSIGNALED(st))
                return 128 + WTERMSIG(st);
        return -1;
}

/* A copy of the environment without NOTIFY_SOCKET, plus @extra (may be NULL). */
char **proc_env_build(const char *extra) {
        size_t n = 0, k = 0;
        char **env;

        while (environ[n])
                n++;
        env = calloc(n + 2, sizeof(*env));
        if (!env)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (strncmp(environ[i], "NOTIFY_SOCKET=", 14) != 0)
                        env[k++] = environ[i];
        if (extra)
                env[k++] = (char *)extra;
        return env;
}

static void child_fd(int fd, int target) {
        if (fd < 0)
                return;
        if (fd == target)
                (void)fcntl(fd, F_SETFD, 0);
        else if (dup2(fd, target) < 0)
                _exit(127);
}

/*
 * Forks and execs @argv with the given stdio fds (-1: inherit). Only
 * async-signal-safe calls happen in the child: the test may be threaded.
 */
int proc_spawn_child(const char *const *argv, char **envp, int in, int out, int err, pid_t *ret_pid,
                     int *ret_pidfd) {
        pid_t parent = getpid(), pid;
        sigset_t all;
        int pidfd;

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                /* Die with the test; the parent may have died before prctl(). */
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                        _exit(127);
                child_fd(in, 0);
                child_fd(out, 1);
                child_fd(err, 2);
                (void)signal(SIGPIPE, SIG_DFL);
                sigemptyset(&all);
                (void)sigprocmask(SIG_SETMASK, &all, NULL);
                execve(argv[0], (char *const *)argv, envp);
                _exit(127);
        }
        pidfd = pidfd_open(pid, 0);
        if (pidfd < 0) {
                int r = -errno;

                (void)kill(pid, SIGKILL);
                (void)waitpid(pid, NULL, 0);
                return r;
        }
        (void)fcntl(pidfd, F_SETFD, FD_CLOEXEC);
        *ret_pid = pid;
        *ret_pidfd = pidfd;
        return 0;
}

/* Waits for the pidfd to report an exit. Return: 1 exited, 0 deadline passed. */
int proc_pidfd_wait(int pidfd, uint64_t deadline) {
        for (;;) {
                struct pollfd p = {.fd = pidfd, .events = POLLIN};
                int r = poll(&p, 1, harness_ms_until(deadline));

                if (r > 0)
                        return 1;
                if (r == 0 || (r < 0 && errno != EINTR))
                        return 0;
        }
}

/* Reaps a child whose pidfd reported its exit. Return: exit code or 128 + signal. */
int proc_reap(pid_t *pid, int *pidfd) {
        int st = 0;

        while (waitpid(*pid, &st, 0) < 0 && errno == EINTR)
                ;
        (void)close(*pidfd);
        *pidfd = -1;
        *pid = 0;
        return status_code(st);
}

/* ---- Processes ------------------------------------------------------ */

int harness_free_tcp_port(void) {
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

/* Feeds stdin and collects stdout/stderr until both close and the child exits. */
static int run_loop(int pidfd, int in, int out, int err, const char *data, size_t len,
                    uint64_t deadline, struct buf *o, struct buf *e) {
        size_t off = 0;
        bool exited = false;

        while (!exited || out >= 0 || err >= 0) {
                struct pollfd p[4] = {{.fd = pidfd, .events = exited ? 0 : POLLIN},
                                      {.fd = out, .events = POLLIN},
                                      {.fd = err, .events = POLLIN},
                                      {.fd = in, .events = POLLOUT}};
                int r = poll(p, 4, harness_ms_until(deadline));

                if (r == 0)
                        return -ETIMEDOUT;
                if (r < 0 && errno == EINTR)
                        continue;
                exited = exited || p[0].revents;
                if (p[1].revents && buf_read_fd(o, out) <= 0)
                        out = -1; /* closed by the caller */
                if (p[2].revents && buf_read_fd(e, err) <= 0)
                        err = -1;
                if (p[3].revents) {
                        ssize_t n = off < len ? write(in, data + off, len - off) : 0;

                        if (n > 0)
                                off += (size_t)n;
                        if (off >= len || (n < 0 && errno != EAGAIN))
                                return -EALREADY; /* caller closes stdin, calls again */
                }
        }
        return 0;
}

static void close_fd(int *fd) {
        if (*fd >= 0)
                (void)close(*fd);
        *fd = -1;
}

static int pipe_pair(int fds[2], bool nonblock_parent_read) {
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        (void)fcntl(fds[nonblock_parent_read ? 0 : 1], F_SETFL, O_NONBLOCK);
        return 0;
}

int harness_run(const char *const *argv, const void *stdin_data, size_t stdin_len,
                uint64_t timeout_usec, struct harness_output *ret) {
        uint64_t deadline = harness_now_usec() + harness_timeout(timeout_usec);
        int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, pidfd = -1, r;
        struct buf o = {}, e = {};
        char **envp = proc_env_build(NULL);
        pid_t pid = 0;

        memset(ret, 0, sizeof(*ret));
        r = envp ? 0 : -ENOMEM;
        if (r >= 0 && (r = pipe_pair(in, false)) >= 0 && (r = pipe_pair(out, true)) >= 0)
                r = pipe_pair(err, true);
        if (r >= 0)
                r = proc_spawn_child(argv, envp, in[0], out[1], err[1], &pid, &pidfd);
        free(envp);
        /* Close the child's ends here, or EOF never comes. */
        close_fd(&in[0]);
        close_fd(&out[1]);
        close_fd(&err[1]);
        if (!stdin_data || stdin_len == 0)
                close_fd(&in[1]);
        if (r >= 0) {
                r = run_loop(pidfd, in[1], out[0], err[0], stdin_data, stdin_len, deadline, &o, &e);
                if (r == -EALREADY) {
                        close_fd(&in[1]);
                        r = run_loop(pidfd, -1, out[0], err[0], NULL, 0, deadline, &o, &e);
                }
        }
        if (pid > 0) {
                if (r == -ETIMEDOUT) {
                        fprintf(stderr, "harness: %s timed out; killed\n", argv[0]);
                        (void)kill(pid, SIGKILL);
                }
                ret->status = proc_reap(&pid, &pidfd);
        }
        close_fd(&in[1]);
        close_fd(&out[0]);
        close_fd(&err[0]);
        ret->out = o.data ? o.data : strdup("");
        ret->out_len = o.len;
        ret->err = e.data ? e.data : strdup("");
        ret->err_len = e.len;
        return r;
}

void harness_output_free(struct harness_output *o) {
        free(o->out);
        free(o->err);
        memset(o, 0, sizeof(*o));
}

int harness_spawn(const char *const *argv, struct harness_proc **ret) {
        struct harness_proc *p = calloc(1, sizeof(*p));
        int in[2] = {-1, -1}, out[2] = {-1, -1}, r;
        char **envp = proc_env_build(NULL);

        if (!p || !envp) {
                free(p);
                free(envp);
                return -ENOMEM;
        }
        p->pidfd = p->stdin_fd = p->stdout_fd = -1;
        p->stderr_fd = memfd_create("harness-stderr", MFD_CLOEXEC);
        r = p->stderr_fd < 0 ? -errno : 0;
        if (r >= 0 && (r = pipe_pair(in, false)) >= 0)
                r = pipe_pair(out, true);
        if (r >= 0)
                r = proc_spawn_child(argv, envp, in[0], out[1], p->stderr_fd, &p->pid, &p->pidfd);
        free(envp);
        if (in[0] >= 0)
                (void)close(in[0]);
        if (out[1] >= 0)
                (void)close(out[1]);
        p->stdin_fd = in[1];
        p->stdout_fd = out[0];
        if (r < 0) {
                harness_proc_free(p);
                return r;
        }
        *ret = p;
        return 0;
}

pid_t harness_proc_pid(const struct harness_proc *p) {
        return p->pid;
}

int harness_proc_stdin_fd(const struct harness_proc *p) {
        return p->stdin_fd;
}

void harness_proc_close_stdin(struct harness_proc *p) {
        if (p->stdin_fd >= 0)
                (void)close(p->stdin_fd);
        p->stdin_fd = -1;
}

int harness_proc_stdout_fd(const struct harness_proc *p) {
        return p->stdout_fd;
}

/* Moves the first line (or with @all, everything) out of the line buffer. */
static char *proc_take_line(struct harness_proc *p, bool all) {
        char *nl = p->linebuf ? memchr(p->linebuf, '\n', p->line_len) : NULL;
        size_t n;
        char *line;

        if (!nl && !(all && p->line_len > 0))
                return NULL;
        n = nl ? (size_t)(nl - p->linebuf) : p->line_len;
        line = strndup(p->linebuf, n);
        n = nl ? n + 1 : n;
        memmove(p->linebuf, p->linebuf + n, p->line_len - n);
        p->line_len -= n;
        return line;
}

int harness_proc_read_line(struct harness_proc *p, uint64_t timeout_usec, char **ret_line) {
        uint64_t deadline = harness_now_usec() + harness_timeout(timeout_usec);

        for (;;) {
                struct buf b = {.data = p->linebuf, .len = p->line_len, .cap = p->line_len};
                struct pollfd pf = {.fd = p->stdout_fd, .events = POLLIN};
                char *line = proc_take_line(p, p->stdout_fd < 0);
                int r;

                if (line) {
                        *ret_line = line;
                        return 0;
                }
                if (p->stdout_fd < 0 || poll(&pf, 1, harness_ms_until(deadline)) == 0)
                        return p->stdout_fd < 0 ? -EPIPE : -ETIMEDOUT;
                /* cap == len forces buf_append() to realloc: ownership stays in p. */
                r = buf_read_fd(&b, p->stdout_fd);
                p->linebuf = b.data;
                p->line_len = b.len;
                if (r <= 0) {
                        (void)close(p->stdout_fd);
                        p->stdout_fd = -1;
                        line = proc_take_line(p, true);
                        if (line) {
                                *ret_line = line;
                                return 0;
                        }
                }
        }
}

const char *harness_proc_stderr(struct harness_proc *p) {
        free(p->err);
        p->err = p->stderr_fd >= 0 ? buf_read_whole(p->stderr_fd) : strdup("");
        return p->err ? p->err : "";
}

int harness_proc_kill(struct harness_proc *p, int sig) {
        if (p->pid <= 0)
                return 0;
        return kill(p->pid, sig) < 0 ? -errno : 0;
}

int harness_proc_wait(struct harness_proc *p, uint64_t timeout_usec, int *ret_status) {
        int status;

        if (p->pid <= 0)
                return -ECHILD;
        if (!proc_pidfd_wait(p->pidfd, harness_now_usec() + harness_timeout(timeout_usec)))
                return -ETIMEDOUT;
        status = proc_reap(&p->pid, &p->pidfd);
        if (ret_status)
                *ret_status = status;
        return 0;
}

struct harness_proc *harness_proc_free(struct harness_proc *p) {
        if (!p)
                return NULL;
        if (p->pid > 0) {
                (void)kill(p->pid, SIGKILL);
                (void)proc_reap(&p->pid, &p->pidfd);
        }
        harness_proc_close_stdin(p);
        if (p->stdout_fd >= 0)
                (void)close(p->stdout_fd);
        if (p->stderr_fd >= 0)
                (void)close(p->stderr_fd);
        free(p->linebuf);
        free(p->err);
        free(p);
        return NULL;
}

void harness_proc_freep(struct harness_proc **p) {
        *p = harness_proc_free(*p);
}
