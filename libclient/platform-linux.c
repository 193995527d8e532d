/* SPDX-License-Identifier: MIT */
/*
 * Linux implementation of the platform seam (platform.h): sockets,
 * readiness waits, the epoll-based pollable handle, clocks, and for the
 * rings memfd shared memory, eventfd wake-ups and shared futexes.
 */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "platform.h"
#include "util.h"

uint64_t plat_now_usec(void) {
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / NSEC_PER_USEC;
}

uint64_t plat_realtime_nsec(void) {
        struct timespec ts;

        (void)clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

void plat_sock_close(plat_sock_t s) {
        if (s >= 0)
                (void)close(s);
}

int plat_wait(plat_sock_t s, int events, uint64_t deadline_usec) {
        struct pollfd p = {.fd = s};

        if (events & PLAT_EV_READ)
                p.events |= POLLIN;
        if (events & PLAT_EV_WRITE)
                p.events |= POLLOUT;
        for (;;) {
                uint64_t now = plat_now_usec();
                int timeout_ms, r, ready = 0;

                if (deadline_usec == USEC_INFINITY)
                        timeout_ms = -1;
                else if (now >= deadline_usec)
                        timeout_ms = 0;
                else /* round up so we never wake just before the deadline and spin */
                        timeout_ms = (int)MIN((deadline_usec - now + 999) / 1000, (uint64_t)INT32_MAX);
                r = poll(&p, 1, timeout_ms);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0)
                        return 0;
                /* Errors and hang-ups make both directions "ready" so the caller's
                 * read or write reports the actual error. */
                if (p.revents & (POLLIN | POLLERR | POLLHUP))
                        ready |= events & PLAT_EV_READ;
                if (p.revents & (POLLOUT | POLLERR | POLLHUP))
                        ready |= events & PLAT_EV_WRITE;
                if (p.revents & POLLNVAL)
                        return -EBADF;
                return ready ? ready : events;
        }
}

static int connect_finish(int fd, uint64_t timeout_usec) {
        int r, err = 0;
        socklen_t len = sizeof(err);

        r = plat_wait(fd, PLAT_EV_WRITE, usec_add(plat_now_usec(), timeout_usec));
        if (r < 0)
                return r;
        if (r == 0)
                return -ETIMEDOUT;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                return -errno;
        return err ? -err : 0;
}

static int connect_sockaddr(int family, const struct sockaddr *sa, socklen_t salen,
                            uint64_t timeout_usec, plat_sock_t *ret) {
        _cleanup_close_ int fd = -1;
        int r;

        fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (family != AF_UNIX) {
                int one = 1;

                (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
        if (connect(fd, sa, salen) < 0) {
                if (errno != EINPROGRESS && errno != EAGAIN)
                        return -errno;
                r = connect_finish(fd, timeout_usec);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_FD(fd);
        return 0;
}

static int unix_sockaddr(const char *path, struct sockaddr_un *sun, socklen_t *ret_len) {
        size_t len = strlen(path);

        if (len >= sizeof(sun->sun_path))
                return -ENAMETOOLONG;
        memset(sun, 0, sizeof(*sun));
        sun->sun_family = AF_UNIX;
        memcpy(sun->sun_path, path, len);
        *ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
        return 0;
}

static int resolve(const struct address *a, bool passive, struct addrinfo **ret) {
        struct addrinfo hints = {
                .ai_family = AF_UNSPEC,
                .ai_socktype = SOCK_STREAM,
                .ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0),
        };
        int r = getaddrinfo(a->host, a->port, &hints, ret);

        if (r == EAI_SYSTEM)
                return -errno;
        return r == 0 ? 0 : -EHOSTUNREACH;
}

int plat_connect(const struct address *a, uint64_t timeout_usec, plat_sock_t *ret) {
        struct addrinfo *ai, *i;
        int r = -EHOSTUNREACH;

        if (a->kind == ADDRESS_UNIX) {
                struct sockaddr_un sun;
                socklen_t len;

                r = unix_sockaddr(a->path, &sun, &len);
                if (r < 0)
                        return r;
                return connect_sockaddr(AF_UNIX, (struct sockaddr *)&sun, len, timeout_usec, ret);
        }
        r = resolve(a, false, &ai);
        if (r < 0)
                return r;
        for (i = ai; i; i = i->ai_next) {
                r = connect_sockaddr(i->ai_family, i->ai_addr, i->ai_addrlen, timeout_usec, ret);
                if (r >= 0)
                        break;
        }
        freeaddrinfo(ai);
        return r;
}

/* A socket node nobody accepts on is stale (its daemon died): safe to replace. */
static int remove_if_stale(const char *path) {
        struct address a = {.kind = ADDRESS_UNIX};
        struct stat st;
        plat_sock_t s;
        int r;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISSOCK(st.st_mode))
                return -EEXIST;
        strcpy(a.path, path);
        r = plat_connect(&a, 200 * USEC_PER_MSEC, &s);
        if (r >= 0) {
                plat_sock_close(s);
                return -EADDRINUSE;
        }
        if (r != -ECONNREFUSED)
                return r;
        return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

static int listen_unix(const char *path, int backlog, plat_sock_t *ret) {
        _cleanup_close_ int fd = -1;
        struct sockaddr_un sun;
        socklen_t len;
        int r;

        r = unix_sockaddr(path, &sun, &len);
        if (r < 0)
                return r;
        r = remove_if_stale(path);
        if (r < 0)
                return r;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *)&sun, len) < 0 || listen(fd, backlog) < 0)
                return -errno;
        *ret = TAKE_FD(fd);
        return 0;
}

