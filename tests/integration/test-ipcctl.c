/* SPDX-License-Identifier: MIT */
/*
 * ipcctl against a real ipc-brokerd: publish and subscribe round trips
 * (argument, stdin lines, --binary), the subscribe output formats (-v,
 * --json, --raw), -W deadlines, retained values, the exit codes and
 * messages for oversized messages, bad names, usage errors, an absent or
 * vanished broker, and channels/stats/ping output.
 *
 * No sleeps: a background "ipcctl subscribe" is known to be subscribed
 * once the broker lists the channel with a subscriber
 * (harness_wait_subscribers()); retained values let a subscriber started
 * after the publisher see the message deterministically.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define T_SEC    (5 * HARNESS_USEC_PER_SEC)
#define ARGS_MAX 24

/* small.chan has a 16-byte limit, to test oversized messages cheaply. */
static const char config_json[] = "{\"channels\": {\"small.chan\": {\"max_message_bytes\": 16}}}";

/* argv for "ipcctl -s ADDRESS ARGS...", from a NULL-terminated va_list. */
static void ctl_argv(const char **argv, const char *address, va_list ap) {
        const char *ctl = getenv("IPCCTL");
        size_t n = 0;

        assert_non_null(ctl);
        argv[n++] = ctl;
        if (address) {
                argv[n++] = "-s";
                argv[n++] = address;
        }
        while ((argv[n] = va_arg(ap, const char *)))
                assert_true(++n < ARGS_MAX);
}

/* Run ipcctl to completion with @in on stdin (NULL: empty). */
static void ctl_run(const char *address, const void *in, size_t in_len, struct harness_output *o,
                    ...) {
        const char *argv[ARGS_MAX + 1];
        va_list ap;

        va_start(ap, o);
        ctl_argv(argv, address, ap);
        va_end(ap);
        assert_int_equal(harness_run(argv, in, in_len, T_SEC, o), 0);
}

/* Start "ipcctl subscribe OPTS... CHANNEL" and wait until the broker has it subscribed. */
static struct harness_proc *ctl_subscribe(struct harness_broker *b, const char *channel,
                                          const char *const *opts) {
        const char *addr = harness_broker_address(b);
        const char *argv[ARGS_MAX + 1] = {getenv("IPCCTL"), "-s", addr, "subscribe"};
        struct harness_proc *p = NULL;
        size_t n = 4;

        assert_non_null(argv[0]);
        for (; opts && *opts; opts++)
                argv[n++] = *opts;
        argv[n] = channel;
        assert_int_equal(harness_spawn(argv, &p), 0);
        assert_int_equal(harness_wait_subscribers(addr, channel, 1, T_SEC), 0);
        return p;
}

#define OPTS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* The next '\n'-terminated line at *@cursor, NUL-terminated in place. */
static char *next_line(char **cursor) {
        char *line = *cursor, *nl = strchr(line, '\n');

        assert_non_null(nl);
        *nl = '\0';
        *cursor = nl + 1;
        return line;
}

static void expect_line(struct harness_proc *p, const char *want) {
        char *line = NULL;
        int r;

        r = harness_proc_read_line(p, T_SEC, &line);
        if (r < 0)
                fprintf(stderr, "# no line (%d); stderr: %s\n", r, harness_proc_stderr(p));
        assert_int_equal(r, 0);
        assert_string_equal(line, want);
        free(line);
}

static void expect_exit(struct harness_proc *p, int want) {
        int status = -1;

        assert_int_equal(harness_proc_wait(p, T_SEC, &status), 0);
        if (status != want)
                fprintf(stderr, "# stderr: %s\n", harness_proc_stderr(p));
        assert_int_equal(status, want);
}

/* Publish @msg with ipcctl and expect success and silence. */
static void publish(const char *address, const char *channel, const char *msg, bool retain) {
        struct harness_output o = {};

        if (retain)
                ctl_run(address, NULL, 0, &o, "publish", "-r", channel, msg, NULL);
        else
                ctl_run(address, NULL, 0, &o, "publish", channel, msg, NULL);
        assert_int_equal(o.status, 0);
        assert_int_equal(o.out_len, 0);
        harness_output_free(&o);
}

