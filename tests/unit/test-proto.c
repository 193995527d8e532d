/* SPDX-License-Identifier: MIT */
/*
 * Frame encode/decode: every frame type round-trips, and every malformed
 * body or header is rejected with the documented code instead of being
 * read past its end.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto.h"
#include "util.h"

/* A frame assembled the way a sender does it: head from the encoder, then the tail. */
struct frame {
        uint8_t buf[PROTO_HEAD_MAX + 4096];
        size_t len;
};

static void frame_finish(struct frame *f, size_t head_len, const void *tail, size_t tail_len) {
        assert_true(head_len + tail_len <= sizeof(f->buf));
        if (tail_len)
                memcpy(f->buf + head_len, tail, tail_len);
        f->len = head_len + tail_len;
}

/* Checks the header against the frame length and returns a pointer to the body. */
static const uint8_t *frame_body(const struct frame *f, uint8_t type, struct proto_header *h) {
        assert_int_equal(proto_header_decode(f->buf, h), 0);
        assert_int_equal(h->type, type);
        assert_int_equal(h->length, f->len - PROTO_HEADER_BYTES);
        return f->buf + PROTO_HEADER_BYTES;
}

static void test_hello_roundtrip(void **state) {
        struct proto_hello in = {.version_min = 1, .version_max = 3, .name = "svc", .name_len = 3};
        struct proto_hello out;
        struct proto_header h;
        struct frame f;

        frame_finish(&f, proto_encode_hello(f.buf, &in), in.name, in.name_len);
        assert_int_equal(proto_decode_hello(frame_body(&f, PROTO_HELLO, &h), f.len - PROTO_HEADER_BYTES, &out), 0);
        assert_int_equal(out.version_min, 1);
        assert_int_equal(out.version_max, 3);
        assert_int_equal(out.name_len, 3);
        assert_memory_equal(out.name, "svc", 3);
}

/* A token travels in the head, flagged; the name stays the tail. */
static void test_hello_token_roundtrip(void **state) {
        char token[PROTO_TOKEN_MAX];
        struct proto_hello in = {.version_min = 1, .version_max = 1, .name = "svc", .name_len = 3};
        struct proto_hello out;
        struct proto_header h;
        struct frame f;

        memset(token, 't', sizeof(token));
        in.token = token;
        for (size_t len = 1; len <= PROTO_TOKEN_MAX; len += PROTO_TOKEN_MAX - 1) {
                in.token_len = len;
                frame_finish(&f, proto_encode_hello(f.buf, &in), in.name, in.name_len);
                assert_int_equal(proto_decode_hello(frame_body(&f, PROTO_HELLO, &h),
                                                    f.len - PROTO_HEADER_BYTES, &out),
                                 0);
                assert_true(out.flags & PROTO_HELLO_TOKEN);
                assert_int_equal(out.token_len, len);
                assert_memory_equal(out.token, token, len);
                assert_int_equal(out.name_len, 3);
                assert_memory_equal(out.name, "svc", 3);
        }
        /* Without a token the flag is clear, whatever the caller put in flags. */
        in.token_len = 0;
        in.flags = PROTO_HELLO_TOKEN;
        frame_finish(&f, proto_encode_hello(f.buf, &in), in.name, in.name_len);
        assert_int_equal(proto_decode_hello(frame_body(&f, PROTO_HELLO, &h),
                                            f.len - PROTO_HEADER_BYTES, &out),
                         0);
        assert_false(out.flags & PROTO_HELLO_TOKEN);
        assert_null(out.token);
        assert_int_equal(out.name_len, 3);
}

/* The flag promises a length byte and that many token bytes; a zero length is no token. */
static void test_hello_token_bad(void **state) {
        uint8_t body[8 + 1 + 4 + PROTO_NAME_MAX + 1] = {0};
        struct proto_hello he;

        le32_put(body + 4, PROTO_HELLO_TOKEN);
        assert_int_equal(proto_decode_hello(body, 8, &he), -EBADMSG);
        body[8] = 0;
        assert_int_equal(proto_decode_hello(body, 9, &he), -EBADMSG);
        body[8] = 4;
        for (size_t n = 9; n < 13; n++)
                assert_int_equal(proto_decode_hello(body, n, &he), -EBADMSG);
        assert_int_equal(proto_decode_hello(body, 13, &he), 0);
        assert_int_equal(he.token_len, 4);
        assert_int_equal(he.name_len, 0);
        /* The name limit counts after the token. */
        assert_int_equal(proto_decode_hello(body, 13 + PROTO_NAME_MAX, &he), 0);
        assert_int_equal(proto_decode_hello(body, 13 + PROTO_NAME_MAX + 1, &he), -EBADMSG);
}

