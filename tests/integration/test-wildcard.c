/* SPDX-License-Identifier: MIT */
/*
 * Wildcard subscriptions (NATS style: `*` one token, `>` one or more
 * trailing tokens) with matching and non-matching channels, and retained
 * values: delivered first to a new subscriber with IPC_MSG_RETAINED, never
 * flagged when live, cleared by an empty retained publish.
 *
 * "Nothing else arrived" is checked with a fence: a last message on a
 * channel the client subscribed to exactly, published after the others by
 * the same publisher, so it arrives after anything they caused.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define T_SEC (5 * HARNESS_USEC_PER_SEC)

static ipc_sub *sub_open(ipc_client *c, const char *pattern) {
        ipc_sub *sub = NULL;
        int r = ipc_sub_new(c, pattern, harness_timeout(T_SEC), &sub);

        if (r < 0)
                fail_msg("subscribe %s: %s", pattern, ipc_strerror(r));
        return sub;
}

/* Publishes @payload on @channel through a publisher opened for the purpose. */
static void publish_on(ipc_client *c, const char *channel, const char *payload, unsigned flags) {
        ipc_pub *pub = NULL;

        assert_int_equal(ipc_pub_new(c, channel, harness_timeout(T_SEC), &pub), 0);
        assert_int_equal(ipc_publish(pub, payload, strlen(payload), flags, harness_timeout(T_SEC)),
                         0);
        ipc_pub_free(pub);
}

static const ipc_msg *expect(ipc_client *c, ipc_sub *sub, const char *channel, const char *payload,
                             unsigned flags) {
        const ipc_msg *m = harness_receive(c, T_SEC);

        assert_string_equal(ipc_msg_get_channel(m), channel);
        assert_ptr_equal(ipc_msg_get_sub(m), sub);
        assert_int_equal(ipc_msg_get_size(m), strlen(payload));
        assert_memory_equal(ipc_msg_get_data(m, NULL), payload, strlen(payload));
        assert_int_equal(ipc_msg_get_flags(m), flags);
        return m;
}

/*
 * Subscribes @pattern plus a fence, publishes one message to each of
 * @channels (NULL-terminated), and expects exactly the @matching ones, in
 * order, then the fence.
 */
static void check_pattern(const char *address, const char *pattern, const char *const *channels,
                          const char *const *matching) {
        ipc_client *sc = harness_connect(address, "wild-sub");
        ipc_client *pc = harness_connect(address, "wild-pub");
        ipc_sub *sub = sub_open(sc, pattern), *fence = sub_open(sc, "fence");

        assert_string_equal(ipc_sub_get_pattern(sub), pattern);
        for (size_t i = 0; channels[i]; i++)
                publish_on(pc, channels[i], channels[i], 0);
        publish_on(pc, "fence", "fence", 0);
        for (size_t i = 0; matching[i]; i++)
                expect(sc, sub, matching[i], matching[i], 0);
        expect(sc, fence, "fence", "fence", 0);
        harness_expect_none(sc);
        ipc_sub_free(sub);
        ipc_sub_free(fence);
        ipc_client_free(pc);
        ipc_client_free(sc);
}

static const char *const candidates[] = {"a",   "a.b",   "a.b.c", "b.a",     "ab.c",
                                         "a.c", "x.a.b", "ab",    "a.b.c.d", NULL};

static void test_star_matches_one_token(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        const char *const matching[] = {"a.b", "a.c", NULL};

        check_pattern(harness_broker_client_address(b), "a.*", candidates, matching);
}

static void test_gt_matches_trailing_tokens(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        const char *const matching[] = {"a.b", "a.b.c", "a.c", "a.b.c.d", NULL};

        check_pattern(harness_broker_client_address(b), "a.>", candidates, matching);
}

static void test_star_in_the_middle(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        const char *const channels[] = {"s.x.t",  "s.t",   "s.x.y.t", "s.x.t.u",
                                        "s.yy.t", "t.x.t", NULL};
        const char *const matching[] = {"s.x.t", "s.yy.t", NULL};
        const char *const channels2[] = {"m.a.b", "m.a", "n.a.b", "m.a.b.c", "m.z.b", NULL};
        const char *const matching2[] = {"m.a.b", "m.a.b.c", "m.z.b", NULL};

        check_pattern(harness_broker_client_address(b), "s.*.t", channels, matching);
        check_pattern(harness_broker_client_address(b), "m.*.>", channels2, matching2);
}

