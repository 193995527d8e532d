/* SPDX-License-Identifier: MIT */
/*
 * Writes the seed corpora of the fuzz targets: real frames and frame
 * sequences made with the protocol's own encoders, configuration files, and
 * ring programs in fuzz-ring's operation format. `make fuzz-seeds` runs it
 * into tests/fuzz/corpus/ (and copies conf/ipc-brokerd.json beside the
 * config seeds); what libFuzzer adds later sits next to these files under
 * hash names. Deterministic: the same tree gives the same files.
 *
 *   gen-seeds DIR    writes DIR/frame/..., DIR/handshake/..., DIR/config/..., DIR/ring/...
 */
#include "build-config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz-ring.h"
#include "proto.h"
#include "ring.h"
#include "util.h"

#define SEED_MAX 8192

struct seed {
        uint8_t buf[SEED_MAX];
        size_t len;
};

static const char *out_dir;

_Noreturn static void die(const char *what) {
        fprintf(stderr, "gen-seeds: %s: %s\n", what, strerror(errno));
        exit(1);
}

static void seed_write(const char *target, const char *name, const struct seed *s) {
        char path[4096];
        FILE *f;

        (void)snprintf(path, sizeof(path), "%s/%s", out_dir, target);
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
                die(path);
        (void)snprintf(path, sizeof(path), "%s/%s/%s", out_dir, target, name);
        f = fopen(path, "wb");
        if (!f || fwrite(s->buf, 1, s->len, f) != s->len || fclose(f) != 0)
                die(path);
}

static void put(struct seed *s, const void *p, size_t n) {
        if (s->len + n > sizeof(s->buf)) {
                fprintf(stderr, "gen-seeds: seed too large\n");
                exit(1);
        }
        memcpy(s->buf + s->len, p, n);
        s->len += n;
}

static void put_u8(struct seed *s, uint8_t v) {
        put(s, &v, 1);
}

static void put_u16(struct seed *s, uint16_t v) {
        uint8_t b[2];

        le16_put(b, v);
        put(s, b, sizeof(b));
}

static void put_u32(struct seed *s, uint32_t v) {
        uint8_t b[4];

        le32_put(b, v);
        put(s, b, sizeof(b));
}

/* A frame: the encoder's head, then the tail it counted. */
static void put_frame(struct seed *s, const uint8_t *head, size_t head_len, const void *tail,
                      size_t tail_len) {
        put(s, head, head_len);
        if (tail_len)
                put(s, tail, tail_len);
}

/* ---- frames ---- */

static void hello(struct seed *s, const char *name, uint16_t min, uint16_t max) {
        struct proto_hello m = {
                .version_min = min, .version_max = max, .name = name, .name_len = strlen(name)};
        uint8_t h[PROTO_HEAD_MAX];

        put_frame(s, h, proto_encode_hello(h, &m), m.name, m.name_len);
}

static void open_frame(struct seed *s, uint8_t type, uint32_t req, const char *name) {
        struct proto_open m = {.request_id = req, .name = name, .name_len = strlen(name)};
        uint8_t h[PROTO_HEAD_MAX];

        put_frame(s, h, proto_encode_open(h, type, &m), NULL, 0);
}

static void close_frame(struct seed *s, uint8_t type, uint32_t req, uint32_t id) {
        struct proto_close m = {.request_id = req, .id = id};
        uint8_t h[PROTO_HEAD_MAX];

        put_frame(s, h, proto_encode_close(h, type, &m), NULL, 0);
}

static void request(struct seed *s, uint32_t req, uint16_t op, const char *body) {
        struct proto_request m = {
                .request_id = req, .op = op, .body = body, .body_len = strlen(body)};
        uint8_t h[PROTO_HEAD_MAX];

        put_frame(s, h, proto_encode_request(h, &m), m.body, m.body_len);
}

static void open_ring(struct seed *s, uint32_t req, uint8_t role, const char *name) {
        struct proto_open_ring m = {
                .request_id = req, .role = role, .name = name, .name_len = strlen(name)};
        uint8_t h[PROTO_HEAD_MAX];

        put_frame(s, h, proto_encode_open_ring(h, &m), NULL, 0);
}

static void close_ring(struct seed *s, uint32_t req, uint32_t handle) {
        struct proto_close_ring m = {.request_id = req, .handle = handle};
        uint8_t h[PROTO_HEAD_MAX];

        put_frame(s, h, proto_encode_close_ring(h, &m), NULL, 0);
}

