/* SPDX-License-Identifier: MIT */
/*
 * Private state of libipcclient, shared by its source files: the client
 * handle with its two stream buffers, pubs, subs, the embedded message
 * view and the blocking-request bookkeeping.
 *
 * Two transports feed one receive path: the socket (client-io.c moves its
 * bytes, client-frame.c checks its frames) and the shared-memory rings of
 * channels (ring-attach.c maps them, pub-ring.c and sub-ring.c use them).
 * ipc_client_receive() takes turns between the socket and each ring
 * subscription (client-receive.c).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "address.h"
#include "ipcclient.h"
#include "platform.h"
#include "proto.h"
#include "ring.h"
#include "util.h"

_Static_assert(PLAT_RECV_FDS_MAX >= PROTO_RING_FDS_MAX, "a ring reply's descriptors fit one read");
_Static_assert(PROTO_RING_PAGES_MAX == RING_SUB_SLOTS_MAX, "a reply can carry every sub slot page");

/* Smallest read: many frames per syscall. */
#define CLIENT_READ_MIN_BYTES (64u * 1024u)
/* Buffered output above which ipc_publish() waits for the socket. */
#define CLIENT_WRITE_CAP_BYTES (4u * 1024u * 1024u)
/* An empty buffer larger than this is released instead of kept. */
#define CLIENT_BUF_KEEP_BYTES (8u * 1024u * 1024u)
/* Reads per ipc_client_process() call, so one busy socket cannot starve the loop. */
#define CLIENT_PROCESS_READS_MAX    8
#define CLIENT_CONNECT_TIMEOUT_USEC (5 * USEC_PER_SEC)
#define CLIENT_FREE_FLUSH_USEC      (1 * USEC_PER_SEC)
#define CLIENT_ERROR_MAX            512
/* Requests that timed out whose late replies still need cleaning up. */
#define CLIENT_ABANDONED_MAX 8
/*
 * Messages taken from one source (the socket, or one ring subscription)
 * before ipc_client_receive() moves on to the next, so no busy source
 * starves the others; a ring subscription also stores its cursor then.
 */
#define CLIENT_BATCH_MAX 64u
/* Ready fds taken from the pollable handle per look; more stay ready for the next. */
#define CLIENT_READY_MAX 16
/* Reconnect backoff defaults (ipc_options_set_reconnect()). */
#define CLIENT_RECONNECT_INITIAL_MSEC 100u
#define CLIENT_RECONNECT_MAX_MSEC     5000u

struct bio_method_st;
struct ssl_ctx_st;
struct ssl_st;

struct ipc_options {
        uint64_t connect_timeout_usec;
        uint64_t spin_usec;
        int transport; /* IPC_TRANSPORT_AUTO or IPC_TRANSPORT_SOCKET */
        char name[PROTO_NAME_MAX + 1];
        char *error_buf; /* the caller's, for a failed connect's reason; NULL: none */
        size_t error_size;
        struct ssl_ctx_st *tls;      /* ipc_options_set_tls(): CA, certificate and key loaded */
        char token[PROTO_TOKEN_MAX]; /* ipc_options_set_token(), wiped when replaced or freed */
        size_t token_len;
        uint32_t reconnect_initial_ms; /* 0 with reconnect_max_ms 0: never reconnect */
        uint32_t reconnect_max_ms;
        bool publish_wait; /* socket publish while disconnected waits for the reconnect */
};

/*
 * Output: bytes [start, end) are pending. Appends go at `end`; the space
 * before `start` is reclaimed by moving the pending bytes down when needed.
 */
struct wbuf {
        uint8_t *data;
        size_t cap;
        size_t start;
        size_t end;
};

/*
 * Input: frames before `head` are consumed; [head, scan) holds complete,
 * validated frames (control frames among them already handled, data frames
 * waiting for ipc_client_receive()); [scan, len) is a partial frame.
 * `view` is the buffer the last returned message points into: while set,
 * that memory must neither move nor be freed, so growth copies the live
 * bytes to a new buffer and parks the old one in `retired`.
 */
struct rbuf {
        uint8_t *data;
        size_t cap;
        size_t len;
        size_t head;
        size_t scan;
        const uint8_t *view;
        uint8_t *retired;
};

