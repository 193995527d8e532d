/* SPDX-License-Identifier: MIT */
/*
 * Reconnecting clients continue where they were: the broker is killed
 * with SIGKILL and started again with the rings it kept in the service
 * manager's fd store (here the test's own NOTIFY_SOCKET, which keeps what
 * FDSTORE=1 sends, as test-restart.c does), and the library's resume
 * points (PROTO_FLAG_RESUME: the seq after the last one received) make
 *  - a ring subscriber with unread records go on with every seq exactly
 *    once: its new slot holds those records against a publisher that
 *    keeps publishing (without the resume point the slot would start at
 *    the tail and the publisher would overwrite them);
 *  - a socket subscriber of the same channel count exactly the messages
 *    published while it was away, once (the broker's LOSS frame), as
 *    missed, not lost;
 * and both see IPC_MSG_RESUMED without IPC_MSG_GAP_UNKNOWN.
 *
 * A broker started afresh (its store lost) numbers from 1 again, under a
 * new channel epoch: even when publishers have passed the old numbers
 * before the subscribers are back, so that the numbers alone look like a
 * gap of a known size, both subscribers report IPC_MSG_GAP_UNKNOWN, no
 * count, and the ring subscriber starts at the tail, not at its old
 * resume point's number in the new ring.
 */
#include "build-config.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
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
#include "sd-broker.h"

#define T_SEC   HARNESS_USEC_PER_SEC
#define CHANNEL "resume.chan"
/* A small ring, so a publisher can fill it in a moment. */
#define CONFIG                                                                                     \
        "{\"channels\": {\"resume.*\": {\"ring_bytes\": 65536, \"max_message_bytes\": 1024,"       \
        " \"overflow\": \"block\"}}}"
/* Messages before the kill; how many of them the ring subscriber reads. */
#define N_BEFORE    20
#define N_RING_READ 5
/* Published while the broker is dead. */
#define N_DOWN 10
/* Publishes that may find the ring full before the test gives up on filling it. */
#define FILL_MAX 100000
/* Where the stored fds wait in the child until the shell moves them to 3.. */

/* What systemd sets with FileDescriptorStoreMax=: the broker stores rings only then. */
static const char *const store_env[] = {"FDSTORE=64", NULL};

#define T(f) cmocka_unit_test_setup_teardown(f, sd_broker_setup, sd_broker_teardown)

/* What one subscriber has seen. */
struct seen {
        uint64_t next_seq; /* the seq expected next */
        unsigned resumed;  /* messages flagged IPC_MSG_RESUMED */
        uint64_t resumed_seq;
        uint64_t resumed_lost; /* ipc_msg_get_lost() of that message */
        unsigned flags_or;     /* every flag seen */
        uint64_t lost_total;   /* sum of ipc_msg_get_lost() */
};

static ipc_client *connect_as(const char *address, const char *name, int transport) {
        ipc_options *opts = NULL;
        ipc_client *c = NULL;
        int r;

        assert_int_equal(ipc_options_new(&opts), 0);
        assert_int_equal(ipc_options_set_connect_timeout(opts, harness_timeout(5 * T_SEC)), 0);
        assert_int_equal(ipc_options_set_name(opts, name), 0);
        assert_int_equal(ipc_options_set_transport(opts, transport), 0);
        /* A short backoff: back within a second of the broker, with room to spare. */
        assert_int_equal(ipc_options_set_reconnect(opts, 20, 200), 0);
        r = ipc_client_connect(address, opts, &c);
        ipc_options_free(opts);
        if (r < 0)
                fail_msg("connecting to %s: %s", address, ipc_strerror(r));
        return c;
}

/*
 * Drives the clients (ipc_client_process(), which makes the attempts)
 * until each has reconnected once, within a second (scaled) of the
 * broker being ready. Nothing is received meanwhile.
 */
