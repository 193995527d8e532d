/* SPDX-License-Identifier: MIT */
/*
 * fuzz-handshake: the broker's input path, in process. Each input is the
 * byte stream of one client (HELLO and the frames after it), written into
 * one end of a socketpair whose other end a real broker (brokerd/
 * libbrokerd.la) took with broker_accept(). Beside it sits a well-behaved
 * client that said HELLO and subscribed to ">", so whatever the fuzzed
 * client publishes is fanned out to a second connection.
 *
 * The loop runs without blocking (EVLOOP_NONBLOCK) until nothing moves, so
 * no timer fires and an input gives the same run every time. Checked
 * besides memory safety and leaks:
 *   - every frame the broker sends either client is well formed (a known
 *     broker-to-client type within its body limit that its decoder accepts);
 *   - the well-behaved client is never sent an ERROR nor disconnected, and
 *     still gets its PING answered after the fuzzed client is gone;
 *   - the loop goes idle within PUMP_PASSES_MAX passes (no busy loop);
 *   - the broker leaves no descriptor open after broker_free().
 *
 * The broker's configuration is a real file (loaded once with config_load())
 * with small limits, so the paths at the limits are reachable with short
 * inputs: see fuzz_config_json.
 */
#include "build-config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "broker.h"
#include "channel-name.h"
#include "config.h"
#include "fuzz.h"
#include "log.h"
#include "proto.h"
#include "util.h"

/* Loop passes before an input counts as a busy loop; idle needs IDLE_PASSES quiet ones. */
#define PUMP_PASSES_MAX 20000
#define IDLE_PASSES     2
#define READ_CHUNK      65536
#define OBSERVER_SUB_ID 1
#define PING_REQUEST_ID 0x0b5e7e00u

static const char fuzz_config_json[] =
        "{\"limits\": {\"max_message_bytes\": 4096, \"max_subscriptions\": 8,"
        " \"output_queue_bytes\": 65536},"
        " \"channel_defaults\": {\"max_message_bytes\": 1024, \"ring_bytes\": 65536},"
        " \"channels\": {\"drop.>\": {\"overflow\": \"drop\"},"
        " \"cut.>\": {\"overflow\": \"disconnect\"},"
        " \"sock.>\": {\"shared_memory\": false},"
        " \"big\": {\"max_message_bytes\": 4096},"
        " \"declared\": {}}}";

static struct config fuzz_config;

/* Our end of one connection, and what the broker sent over it. */
struct conn {
        int fd;
        bool eof;
        uint8_t *in; /* received, not yet parsed */
        size_t in_len;
        size_t in_cap;
        bool welcomed;
        bool got_error;
        bool got_ping_reply;
};

struct hs {
        struct broker *b;
        struct conn fuzzed;
        struct conn observer;
        const uint8_t *out; /* fuzz bytes still to write */
        size_t out_left;
};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        char path[64], err[CONFIG_ERROR_MAX];
        int fd = memfd_create("fuzz-handshake-config", MFD_CLOEXEC);

        (void)signal(SIGPIPE, SIG_IGN);
        /* Every line is formatted (coverage); scripts/fuzz sends them to /dev/null. */
        log_set_max_level(LOG_DEBUG);
        FUZZ_CHECK(fd >= 0);
        FUZZ_CHECK(write(fd, fuzz_config_json, strlen(fuzz_config_json)) ==
                   (ssize_t)strlen(fuzz_config_json));
        (void)snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        if (config_load(&fuzz_config, path, true, err, sizeof(err)) < 0) {
                fprintf(stderr, "fuzz-handshake: %s\n", err);
                abort();
        }
        (void)close(fd);
        return 0;
}

static size_t count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        size_t n = 0;

        FUZZ_CHECK(d);
        while (readdir(d))
                n++;
        (void)closedir(d);
        return n;
}

/* One frame from the broker: a type it may send, within its limit, accepted by its decoder. */
static void check_frame(struct conn *c, const struct proto_header *h, const uint8_t *body) {
        struct proto_welcome w;
        struct proto_error e;
        struct proto_reply r;
        struct proto_message m;
        struct proto_loss l;

        FUZZ_CHECK(h->length <= proto_body_limit(h->type, fuzz_config.max_message_bytes));
        switch (h->type) {
        case PROTO_WELCOME:
                FUZZ_CHECK(!c->welcomed && proto_decode_welcome(body, h->length, &w) == 0);
                FUZZ_CHECK(w.version >= PROTO_VERSION_MIN && w.version <= PROTO_VERSION_MAX);
                c->welcomed = true;
                break;
        case PROTO_ERROR:
                FUZZ_CHECK(proto_decode_error(body, h->length, &e) == 0);
                c->got_error = true;
                break;
        case PROTO_REPLY:
                FUZZ_CHECK(c->welcomed && proto_decode_reply(body, h->length, &r) == 0);
                if (r.request_id == PING_REQUEST_ID && r.status == 0)
                        c->got_ping_reply = true;
                break;
        case PROTO_MESSAGE:
                FUZZ_CHECK(c->welcomed && proto_decode_message(body, h->length, &m) == 0);
                FUZZ_CHECK(channel_name_valid(m.channel, m.channel_len));
                FUZZ_CHECK(m.size <= fuzz_config.max_message_bytes);
                break;
        case PROTO_LOSS:
                FUZZ_CHECK(c->welcomed && proto_decode_loss(body, h->length, &l) == 0);
                break;
        default:
                FUZZ_CHECK(!"a frame type the broker never sends");
        }
}

