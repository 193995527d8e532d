/* SPDX-License-Identifier: MIT */
/*
 * The platform seam: sockets, the pollable handle and clocks. Everything
 * OS-specific that the library and the daemon need sits behind these calls
 * (platform-linux.c today; platform-win32.c for the Windows port, see
 * shared notes). Returns are 0/positive or a negative errno.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

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
 * Creates a non-blocking, close-on-exec listening socket. For UNIX, creates
 * the parent directory if missing (mode 0755) and replaces a stale socket
 * node (one nobody accepts on); a live one gives -EADDRINUSE.
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