static void publish(struct seed *s, uint8_t flags, uint32_t pub_id, const void *p, size_t n) {
        struct proto_publish m = {.pub_id = pub_id, .payload = p, .size = n};
        uint8_t h[PROTO_HEAD_MAX];

        put_frame(s, h, proto_encode_publish(h, flags, &m), p, n);
}

static void retained(struct seed *s, uint32_t pub_id, uint64_t seq, const char *p) {
        struct proto_retained m = {.pub_id = pub_id,
                                   .seq = seq,
                                   .timestamp_ns = 1700000000000000000,
                                   .payload = p,
                                   .size = strlen(p)};
        uint8_t h[PROTO_HEAD_MAX];

        put_frame(s, h, proto_encode_retained(h, &m), p, m.size);
}

/* One seed per frame type, each as the broker or a client really sends it. */
static void frame_seeds(void) {
        uint8_t h[PROTO_HEAD_MAX], rec[PROTO_RING_REPLY_BYTES + PROTO_RING_RETAINED_BYTES + 5];
        struct seed s = {0};

        hello(&s, "ipcctl", 1, 1);
        seed_write("frame", "hello", &s);
        s.len = 0;
        {
                struct proto_welcome m = {.version = 1,
                                          .max_message_bytes = 1 << 20,
                                          .server = "ipc-brokerd 0.1.0",
                                          .server_len = 17};

                put_frame(&s, h, proto_encode_welcome(h, &m), m.server, m.server_len);
                seed_write("frame", "welcome", &s);
        }
        s.len = 0;
        {
                struct proto_error m = {
                        .code = EPROTO, .text = "expected HELLO, got PUBLISH", .text_len = 27};

                put_frame(&s, h, proto_encode_error(h, &m), m.text, m.text_len);
                seed_write("frame", "error", &s);
        }
        s.len = 0;
        open_frame(&s, PROTO_OPEN_PUB, 7, "sensors.temp");
        seed_write("frame", "open-pub", &s);
        s.len = 0;
        open_frame(&s, PROTO_SUBSCRIBE, 8, "sensors.*.raw.>");
        seed_write("frame", "subscribe", &s);
        s.len = 0;
        close_frame(&s, PROTO_UNSUBSCRIBE, 9, 1);
        seed_write("frame", "unsubscribe", &s);
        s.len = 0;
        request(&s, 10, PROTO_OP_STATS, "{}");
        seed_write("frame", "request", &s);
        s.len = 0;
        open_ring(&s, 11, PROTO_RING_SUBSCRIBER, "sensors.temp");
        seed_write("frame", "open-ring", &s);
        s.len = 0;
        close_ring(&s, 12, 3);
        seed_write("frame", "close-ring", &s);
        s.len = 0;
        publish(&s, PROTO_FLAG_RETAIN, 1, "21.5 C", 6);
        seed_write("frame", "publish", &s);
        s.len = 0;
        retained(&s, 1, 42, "21.5 C");
        seed_write("frame", "retained", &s);
        s.len = 0;
        {
                struct proto_message m = {.sub_id = 2,
                                          .seq = 42,
                                          .timestamp_ns = 1700000000000000000,
                                          .channel = "sensors.temp",
                                          .channel_len = 12,
                                          .payload = "21.5 C",
                                          .size = 6};

                put_frame(&s, h, proto_encode_message(h, 0, &m), m.payload, m.size);
                seed_write("frame", "message", &s);
        }
        s.len = 0;
        {
                struct proto_loss m = {.sub_id = 2, .count = 17};

                put_frame(&s, h, proto_encode_loss(h, &m), NULL, 0);
                seed_write("frame", "loss", &s);
        }
        s.len = 0;
        {
                struct proto_open_reply o = {.id = 1,
                                             .max_message_bytes = 65536,
                                             .overflow = PROTO_OVERFLOW_DROP,
                                             .epoch = UINT64_C(0x8badf00ddeadbeef)};
                struct proto_reply m = {
                        .request_id = 7, .body = rec, .body_len = PROTO_OPEN_REPLY_BYTES};

                proto_encode_open_reply(rec, &o);
                put_frame(&s, h, proto_encode_reply(h, &m), rec, m.body_len);
                seed_write("frame", "reply-open", &s);
        }
        s.len = 0;
        {
                struct proto_ring_reply r = {.slot = 1,
                                             .n_fds = PROTO_RING_SUB_FDS,
                                             .data_size = 4202496,
                                             .state_size = 12288,
                                             .handle = 3};
                struct proto_reply m = {.request_id = 11, .body = rec, .body_len = sizeof(rec)};

                proto_encode_ring_reply(rec, &r);
                proto_encode_ring_retained(rec + PROTO_RING_REPLY_BYTES, 41, 1700000000000000000);
                memcpy(rec + PROTO_RING_REPLY_BYTES + PROTO_RING_RETAINED_BYTES, "21 C", 5);
                put_frame(&s, h, proto_encode_reply(h, &m), rec, m.body_len);
                seed_write("frame", "reply-ring-retained", &s);
        }
        s.len = 0;
        {
                struct proto_reply m = {.request_id = 9,
                                        .status = -ENOENT,
                                        .body = "no subscription with id 1",
                                        .body_len = 25};

                put_frame(&s, h, proto_encode_reply(h, &m), m.body, m.body_len);
                seed_write("frame", "reply-error", &s);
        }
}