static void test_welcome_roundtrip(void **state) {
        struct proto_welcome in = {.version = 1, .max_message_bytes = 1 << 20,
                                   .server = "ipc-brokerd 0.1.0", .server_len = 17};
        struct proto_welcome out;
        struct proto_header h;
        struct frame f;

        frame_finish(&f, proto_encode_welcome(f.buf, &in), in.server, in.server_len);
        assert_int_equal(proto_decode_welcome(frame_body(&f, PROTO_WELCOME, &h), f.len - PROTO_HEADER_BYTES, &out),
                         0);
        assert_int_equal(out.version, 1);
        assert_int_equal(out.max_message_bytes, 1 << 20);
        assert_memory_equal(out.server, "ipc-brokerd 0.1.0", 17);
}

static void test_error_roundtrip(void **state) {
        struct proto_error in = {.code = EMSGSIZE, .text = "too big", .text_len = 7};
        struct proto_error out;
        struct proto_header h;
        struct frame f;

        frame_finish(&f, proto_encode_error(f.buf, &in), in.text, in.text_len);
        assert_int_equal(proto_decode_error(frame_body(&f, PROTO_ERROR, &h), f.len - PROTO_HEADER_BYTES, &out), 0);
        assert_int_equal(out.code, EMSGSIZE);
        assert_memory_equal(out.text, "too big", 7);
}

static void test_open_close_roundtrip(void **state) {
        struct proto_open in = {.request_id = 7, .name = "sensors.temp", .name_len = 12}, out;
        struct proto_close cin = {.request_id = 9, .id = 42}, cout;
        struct proto_header h;
        struct frame f;

        frame_finish(&f, proto_encode_open(f.buf, PROTO_SUBSCRIBE, &in), NULL, 0);
        assert_int_equal(proto_decode_open(frame_body(&f, PROTO_SUBSCRIBE, &h), f.len - PROTO_HEADER_BYTES, h.flags, &out), 0);
        assert_false(out.resume);
        assert_int_equal(out.request_id, 7);
        assert_int_equal(out.name_len, 12);
        assert_memory_equal(out.name, "sensors.temp", 12);

        frame_finish(&f, proto_encode_close(f.buf, PROTO_UNSUBSCRIBE, &cin), NULL, 0);
        assert_int_equal(
                proto_decode_close(frame_body(&f, PROTO_UNSUBSCRIBE, &h), f.len - PROTO_HEADER_BYTES, &cout), 0);
        assert_int_equal(cout.request_id, 9);
        assert_int_equal(cout.id, 42);
}

/*
 * PROTO_FLAG_RESUME: SUBSCRIBE and OPEN_RING carry u64 seq and u64 epoch
 * after the name, and only then.
 */
static void test_resume_roundtrip(void **state) {
        struct proto_open in = {.request_id = 5,
                                .name = "a.b",
                                .name_len = 3,
                                .resume = true,
                                .resume_seq = UINT64_C(0x0102030405060708),
                                .resume_epoch = UINT64_C(0x1112131415161718)},
                          out;
        struct proto_open_ring rin = {.request_id = 6,
                                      .role = PROTO_RING_SUBSCRIBER,
                                      .name = "a.b",
                                      .name_len = 3,
                                      .resume = true,
                                      .resume_seq = 77,
                                      .resume_epoch = UINT64_MAX - 1},
                               rout;
        char name[PROTO_NAME_MAX];
        uint8_t buf[PROTO_HEAD_MAX];
        struct proto_header h;
        struct frame f;
        const uint8_t *body;

        frame_finish(&f, proto_encode_open(f.buf, PROTO_SUBSCRIBE, &in), NULL, 0);
        body = frame_body(&f, PROTO_SUBSCRIBE, &h);
        assert_int_equal(h.flags, PROTO_FLAG_RESUME);
        assert_int_equal(h.length, 5 + 3 + PROTO_RESUME_BYTES);
        assert_int_equal(proto_decode_open(body, h.length, h.flags, &out), 0);
        assert_true(out.resume);
        assert_true(out.resume_seq == UINT64_C(0x0102030405060708));
        assert_true(out.resume_epoch == UINT64_C(0x1112131415161718));
        assert_int_equal(out.name_len, 3);
        assert_memory_equal(out.name, "a.b", 3);
        /* Little-endian on the wire, right after the name: the seq, then the epoch. */
        assert_int_equal(PROTO_RESUME_BYTES, 16);
        assert_int_equal(body[8], 0x08);
        assert_int_equal(body[15], 0x01);
        assert_int_equal(body[16], 0x18);
        assert_int_equal(body[23], 0x11);
        /* Without the flag the 16 bytes are trailing garbage; with it, a short body is cut. */
        assert_int_equal(proto_decode_open(body, h.length, 0, &out), -EBADMSG);
        for (size_t n = 0; n < h.length; n++)
                assert_int_equal(proto_decode_open(body, n, PROTO_FLAG_RESUME, &out), -EBADMSG);
        assert_int_equal(proto_decode_open(body, h.length + 1, PROTO_FLAG_RESUME, &out), -EBADMSG);
        /* Other flag bits do not change the layout. */
        assert_int_equal(proto_decode_open(body, h.length, PROTO_FLAG_RESUME | 0x80, &out), 0);

        frame_finish(&f, proto_encode_open_ring(f.buf, &rin), NULL, 0);
        body = frame_body(&f, PROTO_OPEN_RING, &h);
        assert_int_equal(h.flags, PROTO_FLAG_RESUME);
        assert_int_equal(proto_decode_open_ring(body, h.length, h.flags, &rout), 0);
        assert_true(rout.resume);
        assert_true(rout.resume_seq == 77);
        assert_true(rout.resume_epoch == UINT64_MAX - 1);
        assert_int_equal(rout.role, PROTO_RING_SUBSCRIBER);
        assert_int_equal(proto_decode_open_ring(body, h.length, 0, &rout), -EBADMSG);
        for (size_t n = 0; n < h.length; n++)
                assert_int_equal(proto_decode_open_ring(body, n, PROTO_FLAG_RESUME, &rout),
                                 -EBADMSG);

        /* The longest name with a resume point still fits PROTO_HEAD_MAX. */
        memset(name, 'n', sizeof(name));
        in.name = rin.name = name;
        in.name_len = rin.name_len = sizeof(name);
        assert_true(proto_encode_open(buf, PROTO_SUBSCRIBE, &in) <= PROTO_HEAD_MAX);
        assert_true(proto_encode_open_ring(buf, &rin) <= PROTO_HEAD_MAX);
}

