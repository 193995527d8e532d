/* SPDX-License-Identifier: MIT */
/*
 * Wire protocol encoders and decoders (see proto.h and ipc-broker(7)).
 * Every decoder checks lengths before reading and rejects trailing or
 * missing bytes, because bodies come from untrusted peers.
 */
#include <errno.h>

#include "proto.h"
#include "util.h"

#define HELLO_HEAD 8
#define WELCOME_HEAD 12
#define ERROR_HEAD 4
#define OPEN_HEAD 5 /* plus the name */
#define CLOSE_HEAD 8
#define REQUEST_HEAD 8
#define OPEN_RING_HEAD 6 /* plus the name */
#define REPLY_HEAD 8
#define PUBLISH_HEAD 4
#define MESSAGE_HEAD 21 /* plus the name */
#define LOSS_HEAD 12
#define CLOSE_RING_HEAD 8
#define RING_PAGES_HEAD 8
#define RETAINED_HEAD 20

static void put_header(uint8_t *buf, uint8_t type, uint8_t flags, size_t body_len) {
        le16_put(buf, PROTO_MAGIC);
        buf[2] = type;
        buf[3] = flags;
        le32_put(buf + 4, (uint32_t)body_len);
}

int proto_header_decode(const uint8_t *buf, struct proto_header *ret) {
        if (le16_get(buf) != PROTO_MAGIC)
                return -EBADMSG;
        if (proto_type_name(buf[2])[0] == '?')
                return -EPROTO;
        ret->type = buf[2];
        ret->flags = buf[3];
        ret->length = le32_get(buf + 4);
        return 0;
}

uint64_t proto_body_limit(uint8_t type, uint32_t max_message_bytes) {
        switch (type) {
        case PROTO_PUBLISH:
                return (uint64_t)PUBLISH_HEAD + max_message_bytes;
        case PROTO_RETAINED:
                return (uint64_t)RETAINED_HEAD + max_message_bytes;
        case PROTO_MESSAGE:
                return (uint64_t)MESSAGE_HEAD + PROTO_NAME_MAX + max_message_bytes;
        case PROTO_REPLY:
                return PROTO_REPLY_BODY_MAX;
        default:
                return PROTO_CONTROL_BODY_MAX;
        }
}

const char *proto_type_name(uint8_t type) {
        switch (type) {
        case PROTO_HELLO:
                return "HELLO";
        case PROTO_WELCOME:
                return "WELCOME";
        case PROTO_ERROR:
                return "ERROR";
        case PROTO_OPEN_PUB:
                return "OPEN_PUB";
        case PROTO_CLOSE_PUB:
                return "CLOSE_PUB";
        case PROTO_SUBSCRIBE:
                return "SUBSCRIBE";
        case PROTO_UNSUBSCRIBE:
                return "UNSUBSCRIBE";
        case PROTO_REQUEST:
                return "REQUEST";
        case PROTO_OPEN_RING:
                return "OPEN_RING";
        case PROTO_REPLY:
                return "REPLY";
        case PROTO_PUBLISH:
                return "PUBLISH";
        case PROTO_MESSAGE:
                return "MESSAGE";
        case PROTO_LOSS:
                return "LOSS";
        case PROTO_CLOSE_RING:
                return "CLOSE_RING";
        case PROTO_RING_PAGES:
                return "RING_PAGES";
        case PROTO_RETAINED:
                return "RETAINED";
        default:
                return "?unknown";
        }
}

/* The token travels in the head (at most PROTO_TOKEN_MAX bytes, so it fits PROTO_HEAD_MAX). */
size_t proto_encode_hello(uint8_t *buf, const struct proto_hello *m) {
        size_t token = m->token_len > 0 ? 1 + m->token_len : 0;
        uint32_t flags = m->flags & ~(uint32_t)PROTO_HELLO_TOKEN;

        put_header(buf, PROTO_HELLO, 0, HELLO_HEAD + token + m->name_len);
        le16_put(buf + 8, m->version_min);
        le16_put(buf + 10, m->version_max);
        le32_put(buf + 12, flags | (token > 0 ? PROTO_HELLO_TOKEN : 0));
        if (token > 0) {
                buf[16] = (uint8_t)m->token_len;
                memcpy(buf + 17, m->token, m->token_len);
        }
        return PROTO_HEADER_BYTES + HELLO_HEAD + token;
}

