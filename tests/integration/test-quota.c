/* SPDX-License-Identifier: MIT */
/*
 * Quotas (ipc-brokerd.json(5), "limits"), each hit with a small value:
 * the refused client gets the documented code (-EDQUOT per user, -EMFILE
 * per connection, -ENFILE broker-wide) and the broker's text, the broker
 * logs one line naming the identity and the limit, a well-behaved client
 * keeps round-tripping, and giving back (closing, unsubscribing) lets new
 * ones in again: the accounting is exact.
 *
 * Every local client of this test is one user, the test's own uid. A
 * client of another user comes in over the TCP listener each test adds:
 * plain TCP clients are the one "anonymous" user.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "proto.h"
#include "util.h"

#define T_SEC     (5 * HARNESS_USEC_PER_SEC)
#define MSG_BYTES 1024
/* Queue limits at their smallest: 64 KiB a connection, 128 KiB the user. */
#define SMALL_QUEUES "\"output_queue_bytes\": 65536, \"max_queued_bytes_per_uid\": 131072"
#define N_SLOW       8

/* The broker and the addresses of its two kinds of users. */
struct env {
        struct harness_broker *b;
        const char *local; /* unix: this test's uid */
        char tcp[64];      /* tcp: the anonymous user */
};

static void env_start(void **state, struct env *e, const char *config) {
        int port = harness_free_tcp_port();
        const char *args[] = {"--listen", e->tcp, NULL};

        assert_true(port > 0);
        (void)snprintf(e->tcp, sizeof(e->tcp), "tcp:127.0.0.1:%d", port);
        e->b = harness_start(state, config, args);
        e->local = harness_broker_address(e->b);
}

static void wait_log(struct env *e, const char *needle) {
        assert_int_equal(harness_broker_wait_log(e->b, needle, harness_timeout(T_SEC)), 0);
}

/* "uid N (pid P): refused: LIMIT (VALUE) reached", as this process is named in logs. */
static void wait_refusal(struct env *e, const char *limit, unsigned value) {
        char line[256];

        (void)snprintf(line, sizeof(line), "uid %u (pid %d): refused: %s (%u) reached",
                       (unsigned)getuid(), (int)getpid(), limit, value);
        wait_log(e, line);
}

static json_t *stats_get(ipc_client *c) {
        char *text = NULL;
        json_t *j;

        assert_int_equal(ipc_client_stats(c, harness_timeout(T_SEC), &text), 0);
        j = harness_json_parse(text);
        ipc_free(text);
        return j;
}

/* This test's user in a stats object (borrowed), or NULL when it has no connection. */
static json_t *stats_local_user(json_t *stats) {
        json_t *users = json_object_get(stats, "users"), *u;
        size_t i;

        assert_true(json_is_array(users));
        json_array_foreach(users, i, u) {
                if (json_is_integer(json_object_get(u, "uid")) &&
                    json_integer_value(json_object_get(u, "uid")) == (json_int_t)getuid())
                        return u;
        }
        return NULL;
}

/* Member @key of this test's user (0 when it is gone; booleans as 0 or 1), seen from @c. */
static int64_t local_user_get(ipc_client *c, const char *key) {
        json_t *stats = stats_get(c), *u = stats_local_user(stats);
        json_t *b = u ? json_object_get(u, key) : NULL;
        int64_t v = json_is_boolean(b) ? json_is_true(b) : u ? harness_json_int(u, key) : 0;

        json_decref(stats);
        return v;
}

/*
 * Waits until member @key of this test's user is @want: the broker notices
 * closes asynchronously. Polls are paced by the stats round trips.
 */
static void local_user_wait(ipc_client *c, const char *key, int64_t want) {
        uint64_t deadline = harness_now_usec() + harness_timeout(T_SEC);
        int64_t v;

        while ((v = local_user_get(c, key)) != want && harness_now_usec() < deadline)
                ;
        if (v != want)
                fail_msg("user's %s is %" PRId64 ", expected %" PRId64, key, v, want);
}

/* A publisher on @pc and a subscription on @sc exchange one message. */
static void round_trip(ipc_client *pc, ipc_client *sc, const char *channel) {
        ipc_pub *pub = NULL;
        ipc_sub *sub = NULL;
        const ipc_msg *m;

        assert_int_equal(ipc_sub_new(sc, channel, harness_timeout(T_SEC), &sub), 0);
        assert_int_equal(ipc_pub_new(pc, channel, harness_timeout(T_SEC), &pub), 0);
        assert_int_equal(ipc_publish(pub, "hi", 2, 0, harness_timeout(T_SEC)), 0);
        m = harness_receive(sc, T_SEC);
        assert_ptr_equal(ipc_msg_get_sub(m), sub);
        assert_memory_equal(ipc_msg_get_data(m, NULL), "hi", 2);
        ipc_pub_free(pub);
        ipc_sub_free(sub);
}