static void test_request_reply_roundtrip(void **state) {
        struct proto_request rin = {.request_id = 3, .op = PROTO_OP_STATS, .body = "{}",
                                    .body_len = 2};
        struct proto_reply pin = {.request_id = 3, .status = -ENOENT, .body = "no such",
                                  .body_len = 7};
        struct proto_request rout;
        struct proto_reply pout;
        struct proto_header h;
        struct frame f;

        frame_finish(&f, proto_encode_request(f.buf, &rin), rin.body, rin.body_len);
        assert_int_equal(
                proto_decode_request(frame_body(&f, PROTO_REQUEST, &h), f.len - PROTO_HEADER_BYTES, &rout), 0);
        assert_int_equal(rout.request_id, 3);
        assert_int_equal(rout.op, PROTO_OP_STATS);
        assert_memory_equal(rout.body, "{}", 2);

        frame_finish(&f, proto_encode_reply(f.buf, &pin), pin.body, pin.body_len);
        assert_int_equal(proto_decode_reply(frame_body(&f, PROTO_REPLY, &h), f.len - PROTO_HEADER_BYTES, &pout), 0);
        assert_int_equal(pout.status, -ENOENT);
        assert_memory_equal(pout.body, "no such", 7);
}

static void test_open_reply_roundtrip(void **state) {
        struct proto_open_reply in = {.id = 5,
                                      .max_message_bytes = 4096,
                                      .overflow = PROTO_OVERFLOW_DROP,
                                      .epoch = UINT64_C(0xfedcba9876543210)};
        struct proto_open_reply out;
        uint8_t buf[PROTO_OPEN_REPLY_BYTES];

        proto_encode_open_reply(buf, &in);
        assert_int_equal(proto_decode_open_reply(buf, sizeof(buf), &out), 0);
        assert_int_equal(out.id, 5);
        assert_int_equal(out.max_message_bytes, 4096);
        assert_int_equal(out.overflow, PROTO_OVERFLOW_DROP);
        assert_true(out.epoch == UINT64_C(0xfedcba9876543210));
        /* The epoch follows the reserved bytes, little-endian. */
        assert_int_equal(PROTO_OPEN_REPLY_BYTES, 20);
        assert_int_equal(buf[12], 0x10);
        assert_int_equal(buf[19], 0xfe);
        /* A pattern's reply carries none. */
        in.epoch = 0;
        proto_encode_open_reply(buf, &in);
        assert_int_equal(proto_decode_open_reply(buf, sizeof(buf), &out), 0);
        assert_true(out.epoch == 0);

        buf[8] = _PROTO_OVERFLOW_MAX;
        assert_int_equal(proto_decode_open_reply(buf, sizeof(buf), &out), -EBADMSG);
        buf[8] = 0;
        buf[11] = 1;
        assert_int_equal(proto_decode_open_reply(buf, sizeof(buf), &out), -EBADMSG);
        assert_int_equal(proto_decode_open_reply(buf, sizeof(buf) - 1, &out), -EBADMSG);
        /* The old 12-byte record is no longer an open reply. */
        buf[11] = 0;
        assert_int_equal(proto_decode_open_reply(buf, 12, &out), -EBADMSG);
        assert_int_equal(proto_decode_open_reply(buf, sizeof(buf) + 1, &out), -EBADMSG);
}

