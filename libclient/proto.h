/* SPDX-License-Identifier: MIT */
/*
 * The ipc-broker wire protocol (documented in ipc-broker(7)): versioned,
 * length-prefixed, little-endian binary frames over a UNIX or TCP stream.
 *
 * Every frame is an 8-byte header followed by `length` body bytes:
 *
 *   u16 magic (0x4249, "IB" on the wire)  u8 type  u8 flags  u32 length
 *
 * A body is a fixed "head" of per-type fields followed by a variable
 * "tail" (payload, text or JSON). Encoders write the header and the head
 * into a caller buffer of PROTO_HEAD_MAX bytes, count the tail in the
 * header's length, and leave appending the tail bytes to the caller, so a
 * payload is never copied just to frame it. Decoders take one complete body
 * and return views into it; they validate every length and never read
 * past `len`.
 *
 * Shared by ipc-brokerd and libipcclient; no allocation, no I/O.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_MAGIC 0x4249u
#define PROTO_VERSION_MIN 1
#define PROTO_VERSION_MAX 1
#define PROTO_HEADER_BYTES 8
#define PROTO_NAME_MAX 255
/* Largest header + head of any frame type (a MESSAGE with a 255-byte name). */
#define PROTO_HEAD_MAX 320
/* Body limit for every client-to-broker frame type except PUBLISH. */
#define PROTO_CONTROL_BODY_MAX (64u * 1024u)
/* Body limit for REPLY frames (JSON listings can be large). */
#define PROTO_REPLY_BODY_MAX (64u * 1024u * 1024u)
/* Hard ceiling on any configurable message size. */
#define PROTO_MESSAGE_BYTES_MAX (256u * 1024u * 1024u)

enum proto_type {
        PROTO_HELLO = 0x01,       /* c->s, first frame */
        PROTO_WELCOME = 0x02,     /* s->c, answer to HELLO */
        PROTO_ERROR = 0x03,       /* s->c, fatal: the broker closes after it */
        PROTO_OPEN_PUB = 0x10,    /* c->s, open a channel for publishing */
        PROTO_CLOSE_PUB = 0x11,   /* c->s */
        PROTO_SUBSCRIBE = 0x12,   /* c->s, channel name or wildcard pattern */
        PROTO_UNSUBSCRIBE = 0x13, /* c->s */
        PROTO_REQUEST = 0x14,     /* c->s, control request (ping, channels, stats) */
        PROTO_OPEN_RING = 0x15,   /* c->s, map a channel's shared-memory ring (UNIX only) */
        PROTO_CLOSE_RING = 0x16,  /* c->s, give a ring slot back */
        PROTO_RING_PAGES = 0x17,  /* c->s, a ring publisher asks for the current sub pages */
        PROTO_REPLY = 0x20,       /* s->c, answer to any request carrying a request id */
        PROTO_PUBLISH = 0x30,     /* c->s, data */
        PROTO_MESSAGE = 0x31,     /* s->c, data */
        PROTO_LOSS = 0x32,        /* s->c, messages dropped for a subscription */
        PROTO_RETAINED = 0x33,    /* c->s, a retained message a ring publisher wrote */
};

/* Header flags. */
enum {
        PROTO_FLAG_RETAIN = 1u << 0, /* PUBLISH: keep as the channel's retained value;
                                        MESSAGE: this is the retained value */
        PROTO_FLAG_RESUME = 1u << 1, /* SUBSCRIBE, OPEN_RING: a resume point follows
                                        the name */
};

/* Bytes the resume point adds after the name (PROTO_FLAG_RESUME): u64 seq, u64 epoch. */
#define PROTO_RESUME_BYTES 16

/* Control request operations (PROTO_REQUEST). */
enum proto_op {
        PROTO_OP_PING = 1,          /* reply: JSON {"server": ..., "version": ...} */
        PROTO_OP_LIST_CHANNELS = 2, /* reply: JSON array of channel objects */
        PROTO_OP_STATS = 3,         /* reply: JSON object */
};