static void publish_stdin(const char *address, const char *channel, const void *data, size_t size,
                          const char *flag) {
        struct harness_output o = {};

        ctl_run(address, data, size, &o, "publish", flag ?: channel, flag ? channel : NULL, NULL);
        assert_int_equal(o.status, 0);
        harness_output_free(&o);
}

static void test_roundtrip(void **state) {
        struct harness_broker *b = harness_start(state, config_json, NULL);
        struct harness_proc *p = ctl_subscribe(b, "rt.cli", OPTS("-n", "1"));

        publish(harness_broker_address(b), "rt.cli", "hello world", false);
        expect_line(p, "hello world");
        expect_exit(p, 0);
        harness_proc_free(p);
}

/* Lines become messages in order; an empty line is an empty message, a last unterminated line
 * counts. */
static void test_stdin_lines(void **state) {
        struct harness_broker *b = harness_start(state, config_json, NULL);
        const char *addr = harness_broker_address(b);
        struct harness_proc *p = ctl_subscribe(b, "lines.cli", OPTS("-n", "6"));
        static const char in1[] = "one\ntwo\nthree\n", in2[] = "a\n\nc";

        publish_stdin(addr, "lines.cli", in1, strlen(in1), NULL);
        publish_stdin(addr, "lines.cli", in2, strlen(in2), NULL);
        expect_line(p, "one");
        expect_line(p, "two");
        expect_line(p, "three");
        expect_line(p, "a");
        expect_line(p, "");
        expect_line(p, "c");
        expect_exit(p, 0);
        harness_proc_free(p);
}

/* --binary publishes stdin unchanged; --raw prints exactly the payload bytes. */
static void test_binary_raw(void **state) {
        struct harness_broker *b = harness_start(state, config_json, NULL);
        const char *addr = harness_broker_address(b);
        static const char payload[] = "\0\1\n\xff binary\n\n";
        struct harness_output o = {};

        publish_stdin(addr, "bin.cli", payload, sizeof(payload) - 1, "-rb");
        ctl_run(addr, NULL, 0, &o, "subscribe", "--raw", "-n", "1", "bin.cli", NULL);
        assert_int_equal(o.status, 0);
        assert_int_equal(o.out_len, sizeof(payload) - 1);
        assert_memory_equal(o.out, payload, sizeof(payload) - 1);
        harness_output_free(&o);

        publish(addr, "raw.cli", "no newline", true);
        ctl_run(addr, NULL, 0, &o, "subscribe", "--raw", "-n", "1", "raw.cli", NULL);
        assert_int_equal(o.status, 0);
        assert_int_equal(o.out_len, strlen("no newline"));
        assert_memory_equal(o.out, "no newline", o.out_len);
        harness_output_free(&o);
}

static void test_verbose(void **state) {
        struct harness_broker *b = harness_start(state, config_json, NULL);
        struct harness_proc *p = ctl_subscribe(b, "verbose.cli", OPTS("-v", "-n", "1"));

        publish(harness_broker_address(b), "verbose.cli", "x y", false);
        expect_line(p, "verbose.cli x y");
        expect_exit(p, 0);
        harness_proc_free(p);
}

static void check_json(const char *line, const char *channel, bool retained, const char *key,
                       const char *payload, size_t payload_len) {
        json_t *o, *v;

        /* Not harness_json_parse(): a payload may hold NUL, escaped as \u0000. */
        o = json_loads(line, JSON_ALLOW_NUL, NULL);
        assert_non_null(o);

        assert_string_equal(json_string_value(json_object_get(o, "channel")), channel);
        assert_int_equal(harness_json_int(o, "seq"), 1);
        assert_true(harness_json_int(o, "timestamp") > INT64_C(1600000000) * 1000000000);
        assert_true(json_is_boolean(json_object_get(o, "retained")));
        assert_int_equal(json_is_true(json_object_get(o, "retained")), retained);
        assert_null(json_object_get(o, "lost"));
        assert_null(json_object_get(o, strcmp(key, "payload") == 0 ? "payload_base64" : "payload"));
        v = json_object_get(o, key);
        assert_true(json_is_string(v));
        assert_int_equal(json_string_length(v), payload_len);
        assert_memory_equal(json_string_value(v), payload, payload_len);
        json_decref(o);
}

