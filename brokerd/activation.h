/* SPDX-License-Identifier: MIT */
/*
 * Socket activation (sd_listen_fds(3), daemon(7)): listening sockets the
 * service manager passes ($LISTEN_FDS, e.g. from ipc-brokerd.socket) are
 * used instead of binding. Each fd is sorted by what it is, checked with
 * sd_is_socket_unix() and sd_is_socket_inet(); its FileDescriptorName=
 * ("unix", "tcp" or anything) only labels it in the log. A passed UNIX
 * socket replaces the daemon's own UNIX socket (--socket, "listen.unix" or
 * the default path) and passed TCP sockets replace the configured and
 * --listen TCP addresses. An fd that is not a listening stream socket is
 * logged and closed, and the daemon goes on as if it had not been passed.
 *
 * The configuration still says how each passed TCP socket is secured: it
 * takes the TLS settings (or "insecure" plain TCP) of the "listen"."tcp"
 * entry or --listen address with the same numeric address and port. A
 * passed TCP socket that matches none is a configuration error: the daemon
 * refuses to start rather than serve it without knowing how.
 *
 * The same variables also bring back what the daemon stored in the
 * service manager's fd store before a restart: fds named as ring-store.h
 * says go to activation.rings, not to the listeners.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "ring-store.h"

struct broker;
struct listen_spec;
struct tls_server;

#define ACTIVATION_FDS_MAX 64

struct activation {
        int unix_fds[ACTIVATION_FDS_MAX];
        size_t n_unix;
        int tcp_fds[ACTIVATION_FDS_MAX];
        struct tls_server *tcp_tls[ACTIVATION_FDS_MAX]; /* from activation_match_tcp() */
        size_t n_tcp;
        struct ring_store rings; /* stored ring memfds (ring-store.h), by their FDNAME */
};

/*
 * activation_collect() - take over the passed sockets and unset
 * $LISTEN_PID, $LISTEN_FDS and $LISTEN_FDNAMES. Problems are logged, never
 * fatal: a malformed environment counts as no sockets.
 * @ret: filled in every case; free with activation_done().
 */
void activation_collect(struct activation *ret);

/*
 * activation_match_tcp() - find each passed TCP socket's entry among
 * @specs (by getsockname(): same address family, numeric address and
 * port) and take a reference to its TLS context (none for plain TCP).
 * @config_path: the configuration file, for the message; may be NULL.
 * Return: 0; -ENOENT when a socket matches no entry (logged, naming the
 * socket's address and what to add to the configuration).
 */
int activation_match_tcp(struct activation *a, const struct listen_spec *specs, size_t n,
                         const char *config_path);

/*
 * activation_listen() - hand every collected socket to @b as a listener
 * (logs "listening on ADDRESS (socket-activated)").
 * Return: 0; -BROKER_E_LISTEN (the reason is logged). The fds belong to
 * the broker afterwards, also on failure.
 */
int activation_listen(struct activation *a, struct broker *b);

/* Closes the sockets activation_listen() did not take, and stored rings nobody restored. */
void activation_done(struct activation *a);
