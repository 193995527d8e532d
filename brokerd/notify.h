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