/* Overflow policies, as carried in an OPEN reply. */
enum proto_overflow {
        PROTO_OVERFLOW_BLOCK = 0,
        PROTO_OVERFLOW_DROP = 1,
        PROTO_OVERFLOW_DISCONNECT = 2,
        _PROTO_OVERFLOW_MAX,
};

struct proto_header {
        uint8_t type;
        uint8_t flags;
        uint32_t length; /* body bytes after the header */
};

/* HELLO flags. */
enum {
        /* The head goes on with u8 token_len (1..PROTO_TOKEN_MAX) and the token:
           the client authenticates with it on a broker's token TLS listener. */
        PROTO_HELLO_TOKEN = 1u << 0,
};

/* Longest HELLO token, in bytes. */
#define PROTO_TOKEN_MAX 255

/*
 * HELLO head: u16 version_min, u16 version_max, u32 flags, and with
 * PROTO_HELLO_TOKEN u8 token_len and the token; tail: client name.
 * Other flag bits are ignored.
 */
struct proto_hello {
        uint16_t version_min;
        uint16_t version_max;
        uint32_t flags;
        const char *token; /* PROTO_HELLO_TOKEN: not NUL-terminated, 1..PROTO_TOKEN_MAX */
        size_t token_len;
        const char *name; /* tail, not NUL-terminated, <= PROTO_NAME_MAX */
        size_t name_len;
};

/* WELCOME head: u16 version, u16 0, u32 max_message_bytes, u32 flags; tail: server text. */
struct proto_welcome {
        uint16_t version;
        uint32_t max_message_bytes;
        uint32_t flags;
        const char *server; /* tail, e.g. "ipc-brokerd 0.1.0" */
        size_t server_len;
};

/* ERROR head: u32 code (positive errno); tail: UTF-8 text. */
struct proto_error {
        uint32_t code;
        const char *text;
        size_t text_len;
};

/*
 * OPEN_PUB and SUBSCRIBE head: u32 request_id, u8 name_len, name, and with
 * PROTO_FLAG_RESUME the resume point, u64 resume_seq and u64 resume_epoch.
 * No tail. The resume point is a reconnecting subscriber's: the first
 * sequence number it still wants (one past the last it saw), and the
 * channel epoch those numbers belong to (from the open reply, or the ring
 * header). The decoder takes it on either type; the broker refuses it
 * where it means nothing (OPEN_PUB, a pattern), and ignores it when the
 * epoch is not the channel's (the numbering started over).
 */
struct proto_open {
        uint32_t request_id;
        const char *name; /* not NUL-terminated, 1..PROTO_NAME_MAX, charset not checked here */
        size_t name_len;
        bool resume; /* PROTO_FLAG_RESUME: resume_seq and resume_epoch are set */
        uint64_t resume_seq;
        uint64_t resume_epoch;
};

/* CLOSE_PUB and UNSUBSCRIBE head: u32 request_id (0: no reply wanted), u32 id. No tail. */
struct proto_close {
        uint32_t request_id;
        uint32_t id;
};

/* REQUEST head: u32 request_id, u16 op, u16 0; tail: JSON arguments (may be empty). */
struct proto_request {
        uint32_t request_id;
        uint16_t op;
        const char *body;
        size_t body_len;
};

/*
 * REPLY head: u32 request_id, i32 status (0 or a negative errno); tail: for a
 * successful OPEN_PUB/SUBSCRIBE the open-reply record, for a REQUEST a JSON
 * document, for a failure a UTF-8 error text.
 */
struct proto_reply {
        uint32_t request_id;
        int32_t status;
        const void *body;
        size_t body_len;
};

/*
 * Tail of a successful OPEN_PUB/SUBSCRIBE reply: u32 id, u32
 * max_message_bytes, u8 overflow, 3x u8 0, u64 epoch.
 */
#define PROTO_OPEN_REPLY_BYTES 20
struct proto_open_reply {
        uint32_t id;                /* publisher or subscription id on this connection */
        uint32_t max_message_bytes; /* the channel's limit (for a pattern: the global one) */
        uint8_t overflow;           /* enum proto_overflow */
        uint64_t epoch;             /* the channel's epoch (non-zero); 0 for a pattern */
};