static int try_connect(const char *address, char *why, size_t size, ipc_client **ret) {
        ipc_options *opts = NULL;
        int r;

        assert_int_equal(ipc_options_new(&opts), 0);
        assert_int_equal(ipc_options_set_connect_timeout(opts, harness_timeout(T_SEC)), 0);
        assert_int_equal(ipc_options_set_error_buffer(opts, why, size), 0);
        r = ipc_client_connect(address, opts, ret);
        ipc_options_free(opts);
        return r;
}

/* ---- Connections -------------------------------------------------------- */

/* ipcctl, refused, says why in the broker's words and exits EX_UNAVAILABLE (69). */
static void expect_ipcctl_refused(struct env *e, const char *text) {
        const char *argv[] = {getenv("IPCCTL"), "-s", e->local, "ping", NULL};
        struct harness_output out;

        assert_int_equal(harness_run(argv, NULL, 0, T_SEC, &out), 0);
        assert_int_equal(out.status, 69);
        if (!strstr(out.err, text))
                fail_msg("ipcctl said \"%s\", expected \"%s\"", out.err, text);
        harness_output_free(&out);
}

/* ipcctl stats (over TCP: the local user is full) lists the users: ours with @n connections. */
static void expect_ipcctl_users(struct env *e, unsigned n) {
        const char *argv[] = {getenv("IPCCTL"), "-s", e->tcp, "stats", NULL};
        struct harness_output out;
        char row[64];
        const char *line;

        assert_int_equal(harness_run(argv, NULL, 0, T_SEC, &out), 0);
        assert_int_equal(out.status, 0);
        assert_non_null(strstr(out.out, "USER"));
        (void)snprintf(row, sizeof(row), "uid %u ", (unsigned)getuid());
        line = strstr(out.out, row);
        if (!line || strtoul(line + strlen(row), NULL, 10) != n)
                fail_msg("no row \"%s %u ...\" in:\n%s", row, n, out.out);
        assert_non_null(strstr(out.out, "anonymous "));
        harness_output_free(&out);
}

/*
 * max_connections_per_uid: the user's next connection is refused with
 * -EDQUOT and a text naming the user and the limit; its connected clients
 * and other users carry on; one closing lets one more in.
 */
static void test_connections_per_uid(void **state) {
        struct env e;
        ipc_client *c[3], *extra = NULL, *anon;
        char why[256], text[128];

        env_start(state, &e, "{\"limits\": {\"max_connections_per_uid\": 3}}");
        for (size_t i = 0; i < 3; i++)
                c[i] = harness_connect(e.local, "mine");
        anon = harness_connect(e.tcp, "anonymous");

        assert_int_equal(try_connect(e.local, why, sizeof(why), &extra), -EDQUOT);
        assert_null(extra);
        (void)snprintf(text, sizeof(text),
                       "uid %u: too many connections (max_connections_per_uid 3)",
                       (unsigned)getuid());
        assert_string_equal(why, text);
        wait_refusal(&e, "max_connections_per_uid", 3);
        expect_ipcctl_refused(&e, text);

        /* Connected clients of the user, and other users, carry on. */
        round_trip(c[0], c[1], "conn.mine");
        round_trip(anon, c[2], "conn.mixed");
        assert_int_equal(local_user_get(anon, "connections"), 3);
        expect_ipcctl_users(&e, 3);

        ipc_client_free(c[0]);
        local_user_wait(anon, "connections", 2);
        assert_int_equal(try_connect(e.local, why, sizeof(why), &c[0]), 0);
        assert_string_equal(why, "");
        round_trip(c[0], c[1], "conn.again");
        for (size_t i = 0; i < 3; i++)
                ipc_client_free(c[i]);
        local_user_wait(anon, "connections", 0);
        ipc_client_free(anon);
}

/* ---- Subscriptions and publishers per connection -------------------------- */

