/* SPDX-License-Identifier: MIT */
/*
 * sd_notify(3) wrappers (see notify.h). Failures are logged at debug level
 * only: a daemon run by hand has no service manager, and one that cannot
 * reach it can still serve clients.
 */
#include "build-config.h"

#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "notify.h"

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
