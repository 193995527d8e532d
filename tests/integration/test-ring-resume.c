/* SPDX-License-Identifier: MIT */
/*
 * Resume points (PROTO_FLAG_RESUME) sent by hand against a real broker,
 * and the slots a restored ring keeps for the previous process's clients.
 *
 * Resume: a ring subscriber resuming at a seq the ring still holds reads
 * from exactly that record; a socket subscriber is told the exact gap in
 * a LOSS frame; a resume point already overwritten leaves the ring slot at
 * the tail (the gap is its start seq minus the resume point) and is the
 * same LOSS count on the socket; a resume point of another channel epoch
 * (the channel was created afresh since) gets neither a seek nor a LOSS;
 * the flag on OPEN_PUB, on a publisher's OPEN_RING and on a pattern is
 * refused with -EINVAL.
 *
 * Orphans: ring clients keep their mappings across a broker SIGKILL; the
 * next broker, taking the ring back from the fd store (the test's own
 * NOTIFY_SOCKET keeps it, as in test-restart), must not hand their slots
 * to new clients until limits.stall_timeout_ms has passed, and then frees
 * them.
 */
#include "build-config.h"

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "ipcclient.h"
#include "proto.h"
#include "ring-raw.h"
#include "sd-broker.h"
#include "util.h"

#define T_SEC   HARNESS_USEC_PER_SEC
#define CHANNEL "resume.chan"
/* A small drop-policy ring: a couple of hundred 1000-byte messages lap it. */
#define CONFIG                                                                                     \
        "{\"limits\": {\"stall_timeout_ms\": 3000}, \"channels\": {\"resume.*\": "                 \
        "{\"ring_bytes\": 65536, \"max_message_bytes\": 1024, \"overflow\": \"drop\"}}}"

static const char *const store_env[] = {"FDSTORE=64", NULL};

#define T(f) cmocka_unit_test_setup_teardown(f, sd_broker_setup, sd_broker_teardown)

/* Publishes @n messages "m<seq>" of @size bytes (at least 8) through ring publisher @p. */
static void publish(struct raw *p, uint64_t first_seq, unsigned n, size_t size) {
        char buf[1024] = {0};

        assert_true(size >= 8 && size <= sizeof(buf));
        for (unsigned i = 0; i < n; i++) {
                (void)snprintf(buf, sizeof(buf), "m%" PRIu64, first_seq + i);
                raw_pub(p, buf, size);
        }
}

/* The next ring message of @s must be seq @seq with payload "m<seq>". */
static void expect_ring(struct raw *s, uint64_t seq) {
        char buf[1024], want[32];
        uint64_t got;

        (void)raw_sub_next(s, buf, sizeof(buf), &got, 5 * T_SEC);
        assert_int_equal(got, seq);
        (void)snprintf(want, sizeof(want), "m%" PRIu64, seq);
        assert_string_equal(buf, want);
}

/* The seq a sub slot's holder starts reading at, as the broker wrote it in STATE. */
static uint64_t slot_start_seq(const struct raw *s) {
        return atomic_load(&s->r.subs[s->rr.slot].start_seq);
}

/*
 * SUBSCRIBE (socket) or OPEN_PUB @name with a resume point (@seq under
 * channel epoch @epoch); returns the REPLY status, and on success the
 * epoch the open reply carries in *@ret_epoch (when not NULL).
 */
static int32_t open_resume_epoch(struct raw *c, uint8_t type, const char *name, uint64_t seq,
                                 uint64_t epoch, uint64_t *ret_epoch) {
        struct proto_open m = {.request_id = 9,
                               .name = name,
                               .name_len = strlen(name),
                               .resume = true,
                               .resume_seq = seq,
                               .resume_epoch = epoch};
        uint8_t buf[PROTO_HEAD_MAX + PROTO_RESUME_BYTES];
        _cleanup_free_ uint8_t *body = NULL;
        struct proto_open_reply open;
        struct proto_reply rep;
        size_t len;

        raw_send(c->fd, buf, proto_encode_open(buf, type, &m));
        len = raw_expect(c, PROTO_REPLY, &body);
        assert_int_equal(proto_decode_reply(body, len, &rep), 0);
        assert_int_equal(rep.request_id, 9);
        if (rep.status == 0) {
                assert_int_equal(proto_decode_open_reply(rep.body, rep.body_len, &open), 0);
                if (ret_epoch)
                        *ret_epoch = open.epoch;
        }
        return rep.status;
}