/* OPEN_RING and its reply record round-trip; malformed bodies and records are rejected. */
static void test_open_ring_roundtrip(void **state) {
        struct proto_open_ring in = {.request_id = 11,
                                     .role = PROTO_RING_SUBSCRIBER,
                                     .name = "ring.chan",
                                     .name_len = 9},
                               out;
        struct proto_ring_reply rin = {.slot = 31,
                                       .n_fds = 5,
                                       .data_size = UINT64_C(0x100002000),
                                       .state_size = 12288,
                                       .handle = 0xfeedbeef,
                                       .generation = 9},
                                rout;
        uint8_t rec[PROTO_RING_REPLY_BYTES];
        uint8_t full[PROTO_RING_REPLY_BYTES + PROTO_RING_RETAINED_BYTES + 3];
        char name[PROTO_NAME_MAX];
        uint8_t buf[PROTO_HEAD_MAX];
        struct proto_header h;
        struct frame f;

        frame_finish(&f, proto_encode_open_ring(f.buf, &in), NULL, 0);
        assert_string_equal(proto_type_name(PROTO_OPEN_RING), "OPEN_RING");
        assert_int_equal(proto_decode_open_ring(frame_body(&f, PROTO_OPEN_RING, &h),
                                                f.len - PROTO_HEADER_BYTES, 0, &out),
                         0);
        assert_int_equal(out.request_id, 11);
        assert_int_equal(out.role, PROTO_RING_SUBSCRIBER);
        assert_int_equal(out.name_len, 9);
        assert_memory_equal(out.name, "ring.chan", 9);
        assert_true(proto_body_limit(PROTO_OPEN_RING, 1) == PROTO_CONTROL_BODY_MAX);
        /* Every truncation, a trailing byte and a zero name length are malformed. */
        for (size_t n = 0; n < f.len - PROTO_HEADER_BYTES; n++)
                assert_int_equal(proto_decode_open_ring(f.buf + PROTO_HEADER_BYTES, n, 0, &out),
                                 -EBADMSG);
        assert_int_equal(proto_decode_open_ring(f.buf + PROTO_HEADER_BYTES,
                                                f.len - PROTO_HEADER_BYTES + 1, 0, &out),
                         -EBADMSG);
        f.buf[PROTO_HEADER_BYTES + 5] = 0;
        assert_int_equal(proto_decode_open_ring(f.buf + PROTO_HEADER_BYTES, 6, 0, &out), -EBADMSG);
        /* An unknown role is not a framing error: the broker answers it with -EINVAL. */
        in.role = 7;
        frame_finish(&f, proto_encode_open_ring(f.buf, &in), NULL, 0);
        assert_int_equal(proto_decode_open_ring(f.buf + PROTO_HEADER_BYTES,
                                                f.len - PROTO_HEADER_BYTES, 0, &out),
                         0);
        assert_int_equal(out.role, 7);
        /* The longest name fits PROTO_HEAD_MAX. */
        memset(name, 'n', sizeof(name));
        in.name = name;
        in.name_len = sizeof(name);
        assert_true(proto_encode_open_ring(buf, &in) <= PROTO_HEAD_MAX);

        proto_encode_ring_reply(rec, &rin);
        assert_int_equal(proto_decode_ring_reply(rec, sizeof(rec), PROTO_RING_SUBSCRIBER, &rout),
                         0);
        assert_int_equal(rout.slot, 31);
        assert_int_equal(rout.n_fds, 5);
        assert_true(rout.data_size == UINT64_C(0x100002000));
        assert_true(rout.state_size == 12288);
        assert_true(rout.handle == 0xfeedbeef);
        assert_int_equal(rout.generation, 9);
        assert_false(rout.has_retained);
        assert_int_equal(
                proto_decode_ring_reply(rec, sizeof(rec) - 1, PROTO_RING_SUBSCRIBER, &rout),
                -EBADMSG);
        /* A subscriber's retained value follows the record; cut short, it is malformed. */
        memcpy(full, rec, sizeof(rec));
        proto_encode_ring_retained(full + sizeof(rec), 41, 42);
        memcpy(full + sizeof(rec) + PROTO_RING_RETAINED_BYTES, "abc", 3);
        assert_int_equal(proto_decode_ring_reply(full, sizeof(full), PROTO_RING_SUBSCRIBER, &rout),
                         0);
        assert_true(rout.has_retained);
        assert_int_equal(rout.retained_seq, 41);
        assert_int_equal(rout.retained_timestamp_ns, 42);
        assert_int_equal(rout.retained_size, 3);
        assert_memory_equal(rout.retained, "abc", 3);
        for (size_t n = sizeof(rec) + 1; n <= sizeof(rec) + PROTO_RING_RETAINED_BYTES; n++)
                assert_int_equal(proto_decode_ring_reply(full, n, PROTO_RING_SUBSCRIBER, &rout),
                                 -EBADMSG);
        rin.n_fds = 0;
        proto_encode_ring_reply(rec, &rin);
        assert_int_equal(proto_decode_ring_reply(rec, sizeof(rec), PROTO_RING_SUBSCRIBER, &rout),
                         -EBADMSG);
        rin.n_fds = PROTO_RING_FDS_MAX + 1;
        proto_encode_ring_reply(rec, &rin);
        assert_int_equal(proto_decode_ring_reply(rec, sizeof(rec), PROTO_RING_SUBSCRIBER, &rout),
                         -EBADMSG);
}

