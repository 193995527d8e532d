/* SPDX-License-Identifier: MIT */
/*
 * The daemon as a process: configuration errors (exit 78 with the key path,
 * or file:line:column for JSON syntax), --check-config, clean shutdown on
 * SIGTERM/SIGINT (exit 0, socket node removed), a second daemon refusing a
 * live socket, and the connection and subscription limits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <limits.h>
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

#define T_SEC (5 * HARNESS_USEC_PER_SEC)

/* A private directory for config files of daemons that are expected not to start. */
struct scratch {
        char dir[64];
        char config[128];
        char sock[128];
};

static int scratch_setup(void **state) {
        struct scratch *s = calloc(1, sizeof(*s));

        if (!s)
                return -1;
        snprintf(s->dir, sizeof(s->dir), "/tmp/ipc-test-cfg-XXXXXX");
        if (!mkdtemp(s->dir)) {
                free(s);
                return -1;
        }
        snprintf(s->config, sizeof(s->config), "%s/bad.json", s->dir);
        snprintf(s->sock, sizeof(s->sock), "%s/broker.sock", s->dir);
        *state = s;
        return 0;
}

static int scratch_teardown(void **state) {
        struct scratch *s = *state;

        (void)unlink(s->config);
        (void)unlink(s->sock);
        (void)rmdir(s->dir);
        free(s);
        return 0;
}