/*
 * The message view handed out by ipc_client_receive(); embedded, never
 * allocated. `ring_sub` is set while it is a view into that subscription's
 * ring (or its retained copy), to be released before the ring is read on.
 */
struct ipc_msg {
        ipc_client *client;
        ipc_sub *sub;
        ipc_sub *ring_sub;
        const void *data;
        size_t size;
        uint64_t seq;
        uint64_t timestamp_ns;
        uint64_t lost;
        unsigned flags;
        const char *channel; /* channel_buf, or the ring subscription's channel */
        char channel_buf[IPC_CHANNEL_NAME_MAX + 1];
};

enum client_req_kind {
        CLIENT_REQ_OPEN, /* OPEN_PUB or SUBSCRIBE: the reply carries an open record */
        CLIENT_REQ_JSON, /* REQUEST: the reply carries JSON */
        CLIENT_REQ_RING, /* OPEN_RING: a ring record, descriptors, maybe a retained value */
};

/* What an OPEN_RING reply granted: ours to attach or give back. */
struct client_ring_grant {
        bool granted;               /* the broker activated a slot: rr.slot is ours */
        struct proto_ring_reply rr; /* its retained view is NULL: see retained below */
        int fds[PROTO_RING_FDS_MAX];
        size_t n_fds;
        uint8_t pages[PROTO_RING_PAGES_MAX * PROTO_RING_PAGE_BYTES]; /* rr.n_pages entries */
        uint8_t *retained; /* malloc'd copy of the retained payload, or NULL */
};

/* The one blocking request in flight (calls on a client are serialised). */
struct client_req {
        uint32_t id;
        uint8_t type; /* the frame type sent */
        enum client_req_kind kind;
        bool done;
        int status;
        struct proto_open_reply open;
        char *json;
        uint8_t role;                   /* CLIENT_REQ_RING: enum proto_ring_role */
        struct client_ring_grant grant; /* CLIENT_REQ_RING */
};

/*
 * Descriptors from one read. The kernel attaches them to the first byte of
 * the REPLY that carries them and ends the read after that sendmsg()'s
 * bytes, so that reply starts within [from, to) of this read: exactly one
 * frame can own them.
 */
#define CLIENT_FD_BATCHES 2

struct client_fd_batch {
        uint64_t from, to; /* stream offsets of the bytes read with them */
        size_t n;
        int fds[PROTO_RING_FDS_MAX];
};

struct client_abandoned {
        uint32_t id;
        uint8_t type;
        uint8_t role; /* OPEN_RING */
};

/*
 * A mapped ring slot (ring-attach.c): the validated ring and its mappings.
 * A subscriber keeps the descriptors that came with its grant (DATA, STATE,
 * its page, its wake eventfd, its space eventfd) and maps its page
 * read-write. A publisher keeps DATA, STATE and the broker's relay
 * eventfd, and per sub slot the wake eventfd and a read-only map of the
 * page (in r.pages, generation in r.page_gen), both replaced when a newer
 * generation comes (RING_PAGES, refresh_id while one is in flight).
 */
struct client_ring {
        struct ring r;
        void *data;
        void *state;
        size_t data_size;
        size_t state_size;
        int fds[PROTO_RING_SUB_FDS]; /* a publisher's: DATA, STATE and the relay only */
        size_t n_fds;
        int sub_wake[RING_SUB_SLOTS_MAX]; /* publisher: wake eventfd per sub slot, or -1 */
        uint32_t slot;
        uint32_t handle; /* the broker's name for the grant (CLOSE_RING) */
        uint8_t role;
        bool stale;           /* granted on an earlier connection: its handle means nothing now */
        uint32_t refresh_id;  /* publisher: request id of the RING_PAGES in flight, or 0 */
        bool refresh_refused; /* publisher: the broker said no; do not ask again */
};

#define CLIENT_RING_FD_DATA  0
#define CLIENT_RING_FD_STATE 1
#define CLIENT_RING_FD_PAGE  2 /* subscriber: its page */
#define CLIENT_RING_FD_WAKE  3 /* subscriber: its wake eventfd */
#define CLIENT_RING_FD_SPACE 4 /* subscriber: its space eventfd (to the broker) */
#define CLIENT_RING_FD_RELAY 2 /* publisher: the broker's relay eventfd (wakes blind slots) */

