/* SPDX-License-Identifier: MIT */
/*
 * Listeners: one listening socket each (UNIX or TCP), made by
 * plat_listen() or passed by the service manager (socket activation),
 * accepting connections into the broker. A UNIX socket node the daemon
 * created is unlinked again when the listener is freed, unless something
 * else has replaced it meanwhile; a passed one never is (daemon(7)): the
 * socket unit owns it and keeps accepting into it while we restart.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "address.h"
#include "list.h"

struct broker;
struct event;
struct tls_server;

/*
 * What to listen on, and how: for TCP the TLS server context (a
 * reference, owned by the spec), or NULL for plain TCP, which only a
 * loopback address may have (checked where specs are made: main.c).
 */
struct listen_spec {
        struct address address;
        struct tls_server *tls;
};

struct listener {
        struct broker *broker;
        struct list_node node;  /* broker->listeners */
        struct address address; /* as bound: a TCP port 0 is replaced by the actual port */
        char name[ADDRESS_STRING_MAX];
        int fd;
        struct event *accept_ev;
        struct event *retry_ev; /* re-enables accepting after running out of descriptors */
        struct tls_server *tls; /* TCP with TLS: our reference; NULL for UNIX and plain TCP */
        bool created_node;      /* UNIX: we bound the node, so we unlink it */
        dev_t node_dev;
        ino_t node_ino;
};

/*
 * listener_new() - bind and listen, register with the broker's loop.
 * A UNIX socket node gets the configured "unix_mode" (chmod after bind).
 * @spec: its TLS context, if any, gets a reference of the listener's own.
 * Return: 0; negative errno from plat_listen() and friends.
 */
int listener_new(struct broker *b, const struct listen_spec *spec, struct listener **ret);

/*
 * listener_adopt() - accept on a listening socket passed by the service
 * manager, already checked to be a listening stream socket of @kind.
 * @fd: owned from here on, closed on failure too; made non-blocking.
 * Its address is read back with getsockname() (an abstract UNIX name shows
 * as "@name"); its node is neither chmod'ed nor ever unlinked.
 * @tls: for TCP, the TLS context to use (the listener takes a reference of
 * its own), or NULL for plain TCP.
 * Return: 0; negative errno.
 */
int listener_adopt(struct broker *b, int fd, enum address_kind kind, struct tls_server *tls,
                   struct listener **ret);

/* Stops accepting, closes, unlinks our UNIX node. Accepts NULL. Return: NULL. */
struct listener *listener_free(struct listener *l);
