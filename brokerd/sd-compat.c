/* SPDX-License-Identifier: MIT */
/*
 * sd-daemon(3) without libsystemd (configure --without-systemd; see
 * sd-compat.h). The protocols are small and stable (sd_notify(3),
 * sd_listen_fds(3), sd_watchdog_enabled(3)); this file follows libsystemd's
 * behaviour for the cases the daemon meets and leaves out what it never
 * uses (vsock notify addresses, path checks).
 */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sd-compat.h"
#include "util.h"

/* A decimal number without sign or junk. Return: 0; -EINVAL. */
static int parse_u64(const char *s, uint64_t *ret) {
        unsigned long long v;
        char *end;

        if (!s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || *end != '\0')
                return -EINVAL;
        *ret = v;
        return 0;
}

/* $WATCHDOG_PID and $LISTEN_PID name the process meant. Return: 1 us; 0 another; < 0 bad. */
static int pid_is_us(const char *s) {
        uint64_t pid;

        if (parse_u64(s, &pid) < 0 || pid == 0)
                return -EINVAL;
        return pid == (uint64_t)getpid();
}

/* $NOTIFY_SOCKET as a sockaddr: "/path" or "@abstract". Return: 0; negative errno. */
static int notify_address(const char *e, struct sockaddr_un *sa, socklen_t *ret_len) {
        size_t len = strlen(e);

        *sa = (struct sockaddr_un){.sun_family = AF_UNIX};
        if (e[0] != '/' && e[0] != '@')
                return -EAFNOSUPPORT;
        if (len < 2 || len > sizeof(sa->sun_path) || (e[0] == '/' && len == sizeof(sa->sun_path)))
                return -EINVAL;
        memcpy(sa->sun_path, e, len);
        if (e[0] == '@')
                sa->sun_path[0] = '\0';
        /* An abstract name is exactly its bytes; a path includes its NUL. */
        *ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (e[0] == '/'));
        return 0;
}

/* One datagram to $NOTIFY_SOCKET, with @n_fds descriptors when there are any. */
static int notify_send_fds(const struct sockaddr_un *sa, socklen_t len, const char *state,
                           const int *fds, unsigned n_fds) {
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int) * 16)];
        } ctl;
        struct iovec iov = {.iov_base = (void *)state, .iov_len = strlen(state)};
        struct msghdr mh = {
                .msg_name = (void *)sa,
                .msg_namelen = len,
                .msg_iov = &iov,
                .msg_iovlen = 1,
        };
        ssize_t n;
        int fd, r;

        if (n_fds > 16)
                return -EINVAL;
        if (n_fds > 0) {
                memset(&ctl, 0, sizeof(ctl));
                mh.msg_control = ctl.buf;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
                ctl.h.cmsg_level = SOL_SOCKET;
                ctl.h.cmsg_type = SCM_RIGHTS;
                ctl.h.cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
                memcpy(CMSG_DATA(&ctl.h), fds, sizeof(int) * n_fds);
        }
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        /* The kernel attaches SCM_CREDENTIALS for a SO_PASSCRED receiver. */
        n = sendmsg(fd, &mh, MSG_NOSIGNAL);
        r = n < 0 ? -errno : 1;
        (void)close(fd);
        return r;
}

int sd_pid_notify_with_fds(pid_t pid, int unset_environment, const char *state, const int *fds,
                           unsigned n_fds) {
        const char *e = getenv("NOTIFY_SOCKET");
        struct sockaddr_un sa;
        socklen_t len;
        int r;

        if (!state || pid != 0 || (n_fds > 0 && !fds))
                return -EINVAL;
        if (!e)
                return 0;
        r = notify_address(e, &sa, &len);
        if (r >= 0)
                r = notify_send_fds(&sa, len, state, fds, n_fds);
        if (unset_environment)
                (void)unsetenv("NOTIFY_SOCKET");
        return r;
}

int sd_notify(int unset_environment, const char *state) {
        return sd_pid_notify_with_fds(0, unset_environment, state, NULL, 0);
}

static void listen_unsetenv(void) {
        (void)unsetenv("LISTEN_PID");
        (void)unsetenv("LISTEN_FDS");
        (void)unsetenv("LISTEN_FDNAMES");
}

