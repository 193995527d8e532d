/* SPDX-License-Identifier: MIT */
/*
 * The platform seam: sockets, the pollable handle and clocks. Everything
 * OS-specific that the library and the daemon need sits behind these calls
 * (platform-linux.c today; platform-win32.c for the Windows port, see
 * shared notes). Returns are 0/positive or a negative errno.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "address.h"

typedef int plat_sock_t;
#define PLAT_SOCK_INVALID (-1)

/* CLOCK_MONOTONIC in microseconds. */
uint64_t plat_now_usec(void);

/* CLOCK_REALTIME in nanoseconds since the epoch. */
uint64_t plat_realtime_nsec(void);

/*
 * Connects a non-blocking, close-on-exec stream socket to the address,
 * waiting at most timeout_usec (USEC_INFINITY: no limit).
 * Return: 0 and *ret; -ETIMEDOUT; any negative errno from socket/connect
 * (-ENOENT, -ECONNREFUSED, -EACCES, ...); for TCP, -EHOSTUNREACH when the
 * name does not resolve.
 */
int plat_connect(const struct address *a, uint64_t timeout_usec, plat_sock_t *ret);

/*
 * Creates a non-blocking, close-on-exec listening socket. For UNIX, the
 * parent directory must exist (the daemon decides its mode and group);
 * a stale socket node (one nobody accepts on) is replaced, a live one
 * gives -EADDRINUSE.
 * Return: 0 and *ret, or a negative errno.
 */
int plat_listen(const struct address *a, int backlog, plat_sock_t *ret);

/* Closes a socket (PLAT_SOCK_INVALID is ignored). */
void plat_sock_close(plat_sock_t s);

/*
 * Waits until the socket is readable (events & PLAT_EV_READ) or writable
 * (PLAT_EV_WRITE), or the monotonic deadline passes.
 * Return: a mask of ready events; 0 on timeout; negative errno.
 */
#define PLAT_EV_READ 1
#define PLAT_EV_WRITE 2
int plat_wait(plat_sock_t s, int events, uint64_t deadline_usec);

/*
 * The pollable handle given to applications (ipc_client_get_fd): on Linux an
 * epoll fd watching the socket (and later the ring eventfds). It is readable,
 * level-triggered, when the socket is readable, or writable while write
 * interest is set.
 */
typedef struct plat_poller plat_poller;
int plat_poller_new(plat_sock_t s, plat_poller **ret);
plat_poller *plat_poller_free(plat_poller *p);
int plat_poller_fd(const plat_poller *p);
/* Adds or removes interest in the socket's writability (pending output). */
int plat_poller_set_write(plat_poller *p, int on);
/*
 * Replaces the socket in the handle (PLAT_SOCK_INVALID: none, while
 * reconnecting); the handle's own fd stays the same. Call before closing
 * the old socket. Return: 0; negative errno.
 */
int plat_poller_set_sock(plat_poller *p, plat_sock_t s);
/*
 * Makes the handle readable at a monotonic deadline (USEC_INFINITY: never)
 * until the alarm is set again. The alarm's fd is listed by
 * plat_poller_wait() like any other. Return: 0; negative errno.
 */
int plat_poller_set_alarm(plat_poller *p, uint64_t deadline_usec);
/*
 * Adds a wake fd (a ring subscription's eventfd) to the handle, readable
 * while the fd is signalled, or removes it again. Return: 0; negative errno.
 */
int plat_poller_add(plat_poller *p, int fd);
int plat_poller_remove(plat_poller *p, int fd);

/*
 * Waits until something in the handle is ready or the monotonic deadline
 * passes (0: just look; USEC_INFINITY: no limit), and lists the ready fds
 * (the socket, added wake fds), up to @max of them; more stay ready.
 * Return: the number listed (0 on timeout); a negative errno.
 */
int plat_poller_wait(plat_poller *p, uint64_t deadline_usec, int *fds, size_t max);

/* Most descriptors one plat_sock_recv() accepts; more are closed. */
#define PLAT_RECV_FDS_MAX 136

