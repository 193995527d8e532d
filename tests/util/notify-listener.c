/* SPDX-License-Identifier: MIT */
/*
 * sd_notify(3) receiver for tests (see notify-listener.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <stddef.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness-internal.h"
#include "harness.h"
#include "notify-listener.h"

struct notify_listener {
        char dir[64];
        char path[128];
        char env[160];
        int fd;
};

int notify_listener_new(bool abstract, struct notify_listener **ret) {
        struct notify_listener *l = calloc(1, sizeof(*l));
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        socklen_t len = sizeof(sa);
        int r;

        if (!l)
                return -ENOMEM;
        l->fd = -1;
        (void)snprintf(l->dir, sizeof(l->dir), "/tmp/ipc-sd-XXXXXX");
        if (!mkdtemp(l->dir)) {
                r = -errno;
                l->dir[0] = '\0';
                notify_listener_free(l);
                return r;
        }
        if (abstract)
                (void)snprintf(l->path, sizeof(l->path), "@%s/notify", l->dir + strlen("/tmp/"));
        else
                (void)snprintf(l->path, sizeof(l->path), "%s/notify.sock", l->dir);
        (void)snprintf(l->env, sizeof(l->env), "NOTIFY_SOCKET=%s", l->path);
        strcpy(sa.sun_path, l->path);
        if (abstract) {
                /* No NUL terminator: the name is exactly its bytes after the leading NUL. */
                sa.sun_path[0] = '\0';
                len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(l->path));
        }
        l->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (l->fd < 0 || bind(l->fd, (struct sockaddr *)&sa, len) < 0) {
                r = -errno;
                notify_listener_free(l);
                return r;
        }
        *ret = l;
        return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void)remove(path);
        return 0;
}

struct notify_listener *notify_listener_free(struct notify_listener *l) {
        if (!l)
                return NULL;
        if (l->fd >= 0)
                (void)close(l->fd);
        if (l->dir[0])
                (void)nftw(l->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(l);
        return NULL;
}

void notify_listener_freep(struct notify_listener **l) {
        *l = notify_listener_free(*l);
}

const char *notify_listener_dir(const struct notify_listener *l) {
        return l->dir;
}

const char *notify_listener_env(const struct notify_listener *l) {
        return l->env;
}

/* The next message before a CLOCK_MONOTONIC @deadline (µs). */
static int next_until(struct notify_listener *l, int pidfd, uint64_t deadline,
                      struct notify_msg *ret) {
        for (;;) {
                struct pollfd p[2] = {{.fd = l->fd, .events = POLLIN},
                                      {.fd = pidfd, .events = POLLIN}};
                ssize_t n = recv(l->fd, ret->text, NOTIFY_MSG_MAX, 0);
                int r;

                if (n >= 0) {
                        ret->text[n] = '\0';
                        ret->usec = harness_now_usec();
                        return 0;
                }
                if (errno != EAGAIN && errno != EINTR)
                        return -errno;
                r = poll(p, pidfd >= 0 ? 2 : 1, harness_ms_until(deadline));
                if (r == 0)
                        return -ETIMEDOUT;
                /* An exit with a message still queued: the message first. */
                if (r > 0 && !(p[0].revents & POLLIN) && pidfd >= 0 && p[1].revents)
                        return -ECHILD;
        }
}

int notify_listener_next(struct notify_listener *l, int pidfd, uint64_t timeout_usec,
                         struct notify_msg *ret) {
        return next_until(l, pidfd, harness_now_usec() + harness_timeout(timeout_usec), ret);
}

bool notify_msg_has(const struct notify_msg *m, const char *prefix) {
        size_t len = strlen(prefix);

        for (const char *p = m->text; p; p = strchr(p, '\n')) {
                if (*p == '\n')
                        p++;
                if (strncmp(p, prefix, len) == 0)
                        return true;
        }
        return false;
}

const char *notify_msg_get(const struct notify_msg *m, const char *key, size_t *ret_len) {
        size_t len = strlen(key);

        for (const char *p = m->text; p; p = strchr(p, '\n')) {
                if (*p == '\n')
                        p++;
                if (strncmp(p, key, len) == 0 && p[len] == '=') {
                        p += len + 1;
                        if (ret_len)
                                *ret_len = strcspn(p, "\n");
                        return p;
                }
        }
        return NULL;
}

int notify_listener_wait(struct notify_listener *l, const char *prefix, int pidfd,
                         uint64_t timeout_usec, struct notify_msg *ret) {
        uint64_t deadline = harness_now_usec() + harness_timeout(timeout_usec);
        struct buf seen = {};
        int r;

        for (;;) {
                r = next_until(l, pidfd, deadline, ret);
                if (r < 0)
                        break;
                if (notify_msg_has(ret, prefix))
                        break;
                (void)buf_append(&seen, ret->text, strlen(ret->text));
                (void)buf_append(&seen, "\n--\n", 4);
        }
        if (r < 0)
                fprintf(stderr, "notify: no \"%s\" message (%s); got:\n%s\n", prefix, strerror(-r),
                        seen.data ? seen.data : "(nothing)\n");
        free(seen.data);
        return r;
}