/* --json: text payloads (NUL included) as "payload", invalid UTF-8 as "payload_base64". */
static void test_json(void **state) {
        struct harness_broker *b = harness_start(state, config_json, NULL);
        const char *addr = harness_broker_address(b);
        struct harness_output o = {};
        struct harness_proc *p;
        char *cursor, *line = NULL;

        publish_stdin(addr, "json.nul", "a\0b", 3, "-rb");
        publish_stdin(addr, "json.bin", "\xff\xfe\x00", 3, "-rb");
        ctl_run(addr, NULL, 0, &o, "subscribe", "--json", "-n", "2", "json.nul", "json.bin", NULL);
        assert_int_equal(o.status, 0);
        cursor = o.out;
        check_json(next_line(&cursor), "json.nul", true, "payload", "a\0b", 3);
        check_json(next_line(&cursor), "json.bin", true, "payload_base64", "//4A", 4);
        assert_string_equal(cursor, "");
        harness_output_free(&o);

        p = ctl_subscribe(b, "json.live", OPTS("--json", "-n", "1"));
        publish(addr, "json.live", "h\xc3\xa9llo", false);
        assert_int_equal(harness_proc_read_line(p, T_SEC, &line), 0);
        check_json(line, "json.live", false, "payload", "h\xc3\xa9llo", 6);
        free(line);
        expect_exit(p, 0);
        harness_proc_free(p);
}

static void test_deadline(void **state) {
        struct harness_broker *b = harness_start(state, config_json, NULL);
        struct harness_output o = {};

        ctl_run(harness_broker_address(b), NULL, 0, &o, "subscribe", "-W", "0.2", "-n", "2",
                "quiet.cli", NULL);
        assert_int_equal(o.status, 75);
        assert_int_equal(o.out_len, 0);
        assert_non_null(strstr(o.err, "ipcctl: timed out after 0.2 s (0 of 2 messages)"));
        harness_output_free(&o);
}

/* Retained values reach later subscribers; plain and cleared ones do not. */
static void test_retained(void **state) {
        struct harness_broker *b = harness_start(state, config_json, NULL);
        const char *addr = harness_broker_address(b);
        struct harness_output o = {};

        publish(addr, "ret.kept", "kept", true);
        publish(addr, "ret.plain", "gone", false);
        ctl_run(addr, NULL, 0, &o, "subscribe", "-n", "1", "ret.kept", NULL);
        assert_int_equal(o.status, 0);
        assert_string_equal(o.out, "kept\n");
        harness_output_free(&o);

        ctl_run(addr, NULL, 0, &o, "subscribe", "-W", "0.2", "-n", "1", "ret.plain", NULL);
        assert_int_equal(o.status, 75);
        harness_output_free(&o);

        publish(addr, "ret.kept", "", true);
        ctl_run(addr, NULL, 0, &o, "subscribe", "-W", "0.2", "-n", "1", "ret.kept", NULL);
        assert_int_equal(o.status, 75);
        harness_output_free(&o);
}

/* Messages over the channel's limit: exit 65 and the sizes, from each input mode. */
static void test_oversize(void **state) {
        struct harness_broker *b = harness_start(state, config_json, NULL);
        const char *addr = harness_broker_address(b);
        static const char lines[] = "fits\n"
                                    "twenty bytes long!!!\n"
                                    "never\n";
        struct harness_output o = {};

        ctl_run(addr, NULL, 0, &o, "publish", "small.chan", "seventeen bytes!!", NULL);
        assert_int_equal(o.status, 65);
        assert_string_equal(o.err,
                            "ipcctl: message of 17 bytes exceeds the 16-byte limit of channel "
                            "small.chan\n");
        harness_output_free(&o);

        ctl_run(addr, lines, strlen(lines), &o, "publish", "small.chan", NULL);
        assert_int_equal(o.status, 65);
        assert_non_null(strstr(o.err, "message of 20 bytes exceeds the 16-byte limit"));
        harness_output_free(&o);

        ctl_run(addr, lines, strlen(lines), &o, "publish", "--binary", "small.chan", NULL);
        assert_int_equal(o.status, 65);
        assert_non_null(strstr(o.err, "message of 32 bytes exceeds the 16-byte limit"));
        harness_output_free(&o);
}

