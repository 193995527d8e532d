/* SPDX-License-Identifier: MIT */
/*
 * fuzz-frame: the wire decoders (libclient/proto.c) on arbitrary bytes.
 *
 * The first 8 bytes go to proto_header_decode(); the rest is a body, given
 * to every proto_decode_*() whatever the header says (the broker picks the
 * decoder by type, a fuzzer need not). Each body a decoder accepts is
 * encoded again, decoded again and compared field by field, and its views
 * must lie inside the body. The names it carries go through the channel
 * name checks, with the invariants that tie them together. The body is the
 * tail of the input buffer, so ASan catches a decoder reading past it.
 */
#include "build-config.h"

#include <errno.h>

#include "channel-name.h"
#include "fuzz.h"
#include "proto.h"
#include "util.h"

/* The body under test, and a buffer to re-encode it into (head + a tail of up to its size). */
struct frame_fuzz {
        const uint8_t *body;
        size_t len;
        uint8_t *out;
};

/* A view a decoder returned lies inside the body. */
static void check_view(const struct frame_fuzz *f, const void *p, size_t n) {
        const uint8_t *v = p;

        FUZZ_CHECK(n == 0 ||
                   (v >= f->body && n <= f->len && v - f->body <= (ptrdiff_t)(f->len - n)));
}

/* Appends @tail to the head just encoded; checks the header and returns the new body. */
static const uint8_t *reencoded(struct frame_fuzz *f, size_t head_len, uint8_t type,
                                const void *tail, size_t tail_len, size_t *ret_len) {
        struct proto_header h;

        if (tail_len)
                memcpy(f->out + head_len, tail, tail_len);
        FUZZ_CHECK(proto_header_decode(f->out, &h) == 0);
        FUZZ_CHECK(h.type == type);
        FUZZ_CHECK((size_t)h.length == head_len + tail_len - PROTO_HEADER_BYTES);
        *ret_len = h.length;
        return f->out + PROTO_HEADER_BYTES;
}