/* Overlapping subscriptions on one client each get their own copy. */
static void test_overlapping_subscriptions(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        ipc_client *c = harness_connect(harness_broker_client_address(b), "overlap");
        ipc_sub *exact = sub_open(c, "o.p"), *star = sub_open(c, "o.*"), *gt = sub_open(c, "o.>");
        bool seen[3] = {};

        publish_on(c, "o.p", "one", 0);
        for (size_t i = 0; i < 3; i++) {
                const ipc_msg *m = harness_receive(c, T_SEC);
                ipc_sub *s = ipc_msg_get_sub(m);
                size_t k = s == exact ? 0 : s == star ? 1 : s == gt ? 2 : 3;

                assert_true(k < 3);
                assert_false(seen[k]);
                seen[k] = true;
                assert_string_equal(ipc_msg_get_channel(m), "o.p");
                assert_int_equal(ipc_msg_get_sequence(m), 1);
        }
        harness_expect_none(c);
        ipc_sub_free(exact);
        ipc_sub_free(star);
        ipc_sub_free(gt);
        ipc_client_free(c);
}

/* Bad names and patterns are -EINVAL from the library; the client stays usable. */
static void test_invalid_patterns(void **state) {
        static const char *const bad_patterns[] = {"",   "a..b", "a.>.b", "a*", "*a",
                                                   ".a", "a.",   "a b",   ">x"};
        static const char *const bad_names[] = {"", "a.*", "a.>", "a..b", "a b", "a\n"};
        struct harness_broker *b = harness_start(state, NULL, NULL);
        ipc_client *c = harness_connect(harness_broker_client_address(b), "invalid");
        ipc_sub *sub = NULL;
        ipc_pub *pub = NULL;

        for (size_t i = 0; i < sizeof(bad_patterns) / sizeof(bad_patterns[0]); i++)
                assert_int_equal(ipc_sub_new(c, bad_patterns[i], harness_timeout(T_SEC), &sub),
                                 -EINVAL);
        for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
                assert_int_equal(ipc_pub_new(c, bad_names[i], harness_timeout(T_SEC), &pub),
                                 -EINVAL);
        sub = sub_open(c, "ok.*");
        publish_on(c, "ok.go", "go", 0);
        expect(c, sub, "ok.go", "go", 0);
        ipc_sub_free(sub);
        ipc_client_free(c);
}

static bool channel_retained(ipc_client *c, const char *name) {
        char *text = NULL;
        json_t *list, *ch;
        bool r;

        assert_int_equal(ipc_client_list_channels(c, harness_timeout(T_SEC), &text), 0);
        list = harness_json_parse(text);
        ch = harness_json_channel(list, name);
        assert_non_null(ch);
        assert_true(json_is_boolean(json_object_get(ch, "retained")));
        r = json_is_true(json_object_get(ch, "retained"));
        json_decref(list);
        ipc_free(text);
        return r;
}

/*
 * The latest retained value reaches a new subscriber first, flagged, even
 * after its publisher left; a later non-retained publish does not replace
 * it; live messages are never flagged.
 */
static void test_retained_first(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        ipc_client *pc = harness_connect(harness_broker_client_address(b), "ret-pub"), *sc;
        ipc_sub *sub;

        publish_on(pc, "ret.mode", "v1", IPC_PUBLISH_RETAIN);
        publish_on(pc, "ret.mode", "v2", IPC_PUBLISH_RETAIN);
        publish_on(pc, "ret.mode", "live", 0);
        ipc_client_free(pc);

        sc = harness_connect(harness_broker_client_address(b), "ret-sub");
        assert_true(channel_retained(sc, "ret.mode"));
        sub = sub_open(sc, "ret.mode");
        assert_int_equal(ipc_msg_get_sequence(expect(sc, sub, "ret.mode", "v2", IPC_MSG_RETAINED)),
                         2);
        harness_expect_none(sc);

        pc = harness_connect(harness_broker_client_address(b), "ret-pub2");
        publish_on(pc, "ret.mode", "v3", IPC_PUBLISH_RETAIN);
        assert_int_equal(ipc_msg_get_sequence(expect(sc, sub, "ret.mode", "v3", 0)), 4);
        harness_expect_none(sc);
        ipc_sub_free(sub);
        ipc_client_free(sc);
        ipc_client_free(pc);
}

