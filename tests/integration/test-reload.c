/* SPDX-License-Identifier: MIT */
/*
 * SIGHUP reloads the configuration: RELOADING=1 with MONOTONIC_USEC= and
 * then READY=1 each time; a valid file applies its limits at once and its
 * channel settings to channels created from then on; an invalid one is
 * logged exactly as at start-up (the --check-config message) and the
 * running configuration stays in force; "listen" changes are logged as
 * needing a restart and left alone.
 */
#define _GNU_SOURCE
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "sd-broker.h"

#define T_SEC (5 * HARNESS_USEC_PER_SEC)

/* SIGHUP, then RELOADING=1 (with a MONOTONIC_USEC= taken after the signal) and READY=1. */
static void reload(struct sd_broker *b) {
        uint64_t before = harness_now_usec(), mono;
        struct notify_msg reloading, ready;
        const char *v;

        assert_int_equal(kill(daemon_proc_pid(b->proc), SIGHUP), 0);
        sd_broker_expect(b, "RELOADING=1", T_SEC, &reloading);
        v = notify_msg_get(&reloading, "MONOTONIC_USEC", NULL);
        if (!v || sscanf(v, "%" SCNu64, &mono) != 1)
                fail_msg("no MONOTONIC_USEC= with RELOADING=1: \"%s\"", reloading.text);
        assert_true(mono >= before && mono <= reloading.usec);
        sd_broker_expect(b, "READY=1", T_SEC, &ready);
        assert_non_null(notify_msg_get(&ready, "STATUS", NULL));
}

/* Connects once; the broker's answer decides. Return: 0 or the negative errno. */
static int try_connect(struct sd_broker *b, ipc_client **ret) {
        ipc_options *opts = NULL;
        int r;

        assert_int_equal(ipc_options_new(&opts), 0);
        assert_int_equal(ipc_options_set_connect_timeout(opts, harness_timeout(T_SEC)), 0);
        *ret = NULL;
        r = ipc_client_connect(b->address, opts, ret);
        ipc_options_free(opts);
        return r;
}

static void pingpong(ipc_client *c) {
        assert_int_equal(ipc_client_ping(c, harness_timeout(T_SEC), NULL), 0);
}

/* A higher limits.max_connections admits the client the old one refused. */
static void test_reload_limit(void **state) {
        struct sd_broker *b = *state;
        ipc_client *c1, *c2 = NULL;

        sd_broker_write_config(b, "{\"limits\": {\"max_connections\": 1}}");
        sd_broker_start(b, NULL, NULL);
        c1 = harness_connect(b->address, "one");
        assert_true(try_connect(b, &c2) < 0);

        sd_broker_write_config(b, "{\"limits\": {\"max_connections\": 2}}");
        reload(b);
        sd_broker_wait_log(b, "limits.max_connections: 1 -> 2");
        sd_broker_wait_log(b, "configuration reloaded from ");
        assert_int_equal(try_connect(b, &c2), 0);
        pingpong(c1);
        pingpong(c2);
        ipc_client_free(c2);
        ipc_client_free(c1);
}

/* What --check-config says about the file: the start-up message, minus "ipc-brokerd: ". */
static void startup_error(struct sd_broker *b, char *buf, size_t size) {
        const char *argv[] = {getenv("IPC_BROKERD"), "-c", b->config, "--check-config", NULL};
        struct harness_output out;
        const char *msg;

        assert_int_equal(harness_run(argv, NULL, 0, T_SEC, &out), 0);
        assert_int_equal(out.status, HARNESS_EXIT_CONFIG);
        msg = strncmp(out.err, "ipc-brokerd: ", 13) == 0 ? out.err + 13 : out.err;
        (void)snprintf(buf, size, "<3>%.*s", (int)strcspn(msg, "\n"), msg);
        harness_output_free(&out);
}

static void reload_rejected(struct sd_broker *b, const char *text, const char *must_contain) {
        char want[1024];

        sd_broker_write_config(b, text);
        startup_error(b, want, sizeof(want));
        assert_non_null(strstr(want, must_contain));
        reload(b);
        sd_broker_wait_log(b, want);
        sd_broker_wait_log(b, "configuration not reloaded; the running one stays in force");
}