/* A publisher's ring reply: the record, then page entries matching the descriptor count. */
static void test_ring_reply_pages(void **state) {
        struct proto_ring_reply rin = {.slot = 3, .n_fds = PROTO_RING_PUB_FDS + 2 * 3, .handle = 8},
                                rout;
        uint8_t body[PROTO_RING_REPLY_BYTES + (PROTO_RING_PAGES_MAX + 1) * PROTO_RING_PAGE_BYTES];
        size_t len = PROTO_RING_REPLY_BYTES + 3 * PROTO_RING_PAGE_BYTES;
        struct proto_ring_page e;

        proto_encode_ring_reply(body, &rin);
        for (uint32_t i = 0; i < 3; i++)
                proto_encode_ring_page(
                        body + PROTO_RING_REPLY_BYTES + i * PROTO_RING_PAGE_BYTES,
                        &(struct proto_ring_page){.slot = 10 + i, .generation = i + 1});
        assert_int_equal(proto_decode_ring_reply(body, len, PROTO_RING_PUBLISHER, &rout), 0);
        assert_int_equal(rout.n_pages, 3);
        assert_false(rout.has_retained);
        proto_decode_ring_page(rout.pages, 2, &e);
        assert_int_equal(e.slot, 12);
        assert_int_equal(e.generation, 3);
        /* Cut short, one entry more or less than the descriptors say: malformed. */
        for (size_t n = PROTO_RING_REPLY_BYTES; n < len; n++)
                assert_int_equal(proto_decode_ring_reply(body, n, PROTO_RING_PUBLISHER, &rout),
                                 -EBADMSG);
        assert_int_equal(proto_decode_ring_reply(body, len + PROTO_RING_PAGE_BYTES,
                                                 PROTO_RING_PUBLISHER, &rout),
                         -EBADMSG);
        /* A publisher's generation word is zero. */
        rin.generation = 1;
        proto_encode_ring_reply(body, &rin);
        assert_int_equal(proto_decode_ring_reply(body, len, PROTO_RING_PUBLISHER, &rout), -EBADMSG);
        /* At most PROTO_RING_PAGES_MAX entries (which PROTO_RING_FDS_MAX descriptors carry). */
        rin.generation = 0;
        rin.n_fds = PROTO_RING_PUB_FDS + 2 * (PROTO_RING_PAGES_MAX + 1);
        proto_encode_ring_reply(body, &rin);
        assert_int_equal(proto_decode_ring_reply(body, sizeof(body), PROTO_RING_PUBLISHER, &rout),
                         -EBADMSG);
        rin.n_fds = PROTO_RING_FDS_MAX;
        proto_encode_ring_reply(body, &rin);
        assert_int_equal(proto_decode_ring_reply(body, sizeof(body) - PROTO_RING_PAGE_BYTES,
                                                 PROTO_RING_PUBLISHER, &rout),
                         0);
        assert_int_equal(rout.n_pages, PROTO_RING_PAGES_MAX);
}