/* ---- client sessions (fuzz-handshake; channel names meet its config) ---- */

static void handshake_seeds(void) {
        static uint8_t big[4096];
        struct seed s = {0};

        memset(big, 'x', sizeof(big));
        hello(&s, "sensor-daemon", 1, 1);
        seed_write("handshake", "hello", &s);

        s.len = 0;
        hello(&s, "old-client", 2, 3);
        seed_write("handshake", "hello-no-common-version", &s);

        s.len = 0;
        publish(&s, 0, 1, "early", 5);
        seed_write("handshake", "publish-before-hello", &s);

        s.len = 0;
        hello(&s, "pub", 1, 1);
        open_frame(&s, PROTO_OPEN_PUB, 1, "sensors.temp");
        publish(&s, 0, 1, "20.9", 4);
        publish(&s, PROTO_FLAG_RETAIN, 1, "21.0", 4);
        open_frame(&s, PROTO_SUBSCRIBE, 2, "sensors.*");
        publish(&s, 0, 1, "21.1", 4);
        close_frame(&s, PROTO_UNSUBSCRIBE, 3, 1);
        close_frame(&s, PROTO_CLOSE_PUB, 4, 1);
        seed_write("handshake", "publish-subscribe", &s);

        s.len = 0;
        hello(&s, "ctl", 1, 1);
        request(&s, 1, PROTO_OP_PING, "");
        request(&s, 2, PROTO_OP_LIST_CHANNELS, "");
        request(&s, 3, PROTO_OP_STATS, "{}");
        request(&s, 4, 99, "");
        seed_write("handshake", "requests", &s);

        s.len = 0;
        hello(&s, "ring", 1, 1);
        open_frame(&s, PROTO_OPEN_PUB, 1, "ring.data");
        open_ring(&s, 2, PROTO_RING_PUBLISHER, "ring.data");
        open_ring(&s, 3, PROTO_RING_SUBSCRIBER, "ring.data");
        publish(&s, 0, 1, "via the socket", 14);
        retained(&s, 1, 1, "kept");
        close_ring(&s, 4, 1);
        close_ring(&s, 5, 2);
        seed_write("handshake", "rings", &s);

        s.len = 0;
        hello(&s, "policies", 1, 1);
        open_frame(&s, PROTO_OPEN_PUB, 1, "drop.a");
        open_frame(&s, PROTO_OPEN_PUB, 2, "cut.a");
        open_frame(&s, PROTO_OPEN_PUB, 3, "sock.a");
        open_frame(&s, PROTO_OPEN_PUB, 4, "declared");
        for (uint32_t id = 1; id <= 4; id++)
                publish(&s, PROTO_FLAG_RETAIN, id, "value", 5);
        open_frame(&s, PROTO_SUBSCRIBE, 5, "declared");
        seed_write("handshake", "policies", &s);

        s.len = 0;
        hello(&s, "big", 1, 1);
        open_frame(&s, PROTO_OPEN_PUB, 1, "big");
        publish(&s, 0, 1, big, sizeof(big));
        open_frame(&s, PROTO_OPEN_PUB, 2, "small");
        publish(&s, 0, 2, big, 1025);
        seed_write("handshake", "message-limits", &s);

        s.len = 0;
        hello(&s, "greedy", 1, 1);
        for (uint32_t i = 1; i <= 9; i++) {
                char name[16];

                (void)snprintf(name, sizeof(name), "many.%u", i);
                open_frame(&s, PROTO_SUBSCRIBE, i, name);
        }
        seed_write("handshake", "subscription-limit", &s);

        s.len = 0;
        hello(&s, "liar", 1, 1);
        {
                uint8_t h[PROTO_HEADER_BYTES];

                le16_put(h, PROTO_MAGIC);
                h[2] = PROTO_PUBLISH;
                h[3] = 0;
                le32_put(h + 4, UINT32_MAX);
                put(&s, h, sizeof(h));
        }
        seed_write("handshake", "oversize-header", &s);

        s.len = 0;
        hello(&s, "bad", 1, 1);
        open_frame(&s, PROTO_OPEN_PUB, 1, "bad..name");
        seed_write("handshake", "bad-channel-name", &s);
}

