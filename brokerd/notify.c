/* SPDX-License-Identifier: MIT */
/*
 * sd_notify(3) wrappers (see notify.h). Failures are logged at debug level
 * only: a daemon run by hand has no service manager, and one that cannot
 * reach it can still serve clients.
 */
#include "build-config.h"

#include <inttypes.h>
#include <stdio.h>

#include "log.h"
#include "notify.h"
#include "platform.h"
#include "sd-compat.h"

static void notify_send(const char *state) {
        int r;

        r = sd_notify(0, state);
        if (r < 0)
                log_errno(LOG_DEBUG, r, "sd_notify failed: %m");
}

void notify_ready(const char *status) {
        char buf[512];

        (void)snprintf(buf, sizeof(buf), "READY=1\nSTATUS=%s", status);
        notify_send(buf);
}

void notify_status(const char *status) {
        char buf[512];

        (void)snprintf(buf, sizeof(buf), "STATUS=%s", status);
        notify_send(buf);
}

void notify_stopping(void) {
        notify_send("STOPPING=1\nSTATUS=Shutting down");
}

void notify_reloading(void) {
        char buf[128];

        /* MONOTONIC_USEC lets Type=notify-reload match this message to its SIGHUP. */
        (void)snprintf(buf, sizeof(buf),
                       "RELOADING=1\nSTATUS=Reloading the configuration\n"
                       "MONOTONIC_USEC=%" PRIu64,
                       plat_now_usec());
        notify_send(buf);
}

void notify_watchdog(void) {
        notify_send("WATCHDOG=1");
}

int notify_fdstore(const char *name, int fd) {
        char buf[320];
        int r;

        (void)snprintf(buf, sizeof(buf), "FDSTORE=1\nFDNAME=%s", name);
        r = sd_pid_notify_with_fds(0, 0, buf, &fd, 1);
        if (r < 0)
                log_errno(LOG_DEBUG, r, "cannot store fd \"%s\" with the service manager: %m",
                          name);
        return r;
}

void notify_fdstore_remove(const char *name) {
        char buf[320];

        (void)snprintf(buf, sizeof(buf), "FDSTOREREMOVE=1\nFDNAME=%s", name);
        notify_send(buf);
}
