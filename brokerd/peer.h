/* SPDX-License-Identifier: MIT */
/*
 * Peers: one client connection each (socket transport). A peer owns the
 * bufferevent, the framing of its input, its output queue, the handshake,
 * its publishers and subscriptions (by id), and its side of flow control.
 *
 *   peer.c         lifecycle, I/O callbacks, framing, output, stall checks
 *   peer-frames.c  the handler of each client frame type, message delivery
 *   peer-ring.c    OPEN_RING, CLOSE_RING: ring slots, replies that carry
 *                  descriptors, eviction of stalled ring subscribers
 *   peer-access.c  the access rules on each open, and on each channel a
 *                  wildcard subscription attaches to
 *   flow.c         back-pressure between publishers (or a ring's bridge) and
 *                  congested subscribers
 *   peer-tls.c     TLS connections: the handshake, the identity it proves,
 *                  HELLO tokens
 *
 * Closing is deferred: peer_close() only marks the peer and wakes the
 * broker's reaper, so a peer can be closed from inside another peer's
 * callback (a fan-out loop, a flow release) without freeing anything that
 * loop is walking.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "acl.h"
#include "broker.h"
#include "channel.h"
#include "identity.h"
#include "list.h"
#include "log.h"
#include "proto.h"

struct bridge;
struct bufferevent;
struct event;
struct evbuffer_cb_entry;
struct tls_server;

/* Largest read and write per syscall: many frames per call under load. */
#define PEER_IO_CHUNK_BYTES (256u * 1024u)
/* How long a closing peer may take to flush its last frames (an ERROR) and linger. */
#define PEER_DRAIN_TIMEOUT_USEC (2 * USEC_PER_SEC)

enum peer_state {
        PEER_HANDSHAKE, /* waiting for HELLO */
        PEER_RUNNING,
        PEER_CLOSING,  /* closed, waiting for the reaper */
        PEER_DRAINING, /* detached from everything, flushing output before the close */
};

/*
 * Frame handler outcomes besides 0 and negative errno. PEER_E_PROTOCOL: a
 * violation, logged once, answered with an ERROR frame, peer closed.
 * PEER_E_BLOCKED: the frame cannot be handled yet (no ring space); it
 * stays in the input buffer and the peer is not read until it can.
 */
enum {
        PEER_E_PROTOCOL = 1,
        PEER_E_BLOCKED = 2,
};

struct publisher {
        struct peer *peer;
        struct channel *channel;
        struct list_node channel_node; /* channel->publishers */
        uint32_t id;
        uint64_t published; /* messages it published on the channel */
        uint64_t wakeups;   /* ring eventfd signals the broker sent for them */
};

/* One slot of a channel's shared-memory ring held by a peer (peer-ring.c). */
struct peer_ring {
        struct channel *channel;
        uint32_t slot;
        uint32_t handle; /* the client's name for it in CLOSE_RING */
        uint8_t role;    /* enum proto_ring_role */
};

/* A REPLY whose descriptors wait for the output queue to drain (peer-ring.c). */
struct peer_fd_reply;

/* One publisher (a connection, or a ring's bridge) waiting for one congested subscriber. */
struct flow_wait {
        struct peer *pub;      /* NULL when @bridge waits */
        struct bridge *bridge; /* NULL when @pub waits */
        struct peer *sub;
        struct list_node pub_node; /* pub->waits or bridge->waits */
        struct list_node sub_node; /* sub->waiters */
};

struct peer {
        struct broker *broker;
        struct list_node node;           /* broker->peers */
        struct list_node closing_node;   /* broker->closing */
        struct list_node congested_node; /* broker->congested */
        uint64_t id;
        enum peer_state state;
        enum peer_transport transport;
        struct tls_server *tls; /* TLS listener's context (a reference), NULL for plain */
        bool tls_ready;         /* the TLS handshake completed */
        struct bufferevent *bev;
        struct event *timer;  /* handshake deadline, then the frame deadline, then the drain one */
        struct event *resume; /* re-runs buffered input once back-pressure lifts */

        char name[PROTO_NAME_MAX + 1]; /* client name from HELLO, raw bytes */
        size_t name_len;
        char label[128];            /* "client 7 \"escaped-name\"" for log lines */
        struct identity ident;      /* who it is: kernel credentials, or what TLS authenticated */
        struct quota_user *user;    /* its user's account (quota.h), charged while it lives */
        struct list_node user_node; /* user->peers */
        struct evbuffer_cb_entry *output_cb; /* counts the output queue into the user's */