size_t proto_encode_welcome(uint8_t *buf, const struct proto_welcome *m) {
        put_header(buf, PROTO_WELCOME, 0, WELCOME_HEAD + m->server_len);
        le16_put(buf + 8, m->version);
        le16_put(buf + 10, 0);
        le32_put(buf + 12, m->max_message_bytes);
        le32_put(buf + 16, m->flags);
        return PROTO_HEADER_BYTES + WELCOME_HEAD;
}

size_t proto_encode_error(uint8_t *buf, const struct proto_error *m) {
        put_header(buf, PROTO_ERROR, 0, ERROR_HEAD + m->text_len);
        le32_put(buf + 8, m->code);
        return PROTO_HEADER_BYTES + ERROR_HEAD;
}

/* The resume point after a name ending at @end; returns the bytes written. */
static size_t put_resume(uint8_t *end, bool resume, uint64_t seq, uint64_t epoch) {
        if (!resume)
                return 0;
        le64_put(end, seq);
        le64_put(end + 8, epoch);
        return PROTO_RESUME_BYTES;
}

size_t proto_encode_open(uint8_t *buf, uint8_t type, const struct proto_open *m) {
        size_t n = OPEN_HEAD + m->name_len;

        le32_put(buf + 8, m->request_id);
        buf[12] = (uint8_t)m->name_len;
        memcpy(buf + 13, m->name, m->name_len);
        n += put_resume(buf + PROTO_HEADER_BYTES + n, m->resume, m->resume_seq, m->resume_epoch);
        put_header(buf, type, m->resume ? PROTO_FLAG_RESUME : 0, n);
        return PROTO_HEADER_BYTES + n;
}

size_t proto_encode_close(uint8_t *buf, uint8_t type, const struct proto_close *m) {
        put_header(buf, type, 0, CLOSE_HEAD);
        le32_put(buf + 8, m->request_id);
        le32_put(buf + 12, m->id);
        return PROTO_HEADER_BYTES + CLOSE_HEAD;
}

size_t proto_encode_request(uint8_t *buf, const struct proto_request *m) {
        put_header(buf, PROTO_REQUEST, 0, REQUEST_HEAD + m->body_len);
        le32_put(buf + 8, m->request_id);
        le16_put(buf + 12, m->op);
        le16_put(buf + 14, 0);
        return PROTO_HEADER_BYTES + REQUEST_HEAD;
}

size_t proto_encode_open_ring(uint8_t *buf, const struct proto_open_ring *m) {
        size_t n = OPEN_RING_HEAD + m->name_len;

        le32_put(buf + 8, m->request_id);
        buf[12] = m->role;
        buf[13] = (uint8_t)m->name_len;
        memcpy(buf + 14, m->name, m->name_len);
        n += put_resume(buf + PROTO_HEADER_BYTES + n, m->resume, m->resume_seq, m->resume_epoch);
        put_header(buf, PROTO_OPEN_RING, m->resume ? PROTO_FLAG_RESUME : 0, n);
        return PROTO_HEADER_BYTES + n;
}

size_t proto_encode_reply(uint8_t *buf, const struct proto_reply *m) {
        put_header(buf, PROTO_REPLY, 0, REPLY_HEAD + m->body_len);
        le32_put(buf + 8, m->request_id);
        le32_put(buf + 12, (uint32_t)m->status);
        return PROTO_HEADER_BYTES + REPLY_HEAD;
}

size_t proto_encode_publish(uint8_t *buf, uint8_t flags, const struct proto_publish *m) {
        put_header(buf, PROTO_PUBLISH, flags, PUBLISH_HEAD + m->size);
        le32_put(buf + 8, m->pub_id);
        return PROTO_HEADER_BYTES + PUBLISH_HEAD;
}

size_t proto_encode_message(uint8_t *buf, uint8_t flags, const struct proto_message *m) {
        put_header(buf, PROTO_MESSAGE, flags, MESSAGE_HEAD + m->channel_len + m->size);
        le32_put(buf + 8, m->sub_id);
        le64_put(buf + 12, m->seq);
        le64_put(buf + 20, m->timestamp_ns);
        buf[28] = (uint8_t)m->channel_len;
        memcpy(buf + 29, m->channel, m->channel_len);
        return PROTO_HEADER_BYTES + MESSAGE_HEAD + m->channel_len;
}

size_t proto_encode_loss(uint8_t *buf, const struct proto_loss *m) {
        put_header(buf, PROTO_LOSS, 0, LOSS_HEAD);
        le32_put(buf + 8, m->sub_id);
        le64_put(buf + 12, m->count);
        return PROTO_HEADER_BYTES + LOSS_HEAD;
}