/*
 * Reads what the stream socket has, up to @len bytes, without blocking, and
 * takes the descriptors passed with it (SCM_RIGHTS, made close-on-exec as
 * they arrive). At most MIN(@max_fds, PLAT_RECV_FDS_MAX) are stored in
 * @fds; the kernel closes any beyond that (the control buffer is sized for
 * exactly that many), and this closes any that came in an unexpected form.
 * Return: bytes read (0 at end of stream) and *@ret_n_fds; -EAGAIN;
 * another negative errno.
 */
ssize_t plat_sock_recv(plat_sock_t s, void *buf, size_t len, int *fds, size_t max_fds,
                       size_t *ret_n_fds);

/* Whether two descriptors name the same file. Return: 1; 0; negative errno. */
int plat_fd_same_file(int a, int b);

/* Closes a descriptor received with plat_sock_recv() (negative ones are ignored). */
void plat_fd_close(int fd);

/*
 * Shared memory for the rings. A region is an fd the broker creates,
 * seals and hands out; clients map it. Sizes are fixed at creation.
 */

/*
 * Creates an anonymous, close-on-exec shared memory region of @size bytes,
 * zero-filled, sealed against shrinking and growing (so no client can
 * truncate it under the others and cause SIGBUS) and against further seals.
 * With @ret_ro_fd, also a second fd opened read-only, to hand to clients
 * that may only read: a mapping made from it can never be made writable.
 * The region then loses every permission bit, so that a process of another
 * user holding one of the fds cannot open it again, read-write, through
 * /proc/self/fd.
 * Return: 0, *ret_fd and *ret_ro_fd; -EINVAL (size 0); any negative errno
 * from memfd_create/ftruncate/fcntl/open/fchmod (-EMFILE, -ENOMEM, -ENOENT
 * without /proc, ...).
 */
int plat_shm_create(size_t size, int *ret_fd, int *ret_ro_fd);

/*
 * Maps @size bytes of the region shared, read-write or read-only.
 * Return: 0 and *ret; -EACCES (writable mapping of a read-only fd); any
 * negative errno from mmap.
 */
int plat_shm_map(int fd, size_t size, bool writable, void **ret);

/*
 * Checks a region received from the broker before mapping it: it must be a
 * shared memory region sealed against shrinking (so nobody can truncate it
 * under our mapping and turn our reads into SIGBUS).
 * Return: 0 and *ret_size, its size in bytes; -EBADF (not a sealed region);
 * another negative errno from fstat.
 */
int plat_shm_check(int fd, size_t *ret_size);

/* Unmaps a mapping made by plat_shm_map() (NULL is ignored). */
void plat_shm_unmap(void *p, size_t size);

/*
 * Wake-ups: a non-blocking, close-on-exec eventfd per sleeper. Signals
 * accumulate until drained; a signal may be spurious, so waiters re-check.
 * Return: 0 and *ret_fd, or a negative errno.
 */
int plat_wake_create(int *ret_fd);

/* Signals the wake fd. Return: 0, or a negative errno (-EBADF). */
int plat_wake_signal(int fd);

/*
 * Consumes pending signals without blocking.
 * Return: 1 if any were pending, 0 if none, or a negative errno.
 */
int plat_wake_drain(int fd);

/*
 * Waits until the wake fd is signalled or the monotonic deadline passes
 * (USEC_INFINITY: no limit), and consumes the signals.
 * Return: 1 when signalled; 0 on timeout; a negative errno.
 */
int plat_wake_wait(int fd, uint64_t deadline_usec);

/*
 * Sleeps while *@addr == @expected, at most until the monotonic deadline.
 * Process-shared (not FUTEX_PRIVATE): works on MAP_SHARED memory across
 * processes. Wake-ups may be spurious; callers re-check their condition.
 * Return: 0 when woken, when *addr differed, or on a signal; -ETIMEDOUT;
 * another negative errno (-EFAULT, -EINVAL).
 */
int plat_futex_wait(uint32_t *addr, uint32_t expected, uint64_t deadline_usec);

/* Wakes every waiter on @addr. Return: the number woken, or a negative errno. */
int plat_futex_wake_all(uint32_t *addr);

/* A pause inside a spin loop: lets a sibling hyperthread run, saves power. */
static inline void plat_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ __volatile__("yield" ::: "memory");
#else
        __asm__ __volatile__("" ::: "memory");
#endif
}