static void await_reconnects_n(ipc_client **cs, size_t count, uint64_t reconnects) {
        uint64_t deadline = harness_now_usec() + harness_timeout(T_SEC);

        for (;;) {
                size_t back = 0;

                for (size_t i = 0; i < count; i++) {
                        int r = ipc_client_process(cs[i]);

                        if (r < 0 && r != -ENOTCONN)
                                fail_msg("ipc_client_process: %s", ipc_strerror(r));
                        if (ipc_client_get_reconnects(cs[i]) >= reconnects &&
                            ipc_client_is_connected(cs[i]) == 1)
                                back++;
                }
                if (back == count)
                        return;
                if (harness_now_usec() >= deadline)
                        fail_msg("%zu of %zu clients back within a second of the broker", back,
                                 count);
                (void)poll(&(struct pollfd){.fd = ipc_client_get_fd(cs[0]), .events = POLLIN}, 1,
                           5);
        }
}

static void await_reconnects(ipc_client **cs, size_t count) {
        await_reconnects_n(cs, count, 1);
}

static int publish_seq(ipc_pub *pub, uint64_t seq, uint64_t timeout_usec) {
        char text[32];

        (void)snprintf(text, sizeof(text), "m%" PRIu64, seq);
        return ipc_publish(pub, text, strlen(text), 0, timeout_usec);
}

/*
 * Takes what @c has ready (up to @until), checking each message: its seq
 * is the next expected (every seq once, in order) and its payload says
 * the same. Passes over the -ENOTCONN of a loss. Return: messages taken.
 */
static unsigned take(ipc_client *c, struct seen *s, uint64_t until, uint64_t timeout_usec) {
        unsigned n = 0;

        while (s->next_seq <= until) {
                const ipc_msg *m = NULL;
                char want[32];
                size_t size;
                const void *data;
                int r = ipc_client_receive(c, timeout_usec, &m);

                if (r == -ENOTCONN)
                        continue;
                if (r == -EAGAIN || r == -ETIMEDOUT)
                        break;
                if (r < 0)
                        fail_msg("ipc_client_receive: %s (%s)", ipc_strerror(r),
                                 ipc_client_get_error(c));
                if (ipc_msg_get_sequence(m) != s->next_seq)
                        fail_msg("got seq %" PRIu64 ", expected %" PRIu64 " (lost %" PRIu64
                                 ", flags %#x)",
                                 ipc_msg_get_sequence(m), s->next_seq, ipc_msg_get_lost(m),
                                 ipc_msg_get_flags(m));
                data = ipc_msg_get_data(m, &size);
                (void)snprintf(want, sizeof(want), "m%" PRIu64, s->next_seq);
                if (size != strlen(want) || memcmp(data, want, size) != 0)
                        fail_msg("seq %" PRIu64 ": payload \"%.*s\"", s->next_seq, (int)size,
                                 (const char *)data);
                if (ipc_msg_get_flags(m) & IPC_MSG_RESUMED) {
                        s->resumed++;
                        s->resumed_seq = s->next_seq;
                        s->resumed_lost = ipc_msg_get_lost(m);
                }
                s->flags_or |= ipc_msg_get_flags(m);
                s->lost_total += ipc_msg_get_lost(m);
                s->next_seq++;
                n++;
        }
        return n;
}

/* Takes everything up to @until, asserting it comes within 10 s (scaled). */
static void take_all(ipc_client *c, struct seen *s, uint64_t until) {
        uint64_t deadline = harness_now_usec() + harness_timeout(10 * T_SEC);

        while (s->next_seq <= until) {
                if (harness_now_usec() >= deadline)
                        fail_msg("got up to seq %" PRIu64 " of %" PRIu64, s->next_seq - 1, until);
                (void)take(c, s, until, harness_timeout(T_SEC / 10));
        }
}

/*
 * A ring subscriber behind by N_BEFORE - N_RING_READ + N_DOWN records and
 * a socket subscriber that read everything; the broker dies, the ring
 * publisher goes on; the broker comes back with the ring; after the
 * reconnects the publisher fills the ring. The ring subscriber then reads
 * every seq once (its resume point held the records); the socket
 * subscriber misses exactly the N_DOWN published while it was away.
 */