/* ---- configuration files (the sample is copied in by the make rule) ---- */

static void config_seed(const char *name, const char *text) {
        struct seed s = {0};

        put(&s, text, strlen(text));
        seed_write("config", name, &s);
}

static void config_seeds(void) {
        config_seed("empty-object", "{}\n");
        config_seed("listen", "{\"listen\": {\"unix\": \"/run/x.sock\", \"unix_mode\": \"0600\","
                              " \"tcp\": [\"127.0.0.1:7420\", \"[::1]:7420\"]}}\n");
        config_seed("no-unix", "{\"listen\": {\"unix\": null}}\n");
        config_seed("limits", "{\"limits\": {\"max_connections\": 10, \"max_message_bytes\": 4096,"
                              " \"output_queue_bytes\": 65536, \"stall_timeout_ms\": 100,"
                              " \"handshake_timeout_ms\": 100, \"max_subscriptions\": 1}}\n");
        config_seed("channels", "{\"channel_defaults\": {\"ring_bytes\": 65536,"
                                " \"overflow\": \"drop\", \"shared_memory\": false},"
                                " \"channels\": {\"a.*.c\": {\"overflow\": \"disconnect\"},"
                                " \"a.b.c\": {\"max_message_bytes\": 100}, \"comment\": {}}}\n");
        config_seed("duplicate-key", "{\"limits\": {}, \"limits\": {}}\n");
        config_seed("syntax-error", "{\"limits\": {\"max_connections\": 10,}}\n");
        config_seed("wrong-type", "{\"limits\": {\"max_connections\": \"lots\"}}\n");
        config_seed("unknown-key", "{\"listen\": {\"udp\": []}}\n");
        config_seed("out-of-range", "{\"channel_defaults\": {\"ring_bytes\": 65537}}\n");
}

/* ---- ring programs (fuzz-ring.h) ---- */

static void prog_op(struct seed *s, enum ring_fuzz_op op) {
        put_u8(s, (uint8_t)op);
}

static void prog_publish(struct seed *s, uint16_t size, uint8_t flags) {
        prog_op(s, RING_OP_PUBLISH);
        put_u16(s, size);
        put_u8(s, flags);
}

static void prog_read(struct seed *s, uint8_t n) {
        prog_op(s, RING_OP_READ);
        put_u8(s, n);
}

static void prog_patch(struct seed *s, enum ring_fuzz_region region, uint32_t off,
                       const void *bytes, uint8_t len) {
        prog_op(s, RING_OP_PATCH);
        put_u8(s, (uint8_t)region);
        put_u32(s, off);
        put_u8(s, (uint8_t)(len - 1));
        put(s, bytes, len);
}

static void prog_patch_u64(struct seed *s, enum ring_fuzz_region region, uint32_t off, uint64_t v) {
        uint8_t b[8];

        le64_put(b, v);
        prog_patch(s, region, off, b, sizeof(b));
}