        bool have_header; /* hdr holds the header of the frame being received */
        bool frame_timed; /* the timer runs for a frame that has begun but not ended */
        struct proto_header hdr;
        bool eof;            /* the client closed its side; close once input is consumed */
        bool flush_on_close; /* an ERROR frame is queued: drain before closing */
        bool lingering;      /* DRAINING, output written, discarding input until EOF */
        bool reply_wait;     /* a request waits for the output queue to drain (peer.c) */

        struct publisher **pubs; /* sorted by id (ids only grow) */
        size_t n_pubs;
        size_t cap_pubs;
        struct subscription **subs; /* sorted by id */
        size_t n_subs;
        size_t cap_subs;
        uint32_t last_pub_id;
        uint32_t last_sub_id;
        struct peer_ring *rings; /* ring slots held, in no order */
        size_t n_rings;
        size_t cap_rings;
        uint32_t last_ring_handle;
        struct peer_fd_reply *fd_reply; /* while set, no input is processed */
        struct event *fd_writer;        /* socket writable, for a deferred fd_reply */

        struct list_node waiters;    /* flow_wait.sub_node: publishers stopped on our queue */
        struct list_node waits;      /* flow_wait.pub_node: queues we are stopped on */
        struct bridge *space_wait;   /* a PUBLISH waits for room in this ring (bridge.c) */
        struct list_node space_node; /* bridge->space_peers */
        bool loss_pending;           /* some subscription has lost > 0 */
        bool block_congested;        /* over the cap with block-policy data: watched for stalls */
        uint64_t queued_total;       /* bytes ever queued; minus the queue length = bytes written */
        uint64_t stall_written;
        uint64_t stall_since_usec;

        uint64_t received; /* messages published by this client */
        uint64_t sent;     /* messages queued to it */
        uint64_t dropped;  /* messages dropped for its subscriptions */
        struct log_ratelimit rl;
};

/*
 * peer_new() - start a connection on an accepted socket, charged to the
 * user of @id (the caller checked the connection limits).
 * @fd: non-blocking, close-on-exec; owned by the peer even on failure.
 * @id: who connects (copied); a TLS peer starts anonymous and becomes who it
 *      authenticates as (peer_set_remote_identity()).
 * @tls: the listener's TLS context, or NULL: with one, the peer is a TLS
 *       server side whose handshake counts against the handshake timeout.
 * Return: 0; -ENOMEM.
 */
int peer_new(struct broker *b, int fd, enum peer_transport transport, const struct identity *id,
             struct tls_server *tls, struct peer **ret);

/* "unix", "tcp" or "tls", for logs and statistics. */
static inline const char *peer_transport_name(const struct peer *p) {
        if (p->transport == PEER_TRANSPORT_UNIX)
                return "unix";
        return p->tls ? "tls" : "tcp";
}

/* Frees a peer in any state, detaching it from everything. Accepts NULL. Return: NULL. */
struct peer *peer_free(struct peer *p);

/*
 * peer_close() - stop a connection (deferred, see above); queued output is
 * flushed first only when an ERROR frame was queued (peer_fail()).
 */
void peer_close(struct peer *p);

/*
 * peer_fail() - protocol violation: log one line, queue ERROR{@code, text},
 * close after the flush.
 * Return: -PEER_E_PROTOCOL, for the frame handlers to return.
 */
int peer_fail(struct peer *p, int code, const char *fmt, ...) _printf_(3, 4);

/* Rate-limited log line about this peer, prefixed with its label. */
void peer_log(struct peer *p, int prio, const char *fmt, ...) _printf_(3, 4);

/*
 * peer_log_quota() - the log line of a quota hit: "LABEL: uid 1000 (pid
 * 42): refused: LIMIT (VALUE) reached" (rate-limited, as peer_log()).
 */
void peer_log_quota(struct peer *p, const char *limit, uint64_t value);

/* Writes "uid 1000" (or "remote \"x\"", "anonymous"): @p's user, for error texts. */
const char *peer_user_text(const struct peer *p, char *buf, size_t len);

/* Called by the broker's reaper for each closed peer. */
void peer_reap(struct peer *p);

