/* SPDX-License-Identifier: MIT */
/*
 * The ring is the channel's one stream, bridged to the socket:
 *  - ring subscribers, socket subscribers (exact, wildcard and TCP) of one
 *    channel receive identical streams (payloads, sequence numbers, order)
 *    from a ring publisher and a socket publisher publishing interleaved;
 *  - sequence numbers continue across the creation of a channel's ring;
 *  - retained values: a ring publisher's reaches later ring, socket and
 *    wildcard subscribers flagged IPC_MSG_RETAINED, a socket publisher's
 *    reaches later ring subscribers, an empty one clears it;
 *  - "drop" on the ring: a subscriber that stops reading is lapped and
 *    learns exactly how many messages it lost (received + lost ==
 *    published), while ring and socket subscribers that keep up lose none.
 * Single-threaded: publishing and reading alternate in bounded batches.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "ring-util.h"

#define T_SEC RU_T_SEC

/* One subscriber's record of the stream: sequence number and (source, index) per message. */
struct stream {
        const char *what;
        ipc_client *client;
        ipc_sub *sub;
        uint64_t n;
        uint64_t cap;
        uint64_t *seq;
        uint64_t *key; /* source << 32 | index */
        uint64_t last_seq;
        uint64_t lost_sum;
};

static void stream_open(struct stream *s, const char *what, ipc_client *c, const char *pattern,
                        int transport, uint64_t cap) {
        *s = (struct stream){.what = what, .client = c, .cap = cap};
        s->sub = ru_sub(c, pattern, transport);
        s->seq = calloc(cap, sizeof(*s->seq));
        s->key = calloc(cap, sizeof(*s->key));
        assert_non_null(s->seq);
        assert_non_null(s->key);
}

static void stream_close(struct stream *s) {
        ipc_sub_free(s->sub);
        ipc_client_free(s->client);
        free(s->seq);
        free(s->key);
}

/* Records one message, checking its payload and that a seq gap equals the loss it reports. */
static void stream_add(struct stream *s, const ipc_msg *m) {
        uint64_t seq = ipc_msg_get_sequence(m), lost = ipc_msg_get_lost(m), index;
        size_t size;
        const void *data = ipc_msg_get_data(m, &size);
        uint8_t source;

        ru_payload_check(data, size, &index, &source);
        if (seq <= s->last_seq || seq - s->last_seq - 1 != lost)
                fail_msg("%s: seq %" PRIu64 " after %" PRIu64 " with lost %" PRIu64, s->what, seq,
                         s->last_seq, lost);
        assert_int_equal(ipc_msg_get_flags(m), 0);
        assert_true(s->n < s->cap);
        s->seq[s->n] = seq;
        s->key[s->n] = (uint64_t)source << 32 | index;
        s->n++;
        s->last_seq = seq;
        s->lost_sum += lost;
}

/* Receives until @s holds @n messages, each within the timeout. */
static void stream_expect(struct stream *s, uint64_t n) {
        while (s->n < n) {
                const ipc_msg *m = NULL;
                int r = ipc_client_receive(s->client, harness_timeout(T_SEC), &m);

                if (r < 0)
                        fail_msg("%s: %s after %" PRIu64 " of %" PRIu64 " messages (%s)", s->what,
                                 ipc_strerror(r), s->n, n, ipc_client_get_error(s->client));
                stream_add(s, m);
        }
}

/* Receives what is ready without blocking. */
static void stream_drain(struct stream *s) {
        for (;;) {
                const ipc_msg *m = NULL;
                int r = ipc_client_receive(s->client, 0, &m);

                if (r == -EAGAIN)
                        return;
                if (r < 0)
                        fail_msg("%s: %s (%s)", s->what, ipc_strerror(r),
                                 ipc_client_get_error(s->client));
                stream_add(s, m);
        }
}

/*
 * A complete stream of two sources of @n messages each: seqs 1.. without a
 * gap, each source's indexes in publish order, nothing lost.
 */
