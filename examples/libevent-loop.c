/* SPDX-License-Identifier: MIT */
/*
 * libevent-loop: subscribe to a channel (or pattern) and print every
 * message, driving libipcclient from a libevent event loop.
 *
 *   libevent-loop PATTERN [ADDRESS]
 *
 * One persistent read event on the client's fd and one timer that follows
 * ipc_client_get_timeout(); both run the same handler: process, drain with
 * ipc_client_receive(..., 0, ...), re-arm the timer.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>

#include <event2/event.h>
#include <ipcclient.h>

struct loop {
        struct event_base *base;
        struct event *io;
        struct event *timer;
        ipc_client *client;
        int error;
};

static void stop(struct loop *l, int error) {
        l->error = error;
        event_base_loopbreak(l->base);
}

/* The library's timeout is absolute (CLOCK_MONOTONIC); libevent's is relative. */
static void rearm_timer(struct loop *l) {
        struct timeval tv = {0, 0};
        struct timespec ts;
        uint64_t when, now;

        if (ipc_client_get_timeout(l->client, &when) < 0 || when == IPC_USEC_INFINITY) {
                event_del(l->timer);
                return;
        }
        clock_gettime(CLOCK_MONOTONIC, &ts);
        now = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
        if (when > now) {
                tv.tv_sec = (time_t)((when - now) / 1000000);
                tv.tv_usec = (suseconds_t)((when - now) % 1000000);
        }
        event_add(l->timer, &tv);
}

static void print_message(const ipc_msg *msg) {
        size_t size;
        const char *data = ipc_msg_get_data(msg, &size);

        /* %.*s stops at a NUL: fine for a demo of text payloads. */
        printf("%s #%llu: %.*s\n", ipc_msg_get_channel(msg),
               (unsigned long long)ipc_msg_get_sequence(msg), size > 200 ? 200 : (int)size, data);
}

static void on_ready(evutil_socket_t fd, short what, void *userdata) {
        struct loop *l = userdata;
        const ipc_msg *msg;
        int r;

        (void)fd;
        (void)what;
        r = ipc_client_process(l->client);
        if (r < 0) {
                stop(l, r);
                return;
        }
        while ((r = ipc_client_receive(l->client, 0, &msg)) == 0)
                print_message(msg);
        if (r != -EAGAIN) {
                stop(l, r);
                return;
        }
        fflush(stdout);
        rearm_timer(l);
}

static void on_signal(evutil_socket_t sig, short what, void *userdata) {
        (void)sig;
        (void)what;
        stop(userdata, 0);
}

static int run(struct loop *l) {
        struct event *sigint;

        l->base = event_base_new();
        if (!l->base)
                return -ENOMEM;
        l->io = event_new(l->base, ipc_client_get_fd(l->client), EV_READ | EV_PERSIST, on_ready, l);
        l->timer = evtimer_new(l->base, on_ready, l);
        sigint = evsignal_new(l->base, SIGINT, on_signal, l);
        if (!l->io || !l->timer || !sigint) {
                l->error = -ENOMEM;
        } else {
                event_add(l->io, NULL);
                event_add(sigint, NULL);
                rearm_timer(l); /* messages may already be buffered */
                event_base_dispatch(l->base);
        }
        if (sigint)
                event_free(sigint);
        if (l->timer)
                event_free(l->timer);
        if (l->io)
                event_free(l->io);
        event_base_free(l->base);
        return l->error;
}

int main(int argc, char **argv) {
        struct loop l = {0};
        ipc_sub *sub = NULL;
        int r;

        if (argc < 2 || argc > 3) {
                fprintf(stderr, "usage: %s PATTERN [ADDRESS]\n", argv[0]);
                return 2;
        }
        r = ipc_client_connect(argc > 2 ? argv[2] : NULL, NULL, &l.client);
        if (r < 0) {
                fprintf(stderr, "connect: %s\n", ipc_strerror(r));
                return 1;
        }
        r = ipc_sub_new(l.client, argv[1], 5000000, &sub);
        if (r >= 0)
                r = run(&l);
        if (r < 0)
                fprintf(stderr, "%s: %s %s\n", argv[1], ipc_strerror(r),
                        ipc_client_get_error(l.client));
        ipc_sub_free(sub);
        ipc_client_free(l.client);
        return r < 0 ? 1 : 0;
}