/* Stall check of a congested peer, from the broker's tick. */
void peer_check_stall(struct peer *p, uint64_t now_usec);

/* Bytes in the output queue. */
size_t peer_queued(const struct peer *p);

/*
 * Whether @p counts as over its output cap: its own queue is over
 * limits.output_queue_bytes, or its user's queues together passed
 * limits.max_queued_bytes_per_uid and are not yet back to half of it.
 */
bool peer_congested(const struct peer *p);

/*
 * @p's queue is at or below half its cap (its write callback): publishers
 * waiting on it, its pending losses and its held-back request go on,
 * unless its user is still congested; then quota's wake-up does it later.
 */
void peer_drained(struct peer *p);

/*
 * @u got back under half its queue quota: peer_drained() each of its
 * connections that is not over its own cap.
 */
void peer_user_drained(struct quota_user *u);

/* ---- output (peer.c) ---- */
void peer_queue(struct peer *p, const void *head, size_t head_len, const void *tail,
                size_t tail_len);
/* Queues @head, then @payload's bytes by reference (no copy). */
void peer_queue_shared(struct peer *p, const void *head, size_t head_len, struct payload *payload);
void peer_send_reply(struct peer *p, uint32_t request_id, int32_t status, const void *body,
                     size_t len);
void peer_send_reply_text(struct peer *p, uint32_t request_id, int32_t status, const char *fmt, ...)
        _printf_(4, 5);
void peer_send_loss(struct peer *p, struct subscription *s);

/* ---- frames (peer-frames.c) ---- */

/*
 * peer_dispatch() - handle one complete frame.
 * Return: 0; -PEER_E_PROTOCOL (already failed and closed); negative errno.
 */
int peer_dispatch(struct peer *p, const struct proto_header *h, const uint8_t *body, size_t len);

/*
 * peer_refuse_channel() - answer an open that failed with @r: -ENFILE (a
 * new channel would pass limits.max_channels) is answered and logged, the
 * connection carries on.
 * Return: 0 (answered); @r, any other error.
 */
int peer_refuse_channel(struct peer *p, uint32_t request_id, int r);

/* Sends LOSS for every subscription with a pending count. */
void peer_flush_losses(struct peer *p);

/* Frees all publishers and subscriptions (channels may be freed). */
void peer_drop_endpoints(struct peer *p);

/* Marks @p congested with block-policy data and starts watching it for stalls. */
void peer_mark_congested(struct peer *p);
void peer_unmark_congested(struct peer *p);

/* Lets a peer whose input was stopped by back-pressure process it again. */
void peer_resume(struct peer *p);

/* ---- rings and descriptor passing (peer-ring.c) ---- */

/*
 * peer_on_open_ring() - handle an OPEN_RING frame.
 * Return: 0 (answered); -PEER_E_PROTOCOL; negative errno.
 */
int peer_on_open_ring(struct peer *p, uint8_t flags, const uint8_t *body, size_t len);

/*
 * peer_on_close_ring() - handle a CLOSE_RING frame: give the slot back.
 * An unknown slot or role is answered with -ENOENT or -EINVAL when the
 * request id is not 0, and otherwise ignored (as CLOSE_PUB does).
 * Return: 0; -PEER_E_PROTOCOL (malformed).
 */
int peer_on_close_ring(struct peer *p, const uint8_t *body, size_t len);

/*
 * peer_on_ring_pages() - handle a RING_PAGES frame: send a publisher the
 * current sub slot pages and wake eventfds of its grant's ring. An unknown
 * grant gets -ENOENT, a subscriber's -EINVAL.
 * Return: 0 (answered); -PEER_E_PROTOCOL (malformed); -ENOMEM.
 */
int peer_on_ring_pages(struct peer *p, const uint8_t *body, size_t len);

/* Ring slots of @role the peer holds (ring subscriptions count toward max_subscriptions). */
size_t peer_ring_count(const struct peer *p, uint8_t role);

/*
 * peer_ring_evict() - @p's subscriber slot in @c's ring held publishers
 * back for @stalled_usec: count it, log it, send ERROR naming the channel
 * and the reason, and close (the reaper releases the slot).
 */
void peer_ring_evict(struct peer *p, struct channel *c, uint64_t stalled_usec);

/* Gives back every ring slot @p holds (channels may be freed). */
void peer_drop_rings(struct peer *p);