/* The same under the channel's own epoch: a resume point the broker honours. */
static int32_t open_resume(struct raw *c, uint8_t type, const char *name, uint64_t seq,
                           uint64_t epoch) {
        return open_resume_epoch(c, type, name, seq, epoch, NULL);
}

/* The LOSS frame that must follow a socket subscription's resume: its count. */
static uint64_t expect_loss(struct raw *c) {
        _cleanup_free_ uint8_t *body = NULL;
        struct proto_loss l;
        size_t len = raw_expect(c, PROTO_LOSS, &body);

        assert_int_equal(proto_decode_loss(body, len, &l), 0);
        return l.count;
}

/* The seq of the first MESSAGE frame on @c. */
static uint64_t first_message(struct raw *c) {
        _cleanup_free_ uint8_t *body = NULL;
        struct proto_message msg;
        size_t len = raw_expect(c, PROTO_MESSAGE, &body);

        assert_int_equal(proto_decode_message(body, len, &msg), 0);
        return msg.seq;
}

/*
 * A resuming subscriber is not sent the retained value: it had it already
 * (it saw every seq before its resume point), or its gap counts it. A fresh
 * subscriber does get it, which shows the test would see it.
 */
static void test_resume_skips_retained(void **state) {
        struct sd_broker *b = *state;
        struct raw sub, sock;
        ipc_options *o = NULL;
        ipc_client *c = NULL;
        ipc_pub *pub = NULL;
        _cleanup_free_ uint8_t *body = NULL;
        uint64_t from = 4, epoch;

        sd_broker_write_config(b, CONFIG);
        sd_broker_start(b, NULL, NULL);
        assert_int_equal(ipc_options_new(&o), 0);
        assert_int_equal(ipc_options_set_transport(o, IPC_TRANSPORT_SOCKET), 0);
        assert_int_equal(ipc_client_connect(b->address, o, &c), 0);
        ipc_options_free(o);
        assert_int_equal(ipc_pub_new(c, CHANNEL, 5 * T_SEC, &pub), 0);
        for (int i = 1; i <= 3; i++) /* seqs 1..3, the last one retained */
                assert_int_equal(ipc_publish(pub, "m", 1, i == 3 ? IPC_PUBLISH_RETAIN : 0, T_SEC),
                                 0);
        assert_int_equal(ipc_client_ping(c, 5 * T_SEC, NULL), 0); /* all three handled */

        raw_connect_path(b->sock, &sub);
        assert_int_equal(raw_open_ring(&sub, CHANNEL, PROTO_RING_SUBSCRIBER), 0);
        assert_true(sub.rr.has_retained);
        epoch = sub.r.channel_epoch;
        raw_close(&sub);
        raw_connect_path(b->sock, &sub);
        assert_int_equal(raw_open_ring_resume(&sub, CHANNEL, PROTO_RING_SUBSCRIBER, &from, epoch),
                         0);
        assert_false(sub.rr.has_retained);
        raw_close(&sub);
        /* Not under another epoch either: it resumes, though it starts as a new one would. */
        raw_connect_path(b->sock, &sub);
        assert_int_equal(raw_open_ring_resume(&sub, CHANNEL, PROTO_RING_SUBSCRIBER, &from, ~epoch),
                         0);
        assert_false(sub.rr.has_retained);

        raw_connect_path(b->sock, &sock);
        assert_int_equal(open_resume(&sock, PROTO_SUBSCRIBE, CHANNEL, from, epoch), 0);
        assert_int_equal(ipc_publish(pub, "m", 1, 0, T_SEC), 0); /* seq 4 */
        assert_int_equal(first_message(&sock), 4); /* not seq 3 again, the retained one */
        raw_close(&sock);
        raw_connect_path(b->sock, &sock);
        { /* no resume: the retained value comes first */
                struct proto_open m = {.request_id = 9, .name = CHANNEL, .name_len = strlen(CHANNEL)};
                uint8_t buf[PROTO_HEAD_MAX];

                raw_send(sock.fd, buf, proto_encode_open(buf, PROTO_SUBSCRIBE, &m));
                (void)raw_expect(&sock, PROTO_REPLY, &body);
        }
        assert_int_equal(first_message(&sock), 3);
        raw_close(&sock);
        raw_close(&sub);
        ipc_pub_free(pub);
        ipc_client_free(c);
}