/* CLOSE_RING and RETAINED round-trip; wrong lengths are malformed. */
static void test_close_ring_retained_roundtrip(void **state) {
        struct proto_close_ring cin = {.request_id = 5, .handle = 77}, cout;
        struct proto_retained rin = {.pub_id = 3, .seq = 99, .timestamp_ns = 123,
                                     .payload = "xyz", .size = 3},
                              rout;
        struct proto_header h;
        struct frame f;
        const uint8_t *body;

        frame_finish(&f, proto_encode_close_ring(f.buf, &cin), NULL, 0);
        assert_string_equal(proto_type_name(PROTO_CLOSE_RING), "CLOSE_RING");
        body = frame_body(&f, PROTO_CLOSE_RING, &h);
        assert_int_equal(proto_decode_close_ring(body, h.length, &cout), 0);
        assert_int_equal(cout.request_id, 5);
        assert_int_equal(cout.handle, 77);
        assert_int_equal(proto_decode_close_ring(body, h.length - 1, &cout), -EBADMSG);
        assert_int_equal(proto_decode_close_ring(body, h.length + 1, &cout), -EBADMSG);

        frame_finish(&f, proto_encode_retained(f.buf, &rin), rin.payload, rin.size);
        assert_string_equal(proto_type_name(PROTO_RETAINED), "RETAINED");
        body = frame_body(&f, PROTO_RETAINED, &h);
        assert_int_equal(proto_decode_retained(body, h.length, &rout), 0);
        assert_int_equal(rout.pub_id, 3);
        assert_int_equal(rout.seq, 99);
        assert_int_equal(rout.timestamp_ns, 123);
        assert_int_equal(rout.size, 3);
        assert_memory_equal(rout.payload, "xyz", 3);
        for (size_t n = 0; n < h.length - rin.size; n++)
                assert_int_equal(proto_decode_retained(body, n, &rout), -EBADMSG);
        assert_true(proto_body_limit(PROTO_RETAINED, 100) < proto_body_limit(PROTO_RETAINED, 200));
}

/* Binary payloads, NUL bytes included, survive intact; the empty payload too. */
static void test_publish_message_roundtrip(void **state) {
        static const uint8_t payload[] = {0, 1, 0, 0xff, 'x', 0};
        struct proto_publish pin = {.pub_id = 11, .payload = payload, .size = sizeof(payload)};
        struct proto_message min = {.sub_id = 2, .seq = UINT64_C(1) << 40,
                                    .timestamp_ns = UINT64_C(1700000000123456789),
                                    .channel = "a.b", .channel_len = 3, .payload = payload,
                                    .size = sizeof(payload)};
        struct proto_publish pout;
        struct proto_message mout;
        struct proto_header h;
        struct frame f;

        frame_finish(&f, proto_encode_publish(f.buf, PROTO_FLAG_RETAIN, &pin), payload,
                     sizeof(payload));
        assert_int_equal(
                proto_decode_publish(frame_body(&f, PROTO_PUBLISH, &h), f.len - PROTO_HEADER_BYTES, &pout), 0);
        assert_int_equal(h.flags, PROTO_FLAG_RETAIN);
        assert_int_equal(pout.pub_id, 11);
        assert_int_equal(pout.size, sizeof(payload));
        assert_memory_equal(pout.payload, payload, sizeof(payload));

        frame_finish(&f, proto_encode_message(f.buf, 0, &min), payload, sizeof(payload));
        assert_int_equal(
                proto_decode_message(frame_body(&f, PROTO_MESSAGE, &h), f.len - PROTO_HEADER_BYTES, &mout), 0);
        assert_int_equal(mout.sub_id, 2);
        assert_true(mout.seq == UINT64_C(1) << 40);
        assert_true(mout.timestamp_ns == UINT64_C(1700000000123456789));
        assert_int_equal(mout.channel_len, 3);
        assert_memory_equal(mout.channel, "a.b", 3);
        assert_int_equal(mout.size, sizeof(payload));
        assert_memory_equal(mout.payload, payload, sizeof(payload));

        min.size = 0;
        frame_finish(&f, proto_encode_message(f.buf, 0, &min), NULL, 0);
        assert_int_equal(
                proto_decode_message(frame_body(&f, PROTO_MESSAGE, &h), f.len - PROTO_HEADER_BYTES, &mout), 0);
        assert_int_equal(mout.size, 0);
}

static void test_loss_roundtrip(void **state) {
        struct proto_loss in = {.sub_id = 4, .count = 123456789012ULL}, out;
        struct proto_header h;
        struct frame f;

        frame_finish(&f, proto_encode_loss(f.buf, &in), NULL, 0);
        assert_int_equal(proto_decode_loss(frame_body(&f, PROTO_LOSS, &h), f.len - PROTO_HEADER_BYTES, &out), 0);
        assert_int_equal(out.sub_id, 4);
        assert_true(out.count == 123456789012ULL);
}

/* The longest name gives the longest head, which must fit PROTO_HEAD_MAX. */
static void test_head_max_fits(void **state) {
        char name[PROTO_NAME_MAX];
        uint8_t buf[PROTO_HEAD_MAX];
        struct proto_message m = {.channel = name, .channel_len = sizeof(name)};
        struct proto_open o = {.name = name, .name_len = sizeof(name)};
        struct proto_hello he = {.token = name, .token_len = PROTO_TOKEN_MAX};

        memset(name, 'n', sizeof(name));
        assert_true(proto_encode_hello(buf, &he) <= PROTO_HEAD_MAX);
        assert_true(proto_encode_message(buf, 0, &m) <= PROTO_HEAD_MAX);
        assert_true(proto_encode_open(buf, PROTO_OPEN_PUB, &o) <= PROTO_HEAD_MAX);
}