/* Parses every complete frame received so far; the rest waits for more bytes. */
static void parse_frames(struct conn *c) {
        size_t at = 0;

        while (c->in_len - at >= PROTO_HEADER_BYTES) {
                struct proto_header h;

                FUZZ_CHECK(proto_header_decode(c->in + at, &h) == 0);
                if (c->in_len - at - PROTO_HEADER_BYTES < h.length)
                        break;
                check_frame(c, &h, c->in + at + PROTO_HEADER_BYTES);
                at += PROTO_HEADER_BYTES + h.length;
        }
        if (at == 0)
                return;
        memmove(c->in, c->in + at, c->in_len - at);
        c->in_len -= at;
}

/* Reads what the broker sent (descriptors passed with it are closed by the kernel). */
static bool conn_read(struct conn *c) {
        bool progress = false;

        while (!c->eof) {
                ssize_t n;

                if (c->in_cap - c->in_len < READ_CHUNK) {
                        c->in_cap = c->in_len + 2 * READ_CHUNK;
                        c->in = realloc(c->in, c->in_cap);
                        FUZZ_CHECK(c->in);
                }
                n = read(c->fd, c->in + c->in_len, READ_CHUNK);
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        break;
                if (n <= 0) {
                        /* A reset counts as a close: the broker may drop unread input. */
                        c->eof = true;
                        progress = true;
                        break;
                }
                c->in_len += (size_t)n;
                progress = true;
        }
        parse_frames(c);
        return progress;
}

static bool feed(struct hs *h) {
        ssize_t n;

        if (h->out_left == 0 || h->fuzzed.eof)
                return false;
        n = write(h->fuzzed.fd, h->out, h->out_left);
        if (n <= 0)
                return false;
        h->out += n;
        h->out_left -= (size_t)n;
        return true;
}

/* Runs the loop until two passes in a row move no byte and leave no event active. */
static void pump(struct hs *h) {
        int idle = 0;

        for (int pass = 0; pass < PUMP_PASSES_MAX; pass++) {
                bool progress = feed(h);

                FUZZ_CHECK(event_base_loop(h->b->base, EVLOOP_NONBLOCK) >= 0);
                progress |= conn_read(&h->fuzzed);
                progress |= conn_read(&h->observer);
                if (progress || event_base_get_num_events(h->b->base, EVENT_BASE_COUNT_ACTIVE) > 0)
                        idle = 0;
                else if (++idle == IDLE_PASSES)
                        return;
        }
        FUZZ_CHECK(!"the broker did not go idle");
}

static void conn_open(struct hs *h, struct conn *c) {
        int sv[2];

        FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
        *c = (struct conn){.fd = sv[0]};
        broker_accept(h->b, sv[1], PEER_TRANSPORT_UNIX, NULL);
}

static void conn_close(struct conn *c) {
        if (c->fd >= 0)
                (void)close(c->fd);
        c->fd = -1;
        free(c->in);
        c->in = NULL;
}

/* Writes a whole frame the observer sends (small: it always fits the socket buffer). */
static void observer_send(struct hs *h, const uint8_t *head, size_t head_len, const void *tail,
                          size_t tail_len) {
        uint8_t buf[PROTO_HEAD_MAX + 64];

        FUZZ_CHECK(head_len + tail_len <= sizeof(buf));
        memcpy(buf, head, head_len);
        if (tail_len)
                memcpy(buf + head_len, tail, tail_len);
        FUZZ_CHECK(write(h->observer.fd, buf, head_len + tail_len) ==
                   (ssize_t)(head_len + tail_len));
}

/* The well-behaved client: HELLO, then a subscription to every channel. */
static void observer_start(struct hs *h) {
        struct proto_hello hello = {.version_min = PROTO_VERSION_MIN,
                                    .version_max = PROTO_VERSION_MAX,
                                    .name = "observer",
                                    .name_len = 8};
        struct proto_open sub = {.request_id = OBSERVER_SUB_ID, .name = ">", .name_len = 1};
        uint8_t head[PROTO_HEAD_MAX];

        observer_send(h, head, proto_encode_hello(head, &hello), hello.name, hello.name_len);
        observer_send(h, head, proto_encode_open(head, PROTO_SUBSCRIBE, &sub), NULL, 0);
}

/* After the fuzzed client is gone: the observer is still connected and answered. */
static void observer_check(struct hs *h) {
        struct proto_request ping = {.request_id = PING_REQUEST_ID, .op = PROTO_OP_PING};
        uint8_t head[PROTO_HEAD_MAX];

        observer_send(h, head, proto_encode_request(head, &ping), NULL, 0);
        pump(h);
        FUZZ_CHECK(h->observer.welcomed && !h->observer.eof && !h->observer.got_error);
        FUZZ_CHECK(h->observer.got_ping_reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        size_t fds = count_fds();
        struct hs h = {.out = data, .out_left = size};

        FUZZ_CHECK(broker_new(&fuzz_config, &h.b) == 0);
        conn_open(&h, &h.observer);
        observer_start(&h);
        conn_open(&h, &h.fuzzed);
        pump(&h);
        /* The client is done: EOF first (frames still buffered are handled), then gone. */
        (void)shutdown(h.fuzzed.fd, SHUT_WR);
        pump(&h);
        conn_close(&h.fuzzed);
        h.fuzzed.eof = true;
        pump(&h);
        observer_check(&h);
        conn_close(&h.observer);
        h.b = broker_free(h.b);
        FUZZ_CHECK(count_fds() == fds);
        return 0;
}