static void stream_check_complete(const struct stream *s, uint64_t n) {
        uint64_t next[2] = {0, 0};

        assert_int_equal(s->n, 2 * n);
        assert_int_equal(s->lost_sum, 0);
        assert_int_equal(ipc_sub_get_lost(s->sub), 0);
        for (uint64_t k = 0; k < s->n; k++) {
                uint64_t source = s->key[k] >> 32, index = s->key[k] & 0xffffffffu;

                if (s->seq[k] != k + 1)
                        fail_msg("%s: message %" PRIu64 " has seq %" PRIu64, s->what, k, s->seq[k]);
                if (source > 1 || index != next[source])
                        fail_msg("%s: message %" PRIu64 " is %" PRIu64 "/%" PRIu64
                                 ", expected index %" PRIu64,
                                 s->what, k, source, index, source > 1 ? 0 : next[source]);
                next[source]++;
        }
}

/* @s saw exactly what @ref saw, message for message. */
static void stream_check_same(const struct stream *s, const struct stream *ref) {
        assert_int_equal(s->n, ref->n);
        for (uint64_t k = 0; k < s->n; k++)
                if (s->seq[k] != ref->seq[k] || s->key[k] != ref->key[k])
                        fail_msg("%s and %s differ at message %" PRIu64 ": seq %" PRIu64
                                 " key %#" PRIx64 " vs seq %" PRIu64 " key %#" PRIx64,
                                 s->what, ref->what, k, s->seq[k], s->key[k], ref->seq[k],
                                 ref->key[k]);
}

enum { S_RING1, S_RING2, S_SOCKET, S_WILDCARD, S_TCP, N_STREAMS };

#define SAME_N     20000u
#define SAME_BATCH 100u

/*
 * A ring publisher and a socket publisher interleave 20,000 messages each
 * (sizes 9 to 69 bytes, so records land at every alignment); two ring
 * subscribers, an exact and a wildcard socket subscriber and a TCP one
 * each see the same complete stream.
 */
static void test_identical_streams(void **state) {
        char tcp[64];
        int port = harness_free_tcp_port();
        const char *args[] = {"--listen", tcp, NULL};
        struct harness_broker *b;
        struct stream s[N_STREAMS];
        const char *addr;
        ipc_client *rc, *sc;
        ipc_pub *rpub, *spub;
        json_t *stats;

        assert_true(port > 0);
        snprintf(tcp, sizeof(tcp), "tcp:127.0.0.1:%d", port);
        b = harness_start(state, NULL, args);
        addr = harness_broker_address(b);
        ru_allow_rings();
        stream_open(&s[S_RING1], "ring subscriber 1",
                    ru_connect(addr, "same-r1", IPC_TRANSPORT_AUTO), "same.chan",
                    IPC_TRANSPORT_RING, 2 * SAME_N);
        stream_open(&s[S_RING2], "ring subscriber 2",
                    ru_connect(addr, "same-r2", IPC_TRANSPORT_AUTO), "same.chan",
                    IPC_TRANSPORT_RING, 2 * SAME_N);
        stream_open(&s[S_SOCKET], "socket subscriber",
                    ru_connect(addr, "same-s", IPC_TRANSPORT_SOCKET), "same.chan",
                    IPC_TRANSPORT_SOCKET, 2 * SAME_N);
        stream_open(&s[S_WILDCARD], "wildcard subscriber",
                    ru_connect(addr, "same-w", IPC_TRANSPORT_AUTO), "same.>", IPC_TRANSPORT_SOCKET,
                    2 * SAME_N);
        stream_open(&s[S_TCP], "TCP subscriber", ru_connect(tcp, "same-t", IPC_TRANSPORT_AUTO),
                    "same.chan", IPC_TRANSPORT_SOCKET, 2 * SAME_N);
        rc = ru_connect(addr, "same-rpub", IPC_TRANSPORT_AUTO);
        sc = ru_connect(addr, "same-spub", IPC_TRANSPORT_SOCKET);
        rpub = ru_pub(rc, "same.chan", IPC_TRANSPORT_RING);
        spub = ru_pub(sc, "same.chan", IPC_TRANSPORT_SOCKET);

        for (uint64_t i = 0; i < SAME_N; i++) {
                bool last = i % SAME_BATCH == SAME_BATCH - 1;
                size_t size = RU_PAYLOAD_HEAD + i % 61;

                assert_int_equal(ru_publish(rpub, size, i, 0, 0, harness_timeout(T_SEC)), 0);
                assert_int_equal(ru_publish(spub, size, i, 1, last ? 0 : IPC_PUBLISH_MORE,
                                            harness_timeout(T_SEC)),
                                 0);
                if (last)
                        for (size_t k = 0; k < N_STREAMS; k++)
                                stream_expect(&s[k], 2 * (i + 1));
        }
        for (size_t k = 0; k < N_STREAMS; k++) {
                stream_check_complete(&s[k], SAME_N);
                stream_check_same(&s[k], &s[S_RING1]);
                harness_expect_none(s[k].client);
        }

        stats = ru_stats(sc);
        assert_int_equal(harness_json_int(ru_stats_channel(stats, "same.chan"), "published"),
                         2 * SAME_N);
        json_decref(stats);
        ipc_pub_free(rpub);
        ipc_pub_free(spub);
        ipc_client_free(rc);
        ipc_client_free(sc);
        for (size_t k = 0; k < N_STREAMS; k++)
                stream_close(&s[k]);
}