static void test_header_bad_magic(void **state) {
        uint8_t buf[PROTO_HEADER_BYTES] = {'G', 'E', 'T', ' ', '/', ' ', 'H', 'T'};
        struct proto_header h;

        assert_int_equal(proto_header_decode(buf, &h), -EBADMSG);
}

static void test_header_unknown_type(void **state) {
        struct proto_loss l = {0};
        struct proto_header h;
        uint8_t buf[PROTO_HEAD_MAX];

        (void)proto_encode_loss(buf, &l);
        buf[2] = 0x7f;
        assert_int_equal(proto_header_decode(buf, &h), -EPROTO);
        buf[2] = 0;
        assert_int_equal(proto_header_decode(buf, &h), -EPROTO);
}

/* A declared length is compared with the per-type limit in 64 bits, before any allocation. */
static void test_body_limits(void **state) {
        assert_true(proto_body_limit(PROTO_PUBLISH, 1024) == 4 + 1024);
        assert_true(proto_body_limit(PROTO_PUBLISH, PROTO_MESSAGE_BYTES_MAX) >
                    PROTO_MESSAGE_BYTES_MAX);
        assert_true(proto_body_limit(PROTO_MESSAGE, 1024) >= 1024 + PROTO_NAME_MAX);
        assert_true(proto_body_limit(PROTO_HELLO, UINT32_MAX) == PROTO_CONTROL_BODY_MAX);
        assert_true(proto_body_limit(PROTO_REPLY, 0) == PROTO_REPLY_BODY_MAX);
        /* No 32-bit wrap-around: a huge limit still yields a limit above it. */
        assert_true(proto_body_limit(PROTO_PUBLISH, UINT32_MAX) > UINT32_MAX);
}

/* Every fixed-size decoder rejects each truncation of a valid body. */
static void test_truncated_bodies(void **state) {
        struct proto_open o = {.request_id = 1, .name = "abc", .name_len = 3};
        struct proto_message m = {.channel = "abc", .channel_len = 3};
        struct proto_close c = {0};
        struct proto_loss l = {0};
        struct proto_header h;
        uint8_t buf[PROTO_HEAD_MAX];
        union {
                struct proto_open o;
                struct proto_message m;
                struct proto_close c;
                struct proto_loss l;
                struct proto_hello he;
                struct proto_welcome w;
                struct proto_reply r;
                struct proto_request q;
                struct proto_error e;
                struct proto_publish p;
        } out;
        const uint8_t *body = buf + PROTO_HEADER_BYTES;

        (void)proto_encode_open(buf, PROTO_OPEN_PUB, &o);
        assert_int_equal(proto_header_decode(buf, &h), 0);
        for (size_t n = 0; n < h.length; n++)
                assert_int_equal(proto_decode_open(body, n, 0, &out.o), -EBADMSG);
        assert_int_equal(proto_decode_open(body, h.length + 1, 0, &out.o), -EBADMSG);

        (void)proto_encode_message(buf, 0, &m);
        for (size_t n = 0; n < 21 + 3; n++)
                assert_int_equal(proto_decode_message(body, n, &out.m), -EBADMSG);

        (void)proto_encode_close(buf, PROTO_CLOSE_PUB, &c);
        for (size_t n = 0; n < 8; n++)
                assert_int_equal(proto_decode_close(body, n, &out.c), -EBADMSG);
        assert_int_equal(proto_decode_close(body, 9, &out.c), -EBADMSG);

        (void)proto_encode_loss(buf, &l);
        for (size_t n = 0; n < 12; n++)
                assert_int_equal(proto_decode_loss(body, n, &out.l), -EBADMSG);

        for (size_t n = 0; n < 8; n++) {
                assert_int_equal(proto_decode_hello(body, n, &out.he), -EBADMSG);
                assert_int_equal(proto_decode_reply(body, n, &out.r), -EBADMSG);
                assert_int_equal(proto_decode_request(body, n, &out.q), -EBADMSG);
        }
        for (size_t n = 0; n < 12; n++)
                assert_int_equal(proto_decode_welcome(body, n, &out.w), -EBADMSG);
        for (size_t n = 0; n < 4; n++) {
                assert_int_equal(proto_decode_error(body, n, &out.e), -EBADMSG);
                assert_int_equal(proto_decode_publish(body, n, &out.p), -EBADMSG);
        }
}