/* Splits $LISTEN_FDNAMES into @n names, "unknown" where it has fewer. Return: 0; -ENOMEM. */
static int listen_names(unsigned n, char ***ret) {
        const char *s = getenv("LISTEN_FDNAMES");
        char **v = calloc(n + 1, sizeof(*v));

        if (!v)
                return -ENOMEM;
        for (unsigned i = 0; i < n; i++) {
                size_t len = s ? strcspn(s, ":") : 0;

                v[i] = len > 0 ? strndup(s, len) : strdup("unknown");
                if (!v[i]) {
                        for (unsigned j = 0; j < i; j++)
                                free(v[j]);
                        free(v);
                        return -ENOMEM;
                }
                if (s)
                        s = s[len] == ':' ? s + len + 1 : NULL;
        }
        *ret = v;
        return 0;
}

static int listen_fds(char ***names) {
        const char *pid = getenv("LISTEN_PID");
        uint64_t n;
        int r;

        if (!pid)
                return 0;
        r = pid_is_us(pid);
        if (r <= 0)
                return r;
        if (parse_u64(getenv("LISTEN_FDS"), &n) < 0 || n > 1024)
                return -EINVAL;
        for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + (int)n; fd++) {
                int flags = fcntl(fd, F_GETFD);

                if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
                        return -errno;
        }
        if (names) {
                r = listen_names((unsigned)n, names);
                if (r < 0)
                        return r;
        }
        return (int)n;
}

int sd_listen_fds_with_names(int unset_environment, char ***names) {
        int r = listen_fds(names);

        if (unset_environment)
                listen_unsetenv();
        return r;
}

/*
 * The common part of sd_is_socket_*(): a socket of @type (0: any) whose
 * listening state matches @listening (< 0: either).
 * Return: its address family (> 0); 0 it does not match; negative errno.
 */
static int socket_check(int fd, int type, int listening, struct sockaddr_storage *ss) {
        socklen_t len = sizeof(int), slen = sizeof(*ss);
        struct stat st;
        int v = 0;

        if (fd < 0)
                return -EBADF;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISSOCK(st.st_mode))
                return 0;
        if (type != 0) {
                if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) < 0)
                        return -errno;
                if (v != type)
                        return 0;
        }
        if (listening >= 0) {
                len = sizeof(int);
                if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) < 0)
                        return -errno;
                if (!v != !listening)
                        return 0;
        }
        memset(ss, 0, sizeof(*ss));
        if (getsockname(fd, (struct sockaddr *)ss, &slen) < 0)
                return -errno;
        return ss->ss_family > 0 ? ss->ss_family : 0;
}

int sd_is_socket_unix(int fd, int type, int listening, const char *path, size_t length) {
        struct sockaddr_storage ss;
        int r;

        if (path)
                return -EOPNOTSUPP; /* not needed by the daemon */
        r = socket_check(fd, type, listening, &ss);
        return r <= 0 ? r : r == AF_UNIX;
}

static uint16_t inet_port(const struct sockaddr_storage *ss) {
        if (ss->ss_family == AF_INET)
                return ntohs(((const struct sockaddr_in *)ss)->sin_port);
        return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

int sd_is_socket_inet(int fd, int family, int type, int listening, uint16_t port) {
        struct sockaddr_storage ss;
        int r;

        if (family != 0 && family != AF_INET && family != AF_INET6)
                return -EINVAL;
        r = socket_check(fd, type, listening, &ss);
        if (r <= 0)
                return r;
        if (r != AF_INET && r != AF_INET6)
                return 0;
        if (family != 0 && r != family)
                return 0;
        return port == 0 || inet_port(&ss) == port;
}

static int watchdog_enabled(uint64_t *usec) {
        const char *pid = getenv("WATCHDOG_PID");
        const char *s = getenv("WATCHDOG_USEC");
        uint64_t v;
        int r;

        if (!s)
                return 0;
        if (parse_u64(s, &v) < 0 || v == 0)
                return -EINVAL;
        if (pid) {
                r = pid_is_us(pid);
                if (r <= 0)
                        return r;
        }
        if (usec)
                *usec = v;
        return 1;
}

int sd_watchdog_enabled(int unset_environment, uint64_t *usec) {
        int r = watchdog_enabled(usec);

        if (unset_environment) {
                (void)unsetenv("WATCHDOG_USEC");
                (void)unsetenv("WATCHDOG_PID");
        }
        return r;
}