/* OPEN_RING roles. */
enum proto_ring_role {
        PROTO_RING_PUBLISHER = 0,
        PROTO_RING_SUBSCRIBER = 1,
        _PROTO_RING_ROLE_MAX,
};

/*
 * OPEN_RING head: u32 request_id, u8 role, u8 name_len, name (an exact
 * channel name), and with PROTO_FLAG_RESUME u64 resume_seq and u64
 * resume_epoch (as for SUBSCRIBE; a subscriber's only). No tail. Ring
 * clients read the channel's epoch from the ring header (channel_epoch).
 * The role is not range-checked here: an unknown role is answered with
 * -EINVAL, not treated as a malformed frame.
 */
struct proto_open_ring {
        uint32_t request_id;
        uint8_t role; /* enum proto_ring_role */
        const char *name;
        size_t name_len;
        bool resume; /* PROTO_FLAG_RESUME: resume_seq and resume_epoch are set */
        uint64_t resume_seq;
        uint64_t resume_epoch;
};

/*
 * Tail of a successful OPEN_RING reply: u32 slot, u32 n_fds, u64 data_size,
 * u64 state_size, u32 handle (names the grant in CLOSE_RING; unique on the
 * connection), u32 generation (a subscriber's: of its page; a publisher's:
 * 0). Then, for a subscriber, when the channel has a retained value older
 * than the slot's start, u64 seq, u64 timestamp_ns and its payload (the
 * rest of the body, at least one byte: an empty retained value is no
 * retained value); for a publisher, one PROTO_RING_PAGE_BYTES entry per
 * sub slot page it gets, {u32 slot, u32 generation}, to the end of the
 * body. The REPLY frame carries n_fds descriptors (SCM_RIGHTS, attached
 * to its first byte): DATA and STATE (both read-only for a subscriber),
 * then for a subscriber its page (read-write), its wake eventfd and its
 * space eventfd (signal it after storing the cursor when
 * ring_space_broker_waiting()), for a publisher the broker's relay eventfd
 * (signal it after a batch while ring_pages_missing(): the broker wakes
 * those subscribers) and two per page entry, in entry order: that slot's
 * wake eventfd and its page (read-only).
 */
#define PROTO_RING_REPLY_BYTES    32
#define PROTO_RING_RETAINED_BYTES 16
#define PROTO_RING_PAGE_BYTES     8
#define PROTO_RING_SUB_FDS        5
/* Sub slot pages one reply can carry (RING_SUB_SLOTS_MAX). */
#define PROTO_RING_PAGES_MAX 64
/* A publisher's descriptors before its page pairs: DATA, STATE, relay. */
#define PROTO_RING_PUB_FDS 3
/* Most descriptors an OPEN_RING reply carries: a publisher's, with every sub slot's pair. */
#define PROTO_RING_FDS_MAX (PROTO_RING_PUB_FDS + 2 * PROTO_RING_PAGES_MAX)

/* One page entry of a publisher's ring reply. */
struct proto_ring_page {
        uint32_t slot;
        uint32_t generation;
};

struct proto_ring_reply {
        uint32_t slot; /* sub or pub slot index in the ring */
        uint32_t n_fds;
        uint64_t data_size;
        uint64_t state_size;
        uint32_t handle;     /* for CLOSE_RING */
        uint32_t generation; /* subscribers: of their page */
        /* Subscribers: the retained value to deliver first (decoder output only). */
        bool has_retained;
        uint64_t retained_seq;
        uint64_t retained_timestamp_ns;
        const void *retained;
        size_t retained_size;
        /* Publishers: the page entries (decoder output only; proto_decode_ring_page()). */
        const uint8_t *pages;
        size_t n_pages;
};

/*
 * CLOSE_RING head: u32 request_id (0: no reply wanted), u32 handle (from
 * the OPEN_RING reply). Slot numbers cannot name a grant: they are per
 * ring, and one connection holds slots in many rings.
 */