/* Resume points the ring still holds: exactly from there, on the ring and on the socket. */
static void test_resume_held(void **state) {
        struct sd_broker *b = *state;
        struct raw pub, sub, sock;
        uint64_t from = 4, epoch, got = 0;

        sd_broker_write_config(b, CONFIG);
        sd_broker_start(b, NULL, NULL);
        raw_connect_path(b->sock, &pub);
        assert_int_equal(raw_open_ring(&pub, CHANNEL, PROTO_RING_PUBLISHER), 0);
        publish(&pub, 1, 10, 16); /* seqs 1..10 */
        epoch = pub.r.channel_epoch;
        assert_true(epoch != 0);

        raw_connect_path(b->sock, &sub);
        assert_int_equal(raw_open_ring_resume(&sub, CHANNEL, PROTO_RING_SUBSCRIBER, &from, epoch),
                         0);
        assert_true(sub.r.channel_epoch == epoch);
        assert_int_equal(slot_start_seq(&sub), from);
        for (uint64_t seq = from; seq <= 10; seq++)
                expect_ring(&sub, seq);
        /* ...and nothing counted as lost on the way. */
        assert_int_equal(sub.rd.lost, 0);

        raw_connect_path(b->sock, &sock);
        assert_int_equal(open_resume_epoch(&sock, PROTO_SUBSCRIBE, CHANNEL, from, epoch, &got), 0);
        assert_true(got == epoch); /* the socket's open reply names the ring's epoch */
        assert_int_equal(expect_loss(&sock), 11 - from);
        /* Resuming at the next seq is no gap: the next message comes with no LOSS before it. */
        raw_close(&sock);
        raw_connect_path(b->sock, &sock);
        assert_int_equal(open_resume(&sock, PROTO_SUBSCRIBE, CHANNEL, 11, epoch), 0);
        publish(&pub, 11, 1, 16);
        expect_ring(&sub, 11);
        {
                _cleanup_free_ uint8_t *body = NULL;
                struct proto_message msg;
                size_t len;

                /* raw_expect() would pass over MESSAGE frames: read the header ourselves. */
                len = raw_expect(&sock, PROTO_MESSAGE, &body);
                assert_int_equal(proto_decode_message(body, len, &msg), 0);
                assert_int_equal(msg.seq, 11);
        }
        raw_close(&sock);
        raw_close(&sub);
        raw_close(&pub);
}

