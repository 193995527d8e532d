/* SPDX-License-Identifier: MIT */
/*
 * Watchdog pings (see watchdog.h). Half the interval, as sd_watchdog_enabled(3)
 * recommends: one late wake-up on a loaded machine must not look like a hang.
 */
#include "build-config.h"

#include <errno.h>
#include <stdlib.h>

#include <event2/event.h>

#include "log.h"
#include "notify.h"
#include "platform.h"
#include "sd-compat.h"
#include "watchdog.h"

struct watchdog {
        struct event *timer; /* EV_PERSIST, every half interval */
};

static void watchdog_cb(evutil_socket_t fd, short what, void *userdata) {
        notify_watchdog();
}

int watchdog_new(struct event_base *base, struct watchdog **ret) {
        struct watchdog *w;
        struct timeval tv;
        uint64_t usec = 0, half;
        int r;

        r = sd_watchdog_enabled(0, &usec);
        if (r < 0)
                log_errno(LOG_WARNING, r, "ignoring the watchdog settings: %m");
        if (r <= 0) {
                *ret = NULL;
                return r;
        }
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->timer = event_new(base, -1, EV_PERSIST, watchdog_cb, w);
        half = usec / 2 > 0 ? usec / 2 : 1;
        tv = (struct timeval){.tv_sec = (time_t)(half / USEC_PER_SEC),
                              .tv_usec = (suseconds_t)(half % USEC_PER_SEC)};
        if (!w->timer || event_add(w->timer, &tv) < 0) {
                watchdog_free(w);
                return -ENOMEM;
        }
        log_info("watchdog enabled: pinging every %llu ms", (unsigned long long)(half / 1000));
        *ret = w;
        return 1;
}

struct watchdog *watchdog_free(struct watchdog *w) {
        if (!w)
                return NULL;
        if (w->timer)
                event_free(w->timer);
        free(w);
        return NULL;
}
