/* SPDX-License-Identifier: MIT */
/*
 * Control requests: ping, the channel listing and the stats document carry
 * the documented fields, with counts that match what the test did.
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
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define T_SEC (5 * HARNESS_USEC_PER_SEC)

/* Declares one channel at start-up, with its own policy and limit. */
#define CONFIG                                                                                     \
        "{\"channels\": {\"decl.drop\": {\"overflow\": \"drop\", \"max_message_bytes\": 4096}}}"

static json_t *list_get(ipc_client *c) {
        char *text = NULL;
        json_t *j;

        assert_int_equal(ipc_client_list_channels(c, harness_timeout(T_SEC), &text), 0);
        j = harness_json_parse(text);
        ipc_free(text);
        assert_true(json_is_array(j));
        return j;
}

static json_t *stats_get(ipc_client *c) {
        char *text = NULL;
        json_t *j;

        assert_int_equal(ipc_client_stats(c, harness_timeout(T_SEC), &text), 0);
        j = harness_json_parse(text);
        ipc_free(text);
        assert_true(json_is_object(j));
        return j;
}

static const char *json_str(json_t *obj, const char *key) {
        json_t *v = json_object_get(obj, key);

        if (!json_is_string(v))
                fail_msg("JSON member \"%s\" missing or not a string", key);
        return json_string_value(v);
}

static void test_ping(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        ipc_client *c = harness_connect(harness_broker_address(b), "pinger");
        uint64_t rtt = UINT64_MAX;

        for (int i = 0; i < 10; i++) {
                assert_int_equal(ipc_client_ping(c, harness_timeout(T_SEC), &rtt), 0);
                assert_true(rtt > 0 && rtt < harness_timeout(T_SEC));
        }
        assert_int_equal(ipc_client_ping(c, harness_timeout(T_SEC), NULL), 0);
        ipc_client_free(c);
}

/* Checks one LIST_CHANNELS entry field by field. */
static void check_entry(json_t *list, const char *name, int64_t pubs, int64_t subs,
                        int64_t published, bool retained, const char *overflow, int64_t max) {
        json_t *ch = harness_json_channel(list, name);

        if (!ch)
                fail_msg("channel %s not listed", name);
        assert_int_equal(harness_json_int(ch, "publishers"), pubs);
        assert_int_equal(harness_json_int(ch, "subscribers"), subs);
        assert_int_equal(harness_json_int(ch, "published"), published);
        assert_true(json_is_boolean(json_object_get(ch, "retained")));
        assert_int_equal(json_is_true(json_object_get(ch, "retained")), retained);
        assert_string_equal(json_str(ch, "overflow"), overflow);
        assert_int_equal(harness_json_int(ch, "max_message_bytes"), max);
}

static void test_list_channels(void **state) {
        struct harness_broker *b = harness_start(state, CONFIG, NULL);
        ipc_client *a = harness_connect(harness_broker_address(b), "lister-a");
        ipc_client *c = harness_connect(harness_broker_address(b), "lister-b");
        ipc_pub *p1 = NULL, *p2 = NULL, *p3 = NULL;
        ipc_sub *s1 = NULL, *s2 = NULL;
        const char *prev = "";
        json_t *list, *v;
        size_t i;

        /* Declared in the config: exists from start-up. */
        list = list_get(a);
        check_entry(list, "decl.drop", 0, 0, 0, false, "drop", 4096);
        json_decref(list);

        assert_int_equal(ipc_pub_new(a, "zz.last", harness_timeout(T_SEC), &p1), 0);
        assert_int_equal(ipc_pub_new(c, "zz.last", harness_timeout(T_SEC), &p2), 0);
        assert_int_equal(ipc_pub_new(a, "decl.drop", harness_timeout(T_SEC), &p3), 0);
        assert_int_equal(ipc_sub_new(a, "zz.last", harness_timeout(T_SEC), &s1), 0);
        assert_int_equal(ipc_sub_new(c, "aa.first", harness_timeout(T_SEC), &s2), 0);
        for (int k = 0; k < 3; k++)
                assert_int_equal(ipc_publish(p1, "m", 1, 0, harness_timeout(T_SEC)), 0);
        assert_int_equal(ipc_publish(p2, "r", 1, IPC_PUBLISH_RETAIN, harness_timeout(T_SEC)), 0);
        assert_int_equal(ipc_publish(p3, "d", 1, 0, harness_timeout(T_SEC)), 0);
        assert_int_equal(ipc_client_flush(a, harness_timeout(T_SEC)), 0);
        assert_int_equal(ipc_client_ping(a, harness_timeout(T_SEC), NULL), 0);

        list = list_get(c);
        assert_int_equal(json_array_size(list), 3);
        json_array_foreach(list, i, v) {
                const char *name = json_str(v, "name");

                assert_true(strcmp(prev, name) < 0); /* sorted by name */
                prev = name;
        }
        check_entry(list, "aa.first", 0, 1, 0, false, "block", 1048576);
        check_entry(list, "decl.drop", 1, 0, 1, false, "drop", 4096);
        check_entry(list, "zz.last", 2, 1, 4, true, "block", 1048576);
        json_decref(list);

        ipc_pub_free(p1);
        ipc_pub_free(p2);
        ipc_pub_free(p3);
        ipc_sub_free(s1);
        ipc_sub_free(s2);
        assert_int_equal(ipc_client_ping(a, harness_timeout(T_SEC), NULL), 0);
        assert_int_equal(ipc_client_ping(c, harness_timeout(T_SEC), NULL), 0);
        list = list_get(a);
        check_entry(list, "zz.last", 0, 0, 4, true, "block", 1048576);
        json_decref(list);
        ipc_client_free(a);
        ipc_client_free(c);
}