static void test_invalid_name(void **state) {
        struct harness_broker *b = harness_start(state, config_json, NULL);
        const char *addr = harness_broker_address(b);
        struct harness_output o = {};

        ctl_run(addr, NULL, 0, &o, "publish", "a..b", "x", NULL);
        assert_int_equal(o.status, 65);
        assert_string_equal(o.err, "ipcctl: invalid channel name \"a..b\" (see ipc-broker(7))\n");
        harness_output_free(&o);

        ctl_run(addr, NULL, 0, &o, "subscribe", "a.>.b", NULL);
        assert_int_equal(o.status, 65);
        assert_non_null(strstr(o.err, "invalid channel name \"a.>.b\""));
        harness_output_free(&o);
}

static void test_cannot_connect(void **state) {
        struct harness_broker *b = harness_start(state, config_json, NULL);
        struct harness_output o = {};
        char *addr = NULL;

        assert_true(asprintf(&addr, "unix:%s/absent.sock", harness_broker_dir(b)) > 0);
        ctl_run(addr, NULL, 0, &o, "ping", NULL);
        assert_int_equal(o.status, 69);
        assert_non_null(strstr(o.err, "ipcctl: cannot connect to "));
        assert_non_null(strstr(o.err, addr));
        assert_non_null(strstr(o.err, "(is ipc-brokerd running?)"));
        harness_output_free(&o);
        free(addr);
}

/* Run "ipcctl ARGS..." (no -s) and check the exit status and where the usage went. */
static void expect_usage(int status, bool on_stdout, const char *a1, const char *a2,
                         const char *a3) {
        struct harness_output o = {};

        ctl_run(NULL, NULL, 0, &o, a1, a2, a3, NULL);
        assert_int_equal(o.status, status);
        assert_non_null(strstr(on_stdout ? o.out : o.err, "Usage: ipcctl"));
        if (on_stdout)
                assert_int_equal(o.err_len, 0);
        harness_output_free(&o);
}

static void test_usage(void **state) {
        expect_usage(64, false, "frobnicate", NULL, NULL);
        expect_usage(64, false, NULL, NULL, NULL);
        expect_usage(64, false, "--bogus", "ping", NULL);
        expect_usage(64, false, "publish", NULL, NULL);
        expect_usage(64, false, "publish", "-x", "ch");
        expect_usage(64, false, "subscribe", "--json", "--raw");
        expect_usage(64, false, "subscribe", "-n", "zero");
        expect_usage(64, false, "-t", "soon", "ping");
        expect_usage(64, false, "help", "frobnicate", NULL);
        expect_usage(0, true, "--help", NULL, NULL);
        expect_usage(0, true, "publish", "--help", NULL);
        expect_usage(0, true, "help", "subscribe", NULL);
        expect_usage(0, true, "stats", "-h", NULL);
}

/* The number in the row of @name, column @col (0 = the name), of a whitespace table. */
static const char *table_cell(char *table, const char *name, int col, char *buf, size_t size) {
        char *line = strstr(table, name);
        int n;

        assert_non_null(line);
        for (n = 0; n <= col; n++) {
                line += strspn(line, " \n");
                (void)snprintf(buf, size, "%.*s", (int)strcspn(line, " \n"), line);
                line += strcspn(line, " \n");
        }
        return buf;
}

static void test_channels_stats(void **state) {
        struct harness_broker *b = harness_start(state, config_json, NULL);
        const char *addr = harness_broker_address(b);
        struct harness_proc *p = ctl_subscribe(b, "cs.cli", NULL);
        struct harness_output o = {};
        char cell[64];
        json_t *j;

        publish(addr, "cs.cli", "v", true);
        expect_line(p, "v");

        ctl_run(addr, NULL, 0, &o, "channels", NULL);
        assert_int_equal(o.status, 0);
        assert_non_null(strstr(o.out, "NAME"));
        assert_string_equal(table_cell(o.out, "\ncs.cli ", 2, cell, sizeof(cell)), "1");
        assert_string_equal(table_cell(o.out, "\ncs.cli ", 3, cell, sizeof(cell)), "1");
        assert_string_equal(table_cell(o.out, "\ncs.cli ", 4, cell, sizeof(cell)), "yes");
        assert_string_equal(table_cell(o.out, "\ncs.cli ", 5, cell, sizeof(cell)), "block");
        harness_output_free(&o);

        ctl_run(addr, NULL, 0, &o, "channels", "--json", NULL);
        assert_int_equal(o.status, 0);
        j = harness_json_parse(o.out);
        assert_int_equal(harness_json_int(harness_json_channel(j, "cs.cli"), "subscribers"), 1);
        assert_true(json_is_true(json_object_get(harness_json_channel(j, "cs.cli"), "retained")));
        json_decref(j);
        harness_output_free(&o);

        ctl_run(addr, NULL, 0, &o, "stats", NULL);
        assert_int_equal(o.status, 0);
        assert_non_null(strstr(o.out, "Connections:"));
        assert_non_null(strstr(o.out, "\ncs.cli "));
        assert_non_null(strstr(o.out, " ipcctl "));
        harness_output_free(&o);

        ctl_run(addr, NULL, 0, &o, "stats", "--json", NULL);
        assert_int_equal(o.status, 0);
        j = harness_json_parse(o.out);
        assert_non_null(harness_json_channel(json_object_get(j, "channel_stats"), "cs.cli"));
        json_decref(j);
        harness_output_free(&o);
        harness_proc_free(p);
}

