/* SPDX-License-Identifier: MIT */
/*
 * Private state of libipcclient, shared by its source files: the client
 * handle with its two stream buffers, pubs, subs, the embedded message
 * view and the blocking-request bookkeeping.
 *
 * The socket path is one transport; the shared-memory ring transport will
 * add its own state beside `sock` and feed the same receive path, so
 * nothing outside client-io.c touches the socket directly.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "address.h"
#include "ipcclient.h"
#include "platform.h"
#include "proto.h"
#include "util.h"

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

struct ipc_options {
        uint64_t connect_timeout_usec;
        char name[PROTO_NAME_MAX + 1];
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

/* The message view handed out by ipc_client_receive(); embedded, never allocated. */
struct ipc_msg {
        ipc_sub *sub;
        const void *data;
        size_t size;
        uint64_t seq;
        uint64_t timestamp_ns;
        uint64_t lost;
        unsigned flags;
        char channel[IPC_CHANNEL_NAME_MAX + 1];
};

enum client_req_kind {
        CLIENT_REQ_OPEN, /* OPEN_PUB or SUBSCRIBE: the reply carries an open record */
        CLIENT_REQ_JSON, /* REQUEST: the reply carries JSON */
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
};

struct client_abandoned {
        uint32_t id;
        uint8_t type;
};

struct ipc_client {
        plat_sock_t sock;
        plat_poller *poller;
        int dead; /* 0, or the negative errno every later call returns */
        bool welcomed;
        uint32_t max_message_bytes;
        uint32_t next_request_id;
        struct client_req *req;
        struct client_abandoned abandoned[CLIENT_ABANDONED_MAX];
        unsigned abandoned_next;

        struct wbuf out;
        struct rbuf in;
        ipc_msg msg;

        ipc_sub **subs; /* sorted by id */
        size_t n_subs;
        size_t subs_cap;
        ipc_sub *sub_cache; /* last lookup hit */
        ipc_pub *pubs;      /* list of live publishers */

        char address[ADDRESS_STRING_MAX];
        char server[PROTO_NAME_MAX + 1];
        char error[CLIENT_ERROR_MAX];
};

struct ipc_pub {
        ipc_client *client; /* NULL once the client was freed first */
        ipc_pub *prev, *next;
        uint32_t id;
        uint32_t max_message_bytes;
        uint8_t overflow;
        char channel[IPC_CHANNEL_NAME_MAX + 1];
};

struct ipc_sub {
        ipc_client *client; /* NULL once the client was freed first */
        uint32_t id;
        uint64_t lost;
        uint64_t pending_lost; /* reported with the next message */
        void *userdata;
        char pattern[IPC_CHANNEL_NAME_MAX + 1];
};

/* client.c */
int client_fail(ipc_client *c, int error, const char *text);
void client_set_error(ipc_client *c, const char *text, size_t len);

/* client-io.c */
void client_update_poller(ipc_client *c);
int client_append(ipc_client *c, const uint8_t *head, size_t head_len, const void *tail,
                  size_t tail_len);
int client_write(ipc_client *c);
int client_read(ipc_client *c, unsigned max_reads);
int client_wait(ipc_client *c, uint64_t deadline_usec);
int client_flush_until(ipc_client *c, uint64_t deadline_usec, size_t goal);
void client_release_view(ipc_client *c);
void client_buffers_free(ipc_client *c);

/* client-frame.c */
int client_scan(ipc_client *c);
bool client_peek_message(ipc_client *c);
void client_skip_control(ipc_client *c);
void client_take_message(ipc_client *c);

static inline size_t client_out_pending(const ipc_client *c) {
        return c->out.end - c->out.start;
}

/* request.c */
uint32_t client_request_id(ipc_client *c);
int client_request_run(ipc_client *c, struct client_req *req, const uint8_t *frame,
                       size_t frame_len, const void *tail, size_t tail_len, uint64_t timeout_usec);
int client_open(ipc_client *c, uint8_t type, const char *name, uint64_t timeout_usec,
                struct proto_open_reply *ret);
int client_handle_reply(ipc_client *c, const uint8_t *body, size_t len);

/* sub.c */
ipc_sub *client_sub_lookup(ipc_client *c, uint32_t id);
void client_subs_detach(ipc_client *c);

/* pub.c */
void client_pubs_detach(ipc_client *c);