/* Sends a deferred descriptor reply once the output queue is empty; from the write callback. */
void peer_fd_reply_flush(struct peer *p);

/* Forgets a deferred descriptor reply (closing its descriptors). */
void peer_fd_reply_drop(struct peer *p);

/* ---- access rules (peer-access.c) ---- */

/*
 * peer_access_check() - may @p open @name for @right under the rules in
 * force? @name is a channel name, or for SUBSCRIBE a pattern too, which
 * passes when some channel it matches could be allowed (each is checked
 * as it attaches, peer_may_attach()). When not, answers @request_id with
 * -EACCES and a text naming the channel and the right, and logs
 * @request ("OPEN_PUB", ...) with it, rate-limited.
 * Return: true when allowed.
 */
bool peer_access_check(struct peer *p, uint32_t request_id, const char *request,
                       enum acl_right right, const char *name, size_t len);

/*
 * peer_ring_access_check() - peer_access_check() for OPEN_RING @m: the
 * subscribe right for a subscriber slot; for a publisher slot the publish
 * right and, since a publisher's mapping shows the whole ring, the
 * subscribe right too, whose lack is answered -ENOTSUP (use the socket),
 * not -EACCES. Return: true when the slot may be handed out.
 */
bool peer_ring_access_check(struct peer *p, const struct proto_open_ring *m);

/*
 * peer_may_attach() - subscription_ops.may_attach of socket subscriptions:
 * whether the owner may subscribe to @c. A channel it may not is left out
 * of a wildcard subscription without a word to the client (logged at
 * debug level).
 */
bool peer_may_attach(struct subscription *s, const struct channel *c);

/*
 * peer_set_identity() - @p authenticated as @id (TLS): move its connection
 * and queued bytes from the anonymous user to @id's.
 * Return: 0; -PEER_E_PROTOCOL (over @id's max_connections_per_uid: refused
 * with ERROR EDQUOT and closed); -ENOMEM.
 */
int peer_set_identity(struct peer *p, const struct identity *id);

/* ---- TLS (peer-tls.c) ---- */

/*
 * peer_tls_bev_new() - the bufferevent of a TLS peer: OpenSSL runs the
 * handshake as the server on @fd, then encrypts and decrypts.
 * @fd: owned from here on, closed on failure too.
 * Return: 0; -ENOMEM.
 */
int peer_tls_bev_new(struct peer *p, int fd, struct bufferevent **ret);

/*
 * peer_tls_on_connected() - the handshake completed: a certificate
 * listener's peer becomes the REMOTE identity its certificate names, or
 * is refused with ERROR EACCES if it names none usable.
 */
void peer_tls_on_connected(struct peer *p);

/*
 * peer_tls_failed() - the TLS layer failed: log why (rate-limited) and,
 * for a failed handshake, keep the socket lingering after the peer is
 * closed, so the alert OpenSSL sent reaches the client (linger.h).
 */
void peer_tls_failed(struct peer *p);

/*
 * peer_check_token() - HELLO's token against the connection: a token
 * listener needs one that matches (the peer becomes its name); every other
 * connection must send none.
 * Return: 0; -PEER_E_PROTOCOL (refused with ERROR EACCES and closed).
 */
int peer_check_token(struct peer *p, const struct proto_hello *h);

/* Sends TLS close_notify before a half-close (peer_linger()); nothing for plain peers. */
void peer_tls_shutdown(struct peer *p);

/* ---- flow control (flow.c) ---- */

/* Stops reading from @pub until @sub drains below half its cap. Return: 0; -ENOMEM. */
int flow_wait(struct peer *pub, struct peer *sub);
/* Pauses the ring's bridge until @sub drains below half its cap. Return: 0; -ENOMEM. */
int flow_wait_bridge(struct bridge *br, struct peer *sub);
/* @sub drained or went away: release every publisher and bridge waiting on it. */
void flow_release_waiters(struct peer *sub);
/* @pub goes away: forget what it waits for. */
void flow_cancel_waits(struct peer *pub);
/* The bridge stops reading: forget what it waits for. */
void flow_cancel_bridge_waits(struct bridge *br);
/*
 * Whether @pub is currently stopped: by back-pressure, waiting for ring
 * space, or holding a request until its own queue drains.
 */
bool flow_is_blocked(const struct peer *pub);