static void ring_seeds(void) {
        struct seed s = {0};

        /* block policy, 1000-byte limit: a few records of every size class, read back */
        put_u8(&s, RING_FUZZ_GEOMETRY(RING_OVERFLOW_BLOCK, 1, 0));
        prog_publish(&s, 0, 0);
        prog_publish(&s, 13, RING_REC_RETAIN);
        prog_publish(&s, 1000, 0);
        prog_op(&s, RING_OP_ABORT);
        put_u16(&s, 100);
        put_u8(&s, 0);
        prog_publish(&s, 1001, 0);
        prog_read(&s, 10);
        seed_write("ring", "block-roundtrip", &s);

        /* drop policy: the publisher laps the reader, which resumes and counts the loss */
        s.len = 0;
        put_u8(&s, RING_FUZZ_GEOMETRY(RING_OVERFLOW_DROP, 2, 1));
        for (int i = 0; i < 8; i++)
                prog_publish(&s, 16384, 0);
        prog_read(&s, 20);
        seed_write("ring", "drop-lapped", &s);

        /* the end of a lap: PAD records and too-small remainders */
        s.len = 0;
        put_u8(&s, RING_FUZZ_GEOMETRY(RING_OVERFLOW_BLOCK, 2, 2));
        for (int i = 0; i < 5; i++) {
                prog_publish(&s, 15000, 0);
                prog_read(&s, 2);
        }
        seed_write("ring", "lap-end", &s);

        /* a publisher dies mid-claim; the broker writes a SKIP the reader passes over */
        s.len = 0;
        put_u8(&s, RING_FUZZ_GEOMETRY(RING_OVERFLOW_DISCONNECT, 1, 0));
        prog_publish(&s, 10, 0);
        prog_op(&s, RING_OP_DIE);
        put_u16(&s, 500);
        prog_read(&s, 5);
        prog_op(&s, RING_OP_RECOVER);
        prog_publish(&s, 20, 0);
        prog_read(&s, 5);
        seed_write("ring", "dead-publisher", &s);

        /* corruption: the tail moved far ahead, unaligned */
        s.len = 0;
        put_u8(&s, RING_FUZZ_GEOMETRY(RING_OVERFLOW_DROP, 0, 0));
        prog_publish(&s, 30, 0);
        prog_patch_u64(&s, RING_REGION_TAIL, 0, UINT64_C(0x7fffffffffff0003));
        prog_publish(&s, 30, 0);
        prog_read(&s, 5);
        seed_write("ring", "corrupt-tail", &s);

        /* corruption: the tail a few laps ahead under "block", where lapping cannot happen */
        s.len = 0;
        put_u8(&s, RING_FUZZ_GEOMETRY(RING_OVERFLOW_BLOCK, 0, 0));
        prog_publish(&s, 30, 0);
        prog_patch_u64(&s, RING_REGION_TAIL, 0, 3 * UINT64_C(65536) + 64);
        prog_read(&s, 5);
        seed_write("ring", "corrupt-tail-ahead", &s);

        /* corruption: the tail at the top of the position space, a lapped "drop" reader */
        s.len = 0;
        put_u8(&s, RING_FUZZ_GEOMETRY(RING_OVERFLOW_DROP, 0, 0));
        prog_publish(&s, 30, 0);
        prog_patch_u64(&s, RING_REGION_TAIL, 0, UINT64_MAX - 7);
        prog_read(&s, 5);
        prog_publish(&s, 30, 0);
        seed_write("ring", "corrupt-tail-top", &s);

        /* corruption: a committed record's length and size lie */
        s.len = 0;
        put_u8(&s, RING_FUZZ_GEOMETRY(RING_OVERFLOW_BLOCK, 0, 0));
        prog_publish(&s, 30, 0);
        prog_publish(&s, 30, 0);
        prog_patch_u64(&s, RING_REGION_AREA, 24, UINT64_C(0x0000ffff00010000));
        prog_read(&s, 5);
        seed_write("ring", "corrupt-record", &s);

        /* corruption: the header (capacity) and a re-attach */
        s.len = 0;
        put_u8(&s, RING_FUZZ_GEOMETRY(RING_OVERFLOW_BLOCK, 0, 0));
        prog_patch_u64(&s, RING_REGION_HEADER, 16, UINT64_C(1) << 40);
        prog_op(&s, RING_OP_ATTACH);
        prog_publish(&s, 8, 0);
        prog_read(&s, 5);
        seed_write("ring", "corrupt-header", &s);

        /* corruption: the subscriber's cursor and a rejoin, the broker's scan */
        s.len = 0;
        put_u8(&s, RING_FUZZ_GEOMETRY(RING_OVERFLOW_BLOCK, 0, 0));
        prog_publish(&s, 8, 0);
        prog_patch_u64(&s, RING_REGION_PAGE, 0, UINT64_MAX - 7); /* its cursor */
        prog_op(&s, RING_OP_HOUSE);
        put_u8(&s, 3);
        put_u16(&s, 64);
        prog_op(&s, RING_OP_ATTACH);
        prog_op(&s, RING_OP_REJOIN);
        prog_publish(&s, 8, 0);
        prog_read(&s, 5);
        seed_write("ring", "corrupt-cursor", &s);

        /* corruption: the dying publisher's intent in STATE before the broker recovers it */
        s.len = 0;
        put_u8(&s, RING_FUZZ_GEOMETRY(RING_OVERFLOW_BLOCK, 1, 0));
        prog_publish(&s, 40, 0);
        prog_op(&s, RING_OP_DIE);
        put_u16(&s, 64);
        prog_patch_u64(&s, RING_REGION_STATE, RING_PAGE_BYTES + 64 * 3, 8);
        prog_op(&s, RING_OP_RECOVER);
        prog_read(&s, 5);
        seed_write("ring", "corrupt-intent", &s);
}

int main(int argc, char **argv) {
        if (argc != 2) {
                fprintf(stderr, "usage: gen-seeds DIR\n");
                return 2;
        }
        out_dir = argv[1];
        frame_seeds();
        handshake_seeds();
        config_seeds();
        ring_seeds();
        return 0;
}
