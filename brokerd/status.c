/* SPDX-License-Identifier: MIT */
/*
 * STATUS= updates (see status.h).
 */
#include "build-config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "broker.h"
#include "listener.h"
#include "notify.h"
#include "platform.h"
#include "status.h"

struct status {
        struct broker *broker;
        struct event *timer; /* one-shot, armed only after a change */
        bool enabled;        /* $NOTIFY_SOCKET was set at start-up */
        uint64_t sent_usec;  /* when the last line went out, 0: never */
        char sent[STATUS_TEXT_MAX];
};

static size_t append(char *buf, size_t size, size_t o, const char *fmt, ...) _printf_(4, 5);

static size_t append(char *buf, size_t size, size_t o, const char *fmt, ...) {
        va_list ap;
        int n;

        if (o >= size)
                return o;
        va_start(ap, fmt);
        n = vsnprintf(buf + o, size - o, fmt, ap);
        va_end(ap);
        return n < 0 ? o : o + (size_t)n;
}

void status_format(const struct broker *b, char *buf, size_t size) {
        const struct listener *l;
        size_t n_channels = b->registry.n_channels;
        size_t o;

        if (size == 0)
                return;
        buf[0] = '\0';
        o = append(buf, size, 0, "%zu client%s, %zu channel%s; listening on", b->n_peers,
                   b->n_peers == 1 ? "" : "s", n_channels, n_channels == 1 ? "" : "s");
        list_for_each(l, &b->listeners, node) {
                o = append(buf, size, o, " %s", l->name);
        }
}

/* Remembers what went out, so an update that changes nothing is not sent. */
static void status_sent(struct status *s, const char *text) {
        (void)snprintf(s->sent, sizeof(s->sent), "%s", text);
        s->sent_usec = plat_now_usec();
}

static void status_timer_cb(evutil_socket_t fd, short what, void *userdata) {
        struct status *s = userdata;
        char text[STATUS_TEXT_MAX];

        if (s->broker->stopping)
                return;
        status_format(s->broker, text, sizeof(text));
        if (strcmp(text, s->sent) == 0)
                return;
        notify_status(text);
        status_sent(s, text);
}

int status_new(struct broker *b, struct status **ret) {
        struct status *s;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->broker = b;
        s->enabled = getenv("NOTIFY_SOCKET") != NULL;
        s->timer = evtimer_new(b->base, status_timer_cb, s);
        if (!s->timer) {
                free(s);
                return -ENOMEM;
        }
        *ret = s;
        return 0;
}

struct status *status_free(struct status *s) {
        if (!s)
                return NULL;
        event_free(s->timer);
        free(s);
        return NULL;
}

void status_changed(struct status *s) {
        uint64_t now, due, delay = 0;
        struct timeval tv;

        if (!s || !s->enabled || s->broker->stopping || evtimer_pending(s->timer, NULL))
                return;
        now = plat_now_usec();
        due = s->sent_usec + STATUS_INTERVAL_USEC;
        if (s->sent_usec != 0 && due > now)
                delay = due - now;
        tv = (struct timeval){.tv_sec = (time_t)(delay / USEC_PER_SEC),
                              .tv_usec = (suseconds_t)(delay % USEC_PER_SEC)};
        (void)evtimer_add(s->timer, &tv);
}

const char *status_send_ready(struct status *s) {
        char text[STATUS_TEXT_MAX];

        status_format(s->broker, text, sizeof(text));
        notify_ready(text);
        status_sent(s, text);
        return s->sent;
}