/*
 * A channel that lived on the socket first (seqs 1-5) gets its ring when a
 * ring subscriber arrives: the ring continues the channel's numbering
 * (6, 7, ...), for ring and socket subscribers alike, and the newcomer's
 * first message is not a loss.
 */
static void test_seq_continues_into_ring(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        const char *addr = harness_broker_address(b);
        struct stream sock, ring;
        ipc_client *sc, *rc;
        ipc_pub *spub, *rpub;

        ru_allow_rings();
        stream_open(&sock, "socket subscriber", ru_connect(addr, "cont-s", IPC_TRANSPORT_SOCKET),
                    "cont.chan", IPC_TRANSPORT_SOCKET, 20);
        sc = ru_connect(addr, "cont-spub", IPC_TRANSPORT_SOCKET);
        spub = ru_pub(sc, "cont.chan", IPC_TRANSPORT_SOCKET);
        for (uint64_t i = 0; i < 5; i++)
                assert_int_equal(ru_publish(spub, 16, i, 1, 0, harness_timeout(T_SEC)), 0);
        stream_expect(&sock, 5);

        stream_open(&ring, "ring subscriber", ru_connect(addr, "cont-r", IPC_TRANSPORT_AUTO),
                    "cont.chan", IPC_TRANSPORT_RING, 20);
        /* What it missed before subscribing is not a loss: it starts after seq 5. */
        ring.last_seq = 5;
        rc = ru_connect(addr, "cont-rpub", IPC_TRANSPORT_AUTO);
        rpub = ru_pub(rc, "cont.chan", IPC_TRANSPORT_RING);
        for (uint64_t i = 0; i < 5; i++)
                assert_int_equal(ru_publish(rpub, 16, i, 0, 0, harness_timeout(T_SEC)), 0);
        for (uint64_t i = 5; i < 10; i++)
                assert_int_equal(ru_publish(spub, 16, i, 1, 0, harness_timeout(T_SEC)), 0);
        stream_expect(&sock, 15);
        stream_expect(&ring, 10);
        harness_expect_none(sock.client);
        harness_expect_none(ring.client);

        for (uint64_t k = 0; k < 15; k++)
                assert_int_equal(sock.seq[k], k + 1);
        for (uint64_t k = 0; k < 10; k++) {
                assert_int_equal(ring.seq[k], k + 6);
                assert_int_equal(ring.key[k], sock.key[k + 5]);
        }
        assert_int_equal(ring.lost_sum, 0);
        assert_int_equal(ipc_sub_get_lost(ring.sub), 0);

        ipc_pub_free(spub);
        ipc_pub_free(rpub);
        ipc_client_free(sc);
        ipc_client_free(rc);
        stream_close(&sock);
        stream_close(&ring);
}

/* Receives one message: @payload, seq @seq, retained flag as @retained, nothing lost. */
static void expect_text(ipc_client *c, const char *payload, uint64_t seq, bool retained) {
        const ipc_msg *m = ru_receive(c, NULL, T_SEC);
        size_t size;
        const void *data = ipc_msg_get_data(m, &size);

        if (size != strlen(payload) || memcmp(data, payload, size) != 0)
                fail_msg("got \"%.*s\" (seq %" PRIu64 "), expected \"%s\"", (int)size,
                         (const char *)data, ipc_msg_get_sequence(m), payload);
        assert_int_equal(ipc_msg_get_sequence(m), seq);
        assert_int_equal(ipc_msg_get_flags(m), retained ? IPC_MSG_RETAINED : 0);
        assert_int_equal(ipc_msg_get_lost(m), 0);
}