struct ipc_client {
        plat_sock_t sock;
        struct ssl_st *ssl;               /* "tls:" connections: all socket I/O goes through it */
        struct bio_method_st *bio_method; /* its socket BIO's methods (client-tls.c) */
        plat_poller *poller;
        int dead; /* 0, or the negative errno every later call returns */
        bool welcomed;
        bool rings;         /* may map rings: transport AUTO on a UNIX socket */
        bool wake_deferred; /* some ring publisher holds back wake-ups (IPC_PUBLISH_MORE) */
        uint64_t spin_usec;
        uint32_t max_message_bytes;
        uint32_t next_request_id;
        struct client_req *req;
        struct client_abandoned abandoned[CLIENT_ABANDONED_MAX];
        unsigned abandoned_next;

        struct wbuf out;
        struct rbuf in;
        ipc_msg msg;

        /* Descriptors received ahead of the OPEN_RING reply they belong to. */
        struct client_fd_batch in_fds[CLIENT_FD_BATCHES];
        size_t n_fd_batches;
        uint64_t in_total; /* stream bytes read so far */
        uint64_t frame_at; /* stream offset of the frame being dispatched */

        ipc_sub **subs; /* sorted by id */
        size_t n_subs;
        size_t subs_cap;
        ipc_sub *sub_cache; /* last lookup hit */
        ipc_pub *pubs;      /* list of live publishers */

        ipc_sub **ring_subs; /* subscriptions on a ring, in creation order */
        size_t n_ring_subs;
        size_t ring_subs_cap;
        size_t src;       /* receive source: 0 the socket, i > 0 ring_subs[i - 1] */
        unsigned src_run; /* messages taken from it in a row */

        char address[ADDRESS_STRING_MAX];
        char server[PROTO_NAME_MAX + 1];
        char error[CLIENT_ERROR_MAX];

        /* Reconnecting (client-reconnect.c). */
        struct address addr;
        ipc_options conf;      /* the connect options, kept: own TLS reference, no error buffer */
        bool link_down;        /* the socket is gone: reconnecting */
        bool link_lost_unseen; /* the loss is not reported yet (-ENOTCONN once) */
        bool attempting;       /* inside a reconnect attempt: a failure ends just the attempt */
        uint32_t backoff_ms;   /* the next delay, before jitter */
        uint64_t retry_usec;   /* the next attempt, CLOCK_MONOTONIC */
        uint64_t reconnects;   /* successful reconnects */
        uint64_t jitter;       /* xorshift state */
};

struct ipc_pub {
        ipc_client *client; /* NULL once the client was freed first */
        ipc_pub *prev, *next;
        uint32_t id;
        uint32_t max_message_bytes;
        uint8_t overflow;
        bool claimed;             /* between ipc_pub_claim() and commit/abort */
        bool wake_deferred;       /* ring: records committed since the last wake-up */
        unsigned deferred_run;    /* ring: records committed under MORE since the last check */
        struct client_ring *ring; /* NULL: the socket */
        uint64_t limit;           /* ring: cached block-policy limit (ring_claim) */
        struct ring_claim claim;  /* ring: the claim held */
        uint8_t *scratch;         /* socket: the claimed buffer */
        size_t scratch_cap;
        size_t claim_size; /* socket: bytes claimed */
        /* After a reconnect: the transport to switch to once no claim is open (NULL: socket). */
        bool switch_pending;
        struct client_ring *next_ring;
        int refused; /* the broker refused to open it again after a reconnect: publish fails so */
        char channel[IPC_CHANNEL_NAME_MAX + 1];
};

struct ipc_sub {
        ipc_client *client; /* NULL once the client was freed first */
        uint32_t id;        /* socket subscriptions only */
        uint64_t lost;
        uint64_t pending_lost; /* reported with the next message */
        void *userdata;