static void write_config(const struct scratch *s, const char *text) {
        FILE *f = fopen(s->config, "we");

        assert_non_null(f);
        assert_int_equal(fputs(text, f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
}

/* Runs ipc-brokerd -c CONFIG [extra] on the scratch socket; it must exit by itself. */
static void run_brokerd(const struct scratch *s, const char *config, const char *extra,
                        struct harness_output *out) {
        const char *argv[] = {
                getenv("IPC_BROKERD"), "--socket", s->sock, "-c", config, extra, NULL};
        int r = harness_run(argv, NULL, 0, T_SEC, out);

        if (r < 0)
                fail_msg("ipc-brokerd did not exit by itself: %s\nstderr: %s", strerror(-r),
                         out->err);
}

/* Asserts a config is refused with exit 78 and a message naming the file and @needle. */
static void expect_config_error(const struct scratch *s, const char *text, const char *needle) {
        struct harness_output out;

        write_config(s, text);
        run_brokerd(s, s->config, NULL, &out);
        if (out.status != HARNESS_EXIT_CONFIG || !strstr(out.err, s->config) ||
            !strstr(out.err, needle))
                fail_msg("expected exit 78 naming %s and \"%s\"; got exit %d, stderr:\n%s",
                         s->config, needle, out.status, out.err);
        harness_output_free(&out);
        /* Refused before listening: no socket node left behind. */
        assert_int_equal(access(s->sock, F_OK), -1);
}

static void test_config_out_of_range(void **state) {
        expect_config_error(*state, "{\"limits\": {\"max_connections\": 0}}",
                            "limits.max_connections");
        expect_config_error(*state, "{\"limits\": {\"output_queue_bytes\": 1024}}",
                            "limits.output_queue_bytes");
        expect_config_error(*state, "{\"limits\": {\"stall_timeout_ms\": \"soon\"}}",
                            "limits.stall_timeout_ms");
        expect_config_error(*state, "{\"channel_defaults\": {\"ring_bytes\": 100000}}",
                            "channel_defaults.ring_bytes");
        expect_config_error(*state, "{\"channels\": {\"cfg\": {\"overflow\": \"sometimes\"}}}",
                            "channels.cfg.overflow");
        expect_config_error(*state, "{\"limits\": {\"max_conections\": 5}}",
                            "limits.max_conections");
}

/* The position jansson itself reports, which the daemon must pass on as FILE:LINE:COLUMN. */
static void expect_syntax_error(const struct scratch *s, const char *text, int line) {
        char want[256];
        json_error_t err;
        json_t *j;

        write_config(s, text);
        j = json_load_file(s->config, JSON_REJECT_DUPLICATES, &err);
        assert_null(j);
        assert_int_equal(err.line, line);
        snprintf(want, sizeof(want), "%s:%d:%d:", s->config, err.line, err.column);
        expect_config_error(s, text, want);
}

static void test_config_syntax_error(void **state) {
        expect_syntax_error(*state, "{\n  \"limits\": {\n    \"max_connections\": 10,,\n  }\n}\n",
                            3);
        expect_syntax_error(*state, "{\n  \"limits\": {}\n", 3);
        expect_syntax_error(*state, "{\"limits\": {}, \"limits\": {}}", 1);
}

static void test_check_config(void **state) {
        const struct scratch *s = *state;
        char sample[PATH_MAX];
        struct harness_output out;

        snprintf(sample, sizeof(sample), "%s/conf/ipc-brokerd.json", getenv("IPC_TOP_SRCDIR"));
        run_brokerd(s, sample, "--check-config", &out);
        if (out.status != 0)
                fail_msg("--check-config %s: exit %d, stderr:\n%s", sample, out.status, out.err);
        harness_output_free(&out);
        assert_int_equal(access(s->sock, F_OK), -1);

        write_config(s, "{\"listen\": {\"tcp\": [\"127.0.0.1:notaport\"]}}");
        run_brokerd(s, s->config, "--check-config", &out);
        assert_int_equal(out.status, HARNESS_EXIT_CONFIG);
        assert_non_null(strstr(out.err, "listen.tcp"));
        harness_output_free(&out);
}

/* SIGTERM and SIGINT: exit 0 with a client connected, socket node removed. */
static void stop_cleanly(void **state, int sig) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        char path[PATH_MAX];
        ipc_client *c = harness_connect(harness_broker_address(b), "stopping");
        const ipc_msg *m = NULL;
        int status = -1, r;

        snprintf(path, sizeof(path), "%s", harness_broker_socket_path(b));
        assert_int_equal(access(path, F_OK), 0);
        assert_int_equal(harness_broker_stop(b, sig, &status), 0);
        if (status != 0)
                fail_msg("exit status %d after signal %d; log:\n%s", status, sig,
                         harness_broker_log(b));
        assert_int_equal(access(path, F_OK), -1);
        assert_int_equal(errno, ENOENT);
        r = ipc_client_receive(c, harness_timeout(T_SEC), &m);
        /* -ENOTCONN: the client reconnects (by default) rather than dying. */
        assert_true(r == -ENOTCONN);
        ipc_client_free(c);
}

static void test_sigterm(void **state) {
        stop_cleanly(state, SIGTERM);
}

static void test_sigint(void **state) {
        stop_cleanly(state, SIGINT);
}

/* A second daemon on a live socket fails and leaves the first one reachable. */
static void test_socket_in_use(void **state) {
        struct harness_broker *b = harness_start(state, NULL, NULL);
        const char *argv[] = {getenv("IPC_BROKERD"), "--socket", harness_broker_socket_path(b),
                              NULL};
        struct harness_output out;
        ipc_client *c;

        assert_int_equal(harness_run(argv, NULL, 0, T_SEC, &out), 0);
        assert_int_not_equal(out.status, 0);
        harness_output_free(&out);
        c = harness_connect(harness_broker_address(b), "still-there");
        assert_int_equal(ipc_client_ping(c, harness_timeout(T_SEC), NULL), 0);
        ipc_client_free(c);
}

static int64_t stats_connections(ipc_client *c) {
        char *text = NULL;
        json_t *j;
        int64_t n;

        assert_int_equal(ipc_client_stats(c, harness_timeout(T_SEC), &text), 0);
        j = harness_json_parse(text);
        n = harness_json_int(j, "connections");
        json_decref(j);
        ipc_free(text);
        return n;
}

static void pingpong(ipc_client *c) {
        assert_int_equal(ipc_client_ping(c, harness_timeout(T_SEC), NULL), 0);
}

/*
 * limits.max_connections: the one over the limit fails cleanly with
 * -ENFILE and the broker's reason, the others keep working.
 */
static void test_max_connections(void **state) {
        struct harness_broker *b =
                harness_start(state, "{\"limits\": {\"max_connections\": 2}}", NULL);
        ipc_client *c1 = harness_connect(harness_broker_address(b), "c1");
        ipc_client *c2 = harness_connect(harness_broker_address(b), "c2");
        ipc_client *c3 = NULL;
        char why[256] = "untouched";
        uint64_t deadline;
        ipc_options *opts;
        int r;

        assert_int_equal(ipc_options_new(&opts), 0);
        assert_int_equal(ipc_options_set_connect_timeout(opts, harness_timeout(T_SEC)), 0);
        assert_int_equal(ipc_options_set_error_buffer(opts, why, sizeof(why)), 0);
        r = ipc_client_connect(harness_broker_address(b), opts, &c3);
        if (r != -ENFILE)
                fail_msg("a third connection with max_connections 2 gave %d (%s), not -ENFILE", r,
                         why);
        assert_null(c3);
        assert_string_equal(why, "too many connections (max_connections 2)");
        assert_int_equal(harness_broker_wait_log(b, "refused: max_connections (2) reached",
                                                 harness_timeout(T_SEC)),
                         0);
        pingpong(c1);
        pingpong(c2);
        assert_int_equal(stats_connections(c2), 2);

        /* A slot frees when a client leaves; the broker notices asynchronously. */
        ipc_client_free(c1);
        deadline = harness_now_usec() + harness_timeout(T_SEC);
        while (stats_connections(c2) != 1 && harness_now_usec() < deadline)
                pingpong(c2);
        assert_int_equal(stats_connections(c2), 1);
        assert_int_equal(ipc_client_connect(harness_broker_address(b), opts, &c3), 0);
        assert_string_equal(why, "");
        pingpong(c3);
        assert_true(harness_broker_running(b));
        ipc_options_free(opts);
        ipc_client_free(c3);
        ipc_client_free(c2);
}

/* limits.max_subscriptions: -EMFILE for one more, not fatal; a freed slot is reusable. */
static void test_max_subscriptions(void **state) {
        struct harness_broker *b =
                harness_start(state, "{\"limits\": {\"max_subscriptions\": 2}}", NULL);
        ipc_client *c = harness_connect(harness_broker_address(b), "subs");
        ipc_sub *s1 = NULL, *s2 = NULL, *s3 = NULL;
        ipc_pub *pub = NULL;

        assert_int_equal(ipc_sub_new(c, "q.one", harness_timeout(T_SEC), &s1), 0);
        assert_int_equal(ipc_sub_new(c, "q.*", harness_timeout(T_SEC), &s2), 0);
        assert_int_equal(ipc_sub_new(c, "q.three", harness_timeout(T_SEC), &s3), -EMFILE);
        assert_null(s3);
        assert_string_equal(ipc_client_get_error(c),
                            "too many subscriptions on this connection (max_subscriptions 2)");
        pingpong(c);
        ipc_sub_free(s2);
        assert_int_equal(ipc_sub_new(c, "q.three", harness_timeout(T_SEC), &s3), 0);
        assert_int_equal(ipc_pub_new(c, "q.three", harness_timeout(T_SEC), &pub), 0);
        assert_int_equal(ipc_publish(pub, "x", 1, 0, harness_timeout(T_SEC)), 0);
        assert_ptr_equal(ipc_msg_get_sub(harness_receive(c, T_SEC)), s3);
        ipc_pub_free(pub);
        ipc_sub_free(s1);
        ipc_sub_free(s3);
        ipc_client_free(c);
}

/*
 * A socket directory the daemon has to create is 0750 and, like the node,
 * in listen.unix_group: the service's group decides who reaches the broker.
 * The group is one we may give files to: any group as root, our own
 * otherwise.
 */
static void test_socket_dir_group(void **state) {
        char base[] = "/tmp/ipc-test-dir-XXXXXX", dir[64], sock[96], listen[128], config[128];
        const char *extra[] = {"--listen", listen, NULL};
        gid_t gid = geteuid() == 0 ? 65534 : getegid();
        struct group *g = getgrgid(gid);
        struct stat st;

        if (!g)
                skip();
        assert_non_null(mkdtemp(base));
        (void)snprintf(dir, sizeof(dir), "%s/run", base);
        (void)snprintf(sock, sizeof(sock), "%s/ipc.sock", dir);
        (void)snprintf(listen, sizeof(listen), "unix:%s", sock);
        (void)snprintf(config, sizeof(config), "{\"listen\": {\"unix_group\": \"%s\"}}",
                       g->gr_name);
        (void)harness_start(state, config, extra);
        assert_int_equal(stat(dir, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0750);
        assert_int_equal(st.st_gid, gid);
        assert_int_equal(stat(sock, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0660);
        assert_int_equal(st.st_gid, gid);
        assert_int_equal(harness_teardown(state), 0);
        assert_int_equal(rmdir(dir), 0);
        assert_int_equal(rmdir(base), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_config_out_of_range, scratch_setup,
                                                scratch_teardown),
                cmocka_unit_test_setup_teardown(test_config_syntax_error, scratch_setup,
                                                scratch_teardown),
                cmocka_unit_test_setup_teardown(test_check_config, scratch_setup, scratch_teardown),
                cmocka_unit_test_teardown(test_sigterm, harness_teardown),
                cmocka_unit_test_teardown(test_sigint, harness_teardown),
                cmocka_unit_test_teardown(test_socket_in_use, harness_teardown),
                cmocka_unit_test_teardown(test_max_connections, harness_teardown),
                cmocka_unit_test_teardown(test_max_subscriptions, harness_teardown),
                cmocka_unit_test_teardown(test_socket_dir_group, harness_teardown),
        };

        return cmocka_run_group_tests_name("daemon", tests, NULL, NULL);
}