struct proto_close_ring {
        uint32_t request_id;
        uint32_t handle;
};

/*
 * RING_PAGES head: u32 request_id, u32 handle (a publisher's grant). A
 * publisher sends it when STATE names a sub page generation it lacks. The
 * REPLY's tail is one PROTO_RING_PAGE_BYTES entry per sub slot that has a
 * page now, as in a publisher's OPEN_RING reply, and the REPLY carries two
 * descriptors per entry (wake eventfd, page), in entry order.
 */
struct proto_ring_pages {
        uint32_t request_id;
        uint32_t handle;
};

/*
 * RETAINED head: u32 pub_id, u64 seq, u64 timestamp_ns; tail: payload. A
 * ring publisher that wrote a record with the retain flag sends its copy
 * so the broker can replay it to later subscribers (the broker does not
 * read the ring unless socket subscribers need it). The broker keeps the
 * one with the highest seq; it does not fan the copy out again.
 */
struct proto_retained {
        uint32_t pub_id;
        uint64_t seq;
        uint64_t timestamp_ns;
        const void *payload;
        size_t size;
};

/* PUBLISH head: u32 pub_id; tail: payload. Flag: PROTO_FLAG_RETAIN. */
struct proto_publish {
        uint32_t pub_id;
        const void *payload;
        size_t size;
};

/*
 * MESSAGE head: u32 sub_id, u64 seq, u64 timestamp_ns, u8 name_len, name;
 * tail: payload. Flag: PROTO_FLAG_RETAIN when it is the retained value.
 */
struct proto_message {
        uint32_t sub_id;
        uint64_t seq;          /* per-channel sequence number, first message is 1 */
        uint64_t timestamp_ns; /* CLOCK_REALTIME when the broker accepted it */
        const char *channel;
        size_t channel_len;
        const void *payload;
        size_t size;
};

/* LOSS head: u32 sub_id, u64 count. No tail. */
struct proto_loss {
        uint32_t sub_id;
        uint64_t count;
};

/*
 * Decodes a frame header from PROTO_HEADER_BYTES bytes.
 * Return: 0; -EBADMSG on a bad magic; -EPROTO on an unknown type.
 */
int proto_header_decode(const uint8_t *buf, struct proto_header *ret);

/*
 * Largest body the receiver accepts for a frame type, given the message
 * size limit in force (payload bytes). Check before buffering a body.
 */
uint64_t proto_body_limit(uint8_t type, uint32_t max_message_bytes);

/* Human-readable name of a frame type ("PUBLISH"), or "unknown". */
const char *proto_type_name(uint8_t type);

/*
 * Encoders: write header + head into buf (PROTO_HEAD_MAX bytes) and return
 * the number of bytes written. The frame's tail (payload/text/body given in
 * the struct) must be appended by the caller; its length is already counted
 * in the header. Tails longer than the protocol allows are the caller's bug.
 */
size_t proto_encode_hello(uint8_t *buf, const struct proto_hello *m);
size_t proto_encode_welcome(uint8_t *buf, const struct proto_welcome *m);
size_t proto_encode_error(uint8_t *buf, const struct proto_error *m);
/* With m->resume, PROTO_FLAG_RESUME and the resume point (also for open_ring). */
size_t proto_encode_open(uint8_t *buf, uint8_t type, const struct proto_open *m);
size_t proto_encode_close(uint8_t *buf, uint8_t type, const struct proto_close *m);
size_t proto_encode_request(uint8_t *buf, const struct proto_request *m);
size_t proto_encode_open_ring(uint8_t *buf, const struct proto_open_ring *m);
size_t proto_encode_reply(uint8_t *buf, const struct proto_reply *m);
size_t proto_encode_publish(uint8_t *buf, uint8_t flags, const struct proto_publish *m);
size_t proto_encode_message(uint8_t *buf, uint8_t flags, const struct proto_message *m);
size_t proto_encode_loss(uint8_t *buf, const struct proto_loss *m);
size_t proto_encode_close_ring(uint8_t *buf, const struct proto_close_ring *m);
size_t proto_encode_retained(uint8_t *buf, const struct proto_retained *m);
size_t proto_encode_ring_pages(uint8_t *buf, const struct proto_ring_pages *m);
/* The open-reply record is itself a REPLY tail: writes PROTO_OPEN_REPLY_BYTES. */
void proto_encode_open_reply(uint8_t *buf, const struct proto_open_reply *m);
/* The ring-reply record is a REPLY tail too: writes PROTO_RING_REPLY_BYTES. */
void proto_encode_ring_reply(uint8_t *buf, const struct proto_ring_reply *m);
/* What follows it for a retained value: writes PROTO_RING_RETAINED_BYTES; payload next. */
void proto_encode_ring_retained(uint8_t *buf, uint64_t seq, uint64_t timestamp_ns);
/* What follows it for a publisher: writes PROTO_RING_PAGE_BYTES per entry. */
void proto_encode_ring_page(uint8_t *buf, const struct proto_ring_page *m);