static void test_resume_after_restore(void **state) {
        struct sd_broker *b = *state;
        struct seen rs = {.next_seq = 1}, ss = {.next_seq = 1};
        ipc_client *rc, *sc, *pc;
        ipc_sub *rsub, *ssub;
        uint64_t published = 0;
        ipc_pub *pub;
        int r = 0;

        sd_broker_write_config(b, CONFIG);
        sd_broker_start(b, NULL, store_env);
        (void)unsetenv("IPC_TRANSPORT");
        rc = connect_as(b->address, "ring-sub", IPC_TRANSPORT_AUTO);
        sc = connect_as(b->address, "sock-sub", IPC_TRANSPORT_SOCKET);
        pc = connect_as(b->address, "ring-pub", IPC_TRANSPORT_AUTO);
        assert_int_equal(ipc_sub_new(rc, CHANNEL, harness_timeout(5 * T_SEC), &rsub), 0);
        assert_int_equal(ipc_sub_new(sc, CHANNEL, harness_timeout(5 * T_SEC), &ssub), 0);
        assert_int_equal(ipc_pub_new(pc, CHANNEL, harness_timeout(5 * T_SEC), &pub), 0);
        assert_int_equal(ipc_sub_get_transport(rsub), IPC_TRANSPORT_RING);
        assert_int_equal(ipc_sub_get_transport(ssub), IPC_TRANSPORT_SOCKET);
        assert_int_equal(ipc_pub_get_transport(pub), IPC_TRANSPORT_RING);

        while (published < N_BEFORE)
                assert_int_equal(publish_seq(pub, ++published, harness_timeout(T_SEC)), 0);
        take_all(rc, &rs, N_RING_READ);
        take_all(sc, &ss, N_BEFORE);

        sd_broker_kill(b);
        assert_true(notify_listener_store(b->nl, &(const int *){NULL}) >= 2);
        /* The ring needs no broker: the publisher goes on. */
        while (published < N_BEFORE + N_DOWN)
                assert_int_equal(publish_seq(pub, ++published, harness_timeout(T_SEC)), 0);

        sd_broker_start_with_store(b, store_env);
        sd_broker_wait_log(b, "channel \"" CHANNEL "\" restored");
        /* The subscribers first, so nothing is published between the restore and their resume. */
        await_reconnects((ipc_client *[]){rc, sc}, 2);
        await_reconnects((ipc_client *[]){pc}, 1);
        /* The socket subscriber's next is the first published after it came back. */
        ss.next_seq = N_BEFORE + N_DOWN + 1;

        /* Until the ring is full: the ring subscriber's resume point holds it from its seq. */
        for (unsigned i = 0; i < FILL_MAX; i++) {
                r = publish_seq(pub, published + 1, 0);
                if (r < 0)
                        break;
                published++;
                /* The socket subscriber keeps up, so only the ring subscriber holds the ring. */
                if (i % 64 == 0)
                        (void)take(sc, &ss, published, 0);
        }
        if (r != -EAGAIN)
                fail_msg("filling the ring: %s after %" PRIu64 " messages", ipc_strerror(r),
                         published);
        take_all(rc, &rs, published);
        /* And on, with both reading. */
        for (int i = 0; i < 100; i++) {
                assert_int_equal(publish_seq(pub, ++published, harness_timeout(5 * T_SEC)), 0);
                (void)take(rc, &rs, published, 0);
        }
        take_all(rc, &rs, published);
        take_all(sc, &ss, published);

        /* Ring: every seq once, the first after the reconnect flagged, nothing lost. */
        assert_int_equal(rs.resumed, 1);
        assert_int_equal(rs.resumed_seq, N_RING_READ + 1);
        assert_int_equal(rs.flags_or & IPC_MSG_GAP_UNKNOWN, 0);
        assert_int_equal(rs.lost_total, 0);
        assert_int_equal(ipc_sub_get_lost(rsub), 0);
        assert_int_equal(ipc_sub_get_missed(rsub), 0);
        assert_int_equal(ipc_sub_get_transport(rsub), IPC_TRANSPORT_RING);

        /* Socket: the N_DOWN published while it was away are missed, counted once. */
        assert_int_equal(ss.resumed, 1);
        assert_int_equal(ss.resumed_seq, N_BEFORE + N_DOWN + 1);
        assert_int_equal(ss.resumed_lost, N_DOWN);
        assert_int_equal(ss.flags_or & IPC_MSG_GAP_UNKNOWN, 0);
        assert_int_equal(ss.lost_total, N_DOWN);
        assert_int_equal(ipc_sub_get_missed(ssub), N_DOWN);
        assert_int_equal(ipc_sub_get_lost(ssub), 0);

        ipc_sub_free(rsub);
        ipc_sub_free(ssub);
        ipc_pub_free(pub);
        ipc_client_free(rc);
        ipc_client_free(sc);
        ipc_client_free(pc);
}