/* An empty retained publish is delivered live and clears the retained value. */
static void test_retained_cleared_by_empty(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        ipc_client *pc = harness_connect(harness_broker_client_address(b), "clr-pub");
        ipc_client *early = harness_connect(harness_broker_client_address(b), "clr-early"), *late;
        ipc_sub *esub = sub_open(early, "clr.x"), *lsub;

        publish_on(pc, "clr.x", "value", IPC_PUBLISH_RETAIN);
        expect(early, esub, "clr.x", "value", 0);
        assert_true(channel_retained(pc, "clr.x"));
        publish_on(pc, "clr.x", "", IPC_PUBLISH_RETAIN);
        expect(early, esub, "clr.x", "", 0);
        assert_false(channel_retained(pc, "clr.x"));

        late = harness_connect(harness_broker_client_address(b), "clr-late");
        lsub = sub_open(late, "clr.x");
        harness_expect_none(late);
        publish_on(pc, "clr.x", "after", 0);
        assert_int_equal(ipc_msg_get_sequence(expect(late, lsub, "clr.x", "after", 0)), 3);
        ipc_sub_free(lsub);
        ipc_sub_free(esub);
        ipc_client_free(late);
        ipc_client_free(early);
        ipc_client_free(pc);
}

/* A wildcard subscription gets the retained value of every matching channel, flagged. */
static void test_retained_wildcard(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        ipc_client *pc = harness_connect(harness_broker_client_address(b), "rw-pub");
        ipc_client *sc = harness_connect(harness_broker_client_address(b), "rw-sub");
        ipc_sub *sub;
        bool one = false, two = false;

        publish_on(pc, "rw.one", "1", IPC_PUBLISH_RETAIN);
        publish_on(pc, "rw.two", "2", IPC_PUBLISH_RETAIN);
        publish_on(pc, "rw.three", "3", 0);
        publish_on(pc, "rx.four", "4", IPC_PUBLISH_RETAIN);
        publish_on(pc, "rw.deep.five", "5", IPC_PUBLISH_RETAIN);
        sub = sub_open(sc, "rw.*");
        for (size_t i = 0; i < 2; i++) {
                const ipc_msg *m = harness_receive(sc, T_SEC);
                const char *ch = ipc_msg_get_channel(m);

                assert_int_equal(ipc_msg_get_flags(m), IPC_MSG_RETAINED);
                assert_ptr_equal(ipc_msg_get_sub(m), sub);
                if (strcmp(ch, "rw.one") == 0 && !one)
                        one = true;
                else if (strcmp(ch, "rw.two") == 0 && !two)
                        two = true;
                else
                        fail_msg("unexpected retained message on %s", ch);
                assert_int_equal(ipc_msg_get_size(m), 1);
        }
        harness_expect_none(sc);
        ipc_sub_free(sub);
        ipc_client_free(sc);
        ipc_client_free(pc);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_star_matches_one_token, harness_teardown),
                cmocka_unit_test_teardown(test_gt_matches_trailing_tokens, harness_teardown),
                cmocka_unit_test_teardown(test_star_in_the_middle, harness_teardown),
                cmocka_unit_test_teardown(test_overlapping_subscriptions, harness_teardown),
                cmocka_unit_test_teardown(test_invalid_patterns, harness_teardown),
                cmocka_unit_test_teardown(test_retained_first, harness_teardown),
                cmocka_unit_test_teardown(test_retained_cleared_by_empty, harness_teardown),
                cmocka_unit_test_teardown(test_retained_wildcard, harness_teardown),
        };

        return cmocka_run_group_tests_name("wildcard", tests, NULL, NULL);
}