/* max_subscriptions: -EMFILE on this connection only; a freed one is reusable. */
static void test_subscriptions_per_connection(void **state) {
        struct env e;
        ipc_client *c, *other;
        ipc_sub *s[3] = {};
        ipc_pub *p[3] = {};

        env_start(state, &e, "{\"limits\": {\"max_subscriptions\": 2}}");
        c = harness_connect(e.local, "subs");
        other = harness_connect(e.local, "other");
        assert_int_equal(ipc_sub_new(c, "sub.one", harness_timeout(T_SEC), &s[0]), 0);
        assert_int_equal(ipc_sub_new(c, "sub.*", harness_timeout(T_SEC), &s[1]), 0);
        assert_int_equal(ipc_sub_new(c, "sub.three", harness_timeout(T_SEC), &s[2]), -EMFILE);
        assert_string_equal(ipc_client_get_error(c),
                            "too many subscriptions on this connection (max_subscriptions 2)");
        wait_refusal(&e, "max_subscriptions", 2);

        assert_int_equal(ipc_pub_new(c, "sub.one", harness_timeout(T_SEC), &p[0]), 0);
        assert_int_equal(ipc_pub_new(c, "sub.two", harness_timeout(T_SEC), &p[1]), 0);
        assert_int_equal(ipc_pub_new(c, "sub.three", harness_timeout(T_SEC), &p[2]), -EMFILE);
        assert_string_equal(ipc_client_get_error(c),
                            "too many publishers on this connection (max_subscriptions 2)");

        /* The limit is per connection: another one of the same user is not affected. */
        round_trip(other, other, "other.channel");
        assert_int_equal(ipc_publish(p[0], "x", 1, 0, harness_timeout(T_SEC)), 0);
        assert_ptr_equal(ipc_msg_get_sub(harness_receive(c, T_SEC)), s[0]);
        assert_ptr_equal(ipc_msg_get_sub(harness_receive(c, T_SEC)), s[1]);

        ipc_sub_free(s[1]);
        ipc_pub_free(p[1]);
        assert_int_equal(ipc_sub_new(c, "sub.three", harness_timeout(T_SEC), &s[2]), 0);
        assert_int_equal(ipc_pub_new(c, "sub.three", harness_timeout(T_SEC), &p[2]), 0);
        assert_int_equal(ipc_publish(p[2], "y", 1, 0, harness_timeout(T_SEC)), 0);
        assert_ptr_equal(ipc_msg_get_sub(harness_receive(c, T_SEC)), s[2]);
        ipc_pub_free(p[0]);
        ipc_pub_free(p[2]);
        ipc_sub_free(s[0]);
        ipc_sub_free(s[2]);
        ipc_client_free(other);
        ipc_client_free(c);
}

/* ---- Channels ------------------------------------------------------------- */

static int64_t stats_channels(ipc_client *c) {
        json_t *stats = stats_get(c);
        int64_t n = harness_json_int(stats, "channels");

        json_decref(stats);
        return n;
}

/*
 * max_channels counts the declared channel: a new name past it is -ENFILE
 * for publishers and subscribers alike, while existing channels and
 * patterns (which create none) still work; a channel that goes makes room.
 */
static void test_channels(void **state) {
        struct env e;
        ipc_pub *pa = NULL, *pa2 = NULL, *pd = NULL, *pc = NULL;
        ipc_sub *sb = NULL, *sc = NULL, *sw = NULL;
        ipc_client *c;

        env_start(state, &e,
                  "{\"limits\": {\"max_channels\": 3}, \"channels\": {\"ch.declared\": {}}}");
        c = harness_connect(e.local, "channels");
        assert_int_equal(ipc_pub_new(c, "ch.a", harness_timeout(T_SEC), &pa), 0);
        assert_int_equal(ipc_sub_new(c, "ch.b", harness_timeout(T_SEC), &sb), 0);
        assert_int_equal(stats_channels(c), 3);

        assert_int_equal(ipc_pub_new(c, "ch.c", harness_timeout(T_SEC), &pc), -ENFILE);
        assert_string_equal(ipc_client_get_error(c), "too many channels (max_channels 3)");
        wait_refusal(&e, "max_channels", 3);
        assert_int_equal(ipc_sub_new(c, "ch.c", harness_timeout(T_SEC), &sc), -ENFILE);
        assert_null(sc);

        /* Existing channels and patterns still work. */
        assert_int_equal(ipc_sub_new(c, "ch.*", harness_timeout(T_SEC), &sw), 0);
        assert_int_equal(ipc_pub_new(c, "ch.a", harness_timeout(T_SEC), &pa2), 0);
        assert_int_equal(ipc_pub_new(c, "ch.declared", harness_timeout(T_SEC), &pd), 0);
        assert_int_equal(ipc_publish(pa2, "a", 1, 0, harness_timeout(T_SEC)), 0);
        assert_ptr_equal(ipc_msg_get_sub(harness_receive(c, T_SEC)), sw);
        assert_int_equal(stats_channels(c), 3);

        /* ch.a goes with its last holder (the pattern held it too). */
        ipc_sub_free(sw);
        ipc_pub_free(pa);
        ipc_pub_free(pa2);
        assert_int_equal(stats_channels(c), 2);
        assert_int_equal(ipc_pub_new(c, "ch.c", harness_timeout(T_SEC), &pc), 0);
        assert_int_equal(ipc_sub_new(c, "ch.c", harness_timeout(T_SEC), &sc), 0);
        assert_int_equal(ipc_publish(pc, "c", 1, 0, harness_timeout(T_SEC)), 0);
        assert_ptr_equal(ipc_msg_get_sub(harness_receive(c, T_SEC)), sc);
        ipc_pub_free(pc);
        ipc_pub_free(pd);
        ipc_sub_free(sb);
        ipc_sub_free(sc);
        ipc_client_free(c);
}