static bool same(const void *a, size_t alen, const void *b, size_t blen) {
        return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* The invariants between channel names and patterns, on any bytes. */
static void check_name(const char *s, size_t len) {
        bool name = channel_name_valid(s, len);
        bool pattern = channel_pattern_valid(s, len);

        FUZZ_CHECK(!name || pattern);
        if (!pattern)
                return;
        FUZZ_CHECK(name == !channel_pattern_has_wildcard(s, len));
        if (name)
                FUZZ_CHECK(channel_pattern_match(s, len, s, len));
}

/* A pattern and a name cut from the body: matching reads only what it was given. */
static void check_match(const struct frame_fuzz *f) {
        size_t plen;

        if (f->len < 2)
                return;
        plen = MIN((size_t)f->body[0], f->len - 1);
        check_name((const char *)f->body + 1, plen);
        check_name((const char *)f->body + 1 + plen, f->len - 1 - plen);
        if (channel_pattern_valid((const char *)f->body + 1, plen) &&
            channel_name_valid((const char *)f->body + 1 + plen, f->len - 1 - plen))
                (void)channel_pattern_match((const char *)f->body + 1, plen,
                                            (const char *)f->body + 1 + plen, f->len - 1 - plen);
}

static void fuzz_hello(struct frame_fuzz *f) {
        struct proto_hello m, m2;
        uint16_t v;
        const uint8_t *b;
        size_t n;

        if (proto_decode_hello(f->body, f->len, &m) < 0)
                return;
        check_view(f, m.name, m.name_len);
        FUZZ_CHECK(m.name_len <= PROTO_NAME_MAX);
        if (proto_negotiate_version(m.version_min, m.version_max, &v) == 0)
                FUZZ_CHECK(v >= m.version_min && v <= m.version_max && v >= PROTO_VERSION_MIN &&
                           v <= PROTO_VERSION_MAX);
        b = reencoded(f, proto_encode_hello(f->out, &m), PROTO_HELLO, m.name, m.name_len, &n);
        FUZZ_CHECK(proto_decode_hello(b, n, &m2) == 0);
        FUZZ_CHECK(m2.version_min == m.version_min && m2.version_max == m.version_max &&
                   m2.flags == m.flags && same(m2.name, m2.name_len, m.name, m.name_len));
}

static void fuzz_welcome(struct frame_fuzz *f) {
        struct proto_welcome m, m2;
        const uint8_t *b;
        size_t n;

        if (proto_decode_welcome(f->body, f->len, &m) < 0)
                return;
        check_view(f, m.server, m.server_len);
        b = reencoded(f, proto_encode_welcome(f->out, &m), PROTO_WELCOME, m.server, m.server_len,
                      &n);
        FUZZ_CHECK(proto_decode_welcome(b, n, &m2) == 0);
        FUZZ_CHECK(m2.version == m.version && m2.max_message_bytes == m.max_message_bytes &&
                   m2.flags == m.flags && same(m2.server, m2.server_len, m.server, m.server_len));
}

static void fuzz_error(struct frame_fuzz *f) {
        struct proto_error m, m2;
        const uint8_t *b;
        size_t n;

        if (proto_decode_error(f->body, f->len, &m) < 0)
                return;
        check_view(f, m.text, m.text_len);
        b = reencoded(f, proto_encode_error(f->out, &m), PROTO_ERROR, m.text, m.text_len, &n);
        FUZZ_CHECK(proto_decode_error(b, n, &m2) == 0);
        FUZZ_CHECK(m2.code == m.code && same(m2.text, m2.text_len, m.text, m.text_len));
}

/* The re-encoded header carries PROTO_FLAG_RESUME exactly when the frame had a resume point. */
static void check_resume_flag(const struct frame_fuzz *f, bool resume) {
        FUZZ_CHECK(f->out[3] == (resume ? PROTO_FLAG_RESUME : 0));
}

/* OPEN_PUB and SUBSCRIBE share a layout; the name (and a resume point) are part of the head. */
static void fuzz_open(struct frame_fuzz *f, uint8_t flags) {
        struct proto_open m, m2;
        const uint8_t *b;
        size_t n;

        if (proto_decode_open(f->body, f->len, flags, &m) < 0)
                return;
        FUZZ_CHECK(m.resume == !!(flags & PROTO_FLAG_RESUME));
        check_view(f, m.name, m.name_len);
        FUZZ_CHECK(m.name_len >= 1 && m.name_len <= PROTO_NAME_MAX);
        check_name(m.name, m.name_len);
        b = reencoded(f, proto_encode_open(f->out, PROTO_SUBSCRIBE, &m), PROTO_SUBSCRIBE, NULL, 0,
                      &n);
        FUZZ_CHECK(same(b, n, f->body, f->len));
        check_resume_flag(f, m.resume);
        FUZZ_CHECK(proto_decode_open(b, n, f->out[3], &m2) == 0);
        FUZZ_CHECK(m2.request_id == m.request_id && same(m2.name, m2.name_len, m.name, m.name_len));
        FUZZ_CHECK(m2.resume == m.resume && m2.resume_seq == m.resume_seq &&
                   m2.resume_epoch == m.resume_epoch);
        FUZZ_CHECK(m.resume || (m.resume_seq == 0 && m.resume_epoch == 0));
}

static void fuzz_close(struct frame_fuzz *f) {
        struct proto_close m, m2;
        const uint8_t *b;
        size_t n;

        if (proto_decode_close(f->body, f->len, &m) < 0)
                return;
        b = reencoded(f, proto_encode_close(f->out, PROTO_UNSUBSCRIBE, &m), PROTO_UNSUBSCRIBE, NULL,
                      0, &n);
        FUZZ_CHECK(same(b, n, f->body, f->len));
        FUZZ_CHECK(proto_decode_close(b, n, &m2) == 0);
        FUZZ_CHECK(m2.request_id == m.request_id && m2.id == m.id);
}

static void fuzz_request(struct frame_fuzz *f) {
        struct proto_request m, m2;
        const uint8_t *b;
        size_t n;

        if (proto_decode_request(f->body, f->len, &m) < 0)
                return;
        check_view(f, m.body, m.body_len);
        b = reencoded(f, proto_encode_request(f->out, &m), PROTO_REQUEST, m.body, m.body_len, &n);
        FUZZ_CHECK(same(b, n, f->body, f->len));
        FUZZ_CHECK(proto_decode_request(b, n, &m2) == 0);
        FUZZ_CHECK(m2.request_id == m.request_id && m2.op == m.op);
}

static void fuzz_open_ring(struct frame_fuzz *f, uint8_t flags) {
        struct proto_open_ring m, m2;
        const uint8_t *b;
        size_t n;

        if (proto_decode_open_ring(f->body, f->len, flags, &m) < 0)
                return;
        FUZZ_CHECK(m.resume == !!(flags & PROTO_FLAG_RESUME));
        check_view(f, m.name, m.name_len);
        check_name(m.name, m.name_len);
        b = reencoded(f, proto_encode_open_ring(f->out, &m), PROTO_OPEN_RING, NULL, 0, &n);
        FUZZ_CHECK(same(b, n, f->body, f->len));
        check_resume_flag(f, m.resume);
        FUZZ_CHECK(proto_decode_open_ring(b, n, f->out[3], &m2) == 0);
        FUZZ_CHECK(m2.request_id == m.request_id && m2.role == m.role &&
                   same(m2.name, m2.name_len, m.name, m.name_len));
        FUZZ_CHECK(m2.resume == m.resume && m2.resume_seq == m.resume_seq &&
                   m2.resume_epoch == m.resume_epoch);
        FUZZ_CHECK(m.resume || (m.resume_seq == 0 && m.resume_epoch == 0));
}

/* A subscriber's ring reply: the record, then perhaps a retained value. */
static void fuzz_ring_reply_sub(struct frame_fuzz *f, const void *body, size_t len) {
        struct proto_ring_reply r, r2;
        uint8_t rec[PROTO_RING_REPLY_BYTES + PROTO_RING_RETAINED_BYTES];

        if (proto_decode_ring_reply(body, len, PROTO_RING_SUBSCRIBER, &r) < 0)
                return;
        FUZZ_CHECK(r.n_fds >= 1 && r.n_fds <= PROTO_RING_FDS_MAX && r.n_pages == 0);
        proto_encode_ring_reply(rec, &r);
        FUZZ_CHECK(memcmp(rec, body, PROTO_RING_REPLY_BYTES) == 0);
        if (!r.has_retained) {
                FUZZ_CHECK(len == PROTO_RING_REPLY_BYTES && r.retained_size == 0);
                return;
        }
        check_view(f, r.retained, r.retained_size);
        FUZZ_CHECK(r.retained_size >= 1);
        proto_encode_ring_retained(rec + PROTO_RING_REPLY_BYTES, r.retained_seq,
                                   r.retained_timestamp_ns);
        FUZZ_CHECK(memcmp(rec, body, sizeof(rec)) == 0);
        FUZZ_CHECK(proto_decode_ring_reply(body, len, PROTO_RING_SUBSCRIBER, &r2) == 0);
        FUZZ_CHECK(r2.retained == r.retained && r2.retained_size == r.retained_size);
}

/* A publisher's ring reply: the record, then page entries that match its descriptor count. */
static void fuzz_ring_reply_pub(struct frame_fuzz *f, const void *body, size_t len) {
        struct proto_ring_reply r;
        uint8_t rec[PROTO_RING_REPLY_BYTES];
        size_t n;

        if (proto_decode_ring_reply(body, len, PROTO_RING_PUBLISHER, &r) < 0)
                return;
        FUZZ_CHECK(!r.has_retained && r.generation == 0);
        FUZZ_CHECK(r.n_pages <= PROTO_RING_PAGES_MAX);
        FUZZ_CHECK(r.n_fds == PROTO_RING_PUB_FDS + 2 * r.n_pages);
        FUZZ_CHECK(len == PROTO_RING_REPLY_BYTES + r.n_pages * PROTO_RING_PAGE_BYTES);
        check_view(f, r.pages, r.n_pages * PROTO_RING_PAGE_BYTES);
        proto_encode_ring_reply(rec, &r);
        FUZZ_CHECK(memcmp(rec, body, PROTO_RING_REPLY_BYTES) == 0);
        for (size_t i = 0; i < r.n_pages; i++) {
                struct proto_ring_page e;
                uint8_t out[PROTO_RING_PAGE_BYTES];

                proto_decode_ring_page(r.pages, i, &e);
                proto_encode_ring_page(out, &e);
                FUZZ_CHECK(memcmp(out, r.pages + i * PROTO_RING_PAGE_BYTES, sizeof(out)) == 0);
        }
        FUZZ_CHECK(proto_decode_ring_pages_reply(r.pages, len - PROTO_RING_REPLY_BYTES, &n) == 0);
        FUZZ_CHECK(n == r.n_pages);
}

/* The records a REPLY may carry: an open reply, and a ring reply of either role. */
static void fuzz_reply_tail(struct frame_fuzz *f, const void *body, size_t len) {
        struct proto_open_reply o, o2;
        uint8_t rec[PROTO_OPEN_REPLY_BYTES];

        if (proto_decode_open_reply(body, len, &o) == 0) {
                proto_encode_open_reply(rec, &o);
                FUZZ_CHECK(same(rec, PROTO_OPEN_REPLY_BYTES, body, len));
                FUZZ_CHECK(proto_decode_open_reply(rec, PROTO_OPEN_REPLY_BYTES, &o2) == 0);
                FUZZ_CHECK(o2.id == o.id && o2.max_message_bytes == o.max_message_bytes &&
                           o2.overflow == o.overflow && o.overflow < _PROTO_OVERFLOW_MAX &&
                           o2.epoch == o.epoch);
        }
        fuzz_ring_reply_sub(f, body, len);
        fuzz_ring_reply_pub(f, body, len);
}

static void fuzz_reply(struct frame_fuzz *f) {
        struct proto_reply m, m2;
        const uint8_t *b;
        size_t n;

        if (proto_decode_reply(f->body, f->len, &m) < 0)
                return;
        check_view(f, m.body, m.body_len);
        FUZZ_CHECK(m.status <= 0);
        fuzz_reply_tail(f, m.body, m.body_len);
        b = reencoded(f, proto_encode_reply(f->out, &m), PROTO_REPLY, m.body, m.body_len, &n);
        FUZZ_CHECK(same(b, n, f->body, f->len));
        FUZZ_CHECK(proto_decode_reply(b, n, &m2) == 0);
        FUZZ_CHECK(m2.request_id == m.request_id && m2.status == m.status);
}

static void fuzz_publish(struct frame_fuzz *f, uint8_t flags) {
        struct proto_publish m, m2;
        const uint8_t *b;
        size_t n;

        if (proto_decode_publish(f->body, f->len, &m) < 0)
                return;
        check_view(f, m.payload, m.size);
        b = reencoded(f, proto_encode_publish(f->out, flags, &m), PROTO_PUBLISH, m.payload, m.size,
                      &n);
        FUZZ_CHECK(f->out[3] == flags);
        FUZZ_CHECK(proto_decode_publish(b, n, &m2) == 0);
        FUZZ_CHECK(m2.pub_id == m.pub_id && same(m2.payload, m2.size, m.payload, m.size));
}

static void fuzz_message(struct frame_fuzz *f, uint8_t flags) {
        struct proto_message m, m2;
        const uint8_t *b;
        size_t n;

        if (proto_decode_message(f->body, f->len, &m) < 0)
                return;
        check_view(f, m.channel, m.channel_len);
        check_view(f, m.payload, m.size);
        check_name(m.channel, m.channel_len);
        b = reencoded(f, proto_encode_message(f->out, flags, &m), PROTO_MESSAGE, m.payload, m.size,
                      &n);
        FUZZ_CHECK(same(b, n, f->body, f->len));
        FUZZ_CHECK(proto_decode_message(b, n, &m2) == 0);
        FUZZ_CHECK(m2.sub_id == m.sub_id && m2.seq == m.seq && m2.timestamp_ns == m.timestamp_ns &&
                   same(m2.channel, m2.channel_len, m.channel, m.channel_len));
}

static void fuzz_loss(struct frame_fuzz *f) {
        struct proto_loss m, m2;
        const uint8_t *b;
        size_t n;

        if (proto_decode_loss(f->body, f->len, &m) < 0)
                return;
        b = reencoded(f, proto_encode_loss(f->out, &m), PROTO_LOSS, NULL, 0, &n);
        FUZZ_CHECK(same(b, n, f->body, f->len));
        FUZZ_CHECK(proto_decode_loss(b, n, &m2) == 0);
        FUZZ_CHECK(m2.sub_id == m.sub_id && m2.count == m.count);
}

static void fuzz_close_ring(struct frame_fuzz *f) {
        struct proto_close_ring m, m2;
        const uint8_t *b;
        size_t n;

        if (proto_decode_close_ring(f->body, f->len, &m) < 0)
                return;
        b = reencoded(f, proto_encode_close_ring(f->out, &m), PROTO_CLOSE_RING, NULL, 0, &n);
        FUZZ_CHECK(same(b, n, f->body, f->len));
        FUZZ_CHECK(proto_decode_close_ring(b, n, &m2) == 0);
        FUZZ_CHECK(m2.request_id == m.request_id && m2.handle == m.handle);
}

static void fuzz_ring_pages(struct frame_fuzz *f) {
        struct proto_ring_pages m, m2;
        const uint8_t *b;
        size_t n;

        if (proto_decode_ring_pages(f->body, f->len, &m) < 0)
                return;
        b = reencoded(f, proto_encode_ring_pages(f->out, &m), PROTO_RING_PAGES, NULL, 0, &n);
        FUZZ_CHECK(same(b, n, f->body, f->len));
        FUZZ_CHECK(proto_decode_ring_pages(b, n, &m2) == 0);
        FUZZ_CHECK(m2.request_id == m.request_id && m2.handle == m.handle);
}

static void fuzz_retained(struct frame_fuzz *f) {
        struct proto_retained m, m2;
        const uint8_t *b;
        size_t n;

        if (proto_decode_retained(f->body, f->len, &m) < 0)
                return;
        check_view(f, m.payload, m.size);
        b = reencoded(f, proto_encode_retained(f->out, &m), PROTO_RETAINED, m.payload, m.size, &n);
        FUZZ_CHECK(same(b, n, f->body, f->len));
        FUZZ_CHECK(proto_decode_retained(b, n, &m2) == 0);
        FUZZ_CHECK(m2.pub_id == m.pub_id && m2.seq == m.seq && m2.timestamp_ns == m.timestamp_ns);
}

/* The header alone: a decoded one names a known type, and its limit leaves room for a head. */
static uint8_t fuzz_header(const uint8_t *data, size_t size) {
        struct proto_header h;
        uint32_t max = size >= 4 ? le32_get(data) % (PROTO_MESSAGE_BYTES_MAX + 1) : 0;

        if (size < PROTO_HEADER_BYTES || proto_header_decode(data, &h) < 0)
                return 0;
        FUZZ_CHECK(proto_type_name(h.type)[0] != '?');
        FUZZ_CHECK(proto_body_limit(h.type, max) >= PROTO_CONTROL_BODY_MAX ||
                   proto_body_limit(h.type, max) >= max);
        return h.flags;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint8_t flags = fuzz_header(data, size);
        size_t skip = MIN(size, (size_t)PROTO_HEADER_BYTES);
        struct frame_fuzz f = {.body = data + skip, .len = size - skip};

        f.out = malloc(PROTO_HEAD_MAX + f.len);
        FUZZ_CHECK(f.out);
        fuzz_hello(&f);
        fuzz_welcome(&f);
        fuzz_error(&f);
        fuzz_open(&f, flags);
        fuzz_close(&f);
        fuzz_request(&f);
        fuzz_open_ring(&f, flags);
        fuzz_reply(&f);
        fuzz_reply_tail(&f, f.body, f.len);
        fuzz_publish(&f, flags);
        fuzz_message(&f, flags);
        fuzz_loss(&f);
        fuzz_close_ring(&f);
        fuzz_ring_pages(&f);
        fuzz_retained(&f);
        check_match(&f);
        free(f.out);
        return 0;
}