static void test_ping(void **state) {
        struct harness_broker *b = harness_start(state, config_json, NULL);
        const char *addr = harness_broker_address(b);
        struct harness_output o = {};
        char *want = NULL;

        assert_true(asprintf(&want, "pong from %s (ipc-brokerd ", addr) > 0);
        ctl_run(addr, NULL, 0, &o, "ping", "-c", "2", NULL);
        assert_int_equal(o.status, 0);
        assert_ptr_equal(strstr(o.out, want), o.out);
        assert_non_null(strstr(strstr(o.out, "\n") + 1, want));
        assert_non_null(strstr(o.out, "2 pings: min/avg/max = "));
        harness_output_free(&o);
        free(want);
}

/*
 * The broker going away does not end a subscriber: it says so on stderr
 * and waits for the broker (test-reconnect shows it coming back).
 */
static void test_connection_lost(void **state) {
        struct harness_broker *b = harness_start(state, config_json, NULL);
        struct harness_proc *p = ctl_subscribe(b, "lost.cli", NULL);
        uint64_t deadline = harness_now_usec() + harness_timeout(T_SEC);
        char *want = NULL;
        int status;

        assert_int_equal(harness_broker_stop(b, SIGTERM, NULL), 0);
        assert_true(asprintf(&want, "ipcctl: connection to %s lost; reconnecting",
                             harness_broker_address(b)) > 0);
        /* Paced by waiting for an exit that must not come. */
        while (!strstr(harness_proc_stderr(p), want) && harness_now_usec() < deadline)
                assert_int_equal(harness_proc_wait(p, 50 * HARNESS_USEC_PER_MSEC, &status),
                                 -ETIMEDOUT);
        if (!strstr(harness_proc_stderr(p), want))
                fail_msg("expected \"%s\" on stderr, got:\n%s", want, harness_proc_stderr(p));
        assert_int_equal(harness_proc_wait(p, 200 * HARNESS_USEC_PER_MSEC, &status), -ETIMEDOUT);
        free(want);
        assert_int_equal(harness_proc_kill(p, SIGTERM), 0);
        harness_proc_free(p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_roundtrip, harness_teardown),
                cmocka_unit_test_teardown(test_stdin_lines, harness_teardown),
                cmocka_unit_test_teardown(test_binary_raw, harness_teardown),
                cmocka_unit_test_teardown(test_verbose, harness_teardown),
                cmocka_unit_test_teardown(test_json, harness_teardown),
                cmocka_unit_test_teardown(test_deadline, harness_teardown),
                cmocka_unit_test_teardown(test_retained, harness_teardown),
                cmocka_unit_test_teardown(test_oversize, harness_teardown),
                cmocka_unit_test_teardown(test_invalid_name, harness_teardown),
                cmocka_unit_test_teardown(test_cannot_connect, harness_teardown),
                cmocka_unit_test(test_usage),
                cmocka_unit_test_teardown(test_channels_stats, harness_teardown),
                cmocka_unit_test_teardown(test_ping, harness_teardown),
                cmocka_unit_test_teardown(test_connection_lost, harness_teardown),
        };

        return cmocka_run_group_tests_name("ipcctl", tests, NULL, NULL);
}
