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
        /* The fd store: what FDSTORE=1 kept, by FDNAME (FDSTOREREMOVE=1 closes). */
        int store_fds[NOTIFY_STORE_MAX];
        char store_names[NOTIFY_STORE_MAX][256];
        size_t n_store;
};

/* The FDNAME= of @text into @name ("stored" when absent, as systemd does). */
static void fdname_of(const char *text, char *name, size_t size) {
        const char *v = strstr(text, "FDNAME=");
        size_t len;

        if (v && (v == text || v[-1] == '\n')) {
                v += strlen("FDNAME=");
                len = strcspn(v, "\n");
                (void)snprintf(name, size, "%.*s", (int)len, v);
        } else {
                (void)snprintf(name, size, "stored");
        }
}

static bool has_line(const char *text, const char *line) {
        const char *p = strstr(text, line);
        size_t n = strlen(line);

        return p && (p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0');
}

/* What a service manager does with a message's fds: FDSTORE=1 keeps them, else they close. */
static void store_message(struct notify_listener *l, const char *text, const int *fds, size_t n) {
        char name[256];

        fdname_of(text, name, sizeof(name));
        if (has_line(text, "FDSTOREREMOVE=1")) {
                size_t k = 0;

                for (size_t i = 0; i < l->n_store; i++) {
                        if (strcmp(l->store_names[i], name) == 0) {
                                (void)close(l->store_fds[i]);
                                continue;
                        }
                        l->store_fds[k] = l->store_fds[i];
                        memcpy(l->store_names[k++], l->store_names[i], sizeof(l->store_names[i]));
                }
                l->n_store = k;
        }
        for (size_t i = 0; i < n; i++) {
                if (!has_line(text, "FDSTORE=1") || l->n_store == NOTIFY_STORE_MAX) {
                        (void)close(fds[i]);
                        continue;
                }
                l->store_fds[l->n_store] = fds[i];
                memcpy(l->store_names[l->n_store++], name, sizeof(name));
        }
}

size_t notify_listener_store(const struct notify_listener *l, const int **ret_fds) {
        *ret_fds = l->store_fds;
        return l->n_store;
}

const char *notify_listener_store_name(const struct notify_listener *l, size_t i) {
        return i < l->n_store ? l->store_names[i] : NULL;
}

/* recv() with SCM_RIGHTS: the fds go through store_message(). */
static ssize_t recv_message(struct notify_listener *l, char *buf, size_t size) {
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int) * 16)];
        } ctl;
        struct iovec iov = {.iov_base = buf, .iov_len = size};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = ctl.buf,
                            .msg_controllen = sizeof(ctl.buf)};
        int fds[16];
        size_t n_fds = 0;
        ssize_t n = recvmsg(l->fd, &mh, MSG_CMSG_CLOEXEC);

        if (n < 0)
                return n;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                size_t k;

                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < k && n_fds < 16; i++)
                        memcpy(&fds[n_fds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        }
        buf[n] = '\0';
        store_message(l, buf, fds, n_fds);
        return n;
}

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
        for (size_t i = 0; i < l->n_store; i++)
                (void)close(l->store_fds[i]);
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
                ssize_t n = recv_message(l, ret->text, NOTIFY_MSG_MAX);
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
