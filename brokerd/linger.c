/* SPDX-License-Identifier: MIT */
/*
 * Lingering closes (see linger.h).
 */
#include "build-config.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "broker.h"
#include "linger.h"
#include "platform.h"

struct linger_sock {
        struct broker *broker;
        struct list_node node; /* broker->lingering */
        struct event *ev;
        int fd;
        uint64_t deadline_usec;
};

static void linger_free(struct linger_sock *l) {
        list_unlink(&l->node);
        l->broker->n_lingering--;
        if (l->ev)
                event_free(l->ev);
        (void)close(l->fd);
        free(l);
}

/* Drops what arrives; done at EOF, on an error, or at the deadline (a client still sending). */
static void linger_cb(evutil_socket_t fd, short what, void *userdata) {
        struct linger_sock *l = userdata;
        char junk[4096];
        ssize_t n = 1;

        if (what & EV_READ)
                n = recv(fd, junk, sizeof(junk), MSG_DONTWAIT);
        if ((what & EV_TIMEOUT) || n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) ||
            plat_now_usec() >= l->deadline_usec)
                linger_free(l);
}

void linger_fd(struct broker *b, int fd) {
        struct timeval tv = {.tv_sec = LINGER_TIMEOUT_USEC / USEC_PER_SEC};
        struct linger_sock *l;

        (void)shutdown(fd, SHUT_WR);
        l = b->n_lingering < LINGER_MAX ? calloc(1, sizeof(*l)) : NULL;
        if (!l) {
                (void)close(fd);
                return;
        }
        l->broker = b;
        l->fd = fd;
        l->deadline_usec = plat_now_usec() + LINGER_TIMEOUT_USEC;
        list_init(&l->node);
        list_append(&b->lingering, &l->node);
        b->n_lingering++;
        l->ev = event_new(b->base, fd, EV_READ | EV_PERSIST, linger_cb, l);
        if (!l->ev || event_add(l->ev, &tv) < 0)
                linger_free(l);
}

void linger_free_all(struct broker *b) {
        struct list_node *n;

        while ((n = list_first(&b->lingering)))
                linger_free(list_entry(n, struct linger_sock, node));
}