/* A resume point already overwritten: the slot starts at the tail; the gap is exact. */
static void test_resume_overwritten(void **state) {
        struct sd_broker *b = *state;
        struct raw pub, sub, sock;
        const unsigned n = 200; /* 200 records of 1000 bytes: three laps of 64 KiB */
        uint64_t from = 2, epoch;

        sd_broker_write_config(b, CONFIG);
        sd_broker_start(b, NULL, NULL);
        raw_connect_path(b->sock, &pub);
        assert_int_equal(raw_open_ring(&pub, CHANNEL, PROTO_RING_PUBLISHER), 0);
        publish(&pub, 1, n, 1000);
        epoch = pub.r.channel_epoch;

        raw_connect_path(b->sock, &sub);
        assert_int_equal(raw_open_ring_resume(&sub, CHANNEL, PROTO_RING_SUBSCRIBER, &from, epoch),
                         0);
        /* At the tail: the client's gap is start seq - resume point = n + 1 - from. */
        assert_int_equal(slot_start_seq(&sub), n + 1);
        publish(&pub, n + 1, 1, 16);
        expect_ring(&sub, n + 1);

        raw_connect_path(b->sock, &sock);
        assert_int_equal(open_resume(&sock, PROTO_SUBSCRIBE, CHANNEL, from, epoch), 0);
        assert_int_equal(expect_loss(&sock), n + 2 - from);
        raw_close(&sock);
        raw_close(&sub);
        raw_close(&pub);
}

/*
 * A resume point of another channel epoch names numbers this channel never
 * gave out (it was created afresh since, as after a broker restart without
 * its store): the ring slot is not moved back (it starts at the tail, as a
 * new subscriber's would), and the socket subscriber gets no LOSS frame,
 * only the next message; both learn the channel's real epoch. Under the
 * right epoch the same resume point does seek and count: the test could see
 * either.
 */
static void test_resume_other_epoch(void **state) {
        struct sd_broker *b = *state;
        struct raw pub, sub, sock;
        uint64_t from = 4, epoch, got = 0;

        sd_broker_write_config(b, CONFIG);
        sd_broker_start(b, NULL, NULL);
        raw_connect_path(b->sock, &pub);
        assert_int_equal(raw_open_ring(&pub, CHANNEL, PROTO_RING_PUBLISHER), 0);
        publish(&pub, 1, 10, 16); /* seqs 1..10 */
        epoch = pub.r.channel_epoch;
        assert_true(epoch != 0);

        raw_connect_path(b->sock, &sub);
        assert_int_equal(
                raw_open_ring_resume(&sub, CHANNEL, PROTO_RING_SUBSCRIBER, &from, epoch + 1), 0);
        assert_true(sub.r.channel_epoch == epoch);
        assert_int_equal(slot_start_seq(&sub), 11); /* the tail: no seek */
        assert_false(sub.rr.has_retained);

        raw_connect_path(b->sock, &sock);
        assert_int_equal(open_resume_epoch(&sock, PROTO_SUBSCRIBE, CHANNEL, from, epoch + 1, &got),
                         0);
        assert_true(got == epoch);
        publish(&pub, 11, 1, 16);
        expect_ring(&sub, 11);
        /* raw_expect() fails on a LOSS frame where it waits for a MESSAGE. */
        assert_int_equal(first_message(&sock), 11);
        raw_close(&sock);
        raw_close(&sub);

        /* The same resume point under the channel's epoch: seek and LOSS. */
        raw_connect_path(b->sock, &sub);
        assert_int_equal(raw_open_ring_resume(&sub, CHANNEL, PROTO_RING_SUBSCRIBER, &from, epoch),
                         0);
        assert_int_equal(slot_start_seq(&sub), from);
        raw_connect_path(b->sock, &sock);
        assert_int_equal(open_resume(&sock, PROTO_SUBSCRIBE, CHANNEL, from, epoch), 0);
        assert_int_equal(expect_loss(&sock), 12 - from);
        raw_close(&sock);
        raw_close(&sub);
        raw_close(&pub);
}

/* The flag where it means nothing: -EINVAL, and the connection stays usable. */
static void test_resume_refused(void **state) {
        struct sd_broker *b = *state;
        uint64_t from = 1;
        struct raw c;

        sd_broker_write_config(b, CONFIG);
        sd_broker_start(b, NULL, NULL);
        raw_connect_path(b->sock, &c);
        assert_int_equal(open_resume(&c, PROTO_OPEN_PUB, CHANNEL, 1, 1), -EINVAL);
        assert_int_equal(open_resume(&c, PROTO_SUBSCRIBE, "resume.>", 1, 1), -EINVAL);
        assert_int_equal(open_resume(&c, PROTO_SUBSCRIBE, "resume.*", 1, 1), -EINVAL);
        assert_int_equal(raw_open_ring_resume(&c, CHANNEL, PROTO_RING_PUBLISHER, &from, 1),
                         -EINVAL);
        /* Still served: the same requests without the flag work. */
        assert_int_equal(raw_open_ring(&c, CHANNEL, PROTO_RING_PUBLISHER), 0);
        raw_close(&c);
}