/* Rejected files: logged like at start-up, the broker serves on with the old limit. */
static void test_reload_invalid(void **state) {
        struct sd_broker *b = *state;
        ipc_client *c1, *c2 = NULL;
        char where[256];

        sd_broker_write_config(b, "{\"limits\": {\"max_connections\": 1}}");
        sd_broker_start(b, NULL, NULL);
        c1 = harness_connect(b->address, "one");

        /* jansson stops on line 3: "FILE:3:COLUMN: text", as --check-config says. */
        (void)snprintf(where, sizeof(where), "%s:3:", b->config);
        reload_rejected(b, "{\n  \"limits\": {\n    \"max_connections\": 2,,\n  }\n}\n", where);
        (void)snprintf(where, sizeof(where), "%s: limits.max_connections: expected an integer",
                       b->config);
        reload_rejected(b, "{\"limits\": {\"max_connections\": 0}}", where);

        pingpong(c1);
        assert_true(try_connect(b, &c2) < 0); /* still 1 */
        assert_null(strstr(daemon_proc_log(b->proc), "configuration reloaded"));
        ipc_client_free(c1);
}

/* "listen" is fixed until a restart: logged, and the socket keeps its mode. */
static void test_reload_needs_restart(void **state) {
        struct sd_broker *b = *state;
        struct stat st;

        sd_broker_write_config(b, "{\"listen\": {\"unix_mode\": \"0600\"}}");
        sd_broker_start(b, NULL, NULL);
        assert_int_equal(stat(b->sock, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);

        sd_broker_write_config(b, "{\"listen\": {\"unix_mode\": \"0640\","
                                  " \"tcp\": [{\"address\": \"127.0.0.1:0\","
                                  " \"insecure\": true}]}}");
        reload(b);
        sd_broker_wait_log(b, "listen.tcp changed; that needs a restart");
        sd_broker_wait_log(b, "listen.unix_mode changed; that needs a restart");
        assert_int_equal(stat(b->sock, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_null(strstr(daemon_proc_log(b->proc), "listening on tcp:"));

        /* Back to what runs: nothing to report any more. */
        sd_broker_write_config(b, "{\"listen\": {\"unix_mode\": \"0600\"}}");
        reload(b);
        sd_broker_wait_log(b, "configuration reloaded from ");
}

static json_t *channel_list(ipc_client *c) {
        char *text = NULL;
        json_t *j;

        assert_int_equal(ipc_client_list_channels(c, harness_timeout(T_SEC), &text), 0);
        j = harness_json_parse(text);
        ipc_free(text);
        return j;
}

static const char *overflow_of(json_t *list, const char *name) {
        json_t *ch = harness_json_channel(list, name);

        if (!ch)
                fail_msg("no channel \"%s\" in the listing", name);
        return json_string_value(json_object_get(ch, "overflow"));
}

/*
 * Channel rules: new channels get the new settings, existing ones keep
 * theirs; newly declared names appear, dropped declarations go.
 */
static void test_reload_channels(void **state) {
        struct sd_broker *b = *state;
        ipc_sub *live = NULL, *fresh = NULL;
        ipc_client *c;
        json_t *list;

        sd_broker_write_config(b, "{\"channels\": {\"decl.a\": {}}}");
        sd_broker_start(b, NULL, NULL);
        c = harness_connect(b->address, "chan");
        assert_int_equal(ipc_sub_new(c, "live.x", harness_timeout(T_SEC), &live), 0);

        sd_broker_write_config(b, "{\"channel_defaults\": {\"overflow\": \"disconnect\"},"
                                  " \"channels\": {\"decl.b\": {\"overflow\": \"drop\"}}}");
        reload(b);
        sd_broker_wait_log(b, "channel settings changed");
        assert_int_equal(ipc_sub_new(c, "new.x", harness_timeout(T_SEC), &fresh), 0);
        list = channel_list(c);
        assert_null(harness_json_channel(list, "decl.a"));
        assert_string_equal(overflow_of(list, "decl.b"), "drop");
        assert_string_equal(overflow_of(list, "live.x"), "block");
        assert_string_equal(overflow_of(list, "new.x"), "disconnect");
        json_decref(list);
        ipc_sub_free(fresh);
        ipc_sub_free(live);
        ipc_client_free(c);
}

/* Without a file (none at the default path, -c not given) a reload keeps the defaults. */
static void test_reload_no_file(void **state) {
        struct sd_broker *b = *state;
        const char *args[] = {"--socket", b->sock, NULL};
        ipc_client *c;

        sd_broker_start(b, args, NULL);
        if (!strstr(daemon_proc_log(b->proc), "using built-in defaults"))
                skip(); /* this machine has a file at the default path */
        reload(b);
        sd_broker_wait_log(b, "reloaded the built-in defaults");
        c = harness_connect(b->address, "after");
        pingpong(c);
        ipc_client_free(c);
}

#define T(f) cmocka_unit_test_setup_teardown(f, sd_broker_setup, sd_broker_teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(test_reload_limit),    T(test_reload_invalid), T(test_reload_needs_restart),
                T(test_reload_channels), T(test_reload_no_file),
        };

        return cmocka_run_group_tests_name("reload", tests, NULL, NULL);
}
