/* SPDX-License-Identifier: MIT */
/*
 * Service manager notifications (sd_notify(3)): Type=notify units and the
 * test harness wait for READY=1, so it is sent only once the configuration
 * is loaded and every listener accepts. Without $NOTIFY_SOCKET these are
 * no-ops. Built --without-systemd, sd-compat.c speaks the same protocol.
 */
#pragma once

/* READY=1 with a STATUS= line. */
void notify_ready(const char *status);

/* STATUS= only. */
void notify_status(const char *status);

/* STOPPING=1, at the start of a clean shutdown. */
void notify_stopping(void);

/*
 * RELOADING=1 with MONOTONIC_USEC= (CLOCK_MONOTONIC now), at the start of a
 * SIGHUP reload; notify_ready() ends it, whether the reload worked or not.
 */
void notify_reloading(void);

/* WATCHDOG=1, the keep-alive ping (see watchdog.h). */
void notify_watchdog(void);

/*
 * FDSTORE=1 with FDNAME=@name: the service manager keeps a copy of @fd
 * for the next start of the service. @name: printable ASCII, no ':', at
 * most 255 bytes. Return: 1 sent; 0 no service manager; negative errno.
 */
int notify_fdstore(const char *name, int fd);

/* FDSTOREREMOVE=1 with FDNAME=@name: closes the stored copies of that name. */
void notify_fdstore_remove(const char *name);