static int listen_tcp(const struct address *a, int backlog, plat_sock_t *ret) {
        struct addrinfo *ai, *i;
        int r, one = 1;

        r = resolve(a, true, &ai);
        if (r < 0)
                return r;
        r = -EADDRNOTAVAIL;
        for (i = ai; i; i = i->ai_next) {
                int fd = socket(i->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

                if (fd < 0) {
                        r = -errno;
                        continue;
                }
                (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
                if (bind(fd, i->ai_addr, i->ai_addrlen) < 0 || listen(fd, backlog) < 0) {
                        r = -errno;
                        (void)close(fd);
                        continue;
                }
                *ret = fd;
                r = 0;
                break;
        }
        freeaddrinfo(ai);
        return r;
}

int plat_listen(const struct address *a, int backlog, plat_sock_t *ret) {
        if (a->kind == ADDRESS_UNIX)
                return listen_unix(a->path, backlog, ret);
        return listen_tcp(a, backlog, ret);
}

struct plat_poller {
        int epoll_fd;
        plat_sock_t sock; /* PLAT_SOCK_INVALID while there is none (reconnecting) */
        int write_on;
        int alarm_fd; /* timerfd in the set, made on first use; -1 before */
};

static int poller_update(plat_poller *p, int op) {
        struct epoll_event ev = {
                .events = EPOLLIN | (p->write_on ? EPOLLOUT : 0),
                .data.fd = p->sock,
        };

        return epoll_ctl(p->epoll_fd, op, p->sock, &ev) < 0 ? -errno : 0;
}

int plat_poller_new(plat_sock_t s, plat_poller **ret) {
        plat_poller *p;
        int r;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->sock = s;
        p->alarm_fd = -1;
        p->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        if (p->epoll_fd < 0) {
                r = -errno;
                free(p);
                return r;
        }
        r = poller_update(p, EPOLL_CTL_ADD);
        if (r < 0) {
                plat_poller_free(p);
                return r;
        }
        *ret = p;
        return 0;
}

plat_poller *plat_poller_free(plat_poller *p) {
        if (!p)
                return NULL;
        if (p->epoll_fd >= 0)
                (void)close(p->epoll_fd);
        if (p->alarm_fd >= 0)
                (void)close(p->alarm_fd);
        free(p);
        return NULL;
}

int plat_poller_fd(const plat_poller *p) {
        return p->epoll_fd;
}

int plat_poller_set_write(plat_poller *p, int on) {
        on = !!on;
        if (p->write_on == on)
                return 0;
        p->write_on = on;
        if (p->sock == PLAT_SOCK_INVALID)
                return 0;
        return poller_update(p, EPOLL_CTL_MOD);
}

/*
 * The old socket leaves the set before the caller closes it (a closed fd
 * would leave it only when no duplicate of it remains), the new one joins
 * with no write interest.
 */
int plat_poller_set_sock(plat_poller *p, plat_sock_t s) {
        struct epoll_event ev = {};

        if (p->sock != PLAT_SOCK_INVALID)
                (void)epoll_ctl(p->epoll_fd, EPOLL_CTL_DEL, p->sock, &ev);
        p->sock = s;
        p->write_on = 0;
        if (s == PLAT_SOCK_INVALID)
                return 0;
        return poller_update(p, EPOLL_CTL_ADD);
}

static int poller_alarm_create(plat_poller *p) {
        struct epoll_event ev = {.events = EPOLLIN};
        int fd;

        fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        ev.data.fd = fd;
        if (epoll_ctl(p->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                int r = -errno;

                (void)close(fd);
                return r;
        }
        p->alarm_fd = fd;
        return 0;
}

/*
 * Arming or disarming a timerfd resets its expiration count (the kernel's
 * timerfd_setup()), so an alarm that fired stops making the set readable
 * as soon as it is set again or cleared: nobody needs to read it.
 */
int plat_poller_set_alarm(plat_poller *p, uint64_t deadline_usec) {
        struct itimerspec its = {};
        int r;

        if (p->alarm_fd < 0) {
                if (deadline_usec == USEC_INFINITY)
                        return 0;
                r = poller_alarm_create(p);
                if (r < 0)
                        return r;
        }
        if (deadline_usec != USEC_INFINITY) {
                /* 0 would disarm it: a deadline in the past fires at once. */
                deadline_usec = MAX(deadline_usec, (uint64_t)1);
                its.it_value.tv_sec = (time_t)(deadline_usec / USEC_PER_SEC);
                its.it_value.tv_nsec = (long)(deadline_usec % USEC_PER_SEC * NSEC_PER_USEC);
        }
        return timerfd_settime(p->alarm_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0 ? -errno : 0;
}

int plat_fd_same_file(int a, int b) {
        struct stat sa, sb;

        if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0)
                return -errno;
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int poller_fd_ctl(plat_poller *p, int op, int fd) {
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};

        return epoll_ctl(p->epoll_fd, op, fd, &ev) < 0 ? -errno : 0;
}

int plat_poller_add(plat_poller *p, int fd) {
        return poller_fd_ctl(p, EPOLL_CTL_ADD, fd);
}

int plat_poller_remove(plat_poller *p, int fd) {
        return poller_fd_ctl(p, EPOLL_CTL_DEL, fd);
}

/* Milliseconds from now until the monotonic deadline, rounded up, for poll-style calls. */
static int timeout_ms_until(uint64_t deadline_usec) {
        uint64_t now = plat_now_usec();

        if (deadline_usec == USEC_INFINITY)
                return -1;
        if (now >= deadline_usec)
                return 0;
        return (int)MIN((deadline_usec - now + 999) / 1000, (uint64_t)INT32_MAX);
}

int plat_poller_wait(plat_poller *p, uint64_t deadline_usec, int *fds, size_t max) {
        struct epoll_event ev[16];
        int n;

        max = MIN(max, ARRAY_SIZE(ev));
        if (max == 0)
                return -EINVAL;
        for (;;) {
                n = epoll_wait(p->epoll_fd, ev, (int)max, timeout_ms_until(deadline_usec));
                if (n >= 0)
                        break;
                if (errno != EINTR)
                        return -errno;
        }
        for (int i = 0; i < n; i++)
                fds[i] = ev[i].data.fd;
        return n;
}

void plat_fd_close(int fd) {
        if (fd >= 0)
                (void)close(fd);
}

/* Collects SCM_RIGHTS descriptors into @fds; anything else that carries fds is closed. */
static size_t recv_take_fds(struct msghdr *msg, int *fds, size_t max_fds) {
        size_t n = 0;

        for (struct cmsghdr *h = CMSG_FIRSTHDR(msg); h; h = CMSG_NXTHDR(msg, h)) {
                size_t k;
                int fd;

                if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
                        continue;
                k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < k; i++) {
                        memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(fd));
                        if (n < max_fds)
                                fds[n++] = fd;
                        else
                                plat_fd_close(fd);
                }
        }
        return n;
}

ssize_t plat_sock_recv(plat_sock_t s, void *buf, size_t len, int *fds, size_t max_fds,
                       size_t *ret_n_fds) {
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int) * PLAT_RECV_FDS_MAX)];
        } u;
        struct iovec iov = {.iov_base = buf, .iov_len = len};
        struct msghdr msg = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = u.buf,
        };
        ssize_t n;

        max_fds = MIN(max_fds, (size_t)PLAT_RECV_FDS_MAX);
        /* Sized for exactly max_fds: the kernel closes any beyond (MSG_CTRUNC). */
        msg.msg_controllen = max_fds ? CMSG_SPACE(sizeof(int) * max_fds) : 0;
        *ret_n_fds = 0;
        for (;;) {
                n = recvmsg(s, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
                if (n >= 0)
                        break;
                if (errno == EINTR)
                        continue;
                return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        }
        if (msg.msg_controllen > 0)
                *ret_n_fds = recv_take_fds(&msg, fds, max_fds);
        return n;
}

