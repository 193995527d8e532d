/* SPDX-License-Identifier: MIT */
/*
 * The sd-daemon(3) calls the daemon uses, and only those: sd_notify(),
 * sd_pid_notify_with_fds() (FDSTORE=1),
 * sd_listen_fds_with_names(), sd_is_socket_unix(), sd_is_socket_inet() and
 * sd_watchdog_enabled(). Built with libsystemd (the default) they are
 * libsystemd's; configured --without-systemd, sd-compat.c implements the
 * same environment protocols ($NOTIFY_SOCKET, $LISTEN_PID/$LISTEN_FDS/
 * $LISTEN_FDNAMES, $WATCHDOG_USEC/$WATCHDOG_PID) with the same signatures
 * and return conventions, so callers never test which one they got.
 */
#pragma once

#include "build-config.h"

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#else
#include <stddef.h>
#include <stdint.h>

#define SD_LISTEN_FDS_START 3

/*
 * sd_notify() - send @state ("KEY=VALUE" lines) to $NOTIFY_SOCKET, a path
 * or an abstract address written "@name".
 * Return: 1 sent; 0 no $NOTIFY_SOCKET; negative errno.
 */
int sd_notify(int unset_environment, const char *state);

/*
 * sd_pid_notify_with_fds() - sd_notify() with @n_fds descriptors attached
 * (SCM_RIGHTS), for FDSTORE=1. @pid must be 0 (this process).
 * Return: as sd_notify().
 */
#include <sys/types.h>
int sd_pid_notify_with_fds(pid_t pid, int unset_environment, const char *state, const int *fds,
                           unsigned n_fds);

/*
 * sd_listen_fds_with_names() - the sockets passed by the service manager,
 * at fds SD_LISTEN_FDS_START.. (made close-on-exec). @names, when not NULL,
 * receives a NULL-terminated array of their $LISTEN_FDNAMES names ("unknown"
 * for missing ones); free each string and the array.
 * Return: the number of fds (0 when $LISTEN_PID is not this process);
 * negative errno on malformed variables.
 */
int sd_listen_fds_with_names(int unset_environment, char ***names);

/*
 * sd_is_socket_unix() - whether @fd is an AF_UNIX socket of @type (0: any)
 * that is listening (@listening > 0), or not (0), or either (< 0). @path
 * must be NULL: the daemon never asks for a particular path.
 * Return: 1 yes; 0 no; negative errno.
 */
int sd_is_socket_unix(int fd, int type, int listening, const char *path, size_t length);

/* sd_is_socket_inet() - the same for AF_INET/AF_INET6 (@family 0: either; @port 0: any). */
int sd_is_socket_inet(int fd, int family, int type, int listening, uint16_t port);

/*
 * sd_watchdog_enabled() - whether the service manager expects WATCHDOG=1:
 * $WATCHDOG_USEC is set and $WATCHDOG_PID, if set, is this process.
 * Return: 1 with *@usec set; 0 not enabled; negative errno when malformed.
 */
int sd_watchdog_enabled(int unset_environment, uint64_t *usec);
#endif