/* Declared channels always exist, even past max_channels; they leave no room for others. */
static void test_declared_channels_past_limit(void **state) {
        struct env e;
        ipc_pub *p1 = NULL, *p2 = NULL;
        ipc_client *c;

        env_start(state, &e,
                  "{\"limits\": {\"max_channels\": 1},"
                  " \"channels\": {\"d.one\": {}, \"d.two\": {}}}");
        c = harness_connect(e.local, "declared");
        assert_int_equal(stats_channels(c), 2);
        assert_int_equal(ipc_pub_new(c, "d.two", harness_timeout(T_SEC), &p1), 0);
        assert_int_equal(ipc_pub_new(c, "d.new", harness_timeout(T_SEC), &p2), -ENFILE);
        round_trip(c, c, "d.one");
        ipc_pub_free(p1);
        ipc_client_free(c);
}

/* ---- Rings per user ------------------------------------------------------- */

/* A raw local connection, for the OPEN_RING status the library hides (it falls back). */
static int raw_connect(struct env *e) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        strcpy(sa.sun_path, harness_broker_socket_path(e->b));
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        return fd;
}

static void raw_send(int fd, const void *p, size_t n) {
        while (n > 0) {
                ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

                if (k < 0 && errno == EINTR)
                        continue;
                assert_true(k > 0);
                p = (const uint8_t *)p + k;
                n -= (size_t)k;
        }
}