static void publish_text(ipc_pub *pub, const char *text, unsigned flags) {
        assert_int_equal(ipc_publish(pub, text, strlen(text), flags, harness_timeout(T_SEC)), 0);
}

/* A later subscriber of @pattern on transport @transport: gets @payload retained with @seq. */
static ipc_client *late_subscriber(const char *addr, const char *pattern, int transport, int want,
                                   const char *payload, uint64_t seq, ipc_sub **ret) {
        ipc_client *c = ru_connect(addr, "late-sub", transport);

        *ret = ru_sub(c, pattern, want);
        if (payload)
                expect_text(c, payload, seq, true);
        harness_expect_none(c);
        return c;
}

/*
 * Retained values and the ring: a ring publisher's retained value reaches
 * later ring, socket and wildcard subscribers first, flagged, with its own
 * sequence number; a socket publisher's replaces it for later ring
 * subscribers; an empty retained publish, delivered live, clears it.
 */
static void test_retained_on_ring(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        const char *addr = harness_broker_address(b);
        ipc_client *rc, *sc, *c[3], *late;
        ipc_sub *sub[3], *late_sub;
        ipc_pub *rpub, *spub;

        ru_allow_rings();
        rc = ru_connect(addr, "ret-rpub", IPC_TRANSPORT_AUTO);
        sc = ru_connect(addr, "ret-spub", IPC_TRANSPORT_SOCKET);
        rpub = ru_pub(rc, "ret.chan", IPC_TRANSPORT_RING);
        spub = ru_pub(sc, "ret.chan", IPC_TRANSPORT_SOCKET);
        publish_text(rpub, "r1", IPC_PUBLISH_RETAIN);
        publish_text(rpub, "plain-2", 0);
        publish_text(rpub, "plain-3", 0);
        /* The broker has the ring publisher's copy once a socket round trip is done. */
        assert_int_equal(ipc_client_ping(rc, harness_timeout(T_SEC), NULL), 0);

        c[0] = late_subscriber(addr, "ret.chan", IPC_TRANSPORT_AUTO, IPC_TRANSPORT_RING, "r1", 1,
                               &sub[0]);
        c[1] = late_subscriber(addr, "ret.chan", IPC_TRANSPORT_SOCKET, IPC_TRANSPORT_SOCKET, "r1",
                               1, &sub[1]);
        c[2] = late_subscriber(addr, "ret.>", IPC_TRANSPORT_AUTO, IPC_TRANSPORT_SOCKET, "r1", 1,
                               &sub[2]);

        publish_text(rpub, "live-4", 0);
        publish_text(spub, "r5", IPC_PUBLISH_RETAIN);
        for (size_t i = 0; i < 3; i++) {
                expect_text(c[i], "live-4", 4, false);
                expect_text(c[i], "r5", 5, false);
        }
        late = late_subscriber(addr, "ret.chan", IPC_TRANSPORT_AUTO, IPC_TRANSPORT_RING, "r5", 5,
                               &late_sub);
        ipc_sub_free(late_sub);
        ipc_client_free(late);

        /* An empty retained publish is delivered live and clears the value. */
        assert_int_equal(ipc_publish(rpub, NULL, 0, IPC_PUBLISH_RETAIN, harness_timeout(T_SEC)), 0);
        for (size_t i = 0; i < 3; i++)
                expect_text(c[i], "", 6, false);
        assert_int_equal(ipc_client_ping(rc, harness_timeout(T_SEC), NULL), 0);
        late = late_subscriber(addr, "ret.chan", IPC_TRANSPORT_AUTO, IPC_TRANSPORT_RING, NULL, 0,
                               &late_sub);
        ipc_sub_free(late_sub);
        ipc_client_free(late);
        late = late_subscriber(addr, "ret.chan", IPC_TRANSPORT_SOCKET, IPC_TRANSPORT_SOCKET, NULL,
                               0, &late_sub);
        ipc_sub_free(late_sub);
        ipc_client_free(late);

        for (size_t i = 0; i < 3; i++) {
                ipc_sub_free(sub[i]);
                ipc_client_free(c[i]);
        }
        ipc_pub_free(rpub);
        ipc_pub_free(spub);
        ipc_client_free(rc);
        ipc_client_free(sc);
}