static json_t *client_named(json_t *stats, const char *name) {
        json_t *clients = json_object_get(stats, "clients"), *v;
        size_t i;

        assert_true(json_is_array(clients));
        json_array_foreach(clients, i, v) if (strcmp(json_str(v, "name"), name) == 0) return v;
        fail_msg("client %s not in stats", name);
        return NULL;
}

/* @received: messages published by the client; @sent: messages queued to it (ipcctl(1)). */
static void check_client(json_t *stats, const char *name, int64_t pubs, int64_t subs,
                         int64_t received, int64_t sent) {
        json_t *c = client_named(stats, name);

        assert_true(harness_json_int(c, "id") > 0);
        assert_int_equal(harness_json_int(c, "pid"), getpid());
        assert_int_equal(harness_json_int(c, "uid"), getuid());
        assert_string_equal(json_str(c, "transport"), "unix");
        assert_int_equal(harness_json_int(c, "publishers"), pubs);
        assert_int_equal(harness_json_int(c, "subscriptions"), subs);
        assert_true(harness_json_int(c, "queued_bytes") >= 0);
        assert_int_equal(harness_json_int(c, "received"), received);
        assert_int_equal(harness_json_int(c, "sent"), sent);
        assert_int_equal(harness_json_int(c, "dropped"), 0);
}

/* 5 messages to 2 subscribers: published 5, delivered 10, per channel and overall. */
static void test_stats(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        ipc_client *pc = harness_connect(harness_broker_address(b), "stats-pub");
        ipc_client *s1 = harness_connect(harness_broker_address(b), "stats-sub1");
        ipc_client *s2 = harness_connect(harness_broker_address(b), "stats-sub2");
        ipc_sub *sub1 = NULL, *sub2 = NULL;
        ipc_pub *pub = NULL;
        json_t *stats, *ch;

        assert_int_equal(ipc_sub_new(s1, "st.x", harness_timeout(T_SEC), &sub1), 0);
        assert_int_equal(ipc_sub_new(s2, "st.x", harness_timeout(T_SEC), &sub2), 0);
        assert_int_equal(ipc_pub_new(pc, "st.x", harness_timeout(T_SEC), &pub), 0);
        for (int i = 0; i < 5; i++)
                assert_int_equal(ipc_publish(pub, "12345", 5, 0, harness_timeout(T_SEC)), 0);
        for (int i = 0; i < 5; i++) {
                harness_receive(s1, T_SEC);
                harness_receive(s2, T_SEC);
        }

        stats = stats_get(pc);
        assert_string_equal(json_str(stats, "version"), "0.1.0");
        assert_true(harness_json_int(stats, "uptime_usec") > 0);
        assert_int_equal(harness_json_int(stats, "connections"), 3);
        assert_int_equal(harness_json_int(stats, "channels"), 1);
        assert_int_equal(harness_json_int(stats, "published"), 5);
        assert_int_equal(harness_json_int(stats, "delivered"), 10);
        assert_int_equal(harness_json_int(stats, "dropped"), 0);
        assert_int_equal(harness_json_int(stats, "slow_disconnects"), 0);
        ch = harness_json_channel(json_object_get(stats, "channel_stats"), "st.x");
        assert_non_null(ch);
        assert_int_equal(harness_json_int(ch, "publishers"), 1);
        assert_int_equal(harness_json_int(ch, "subscribers"), 2);
        assert_int_equal(harness_json_int(ch, "published"), 5);
        assert_int_equal(harness_json_int(ch, "delivered"), 10);
        assert_int_equal(harness_json_int(ch, "dropped"), 0);
        assert_string_equal(json_str(ch, "transport"), "socket");
        assert_int_equal(json_array_size(json_object_get(stats, "clients")), 3);
        check_client(stats, "stats-pub", 1, 0, 5, 0);
        check_client(stats, "stats-sub1", 0, 1, 0, 5);
        check_client(stats, "stats-sub2", 0, 1, 0, 5);
        json_decref(stats);

        ipc_pub_free(pub);
        ipc_sub_free(sub1);
        ipc_sub_free(sub2);
        ipc_client_free(s2);
        ipc_client_free(s1);
        ipc_client_free(pc);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_ping, harness_teardown),
                cmocka_unit_test_teardown(test_list_channels, harness_teardown),
                cmocka_unit_test_teardown(test_stats, harness_teardown),
        };

        return cmocka_run_group_tests_name("control", tests, NULL, NULL);
}