/* Reads exactly @n bytes; descriptors that come along are closed. */
static void raw_read(int fd, void *p, size_t n) {
        uint64_t deadline = harness_now_usec() + harness_timeout(T_SEC);

        while (n > 0) {
                union {
                        struct cmsghdr h;
                        char buf[CMSG_SPACE(sizeof(int) * PROTO_RING_FDS_MAX)];
                } u;
                struct iovec iov = {.iov_base = p, .iov_len = n};
                struct msghdr msg = {
                        .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = u.buf,
                        .msg_controllen = sizeof(u.buf),
                };
                struct pollfd pf = {.fd = fd, .events = POLLIN};
                ssize_t k;

                if (poll(&pf, 1, (int)((deadline - MIN(deadline, harness_now_usec())) / 1000)) == 0)
                        fail_msg("no answer from the broker");
                k = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
                assert_true(k > 0);
                for (struct cmsghdr *h = CMSG_FIRSTHDR(&msg); h; h = CMSG_NXTHDR(&msg, h))
                        for (size_t i = 0; i < (h->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++)
                                (void)close(((int *)(void *)CMSG_DATA(h))[i]);
                p = (uint8_t *)p + k;
                n -= (size_t)k;
        }
}

/* Reads frames up to one of @type; its body goes to @body (malloc'd). Return: its length. */
static size_t raw_expect(int fd, uint8_t type, uint8_t **body) {
        uint8_t h[PROTO_HEADER_BYTES];
        struct proto_header hdr;

        for (;;) {
                raw_read(fd, h, sizeof(h));
                assert_int_equal(proto_header_decode(h, &hdr), 0);
                *body = malloc(hdr.length + 1);
                assert_non_null(*body);
                raw_read(fd, *body, hdr.length);
                if (hdr.type == type)
                        return hdr.length;
                free(*body);
        }
}

static void raw_hello(int fd) {
        struct proto_hello h = {.version_min = 1, .version_max = 1, .name = "raw", .name_len = 3};
        uint8_t buf[PROTO_HEAD_MAX];
        _cleanup_free_ uint8_t *body = NULL;

        raw_send(fd, buf, proto_encode_hello(buf, &h));
        raw_send(fd, h.name, h.name_len);
        (void)raw_expect(fd, PROTO_WELCOME, &body);
}

/* OPEN_RING as a subscriber. Return: the status; its text goes to @text. */
static int raw_open_ring(int fd, const char *channel, char *text, size_t size) {
        struct proto_open_ring m = {.request_id = 9,
                                    .role = PROTO_RING_SUBSCRIBER,
                                    .name = channel,
                                    .name_len = strlen(channel)};
        uint8_t buf[PROTO_HEAD_MAX];
        _cleanup_free_ uint8_t *body = NULL;
        struct proto_reply rep;
        size_t len;

        raw_send(fd, buf, proto_encode_open_ring(buf, &m));
        len = raw_expect(fd, PROTO_REPLY, &body);
        assert_int_equal(proto_decode_reply(body, len, &rep), 0);
        assert_int_equal(rep.request_id, 9);
        (void)snprintf(text, size, "%.*s", rep.status < 0 ? (int)rep.body_len : 0,
                       (const char *)rep.body);
        return rep.status;
}

static ipc_sub *sub_on(ipc_client *c, const char *channel, int transport) {
        ipc_sub *s = NULL;

        assert_int_equal(ipc_sub_new(c, channel, harness_timeout(T_SEC), &s), 0);
        assert_int_equal(ipc_sub_get_transport(s), transport);
        return s;
}

/*
 * max_rings_per_uid counts ring slots of all the user's connections: past
 * it OPEN_RING is -EDQUOT and the library stays on the socket; a slot
 * given back (unsubscribe, close) makes room, exactly.
 */
static void test_rings_per_uid(void **state) {
        struct env e;
        ipc_client *c1, *c2, *anon;
        ipc_sub *s1, *s2, *s3, *s4;
        ipc_pub *pub = NULL;
        char text[256], want[128];
        int fd;

        env_start(state, &e, "{\"limits\": {\"max_rings_per_uid\": 2}}");
        /* Rings whatever the suite's transport (see harness.h). */
        (void)unsetenv("IPC_TRANSPORT");
        c1 = harness_connect(e.local, "rings-1");
        c2 = harness_connect(e.local, "rings-2");
        anon = harness_connect(e.tcp, "stats");
        s1 = sub_on(c1, "ring.a", IPC_TRANSPORT_RING);
        s2 = sub_on(c2, "ring.b", IPC_TRANSPORT_RING);
        assert_int_equal(local_user_get(anon, "rings"), 2);

        /* The user is full: another connection of it gets the socket. */
        s3 = sub_on(c1, "ring.c", IPC_TRANSPORT_SOCKET);
        wait_refusal(&e, "max_rings_per_uid", 2);
        assert_int_equal(ipc_pub_new(c2, "ring.c", harness_timeout(T_SEC), &pub), 0);
        assert_int_equal(ipc_pub_get_transport(pub), IPC_TRANSPORT_SOCKET);
        assert_int_equal(ipc_publish(pub, "c", 1, 0, harness_timeout(T_SEC)), 0);
        assert_ptr_equal(ipc_msg_get_sub(harness_receive(c1, T_SEC)), s3);

        fd = raw_connect(&e);
        raw_hello(fd);
        assert_int_equal(raw_open_ring(fd, "ring.d", text, sizeof(text)), -EDQUOT);
        (void)snprintf(want, sizeof(want), "uid %u: too many ring slots (max_rings_per_uid 2)",
                       (unsigned)getuid());
        assert_string_equal(text, want);

        /* One slot back: one more fits, and only one. */
        ipc_sub_free(s1);
        local_user_wait(anon, "rings", 1);
        assert_int_equal(raw_open_ring(fd, "ring.d", text, sizeof(text)), 0);
        assert_int_equal(local_user_get(anon, "rings"), 2);
        s4 = sub_on(c1, "ring.e", IPC_TRANSPORT_SOCKET);

        /* Closing a connection gives its slots back. */
        (void)close(fd);
        local_user_wait(anon, "rings", 1);
        ipc_sub_free(s2);
        ipc_pub_free(pub);
        ipc_client_free(c2);
        local_user_wait(anon, "rings", 0);
        ipc_sub_free(s3);
        ipc_sub_free(s4);
        ipc_client_free(c1);
        local_user_wait(anon, "connections", 0);
        ipc_client_free(anon);
}

/* ---- Queued bytes per user ------------------------------------------------ */

/* One subscriber that checks what it gets: payloads carry their index. */
struct tracker {
        ipc_client *client;
        ipc_sub *sub;
        uint64_t received;
        uint64_t last_seq;
        uint64_t lost;
};

static void tracker_open(struct tracker *t, const char *address, const char *channel) {
        memset(t, 0, sizeof(*t));
        t->client = harness_connect(address, "tracker");
        assert_int_equal(ipc_sub_new(t->client, channel, harness_timeout(T_SEC), &t->sub), 0);
}

static void tracker_close(struct tracker *t) {
        ipc_sub_free(t->sub);
        ipc_client_free(t->client);
}

static void tracker_check(struct tracker *t, const ipc_msg *m) {
        uint64_t seq = ipc_msg_get_sequence(m), lost = ipc_msg_get_lost(m);

        assert_int_equal(ipc_msg_get_size(m), MSG_BYTES);
        assert_int_equal(le64_get(ipc_msg_get_data(m, NULL)), seq - 1);
        if (seq != t->last_seq + 1 + lost)
                fail_msg("seq %" PRIu64 " after %" PRIu64 " with lost %" PRIu64, seq, t->last_seq,
                         lost);
        t->last_seq = seq;
        t->lost += lost;
        t->received++;
}

/* Messages @t got or was told it lost (a LOSS report may precede the next message). */
static uint64_t tracker_seen(const struct tracker *t) {
        return t->received + ipc_sub_get_lost(t->sub);
}

/* Receives what is ready, without waiting. */
static void tracker_poll(struct tracker *t) {
        for (;;) {
                const ipc_msg *m = NULL;
                int r = ipc_client_receive(t->client, 0, &m);

                if (r == -EAGAIN)
                        return;
                if (r < 0)
                        fail_msg("receive: %s", ipc_strerror(r));
                tracker_check(t, m);
        }
}

/* Receives until @t has seen @n messages. */
static void tracker_until(struct tracker *t, uint64_t n) {
        uint64_t deadline = harness_now_usec() + harness_timeout(T_SEC);

        while (tracker_seen(t) < n && harness_now_usec() < deadline) {
                const ipc_msg *m = NULL;
                int r = ipc_client_receive(t->client, 50 * HARNESS_USEC_PER_MSEC, &m);

                if (r == 0)
                        tracker_check(t, m);
                else if (r != -ETIMEDOUT)
                        fail_msg("receive: %s", ipc_strerror(r));
        }
        if (tracker_seen(t) < n)
                fail_msg("saw %" PRIu64 " messages of %" PRIu64, tracker_seen(t), n);
}

/* Every tracker reads until each has seen @n messages. */
static void all_seen(struct tracker *t, uint64_t n) {
        uint64_t deadline = harness_now_usec() + harness_timeout(T_SEC);
        bool done = false;

        while (!done && harness_now_usec() < deadline) {
                done = true;
                for (size_t i = 0; i < N_SLOW; i++) {
                        tracker_poll(&t[i]);
                        done = done && tracker_seen(&t[i]) >= n;
                }
        }
        for (size_t i = 0; i < N_SLOW; i++)
                if (tracker_seen(&t[i]) < n)
                        fail_msg("tracker %zu saw %" PRIu64 " of %" PRIu64, i, tracker_seen(&t[i]),
                                 n);
}

static int publish_indexed(ipc_pub *pub, uint64_t index, uint64_t timeout_usec) {
        uint8_t buf[MSG_BYTES] = {};

        le64_put(buf, index);
        return ipc_publish(pub, buf, sizeof(buf), 0, timeout_usec);
}

/* The client row of connection @id (borrowed) in @stats. */
static json_t *stats_client(json_t *stats, int64_t id) {
        json_t *rows = json_object_get(stats, "clients"), *row;
        size_t i;

        json_array_foreach(rows, i, row) {
                if (harness_json_int(row, "id") == id)
                        return row;
        }
        fail_msg("no client %" PRId64 " in the stats", id);
        return NULL;
}

/* Connection ids of this user's clients named "tracker", in connection order. */
static size_t local_tracker_ids(json_t *stats, int64_t *ids, size_t max) {
        json_t *rows = json_object_get(stats, "clients"), *row;
        size_t i, n = 0;

        json_array_foreach(rows, i, row) {
                const char *name = json_string_value(json_object_get(row, "name"));

                if (json_is_integer(json_object_get(row, "uid")) && name &&
                    strcmp(name, "tracker") == 0 && n < max)
                        ids[n++] = harness_json_int(row, "id");
        }
        return n;
}

/*
 * Every slow connection holds less than its own cap: only the user's
 * quota can have stopped it. The user's queues together hold about the
 * quota, over by at most a message and a loss report per connection.
 */
static void expect_user_capped(ipc_client *observer, int64_t *ids) {
        json_t *stats = stats_get(observer), *u = stats_local_user(stats);
        int64_t queued = harness_json_int(u, "queued_bytes");

        for (size_t i = 0; i < N_SLOW; i++)
                assert_true(harness_json_int(stats_client(stats, ids[i]), "queued_bytes") <= 65536);
        if (queued < 65536 || queued > 131072 + N_SLOW * (MSG_BYTES + 64))
                fail_msg("user queues %" PRId64 " bytes, quota 131072", queued);
        assert_true(json_is_true(json_object_get(u, "congested")));
        json_decref(stats);
}

/*
 * drop: a user whose connections never read is capped at its quota
 * although no connection reaches its own cap; its messages are dropped
 * and counted, while another user's subscriber of the same channel loses
 * nothing. Once it reads, its queues are empty again: exactly zero.
 */
static void test_queued_bytes_drop(void **state) {
        struct env e;
        struct tracker slow[N_SLOW], fast;
        int64_t ids[N_SLOW];
        const uint64_t n = 2000;
        ipc_client *pc;
        ipc_pub *pub = NULL;
        json_t *stats;

        env_start(state, &e,
                  "{\"limits\": {" SMALL_QUEUES "},"
                  " \"channels\": {\"qb.drop\": {\"overflow\": \"drop\"}}}");
        for (size_t i = 0; i < N_SLOW; i++)
                tracker_open(&slow[i], e.local, "qb.drop");
        tracker_open(&fast, e.tcp, "qb.drop");
        pc = harness_connect(e.tcp, "publisher");
        assert_int_equal(ipc_pub_new(pc, "qb.drop", harness_timeout(T_SEC), &pub), 0);
        stats = stats_get(pc);
        assert_int_equal(local_tracker_ids(stats, ids, N_SLOW), N_SLOW);
        json_decref(stats);

        for (uint64_t i = 0; i < n; i++) {
                assert_int_equal(publish_indexed(pub, i, harness_timeout(T_SEC)), 0);
                if (i % 16 == 15)
                        tracker_until(&fast, i + 1);
        }
        tracker_until(&fast, n);
        assert_int_equal(fast.received, n);
        assert_int_equal(fast.lost, 0);
        expect_user_capped(pc, ids);
        wait_log(&e, "max_queued_bytes_per_uid (131072) reached");
        assert_int_equal(ipc_client_ping(pc, harness_timeout(T_SEC), NULL), 0);

        /*
         * Reading again, each gets a gap-free account: received + lost = all.
         * Its losses are reported once its user is under half its quota, so
         * all read together.
         */
        all_seen(slow, n);
        for (size_t i = 0; i < N_SLOW; i++) {
                assert_true(ipc_sub_get_lost(slow[i].sub) > 0);
                assert_int_equal(tracker_seen(&slow[i]), n);
        }
        local_user_wait(pc, "queued_bytes", 0);
        assert_int_equal(local_user_get(pc, "connections"), N_SLOW);
        ipc_pub_free(pub);
        ipc_client_free(pc);
        tracker_close(&fast);
        for (size_t i = 0; i < N_SLOW; i++)
                tracker_close(&slow[i]);
}

/* Publishes with a short timeout until the broker stops reading. Return: the count. */
static uint64_t publish_until_blocked(ipc_pub *pub, uint64_t first) {
        for (uint64_t i = first; i < first + 100000; i++) {
                int r = publish_indexed(pub, i, 20 * HARNESS_USEC_PER_MSEC);

                if (r == -EAGAIN)
                        return i;
                if (r < 0)
                        fail_msg("publish %" PRIu64 ": %s", i, ipc_strerror(r));
        }
        fail_msg("publisher never slowed down by a congested user");
        return 0;
}

/* Reads connection @id's tracker until it has everything the broker queued for it. */
static void tracker_drain_queued(struct tracker *t, ipc_client *observer, int64_t id) {
        json_t *stats = stats_get(observer);
        int64_t sent = harness_json_int(stats_client(stats, id), "sent");

        json_decref(stats);
        tracker_until(t, (uint64_t)sent);
}

/* The index of the tracker with the fullest queue in the broker, or N_SLOW when all are empty. */
static size_t fullest(int64_t *ids, ipc_client *observer) {
        json_t *stats = stats_get(observer);
        int64_t most = 0;
        size_t k = N_SLOW;

        for (size_t i = 0; i < N_SLOW; i++) {
                int64_t q = harness_json_int(stats_client(stats, ids[i]), "queued_bytes");

                if (q > most) {
                        most = q;
                        k = i;
                }
        }
        json_decref(stats);
        return k;
}

/* Messages connection @id published ("received" by the broker). */
static int64_t client_published(ipc_client *observer, int64_t id) {
        json_t *stats = stats_get(observer);
        int64_t n = harness_json_int(stats_client(stats, id), "received");

        json_decref(stats);
        return n;
}

/*
 * Drains the fullest connections one at a time (each reads all it was sent)
 * until the broker reads connection @pub_id's publishes again. The user is
 * back under half its quota after five at most, as the three emptiest hold
 * at most 3/8 of it; the others stay as they are.
 */
static void drain_until_published(struct tracker *slow, int64_t *ids, ipc_client *observer,
                                  int64_t pub_id) {
        int64_t before = client_published(observer, pub_id);
        size_t drained = 0;

        /* A few polls each: the broker's own events may run after our request. */
        while (client_published(observer, pub_id) == before &&
               client_published(observer, pub_id) == before &&
               client_published(observer, pub_id) == before) {
                size_t k = fullest(ids, observer);

                if (k == N_SLOW || ++drained > 5)
                        fail_msg("the publisher stayed stopped after %zu of its subscribers "
                                 "drained",
                                 drained - 1);
                tracker_drain_queued(&slow[k], observer, ids[k]);
        }
}

/* Every tracker reads, the publisher flushes, until all have @n messages. */
static void drain_all(struct tracker *slow, ipc_client *pc, uint64_t n) {
        uint64_t deadline = harness_now_usec() + harness_timeout(4 * T_SEC);
        bool done = false;

        while (!done && harness_now_usec() < deadline) {
                int r = ipc_client_flush(pc, 0);

                assert_true(r == 0 || r == -ETIMEDOUT);
                done = true;
                for (size_t i = 0; i < N_SLOW; i++) {
                        tracker_poll(&slow[i]);
                        done = done && slow[i].received == n;
                }
        }
        for (size_t i = 0; i < N_SLOW; i++) {
                assert_int_equal(slow[i].received, n);
                assert_int_equal(slow[i].lost, 0);
        }
        assert_int_equal(ipc_client_flush(pc, harness_timeout(T_SEC)), 0);
}

/*
 * block: the user's quota stops the publisher (another user) although no
 * connection reaches its own cap, and other channels keep flowing. Most
 * connections reading all they were sent brings the user back under half
 * its quota: the publisher goes on even though the connections it waited
 * for need not write again (the user's wake-up). In the end every
 * connection has every message and the user's queues are empty.
 */
static void test_queued_bytes_block(void **state) {
        struct env e;
        struct tracker slow[N_SLOW];
        int64_t ids[N_SLOW], pub_id = 0;
        uint64_t published;
        ipc_client *pc, *a, *b, *obs;
        ipc_pub *pub = NULL;
        json_t *stats;

        env_start(state, &e, "{\"limits\": {" SMALL_QUEUES "}}");
        for (size_t i = 0; i < N_SLOW; i++)
                tracker_open(&slow[i], e.local, "qb.block");
        pc = harness_connect(e.tcp, "publisher");
        /* The broker stops reading the publisher: someone else asks for stats. */
        obs = harness_connect(e.tcp, "observer");
        assert_int_equal(ipc_pub_new(pc, "qb.block", harness_timeout(T_SEC), &pub), 0);
        stats = stats_get(obs);
        assert_int_equal(local_tracker_ids(stats, ids, N_SLOW), N_SLOW);
        for (size_t i = 0; i < json_array_size(json_object_get(stats, "clients")); i++) {
                json_t *row = json_array_get(json_object_get(stats, "clients"), i);

                if (strcmp(json_string_value(json_object_get(row, "name")), "publisher") == 0)
                        pub_id = harness_json_int(row, "id");
        }
        json_decref(stats);

        published = publish_until_blocked(pub, 0);
        expect_user_capped(obs, ids);
        wait_log(&e, "max_queued_bytes_per_uid (131072) reached");
        a = harness_connect(e.tcp, "other-pub");
        b = harness_connect(e.tcp, "other-sub");
        round_trip(a, b, "qb.other");
        ipc_client_free(a);
        ipc_client_free(b);

        drain_until_published(slow, ids, obs, pub_id);
        drain_all(slow, pc, published);
        local_user_wait(obs, "queued_bytes", 0);
        ipc_pub_free(pub);
        ipc_client_free(pc);
        ipc_client_free(obs);
        for (size_t i = 0; i < N_SLOW; i++)
                tracker_close(&slow[i]);
}

/* ---- A client that never reads ------------------------------------------- */

/*
 * Requests of a connection over its cap wait for it to drain: pings sent
 * by the thousand without reading grow the broker's queue to the cap and
 * a reply, no further; reading again gets every answer, in order.
 */
static void test_requests_wait_for_reader(void **state) {
        const uint32_t n = 10000;
        uint64_t deadline;
        struct env e;
        ipc_client *observer;
        int64_t queued = 0, id = 0;
        uint8_t *frames, buf[PROTO_HEAD_MAX];
        size_t len;
        int fd;

        env_start(state, &e, "{\"limits\": {" SMALL_QUEUES "}}");
        observer = harness_connect(e.tcp, "observer");
        fd = raw_connect(&e);
        raw_hello(fd);
        len = proto_encode_request(buf,
                                   &(struct proto_request){.request_id = 1, .op = PROTO_OP_PING});
        frames = malloc(len * n);
        assert_non_null(frames);
        for (uint32_t i = 0; i < n; i++)
                (void)proto_encode_request(
                        frames + i * len,
                        &(struct proto_request){.request_id = i + 1, .op = PROTO_OP_PING});
        raw_send(fd, frames, len * n);
        free(frames);

        /* Its queue reaches the cap and stays there while it does not read. */
        deadline = harness_now_usec() + harness_timeout(T_SEC);
        while (queued <= 65536 && harness_now_usec() < deadline) {
                json_t *stats = stats_get(observer), *rows = json_object_get(stats, "clients");
                json_t *row;
                size_t i;

                json_array_foreach(rows, i, row) {
                        const char *name = json_string_value(json_object_get(row, "name"));

                        if (name && strcmp(name, "raw") == 0) {
                                id = harness_json_int(row, "id");
                                queued = harness_json_int(row, "queued_bytes");
                        }
                }
                json_decref(stats);
                if (queued > 65536 + 256)
                        fail_msg("a client that never reads has %" PRId64 " bytes queued", queued);
        }
        assert_true(id > 0);
        assert_true(queued > 65536);
        for (int k = 0; k < 3; k++) {
                json_t *stats = stats_get(observer);

                assert_true(harness_json_int(stats_client(stats, id), "queued_bytes") <=
                            65536 + 256);
                json_decref(stats);
        }

        for (uint32_t i = 0; i < n; i++) {
                _cleanup_free_ uint8_t *body = NULL;
                struct proto_reply rep;
                size_t blen = raw_expect(fd, PROTO_REPLY, &body);

                assert_int_equal(proto_decode_reply(body, blen, &rep), 0);
                assert_int_equal(rep.request_id, i + 1);
                assert_int_equal(rep.status, 0);
        }
        (void)close(fd);
        assert_int_equal(ipc_client_ping(observer, harness_timeout(T_SEC), NULL), 0);
        ipc_client_free(observer);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_connections_per_uid, harness_teardown),
                cmocka_unit_test_teardown(test_subscriptions_per_connection, harness_teardown),
                cmocka_unit_test_teardown(test_channels, harness_teardown),
                cmocka_unit_test_teardown(test_declared_channels_past_limit, harness_teardown),
                cmocka_unit_test_teardown(test_rings_per_uid, harness_teardown),
                cmocka_unit_test_teardown(test_queued_bytes_drop, harness_teardown),
                cmocka_unit_test_teardown(test_queued_bytes_block, harness_teardown),
                cmocka_unit_test_teardown(test_requests_wait_for_reader, harness_teardown),
        };

        return cmocka_run_group_tests_name("quota", tests, NULL, NULL);
}