        /* Ring subscriptions (sub-ring.c). */
        struct client_ring *ring; /* NULL: the socket */
        struct ring_reader rd;
        struct ring_view view; /* the record read ahead or handed out */
        bool peeked;           /* view holds a record not yet handed out */
        bool sleeping;         /* we announced sleep (perhaps answered already) */
        bool signalled;        /* the wake eventfd may hold a signal: drain it */
        unsigned batch;        /* records released since the cursor was stored */
        bool has_retained;     /* the reply's retained value, not yet handed out */
        bool retained_out;     /* ...handed out: free it on release */
        uint8_t *retained;
        size_t retained_size;
        uint64_t retained_seq;
        uint64_t retained_timestamp_ns;

        /* Reconnects: the gap is judged at the first message after one (sub_note_seq()). */
        uint64_t epoch;    /* the channel epoch read from now (open reply, ring header); 0: none */
        uint64_t last_seq; /* of the last message handed out (retained values aside) */
        uint64_t missed;   /* messages known to be missed across reconnects */
        bool resumed;      /* a reconnect happened since the last message */
        bool gap_unknown;  /* ...and the channel epoch changed (or was never known) */
        /* Ring: the slot granted after a reconnect, read once the old one is drained. */
        struct client_ring *next_ring;
        struct ring_reader next_rd;
        bool next_same; /* the same ring (the broker kept it): continue at our position */

        char pattern[IPC_CHANNEL_NAME_MAX + 1];
};

/* client.c */
int client_fail(ipc_client *c, int error, const char *text);
int client_handshake(ipc_client *c, const ipc_options *opts, uint64_t deadline_usec);
void client_set_error(ipc_client *c, const char *text, size_t len);

/* client-io.c */
void client_update_poller(ipc_client *c);
int client_append(ipc_client *c, const uint8_t *head, size_t head_len, const void *tail,
                  size_t tail_len);
int client_write(ipc_client *c);
int client_read(ipc_client *c, unsigned max_reads);
int client_wait(ipc_client *c, uint64_t deadline_usec);
int client_wait_all(ipc_client *c, uint64_t deadline_usec);
void client_in_fds_close(ipc_client *c);
size_t client_in_fds_take(ipc_client *c, uint64_t at, int *fds);
int client_flush_until(ipc_client *c, uint64_t deadline_usec, size_t goal);
void client_release_view(ipc_client *c);
void client_buffers_free(ipc_client *c);

/* client-tls.c */
int client_tls_context_new(const char *ca_file, const char *cert_file, const char *key_file,
                           struct ssl_ctx_st **ret);
int client_tls_start(ipc_client *c, struct ssl_ctx_st *ctx, const struct address *a,
                     uint64_t deadline_usec);
ssize_t client_tls_send(ipc_client *c, const void *buf, size_t len);
ssize_t client_tls_recv(ipc_client *c, void *buf, size_t len);
bool client_tls_pending(const ipc_client *c);
void client_tls_close(ipc_client *c);

/* client-frame.c */
int client_scan(ipc_client *c);
bool client_peek_message(ipc_client *c);
void client_skip_control(ipc_client *c);
void client_take_message(ipc_client *c);

static inline size_t client_out_pending(const ipc_client *c) {
        return c->out.end - c->out.start;
}

/* The time left until a monotonic deadline (two requests sharing one timeout). */
static inline uint64_t client_usec_left(uint64_t deadline_usec) {
        uint64_t now = plat_now_usec();

        if (deadline_usec == USEC_INFINITY)
                return USEC_INFINITY;
        return deadline_usec > now ? deadline_usec - now : 0;
}

/* request.c */
uint32_t client_request_id(ipc_client *c);
void client_request_abandon(ipc_client *c, uint32_t id, uint8_t type, uint8_t role);
int client_request_run(ipc_client *c, struct client_req *req, const uint8_t *frame,
                       size_t frame_len, const void *tail, size_t tail_len, uint64_t timeout_usec);

/* A subscription's resume point (PROTO_FLAG_RESUME); seq 0: none. */
struct client_resume {
        uint64_t seq;   /* the first sequence number still wanted */
        uint64_t epoch; /* the channel epoch that number belongs to */
};

int client_open(ipc_client *c, uint8_t type, const char *name, struct client_resume resume,
                uint64_t timeout_usec, struct proto_open_reply *ret);
int client_handle_reply(ipc_client *c, const uint8_t *body, size_t len);
int client_open_ring(ipc_client *c, uint8_t role, const char *name, struct client_resume resume,
                     uint64_t timeout_usec, struct client_ring_grant *ret);