size_t proto_encode_close_ring(uint8_t *buf, const struct proto_close_ring *m) {
        put_header(buf, PROTO_CLOSE_RING, 0, CLOSE_RING_HEAD);
        le32_put(buf + 8, m->request_id);
        le32_put(buf + 12, m->handle);
        return PROTO_HEADER_BYTES + CLOSE_RING_HEAD;
}

size_t proto_encode_ring_pages(uint8_t *buf, const struct proto_ring_pages *m) {
        put_header(buf, PROTO_RING_PAGES, 0, RING_PAGES_HEAD);
        le32_put(buf + 8, m->request_id);
        le32_put(buf + 12, m->handle);
        return PROTO_HEADER_BYTES + RING_PAGES_HEAD;
}

size_t proto_encode_retained(uint8_t *buf, const struct proto_retained *m) {
        put_header(buf, PROTO_RETAINED, 0, RETAINED_HEAD + m->size);
        le32_put(buf + 8, m->pub_id);
        le64_put(buf + 12, m->seq);
        le64_put(buf + 20, m->timestamp_ns);
        return PROTO_HEADER_BYTES + RETAINED_HEAD;
}

void proto_encode_open_reply(uint8_t *buf, const struct proto_open_reply *m) {
        le32_put(buf, m->id);
        le32_put(buf + 4, m->max_message_bytes);
        buf[8] = m->overflow;
        buf[9] = buf[10] = buf[11] = 0;
        le64_put(buf + 12, m->epoch);
}

void proto_encode_ring_reply(uint8_t *buf, const struct proto_ring_reply *m) {
        le32_put(buf, m->slot);
        le32_put(buf + 4, m->n_fds);
        le64_put(buf + 8, m->data_size);
        le64_put(buf + 16, m->state_size);
        le32_put(buf + 24, m->handle);
        le32_put(buf + 28, m->generation);
}

void proto_encode_ring_page(uint8_t *buf, const struct proto_ring_page *m) {
        le32_put(buf, m->slot);
        le32_put(buf + 4, m->generation);
}

void proto_encode_ring_retained(uint8_t *buf, uint64_t seq, uint64_t timestamp_ns) {
        le64_put(buf, seq);
        le64_put(buf + 8, timestamp_ns);
}

int proto_decode_hello(const uint8_t *body, size_t len, struct proto_hello *ret) {
        size_t head = HELLO_HEAD, token_len = 0;
        uint32_t flags;

        if (len < HELLO_HEAD)
                return -EBADMSG;
        flags = le32_get(body + 4);
        if (flags & PROTO_HELLO_TOKEN) {
                if (len < HELLO_HEAD + 1 || body[HELLO_HEAD] == 0 ||
                    len - HELLO_HEAD - 1 < body[HELLO_HEAD])
                        return -EBADMSG;
                token_len = body[HELLO_HEAD];
                head += 1 + token_len;
        }
        if (len - head > PROTO_NAME_MAX)
                return -EBADMSG;
        ret->version_min = le16_get(body);
        ret->version_max = le16_get(body + 2);
        ret->flags = flags;
        ret->token = token_len > 0 ? (const char *)body + HELLO_HEAD + 1 : NULL;
        ret->token_len = token_len;
        ret->name = (const char *)body + head;
        ret->name_len = len - head;
        return 0;
}

int proto_decode_welcome(const uint8_t *body, size_t len, struct proto_welcome *ret) {
        if (len < WELCOME_HEAD || len - WELCOME_HEAD > PROTO_NAME_MAX || le16_get(body + 2) != 0)
                return -EBADMSG;
        ret->version = le16_get(body);
        ret->max_message_bytes = le32_get(body + 4);
        ret->flags = le32_get(body + 8);
        ret->server = (const char *)body + WELCOME_HEAD;
        ret->server_len = len - WELCOME_HEAD;
        return 0;
}

int proto_decode_error(const uint8_t *body, size_t len, struct proto_error *ret) {
        if (len < ERROR_HEAD)
                return -EBADMSG;
        ret->code = le32_get(body);
        ret->text = (const char *)body + ERROR_HEAD;
        ret->text_len = len - ERROR_HEAD;
        return 0;
}

/*
 * The optional resume point after a name that ends at @name_end: @len must
 * be exactly name_end, plus PROTO_RESUME_BYTES with PROTO_FLAG_RESUME.
 * Return: 0; -EBADMSG.
 */
