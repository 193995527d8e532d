/* SPDX-License-Identifier: MIT */
/*
 * The service manager's watchdog (WatchdogSec=, sd_watchdog_enabled(3)):
 * a timer on the broker's event loop sends WATCHDOG=1 every half interval,
 * so the pings stop exactly when the loop stops turning (a hang, a busy
 * callback, SIGSTOP) and systemd then kills and restarts the daemon.
 */
#pragma once

#include <stdint.h>

struct event_base;
struct watchdog;

/*
 * watchdog_new() - start pinging when the service manager asks for it.
 * @base: the broker's loop; the pings start once it dispatches.
 * @ret: the running watchdog, or NULL when it is not enabled ($WATCHDOG_USEC
 *       unset, or $WATCHDOG_PID names another process).
 * Return: 1 enabled; 0 not enabled; -ENOMEM; -EINVAL for a malformed
 * $WATCHDOG_USEC (logged, then the daemon runs without pings).
 */
int watchdog_new(struct event_base *base, struct watchdog **ret);

/* Stops the pings and frees. Accepts NULL. Return: NULL. */
struct watchdog *watchdog_free(struct watchdog *w);