void client_grant_clear(struct client_ring_grant *g);
bool client_fds_expected(const ipc_client *c);

/* ring-attach.c */
int client_ring_attach(const char *channel, uint8_t role, struct client_ring_grant *g,
                       struct client_ring **ret);
struct client_ring *client_ring_free(struct client_ring *cr);
void client_ring_close_slot(ipc_client *c, uint32_t handle);
uint64_t client_ring_signal(struct client_ring *cr, uint64_t mask);
int client_ring_install_pages(struct client_ring *cr, const uint8_t *pages, size_t n,
                              const int *fds);

/* client-receive.c */
int client_msg_release(ipc_client *c);
void client_rings_drain(ipc_client *c);
void client_rings_drain_ready(ipc_client *c, const int *fds, size_t n);
bool client_rings_idle(ipc_client *c);
int client_rings_ready(ipc_client *c);
bool client_rings_asleep(const ipc_client *c);

/* sub.c */
ipc_sub *client_sub_lookup(ipc_client *c, uint32_t id);
void client_subs_detach(ipc_client *c);
int client_subs_reopen(ipc_client *c, uint64_t deadline_usec);
struct client_resume client_sub_resume_point(const ipc_sub *sub);
void client_sub_new_epoch(ipc_sub *sub, uint64_t epoch);
void client_sub_resume(ipc_sub *sub, ipc_msg *msg);

/*
 * Every message handed out passes here: one store normally; the first one
 * after a reconnect also judges the gap.
 */
static inline void sub_note_seq(ipc_sub *sub, ipc_msg *msg) {
        if (msg->flags & IPC_MSG_RETAINED)
                return;
        if (__builtin_expect(sub->resumed, 0))
                client_sub_resume(sub, msg);
        sub->last_seq = msg->seq;
}

/* client-reconnect.c */
void client_options_init(ipc_options *o);
int client_conf_copy(ipc_client *c, const ipc_options *opts);
void client_conf_free(ipc_client *c);
bool client_link_may_retry(const ipc_client *c);
void client_link_down(ipc_client *c);
void client_link_tick(ipc_client *c);
int client_link_wait(ipc_client *c, uint64_t deadline_usec);
bool client_request_fails_fast(ipc_client *c);

/* sub-ring.c */
int sub_ring_open(ipc_client *c, ipc_sub *sub, uint64_t timeout_usec);
int sub_ring_peek(ipc_client *c, ipc_sub *sub);
void sub_ring_take(ipc_client *c, ipc_sub *sub, ipc_msg *msg);
int sub_ring_release(ipc_client *c, ipc_sub *sub);
void sub_ring_store(ipc_client *c, ipc_sub *sub);
bool sub_ring_sleep(ipc_client *c, ipc_sub *sub);
void sub_ring_drain(ipc_client *c, ipc_sub *sub);
void sub_ring_close(ipc_client *c, ipc_sub *sub);
int sub_ring_reopen(ipc_client *c, ipc_sub *sub, uint64_t timeout_usec);

/* pub.c */
void client_pubs_detach(ipc_client *c);
int client_pubs_reopen(ipc_client *c, uint64_t deadline_usec);
void pub_switch(ipc_pub *pub);

/* pub-ring.c */
int pub_ring_open(ipc_client *c, ipc_pub *pub, uint64_t timeout_usec);
int pub_ring_grant(ipc_client *c, const char *channel, uint64_t timeout_usec,
                   struct client_ring **ret);
int pub_ring_claim(ipc_pub *pub, size_t size, uint64_t timeout_usec, struct ring_claim *ret);
int pub_ring_commit(ipc_pub *pub, struct ring_claim *cl, unsigned flags);
int pub_ring_publish(ipc_pub *pub, const void *data, size_t size, unsigned flags,
                     uint64_t timeout_usec);
void pub_ring_wake(ipc_pub *pub);
void client_pubs_wake(ipc_client *c);
void pub_ring_close(ipc_client *c, ipc_pub *pub);
bool pub_rings_refreshing(const ipc_client *c);
int pub_ring_refresh_reply(ipc_client *c, const struct proto_reply *rep);
