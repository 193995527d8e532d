/* SPDX-License-Identifier: MIT */
/*
 * The broker: one libevent loop owning the listeners, the peers (client
 * connections), the channel registry and the daemon-wide timers and
 * counters. main.c builds it from the configuration and runs it until
 * SIGTERM or SIGINT.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "address.h"
#include "channel.h"
#include "config.h"
#include "list.h"
#include "log.h"
#include "quota.h"

struct event;
struct event_base;
struct status;

/* Broker-wide failures main() maps to exit codes; negative errno otherwise. */
enum {
        BROKER_E_LISTEN = 1, /* a listener could not be set up (logged) */
};

enum peer_transport {
        PEER_TRANSPORT_UNIX,
        PEER_TRANSPORT_TCP,
};

struct broker {
        struct event_base *base;
        const struct config *config;
        struct channel_registry registry;
        struct quota quota; /* what each user's connections hold together */

        struct list_node listeners; /* struct listener.node */
        struct list_node peers;     /* struct peer.node, every live connection */
        struct list_node closing;   /* struct peer.closing_node, waiting for the reaper */
        struct list_node congested; /* struct peer.congested_node, watched for stalls */
        struct list_node bridges;   /* struct bridge.node: every channel ring's bridge */
        struct list_node dirty_bridges; /* struct bridge.dirty_node: written, not yet flushed */
        size_t n_peers;
        struct list_node lingering; /* struct linger_sock.node: half-closed, draining (linger.c) */
        size_t n_lingering;
        uint64_t next_peer_id;

        uint64_t start_usec;
        uint64_t slow_disconnects;

        struct event *sig_term;
        struct event *sig_int;
        struct event *reaper; /* manual event: frees closed peers outside their callbacks */
        struct event *users_drained; /* manual event: wakes users back under their queue quota */
        struct event *tick;   /* 1 s stall check, armed only while a peer is congested or
                                 a ring has subscribers that could hold publishers back */
        struct status *status; /* STATUS= updates when n_peers or channels change */
        bool stopping;

        struct log_ratelimit rl_accept;  /* accept failures, over-limit rejections */
        struct log_ratelimit rl_clients; /* every per-client line, all clients together */
};

/*
 * broker_new() - set up the loop, signals and channel registry.
 * @config: must outlive the broker.
 * Return: 0; -ENOMEM; other negative errno.
 */
int broker_new(const struct config *config, struct broker **ret);

/* Closes listeners and connections, frees everything. Accepts NULL. Return: NULL. */
struct broker *broker_free(struct broker *b);

struct listen_spec;
struct tls_server;

/*
 * broker_listen() - add a listener (logs "listening on ADDRESS").
 * Return: 0; -BROKER_E_LISTEN (the reason is logged).
 */
int broker_listen(struct broker *b, const struct listen_spec *spec);

/*
 * broker_run() - send READY=1 and dispatch until a shutdown signal.
 * Return: 0 after a clean shutdown; negative errno on a loop failure.
 */
int broker_run(struct broker *b);

/*
 * Takes ownership of an accepted, non-blocking socket and starts a peer.
 * @tls: the listener's TLS context (the peer takes a reference), or NULL.
 */
void broker_accept(struct broker *b, int fd, enum peer_transport transport, struct tls_server *tls);

/* Lets the reaper run at the end of this loop iteration. */
void broker_schedule_reap(struct broker *b);

/*
 * Some user got back under half its queued-bytes quota (quota.h): wake its
 * connections' waiting publishers outside the output callback that noticed.
 */
void broker_schedule_users_drained(struct broker *b);

/*
 * Arms the stall tick if it is not armed; called when a peer becomes
 * congested and when a ring subscriber joins a non-"drop" channel.
 */
void broker_watch_congestion(struct broker *b);
