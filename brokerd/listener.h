/* SPDX-License-Identifier: MIT */
/*
 * Listeners: one listening socket each (UNIX or TCP), made by
 * plat_listen(), accepting connections into the broker. A UNIX socket node
 * the daemon created is unlinked again when the listener is freed, unless
 * something else has replaced it meanwhile.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "address.h"
#include "list.h"

struct broker;
struct event;

struct listener {
        struct broker *broker;
        struct list_node node;  /* broker->listeners */
        struct address address; /* as bound: a TCP port 0 is replaced by the actual port */
        char name[ADDRESS_STRING_MAX];
        int fd;
        struct event *accept_ev;
        struct event *retry_ev; /* re-enables accepting after running out of descriptors */
        bool created_node;      /* UNIX: we bound the node, so we unlink it */
        dev_t node_dev;
        ino_t node_ino;
};

/*
 * listener_new() - bind and listen, register with the broker's loop.
 * UNIX sockets get mode 0666 (access control is a later issue).
 * Return: 0; negative errno from plat_listen() and friends.
 */
int listener_new(struct broker *b, const struct address *a, struct listener **ret);

/* Stops accepting, closes, unlinks our UNIX node. Accepts NULL. Return: NULL. */
struct listener *listener_free(struct listener *l);
