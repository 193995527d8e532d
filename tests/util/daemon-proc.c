/* SPDX-License-Identifier: MIT */
/*
 * Daemons with a chosen environment, for tests (see daemon-proc.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "daemon-proc.h"
#include "harness-internal.h"
#include "harness.h"

extern char **environ;

struct daemon_proc {
        pid_t pid;
        int pidfd;
        char log_path[PATH_MAX];
        char *log;
};

static const char *const protocol_vars[] = {
        "NOTIFY_SOCKET=", "LISTEN_PID=",   "LISTEN_FDS=",     "LISTEN_FDNAMES=",
        "WATCHDOG_USEC=", "WATCHDOG_PID=", "JOURNAL_STREAM=",
};

static bool is_protocol_var(const char *kv) {
        for (size_t i = 0; i < sizeof(protocol_vars) / sizeof(protocol_vars[0]); i++)
                if (strncmp(kv, protocol_vars[i], strlen(protocol_vars[i])) == 0)
                        return true;
        return false;
}

/* environ without the protocol variables, plus @extra; free() the array only. */
static char **env_build(const char *const *extra) {
        size_t n = 0, m = 0, k = 0;
        char **env;

        while (environ[n])
                n++;
        while (extra && extra[m])
                m++;
        env = calloc(n + m + 1, sizeof(*env));
        if (!env)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (!is_protocol_var(environ[i]))
                        env[k++] = environ[i];
        for (size_t i = 0; i < m; i++)
                env[k++] = (char *)extra[i];
        return env;
}

int daemon_proc_spawn(const char *dir, const char *const *argv, const char *const *env,
                      int stderr_fd, struct daemon_proc **ret) {
        struct daemon_proc *p = calloc(1, sizeof(*p));
        int out = stderr_fd, null_fd = -1, r;
        char **envp = env_build(env);

        if (!p || !envp) {
                free(p);
                free(envp);
                return -ENOMEM;
        }
        p->pidfd = -1;
        (void)snprintf(p->log_path, sizeof(p->log_path), "%s/daemon.log", dir);
        if (out < 0)
                out = open(p->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
        null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        r = out < 0 || null_fd < 0 ? -errno : 0;
        if (r >= 0)
                r = proc_spawn_child(argv, envp, null_fd, out, out, &p->pid, &p->pidfd);
        if (out >= 0 && out != stderr_fd)
                (void)close(out);
        if (null_fd >= 0)
                (void)close(null_fd);
        free(envp);
        if (r < 0) {
                free(p);
                return r;
        }
        *ret = p;
        return 0;
}

pid_t daemon_proc_pid(const struct daemon_proc *p) {
        return p->pid;
}

int daemon_proc_pidfd(const struct daemon_proc *p) {
        return p->pidfd;
}

const char *daemon_proc_log(struct daemon_proc *p) {
        int fd = open(p->log_path, O_RDONLY | O_CLOEXEC);

        free(p->log);
        p->log = fd >= 0 ? buf_read_whole(fd) : strdup("");
        if (fd >= 0)
                (void)close(fd);
        return p->log ? p->log : "";
}

int daemon_proc_wait_log(struct daemon_proc *p, const char *needle, uint64_t timeout_usec) {
        uint64_t deadline = harness_now_usec() + harness_timeout(timeout_usec);
        int ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK), r = -ETIMEDOUT;
        char drain[4096];

        if (ino < 0)
                return -errno;
        /* Watch before reading, so no write between the two is missed. */
        if (inotify_add_watch(ino, p->log_path, IN_MODIFY) < 0) {
                r = -errno;
                goto out;
        }
        for (;;) {
                struct pollfd f[2] = {{.fd = ino, .events = POLLIN},
                                      {.fd = p->pidfd, .events = POLLIN}};

                if (strstr(daemon_proc_log(p), needle)) {
                        r = 0;
                        break;
                }
                if (p->pid <= 0 || poll(f, 2, harness_ms_until(deadline)) == 0 || f[1].revents) {
                        r = p->pid <= 0 || f[1].revents ? -ECHILD : -ETIMEDOUT;
                        if (strstr(daemon_proc_log(p), needle))
                                r = 0;
                        break;
                }
                while (read(ino, drain, sizeof(drain)) > 0)
                        ;
        }
out:
        if (r < 0)
                fprintf(stderr, "daemon: \"%s\" not in the log (%s):\n%s\n", needle, strerror(-r),
                        daemon_proc_log(p));
        (void)close(ino);
        return r;
}

int daemon_proc_stop(struct daemon_proc *p, int sig, int *ret_status) {
        uint64_t deadline = harness_now_usec() + harness_timeout(10 * HARNESS_USEC_PER_SEC);
        int status;

        if (p->pid <= 0)
                return -ECHILD;
        (void)kill(p->pid, sig);
        if (!proc_pidfd_wait(p->pidfd, deadline)) {
                fprintf(stderr, "daemon: ignored signal %d:\n%s\n", sig, daemon_proc_log(p));
                (void)kill(p->pid, SIGKILL);
                (void)proc_reap(&p->pid, &p->pidfd);
                return -ETIMEDOUT;
        }
        status = proc_reap(&p->pid, &p->pidfd);
        if (ret_status)
                *ret_status = status;
        return 0;
}

struct daemon_proc *daemon_proc_free(struct daemon_proc *p) {
        if (!p)
                return NULL;
        if (p->pid > 0) {
                (void)kill(p->pid, SIGKILL);
                (void)proc_reap(&p->pid, &p->pidfd);
        }
        free(p->log);
        free(p);
        return NULL;
}

void daemon_proc_freep(struct daemon_proc **p) {
        *p = daemon_proc_free(*p);
}