static int get_resume(const uint8_t *body, size_t len, size_t name_end, uint8_t flags,
                      bool *ret_resume, uint64_t *ret_seq, uint64_t *ret_epoch) {
        bool resume = flags & PROTO_FLAG_RESUME;

        if (len != name_end + (resume ? PROTO_RESUME_BYTES : 0))
                return -EBADMSG;
        *ret_resume = resume;
        *ret_seq = resume ? le64_get(body + name_end) : 0;
        *ret_epoch = resume ? le64_get(body + name_end + 8) : 0;
        return 0;
}

int proto_decode_open(const uint8_t *body, size_t len, uint8_t flags, struct proto_open *ret) {
        if (len < OPEN_HEAD + 1 || body[4] == 0 ||
            get_resume(body, len, (size_t)OPEN_HEAD + body[4], flags, &ret->resume,
                       &ret->resume_seq, &ret->resume_epoch) < 0)
                return -EBADMSG;
        ret->request_id = le32_get(body);
        ret->name = (const char *)body + OPEN_HEAD;
        ret->name_len = body[4];
        return 0;
}

int proto_decode_close(const uint8_t *body, size_t len, struct proto_close *ret) {
        if (len != CLOSE_HEAD)
                return -EBADMSG;
        ret->request_id = le32_get(body);
        ret->id = le32_get(body + 4);
        return 0;
}

int proto_decode_request(const uint8_t *body, size_t len, struct proto_request *ret) {
        if (len < REQUEST_HEAD || le16_get(body + 6) != 0)
                return -EBADMSG;
        ret->request_id = le32_get(body);
        ret->op = le16_get(body + 4);
        ret->body = (const char *)body + REQUEST_HEAD;
        ret->body_len = len - REQUEST_HEAD;
        return 0;
}

int proto_decode_open_ring(const uint8_t *body, size_t len, uint8_t flags,
                           struct proto_open_ring *ret) {
        if (len < OPEN_RING_HEAD + 1 || body[5] == 0 ||
            get_resume(body, len, (size_t)OPEN_RING_HEAD + body[5], flags, &ret->resume,
                       &ret->resume_seq, &ret->resume_epoch) < 0)
                return -EBADMSG;
        ret->request_id = le32_get(body);
        ret->role = body[4];
        ret->name = (const char *)body + OPEN_RING_HEAD;
        ret->name_len = body[5];
        return 0;
}

int proto_decode_reply(const uint8_t *body, size_t len, struct proto_reply *ret) {
        if (len < REPLY_HEAD)
                return -EBADMSG;
        ret->request_id = le32_get(body);
        ret->status = (int32_t)le32_get(body + 4);
        if (ret->status > 0)
                return -EBADMSG;
        ret->body = body + REPLY_HEAD;
        ret->body_len = len - REPLY_HEAD;
        return 0;
}

int proto_decode_publish(const uint8_t *body, size_t len, struct proto_publish *ret) {
        if (len < PUBLISH_HEAD)
                return -EBADMSG;
        ret->pub_id = le32_get(body);
        ret->payload = body + PUBLISH_HEAD;
        ret->size = len - PUBLISH_HEAD;
        return 0;
}

int proto_decode_message(const uint8_t *body, size_t len, struct proto_message *ret) {
        size_t name_len;

        if (len < MESSAGE_HEAD + 1)
                return -EBADMSG;
        name_len = body[20];
        if (name_len == 0 || len < MESSAGE_HEAD + name_len)
                return -EBADMSG;
        ret->sub_id = le32_get(body);
        ret->seq = le64_get(body + 4);
        ret->timestamp_ns = le64_get(body + 12);
        ret->channel = (const char *)body + MESSAGE_HEAD;
        ret->channel_len = name_len;
        ret->payload = body + MESSAGE_HEAD + name_len;
        ret->size = len - MESSAGE_HEAD - name_len;
        return 0;
}

int proto_decode_loss(const uint8_t *body, size_t len, struct proto_loss *ret) {
        if (len != LOSS_HEAD)
                return -EBADMSG;
        ret->sub_id = le32_get(body);
        ret->count = le64_get(body + 4);
        return 0;
}

int proto_decode_close_ring(const uint8_t *body, size_t len, struct proto_close_ring *ret) {
        if (len != CLOSE_RING_HEAD)
                return -EBADMSG;
        ret->request_id = le32_get(body);
        ret->handle = le32_get(body + 4);
        return 0;
}