int plat_shm_check(int fd, size_t *ret_size) {
        struct stat st;
        int seals;

        if (fstat(fd, &st) < 0)
                return -errno;
        seals = fcntl(fd, F_GET_SEALS);
        if (!S_ISREG(st.st_mode) || st.st_size < 0 || seals < 0 || !(seals & F_SEAL_SHRINK))
                return -EBADF;
        if ((uint64_t)st.st_size > SIZE_MAX)
                return -EFBIG;
        *ret_size = (size_t)st.st_size;
        return 0;
}

/* A second, read-only fd for the same region: mappings made from it can never be writable. */
static int shm_reopen_readonly(int fd, int *ret_fd) {
        char path[64];
        int r;

        (void)snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        r = open(path, O_RDONLY | O_CLOEXEC);
        if (r < 0)
                return -errno;
        *ret_fd = r;
        return 0;
}

int plat_shm_create(size_t size, int *ret_fd, int *ret_ro_fd) {
        _cleanup_close_ int fd = -1, ro = -1;
        int r;

        if (size == 0 || size > (size_t)INT64_MAX)
                return -EINVAL;
        fd = memfd_create("ipc-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                return -errno;
        if (ftruncate(fd, (off_t)size) < 0)
                return -errno;
        if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
                return -errno;
        if (ret_ro_fd) {
                r = shm_reopen_readonly(fd, &ro);
                if (r < 0)
                        return r;
        }
        /*
         * A memfd is created with mode 0777, and anyone holding an fd can
         * open it again through /proc/self/fd/N: a read-only fd would be one
         * open(O_RDWR) away from a writable mapping. With no permission bits
         * left, only the owner (who can chmod it back) and root can.
         */
        if (fchmod(fd, 0) < 0)
                return -errno;
        *ret_fd = TAKE_FD(fd);
        if (ret_ro_fd)
                *ret_ro_fd = TAKE_FD(ro);
        return 0;
}

int plat_shm_map(int fd, size_t size, bool writable, void **ret) {
        void *p = mmap(NULL, size, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);

        if (p == MAP_FAILED)
                return -errno;
        *ret = p;
        return 0;
}

void plat_shm_unmap(void *p, size_t size) {
        if (p)
                (void)munmap(p, size);
}

int plat_wake_create(int *ret_fd) {
        int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        return 0;
}

int plat_wake_signal(int fd) {
        uint64_t one = 1;

        for (;;) {
                if (write(fd, &one, sizeof(one)) == (ssize_t)sizeof(one))
                        return 0;
                if (errno == EINTR)
                        continue;
                /* EAGAIN: the counter is saturated, so a wake-up is pending anyway. */
                return errno == EAGAIN ? 0 : -errno;
        }
}

int plat_wake_drain(int fd) {
        uint64_t v;

        for (;;) {
                if (read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
                        return 1;
                if (errno == EINTR)
                        continue;
                return errno == EAGAIN ? 0 : -errno;
        }
}

int plat_wake_wait(int fd, uint64_t deadline_usec) {
        int r = plat_wait(fd, PLAT_EV_READ, deadline_usec);

        if (r <= 0)
                return r;
        r = plat_wake_drain(fd);
        /* Readable but nothing to read: another waiter drained it; report a (spurious) wake. */
        return r < 0 ? r : 1;
}

/* A relative timespec until the monotonic deadline; NULL for no limit. */
static struct timespec *timeout_until(uint64_t deadline_usec, struct timespec *ts) {
        uint64_t now, left;

        if (deadline_usec == USEC_INFINITY)
                return NULL;
        now = plat_now_usec();
        left = deadline_usec > now ? deadline_usec - now : 0;
        ts->tv_sec = (time_t)(left / USEC_PER_SEC);
        ts->tv_nsec = (long)(left % USEC_PER_SEC * NSEC_PER_USEC);
        return ts;
}

int plat_futex_wait(uint32_t *addr, uint32_t expected, uint64_t deadline_usec) {
        struct timespec ts;
        long r;

        if (deadline_usec != USEC_INFINITY && plat_now_usec() >= deadline_usec)
                return __atomic_load_n(addr, __ATOMIC_SEQ_CST) == expected ? -ETIMEDOUT : 0;
        r = syscall(SYS_futex, addr, FUTEX_WAIT, expected, timeout_until(deadline_usec, &ts), NULL,
                    0);
        if (r == 0 || errno == EAGAIN || errno == EINTR)
                return 0;
        return -errno;
}

int plat_futex_wake_all(uint32_t *addr) {
        long r = syscall(SYS_futex, addr, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);

        return r < 0 ? -errno : (int)r;
}