/*
 * Clients attached before a SIGKILL keep their slots through the restart:
 * the old publisher goes on writing through its slot, new clients get
 * other slots, and after the grace period (limits.stall_timeout_ms) the
 * old slots are free again.
 */
static void test_orphan_slots_reserved(void **state) {
        struct sd_broker *b = *state;
        struct raw old_pub, old_sub, pub, sub, later;
        uint64_t from = 1, epoch;

        sd_broker_write_config(b, CONFIG);
        sd_broker_start(b, NULL, store_env);
        raw_connect_path(b->sock, &old_pub);
        assert_int_equal(raw_open_ring(&old_pub, CHANNEL, PROTO_RING_PUBLISHER), 0);
        raw_connect_path(b->sock, &old_sub);
        assert_int_equal(raw_open_ring(&old_sub, CHANNEL, PROTO_RING_SUBSCRIBER), 0);
        assert_int_equal(old_pub.rr.slot, 0);
        assert_int_equal(old_sub.rr.slot, 0);
        publish(&old_pub, 1, 3, 16);
        epoch = old_pub.r.channel_epoch;
        sd_broker_kill(b);

        assert_int_equal(notify_listener_store(b->nl, &(const int *){NULL}), 2);
        sd_broker_start_with_store(b, store_env);
        sd_broker_wait_log(b, "channel \"" CHANNEL "\" restored");
        /* The old publisher is still attached to the ring, broker or not. */
        publish(&old_pub, 4, 1, 16);
        raw_connect_path(b->sock, &pub);
        assert_int_equal(raw_open_ring(&pub, CHANNEL, PROTO_RING_PUBLISHER), 0);
        assert_int_not_equal(pub.rr.slot, old_pub.rr.slot);
        /* The restored channel keeps its epoch, so the old numbers still count. */
        assert_true(pub.r.channel_epoch == epoch);
        raw_connect_path(b->sock, &sub);
        assert_int_equal(raw_open_ring_resume(&sub, CHANNEL, PROTO_RING_SUBSCRIBER, &from, epoch),
                         0);
        assert_int_not_equal(sub.rr.slot, old_sub.rr.slot);
        publish(&pub, 5, 1, 16);
        /* Both writers' records, in order, none taken for a dead one's. */
        for (uint64_t seq = 1; seq <= 5; seq++)
                expect_ring(&sub, seq);

        sd_broker_wait_log(b, "grace period over, 1 publisher and 1 subscriber slot");
        raw_connect_path(b->sock, &later);
        assert_int_equal(raw_open_ring(&later, CHANNEL, PROTO_RING_PUBLISHER), 0);
        assert_int_equal(later.rr.slot, old_pub.rr.slot);
        raw_close(&later);
        raw_connect_path(b->sock, &later);
        assert_int_equal(raw_open_ring(&later, CHANNEL, PROTO_RING_SUBSCRIBER), 0);
        assert_int_equal(later.rr.slot, old_sub.rr.slot);
        raw_close(&later);
        raw_close(&sub);
        raw_close(&pub);
        raw_close(&old_sub);
        raw_close(&old_pub);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                T(test_resume_held),           T(test_resume_overwritten),
                T(test_resume_other_epoch),    T(test_resume_refused),
                T(test_resume_skips_retained), T(test_orphan_slots_reserved),
        };

        return cmocka_run_group_tests_name("ring-resume", tests, NULL, NULL);
}