int proto_decode_ring_pages(const uint8_t *body, size_t len, struct proto_ring_pages *ret) {
        if (len != RING_PAGES_HEAD)
                return -EBADMSG;
        ret->request_id = le32_get(body);
        ret->handle = le32_get(body + 4);
        return 0;
}

int proto_decode_retained(const uint8_t *body, size_t len, struct proto_retained *ret) {
        if (len < RETAINED_HEAD)
                return -EBADMSG;
        ret->pub_id = le32_get(body);
        ret->seq = le64_get(body + 4);
        ret->timestamp_ns = le64_get(body + 12);
        ret->payload = body + RETAINED_HEAD;
        ret->size = len - RETAINED_HEAD;
        return 0;
}

int proto_decode_open_reply(const void *body, size_t len, struct proto_open_reply *ret) {
        const uint8_t *b = body;

        if (len != PROTO_OPEN_REPLY_BYTES || b[8] >= _PROTO_OVERFLOW_MAX)
                return -EBADMSG;
        if (b[9] != 0 || b[10] != 0 || b[11] != 0)
                return -EBADMSG;
        ret->id = le32_get(b);
        ret->max_message_bytes = le32_get(b + 4);
        ret->overflow = b[8];
        ret->epoch = le64_get(b + 12);
        return 0;
}

/* A subscriber's rest: nothing, or a retained value of at least one byte. */
static int ring_reply_retained(const uint8_t *b, size_t len, struct proto_ring_reply *ret) {
        if (len == 0)
                return 0;
        if (len <= PROTO_RING_RETAINED_BYTES)
                return -EBADMSG;
        ret->has_retained = true;
        ret->retained_seq = le64_get(b);
        ret->retained_timestamp_ns = le64_get(b + 8);
        ret->retained = b + PROTO_RING_RETAINED_BYTES;
        ret->retained_size = len - PROTO_RING_RETAINED_BYTES;
        return 0;
}

int proto_decode_ring_pages_reply(const void *body, size_t len, size_t *ret_n) {
        if (len % PROTO_RING_PAGE_BYTES || len / PROTO_RING_PAGE_BYTES > PROTO_RING_PAGES_MAX)
                return -EBADMSG;
        *ret_n = len / PROTO_RING_PAGE_BYTES;
        return 0;
}

/* A publisher's rest: page entries, two descriptors each after DATA, STATE and the relay. */
static int ring_reply_pages(const uint8_t *b, size_t len, struct proto_ring_reply *ret) {
        size_t n;

        if (proto_decode_ring_pages_reply(b, len, &n) < 0 ||
            ret->n_fds != PROTO_RING_PUB_FDS + 2 * n || ret->generation != 0)
                return -EBADMSG;
        ret->pages = b;
        ret->n_pages = n;
        return 0;
}

int proto_decode_ring_reply(const void *body, size_t len, uint8_t role,
                            struct proto_ring_reply *ret) {
        const uint8_t *b = body;

        if (len < PROTO_RING_REPLY_BYTES)
                return -EBADMSG;
        *ret = (struct proto_ring_reply){
                .slot = le32_get(b),
                .n_fds = le32_get(b + 4),
                .data_size = le64_get(b + 8),
                .state_size = le64_get(b + 16),
                .handle = le32_get(b + 24),
                .generation = le32_get(b + 28),
        };
        if (ret->n_fds == 0 || ret->n_fds > PROTO_RING_FDS_MAX)
                return -EBADMSG;
        b += PROTO_RING_REPLY_BYTES;
        len -= PROTO_RING_REPLY_BYTES;
        if (role == PROTO_RING_SUBSCRIBER)
                return ring_reply_retained(b, len, ret);
        return ring_reply_pages(b, len, ret);
}

void proto_decode_ring_page(const uint8_t *pages, size_t i, struct proto_ring_page *ret) {
        ret->slot = le32_get(pages + i * PROTO_RING_PAGE_BYTES);
        ret->generation = le32_get(pages + i * PROTO_RING_PAGE_BYTES + 4);
}

int proto_negotiate_version(uint16_t peer_min, uint16_t peer_max, uint16_t *ret_version) {
        uint16_t hi = MIN(peer_max, (uint16_t)PROTO_VERSION_MAX);

        if (peer_min > peer_max || hi < peer_min || hi < PROTO_VERSION_MIN)
                return -EPROTONOSUPPORT;
        *ret_version = hi;
        return 0;
}