/*
 * The broker dies and starts again without its store. The publisher is
 * back first and publishes 2 * N_BEFORE messages (seqs 1.. again, past the
 * N_BEFORE the subscribers saw); then the subscribers come back and N_DOWN
 * more are published. Each subscriber's first message is the first
 * published after it came back, flagged RESUMED and GAP_UNKNOWN, with no
 * count anywhere: a resume point of the old epoch must neither move the
 * ring slot back to "its" seq in the new ring nor earn a LOSS, and the
 * library must not subtract numbers of two epochs.
 */
static void test_gap_unknown_after_fresh_start(void **state) {
        struct sd_broker *b = *state;
        struct seen rs = {.next_seq = 1}, ss = {.next_seq = 1};
        ipc_client *rc, *sc, *pc;
        ipc_sub *rsub, *ssub;
        uint64_t published = 0;
        ipc_pub *pub;

        sd_broker_write_config(b, CONFIG);
        sd_broker_start(b, NULL, store_env);
        (void)unsetenv("IPC_TRANSPORT");
        rc = connect_as(b->address, "ring-sub", IPC_TRANSPORT_AUTO);
        sc = connect_as(b->address, "sock-sub", IPC_TRANSPORT_SOCKET);
        pc = connect_as(b->address, "ring-pub", IPC_TRANSPORT_AUTO);
        assert_int_equal(ipc_sub_new(rc, CHANNEL, harness_timeout(5 * T_SEC), &rsub), 0);
        assert_int_equal(ipc_sub_new(sc, CHANNEL, harness_timeout(5 * T_SEC), &ssub), 0);
        assert_int_equal(ipc_pub_new(pc, CHANNEL, harness_timeout(5 * T_SEC), &pub), 0);
        assert_int_equal(ipc_sub_get_transport(rsub), IPC_TRANSPORT_RING);
        assert_int_equal(ipc_sub_get_transport(ssub), IPC_TRANSPORT_SOCKET);

        while (published < N_BEFORE)
                assert_int_equal(publish_seq(pub, ++published, harness_timeout(T_SEC)), 0);
        take_all(rc, &rs, N_BEFORE);
        take_all(sc, &ss, N_BEFORE);

        sd_broker_kill(b);
        /* Started without what it stored: the channel is made afresh. */
        sd_broker_start(b, NULL, store_env);
        await_reconnects((ipc_client *[]){pc}, 1);
        for (published = 0; published < 2 * N_BEFORE;)
                assert_int_equal(publish_seq(pub, ++published, harness_timeout(T_SEC)), 0);
        await_reconnects((ipc_client *[]){rc, sc}, 2);
        rs.next_seq = ss.next_seq = published + 1;
        while (published < 2 * N_BEFORE + N_DOWN)
                assert_int_equal(publish_seq(pub, ++published, harness_timeout(T_SEC)), 0);
        take_all(rc, &rs, published);
        take_all(sc, &ss, published);

        assert_int_equal(rs.resumed, 1);
        assert_int_equal(rs.resumed_seq, 2 * N_BEFORE + 1);
        assert_int_equal(rs.flags_or & IPC_MSG_GAP_UNKNOWN, IPC_MSG_GAP_UNKNOWN);
        assert_int_equal(rs.lost_total, 0);
        assert_int_equal(ipc_sub_get_missed(rsub), 0);
        assert_int_equal(ipc_sub_get_lost(rsub), 0);
        assert_int_equal(ipc_sub_get_transport(rsub), IPC_TRANSPORT_RING);

        assert_int_equal(ss.resumed, 1);
        assert_int_equal(ss.resumed_seq, 2 * N_BEFORE + 1);
        assert_int_equal(ss.flags_or & IPC_MSG_GAP_UNKNOWN, IPC_MSG_GAP_UNKNOWN);
        assert_int_equal(ss.resumed_lost, 0);
        assert_int_equal(ss.lost_total, 0);
        assert_int_equal(ipc_sub_get_missed(ssub), 0);
        assert_int_equal(ipc_sub_get_lost(ssub), 0);

        ipc_sub_free(rsub);
        ipc_sub_free(ssub);
        ipc_pub_free(pub);
        ipc_client_free(rc);
        ipc_client_free(sc);
        ipc_client_free(pc);
}