static void test_bad_fields(void **state) {
        uint8_t body[64] = {0};
        struct proto_open o;
        struct proto_message m;
        struct proto_hello he;
        struct proto_reply r;
        struct proto_request q;

        /* OPEN with a zero-length name, and with a name length past the body. */
        body[4] = 0;
        assert_int_equal(proto_decode_open(body, 5, 0, &o), -EBADMSG);
        body[4] = 200;
        assert_int_equal(proto_decode_open(body, 10, 0, &o), -EBADMSG);

        /* MESSAGE whose name length runs past the body. */
        memset(body, 0, sizeof(body));
        body[20] = 60;
        assert_int_equal(proto_decode_message(body, 30, &m), -EBADMSG);
        body[20] = 0;
        assert_int_equal(proto_decode_message(body, 30, &m), -EBADMSG);

        /* HELLO with a client name over the limit. */
        {
                uint8_t big[8 + PROTO_NAME_MAX + 1] = {0};

                assert_int_equal(proto_decode_hello(big, sizeof(big), &he), -EBADMSG);
                assert_int_equal(proto_decode_hello(big, sizeof(big) - 1, &he), 0);
        }

        /* REPLY status must be 0 or negative; REQUEST reserved field must be 0. */
        memset(body, 0, sizeof(body));
        le32_put(body + 4, 5);
        assert_int_equal(proto_decode_reply(body, 8, &r), -EBADMSG);
        memset(body, 0, sizeof(body));
        le16_put(body + 6, 1);
        assert_int_equal(proto_decode_request(body, 8, &q), -EBADMSG);
}

static void test_negotiate_version(void **state) {
        uint16_t v = 0;

        assert_int_equal(proto_negotiate_version(1, 1, &v), 0);
        assert_int_equal(v, 1);
        assert_int_equal(proto_negotiate_version(1, 9, &v), 0);
        assert_int_equal(v, PROTO_VERSION_MAX);
        assert_int_equal(proto_negotiate_version(2, 9, &v), -EPROTONOSUPPORT);
        assert_int_equal(proto_negotiate_version(0, 0, &v), -EPROTONOSUPPORT);
        assert_int_equal(proto_negotiate_version(3, 1, &v), -EPROTONOSUPPORT);
}

/* Deterministic random bodies must never crash a decoder (ASan watches reads). */
static void test_random_bodies(void **state) {
        uint32_t seed = 12345;

        for (int i = 0; i < 20000; i++) {
                size_t len = (seed = seed * 1103515245u + 12345u) % 64;
                uint8_t *body = malloc(len ? len : 1);
                union {
                        struct proto_open o;
                        struct proto_message m;
                        struct proto_hello he;
                        struct proto_welcome w;
                        struct proto_reply r;
                        struct proto_request q;
                        struct proto_open_ring g;
                } out;

                assert_non_null(body);
                for (size_t j = 0; j < len; j++)
                        body[j] = (uint8_t)((seed = seed * 1103515245u + 12345u) >> 16);
                (void)proto_decode_open(body, len, PROTO_FLAG_RESUME, &out.o);
                (void)proto_decode_open(body, len, 0, &out.o);
                (void)proto_decode_message(body, len, &out.m);
                (void)proto_decode_hello(body, len, &out.he);
                (void)proto_decode_welcome(body, len, &out.w);
                (void)proto_decode_reply(body, len, &out.r);
                (void)proto_decode_request(body, len, &out.q);
                (void)proto_decode_open_ring(body, len, PROTO_FLAG_RESUME, &out.g);
                (void)proto_decode_open_ring(body, len, 0, &out.g);
                free(body);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hello_roundtrip),
                cmocka_unit_test(test_hello_token_roundtrip),
                cmocka_unit_test(test_hello_token_bad),
                cmocka_unit_test(test_welcome_roundtrip),
                cmocka_unit_test(test_error_roundtrip),
                cmocka_unit_test(test_open_close_roundtrip),
                cmocka_unit_test(test_resume_roundtrip),
                cmocka_unit_test(test_request_reply_roundtrip),
                cmocka_unit_test(test_open_reply_roundtrip),
                cmocka_unit_test(test_open_ring_roundtrip),
                cmocka_unit_test(test_ring_reply_pages),
                cmocka_unit_test(test_close_ring_retained_roundtrip),
                cmocka_unit_test(test_publish_message_roundtrip),
                cmocka_unit_test(test_loss_roundtrip),
                cmocka_unit_test(test_head_max_fits),
                cmocka_unit_test(test_header_bad_magic),
                cmocka_unit_test(test_header_unknown_type),
                cmocka_unit_test(test_body_limits),
                cmocka_unit_test(test_truncated_bodies),
                cmocka_unit_test(test_bad_fields),
                cmocka_unit_test(test_negotiate_version),
                cmocka_unit_test(test_random_bodies),
        };

        return cmocka_run_group_tests_name("proto", tests, NULL, NULL);
}