/*
 * Decoders: take one complete body (the bytes after the header) and fill
 * *ret with views into it. Return 0, or -EBADMSG when the body is too short,
 * has trailing bytes where none are allowed, a zero or oversized name
 * length, or a non-zero reserved field.
 */
int proto_decode_hello(const uint8_t *body, size_t len, struct proto_hello *ret);
int proto_decode_welcome(const uint8_t *body, size_t len, struct proto_welcome *ret);
int proto_decode_error(const uint8_t *body, size_t len, struct proto_error *ret);
/* @flags: the header's; PROTO_FLAG_RESUME adds the resume point (other bits are ignored). */
int proto_decode_open(const uint8_t *body, size_t len, uint8_t flags, struct proto_open *ret);
int proto_decode_close(const uint8_t *body, size_t len, struct proto_close *ret);
int proto_decode_request(const uint8_t *body, size_t len, struct proto_request *ret);
int proto_decode_open_ring(const uint8_t *body, size_t len, uint8_t flags,
                           struct proto_open_ring *ret);
int proto_decode_reply(const uint8_t *body, size_t len, struct proto_reply *ret);
int proto_decode_publish(const uint8_t *body, size_t len, struct proto_publish *ret);
int proto_decode_message(const uint8_t *body, size_t len, struct proto_message *ret);
int proto_decode_loss(const uint8_t *body, size_t len, struct proto_loss *ret);
int proto_decode_close_ring(const uint8_t *body, size_t len, struct proto_close_ring *ret);
int proto_decode_retained(const uint8_t *body, size_t len, struct proto_retained *ret);
int proto_decode_ring_pages(const uint8_t *body, size_t len, struct proto_ring_pages *ret);
int proto_decode_open_reply(const void *body, size_t len, struct proto_open_reply *ret);
/*
 * The ring reply of @role (enum proto_ring_role). Also -EBADMSG when n_fds
 * is 0 or over PROTO_RING_FDS_MAX, a retained part is cut short, or a
 * publisher's page entries are cut short, over PROTO_RING_PAGES_MAX, or do
 * not match n_fds; a subscriber's n_fds is checked by the caller.
 */
int proto_decode_ring_reply(const void *body, size_t len, uint8_t role,
                            struct proto_ring_reply *ret);
/*
 * A RING_PAGES reply's tail: its entries, PROTO_RING_PAGE_BYTES each.
 * Return: 0 and *ret_n; -EBADMSG (cut short, or over PROTO_RING_PAGES_MAX).
 */
int proto_decode_ring_pages_reply(const void *body, size_t len, size_t *ret_n);
/* Entry @i of a decoded page list (the caller keeps i < n_pages). */
void proto_decode_ring_page(const uint8_t *pages, size_t i, struct proto_ring_page *ret);

/* Picks the highest version both sides speak; -EPROTONOSUPPORT if none. */
int proto_negotiate_version(uint16_t peer_min, uint16_t peer_max, uint16_t *ret_version);