#define DROP_N    20000u
#define DROP_SIZE 200u

/*
 * "drop" on a 64 KiB ring (about 270 records of 240 bytes): a ring
 * subscriber that does not read while 20,000 messages pass is lapped many
 * times and then accounts for every one (received + lost == published, each
 * gap equal to the loss reported with the message after it, and in the
 * broker's stats); ring and socket subscribers reading in step lose none.
 */
static void test_drop_exact_loss(void **state) {
        const char *cfg = "{\"channels\": {\"drop.chan\": {\"overflow\": \"drop\","
                          " \"ring_bytes\": 65536, \"max_message_bytes\": 1024}}}";
        struct harness_broker *b = harness_start(state, cfg, NULL);
        const char *addr = harness_broker_address(b);
        struct stream slow, fast, sock;
        int64_t dropped = 0;
        ipc_client *pc;
        ipc_pub *pub;
        json_t *stats, *ch;

        ru_allow_rings();
        stream_open(&slow, "stalled ring subscriber",
                    ru_connect(addr, "drop-slow", IPC_TRANSPORT_AUTO), "drop.chan",
                    IPC_TRANSPORT_RING, DROP_N + 1);
        stream_open(&fast, "ring subscriber", ru_connect(addr, "drop-fast", IPC_TRANSPORT_AUTO),
                    "drop.chan", IPC_TRANSPORT_RING, DROP_N + 1);
        stream_open(&sock, "socket subscriber", ru_connect(addr, "drop-sock", IPC_TRANSPORT_SOCKET),
                    "drop.chan", IPC_TRANSPORT_SOCKET, DROP_N + 1);
        pc = ru_connect(addr, "drop-pub", IPC_TRANSPORT_AUTO);
        pub = ru_pub(pc, "drop.chan", IPC_TRANSPORT_RING);
        assert_int_equal(ipc_pub_get_overflow(pub), IPC_OVERFLOW_DROP);

        for (uint64_t i = 0; i < DROP_N; i++) {
                bool last = i % 64 == 63 || i == DROP_N - 1;

                assert_int_equal(ru_publish(pub, DROP_SIZE, i, 0, last ? 0 : IPC_PUBLISH_MORE,
                                            harness_timeout(T_SEC)),
                                 0);
                if (last) {
                        stream_expect(&fast, i + 1);
                        stream_expect(&sock, i + 1);
                }
        }
        assert_int_equal(fast.lost_sum + sock.lost_sum, 0);

        /* Now the stalled one reads: it was lapped, resumes at the oldest record. */
        stream_drain(&slow);
        assert_true(slow.n > 0);
        assert_true(slow.lost_sum > 0);
        assert_int_equal(slow.n + slow.lost_sum, DROP_N);
        assert_int_equal(ipc_sub_get_lost(slow.sub), slow.lost_sum);
        assert_int_equal(slow.last_seq, DROP_N);

        /* Everyone is in step again. */
        assert_int_equal(ru_publish(pub, DROP_SIZE, DROP_N, 0, 0, harness_timeout(T_SEC)), 0);
        stream_expect(&slow, slow.n + 1);
        stream_expect(&fast, DROP_N + 1);
        stream_expect(&sock, DROP_N + 1);
        assert_int_equal(slow.last_seq, DROP_N + 1);
        assert_int_equal(ipc_sub_get_lost(fast.sub) + ipc_sub_get_lost(sock.sub), 0);
        stream_drain(&slow);

        stats = ru_stats(pc);
        ch = ru_stats_channel(stats, "drop.chan");
        assert_int_equal(harness_json_int(ch, "published"), DROP_N + 1);
        assert_int_equal(ru_count_clients(ch, "subscriber", "ring", "dropped", &dropped), 2);
        assert_int_equal(dropped, slow.lost_sum);
        json_decref(stats);

        ipc_pub_free(pub);
        ipc_client_free(pc);
        stream_close(&slow);
        stream_close(&fast);
        stream_close(&sock);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_identical_streams, harness_teardown),
                cmocka_unit_test_teardown(test_seq_continues_into_ring, harness_teardown),
                cmocka_unit_test_teardown(test_retained_on_ring, harness_teardown),
                cmocka_unit_test_teardown(test_drop_exact_loss, harness_teardown),
        };

        return cmocka_run_group_tests_name("ring-bridge", tests, NULL, NULL);
}