/*
 * Two restarts in a row before the socket subscriber gets a message: each
 * resume is answered with a LOSS frame for the same N_DOWN messages, which
 * must be counted once (the second used to be added to the first, found
 * by the soak test), all of them missed, none lost to the policy.
 */
static void test_two_restarts_count_once(void **state) {
        struct sd_broker *b = *state;
        struct seen ss = {.next_seq = 1};
        uint64_t published = 0;
        ipc_client *sc, *pc;
        ipc_sub *ssub;
        ipc_pub *pub;

        sd_broker_write_config(b, CONFIG);
        sd_broker_start(b, NULL, store_env);
        (void)unsetenv("IPC_TRANSPORT");
        sc = connect_as(b->address, "sock-sub", IPC_TRANSPORT_SOCKET);
        pc = connect_as(b->address, "ring-pub", IPC_TRANSPORT_AUTO);
        assert_int_equal(ipc_sub_new(sc, CHANNEL, harness_timeout(5 * T_SEC), &ssub), 0);
        assert_int_equal(ipc_pub_new(pc, CHANNEL, harness_timeout(5 * T_SEC), &pub), 0);
        assert_int_equal(ipc_pub_get_transport(pub), IPC_TRANSPORT_RING);
        while (published < N_BEFORE)
                assert_int_equal(publish_seq(pub, ++published, harness_timeout(T_SEC)), 0);
        take_all(sc, &ss, N_BEFORE);

        sd_broker_kill(b);
        while (published < N_BEFORE + N_DOWN)
                assert_int_equal(publish_seq(pub, ++published, harness_timeout(T_SEC)), 0);
        sd_broker_start_with_store(b, store_env);
        await_reconnects_n((ipc_client *[]){sc}, 1, 1);
        sd_broker_kill(b);
        sd_broker_start_with_store(b, store_env);
        await_reconnects_n((ipc_client *[]){sc}, 1, 2);
        await_reconnects((ipc_client *[]){pc}, 1);

        ss.next_seq = N_BEFORE + N_DOWN + 1;
        assert_int_equal(publish_seq(pub, ++published, harness_timeout(5 * T_SEC)), 0);
        take_all(sc, &ss, published);
        assert_int_equal(ss.resumed, 1);
        assert_int_equal(ss.resumed_lost, N_DOWN);
        assert_int_equal(ss.flags_or & IPC_MSG_GAP_UNKNOWN, 0);
        assert_int_equal(ipc_sub_get_missed(ssub), N_DOWN);
        assert_int_equal(ipc_sub_get_lost(ssub), 0);

        ipc_sub_free(ssub);
        ipc_pub_free(pub);
        ipc_client_free(sc);
        ipc_client_free(pc);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                T(test_resume_after_restore),
                T(test_two_restarts_count_once),
                T(test_gap_unknown_after_fresh_start),
        };

        return cmocka_run_group_tests_name("resume", tests, NULL, NULL);
}
