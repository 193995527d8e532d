/* SPDX-License-Identifier: MIT */
/*
 * Config loader: every error shape with its exact text (a user fixes a file
 * from this message alone), the built-in defaults, a file setting every
 * key, the exact-then-pattern lookup order, the "access" rules and their
 * principals, and the shipped sample.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "config-internal.h"
#include "config.h"
#include "util.h"

#define MIB (UINT64_C(1024) * 1024)
/* Plain-TCP entries on loopback ports 1 and 2, and a certificate "tls" object. */
#define LOOP1    "{\"address\": \"127.0.0.1:1\", \"insecure\": true}"
#define LOOP2    "{\"address\": \"127.0.0.1:2\", \"insecure\": true}"
#define TLS_CERT "{\"certificate\": \"/c\", \"key\": \"/k\", \"client_ca\": \"/ca\"}"

/* A temporary file holding some text; unlinked by tmp_file_done(). */
struct tmp_file {
        char path[64];
};

static void tmp_file_write(struct tmp_file *t, const char *text) {
        size_t len = strlen(text);
        int fd;

        strcpy(t->path, "/tmp/test-config-XXXXXX");
        fd = mkstemp(t->path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, len), (ssize_t)len);
        assert_int_equal(close(fd), 0);
}

static void tmp_file_done(struct tmp_file *t) {
        (void)unlink(t->path);
}

/* Loads text as a file; on success *c must be deinitialised by the caller. */
static int load_text(const char *text, struct config *c, char *errbuf, struct tmp_file *t) {
        int r;

        tmp_file_write(t, text);
        r = config_load(c, t->path, true, errbuf, CONFIG_ERROR_MAX);
        tmp_file_done(t);
        return r;
}

static void load_ok(const char *text, struct config *c) {
        char err[CONFIG_ERROR_MAX] = "";
        struct tmp_file t;
        int r;

        r = load_text(text, c, err, &t);
        if (r < 0)
                fail_msg("unexpected error %d: %s", r, err);
}

/*
 * Expects text to fail with "FILE<sep>message", sep being ": " for key
 * errors and ":" for syntax errors (whose message starts LINE:COLUMN).
 */
static void load_fails(const char *text, const char *sep, const char *message) {
        char err[CONFIG_ERROR_MAX], want[CONFIG_ERROR_MAX];
        struct config c;
        struct tmp_file t;

        memset(&c, 0xa5, sizeof(c));
        assert_int_equal(load_text(text, &c, err, &t), -EINVAL);
        (void)snprintf(want, sizeof(want), "%s%s%s", t.path, sep, message);
        assert_string_equal(err, want);
}

static void key_fails(const char *text, const char *message) {
        load_fails(text, ": ", message);
}

static void assert_defaults(const struct config *c) {
        assert_null(c->path);
        assert_null(c->unix_path);
        assert_false(c->unix_disabled);
        assert_int_equal(c->n_tcp, 0);
        assert_int_equal(c->unix_mode, 0660);
        assert_int_equal(c->max_connections, 1024);
        assert_int_equal(c->max_message_bytes, 1 * MIB);
        assert_int_equal(c->output_queue_bytes, 8 * MIB);
        assert_int_equal(c->stall_timeout_usec, 30000 * USEC_PER_MSEC);
        assert_int_equal(c->handshake_timeout_usec, 10000 * USEC_PER_MSEC);
        assert_int_equal(c->max_subscriptions, 1024);
        assert_int_equal(c->max_connections_per_uid, 128);
        assert_int_equal(c->max_channels, 4096);
        assert_int_equal(c->max_queued_bytes_per_uid, 128 * MIB);
        assert_int_equal(c->max_rings_per_uid, 64);
        assert_int_equal(c->channel_defaults.max_message_bytes, 1 * MIB);
        assert_int_equal(c->channel_defaults.ring_bytes, 4 * MIB);
        assert_int_equal(c->channel_defaults.overflow, PROTO_OVERFLOW_BLOCK);
        assert_true(c->channel_defaults.shared_memory);
        assert_int_equal(c->n_rules, 0);
        assert_true(c->access.default_allow);
        assert_int_equal(c->access.n_rules, 0);
        assert_null(c->access.rules);
}

static void test_defaults(void **state) {
        struct config c;

        config_init_defaults(&c);
        assert_defaults(&c);
        assert_ptr_equal(config_channel_settings(&c, "any.name"), &c.channel_defaults);
        config_deinit(&c);
        assert_defaults(&c);
}

static void test_missing_file(void **state) {
        const char *path = "/nonexistent-dir/ipc-brokerd.json";
        char err[CONFIG_ERROR_MAX];
        struct config c;

        assert_int_equal(config_load(&c, path, false, err, sizeof(err)), 0);
        assert_defaults(&c);
        config_deinit(&c);

        memset(&c, 0xa5, sizeof(c));
        assert_int_equal(config_load(&c, path, true, err, sizeof(err)), -ENOENT);
        assert_string_equal(err, "/nonexistent-dir/ipc-brokerd.json: cannot read: "
                                 "No such file or directory");
        assert_int_equal(((unsigned char *)&c)[0], 0xa5); /* untouched on failure */

        assert_int_equal(config_load(&c, "/tmp", false, err, sizeof(err)), -EISDIR);
        assert_string_equal(err, "/tmp: cannot read: Is a directory");
}

/* Runs in a child that is not root (root reads mode-0 files): exit 0 on the expected error. */
static int unreadable_child(const char *path) {
        char err[CONFIG_ERROR_MAX], want[CONFIG_ERROR_MAX];
        struct config c;

        if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
                return 2;
        if (config_load(&c, path, false, err, sizeof(err)) != -EACCES)
                return 3;
        (void)snprintf(want, sizeof(want), "%s: cannot read: Permission denied", path);
        return strcmp(err, want) == 0 ? 0 : 4;
}

static void test_unreadable_file(void **state) {
        struct tmp_file t;
        int status;
        pid_t pid;

        tmp_file_write(&t, "{}");
        assert_int_equal(chmod(t.path, 0), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                _exit(unreadable_child(t.path));
        assert_int_equal(waitpid(pid, &status, 0), pid);
        tmp_file_done(&t);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_syntax_errors(void **state) {
        load_fails("", ":", "1:0: '[' or '{' expected near end of file");
        load_fails("{\n  \"limits\": {},\n  \"listen\" {}\n}\n", ":",
                   "3:12: ':' expected near '{'");
        load_fails("{\"limits\": {},}", ":", "1:15: string or '}' expected near '}'");
        load_fails("{\"limits\": {}, \"limits\": {}}", ":",
                   "1:23: duplicate object key near '\"limits\"'");
        load_fails("{} x", ":", "1:4: end of file expected near 'x'");
        load_fails("{\"limits\": {\"max_connections\": 99999999999999999999}}", ":",
                   "1:51: too big integer near '99999999999999999999'");
}

static void test_type_errors(void **state) {
        key_fails("[]", "expected an object, got an array");
        key_fails("{\"limits\": 5}", "limits: expected an object, got 5");
        key_fails("{\"listen\": []}", "listen: expected an object, got an array");
        key_fails("{\"channel_defaults\": null}", "channel_defaults: expected an object, got null");
        key_fails("{\"channels\": \"x\"}", "channels: expected an object, got \"x\"");
        key_fails("{\"comment\": 1}", "comment: expected a string, got 1");
        key_fails("{\"limits\": {\"comment\": {}}}",
                  "limits.comment: expected a string, got an object");
        key_fails("{\"channels\": {\"a\": 1}}", "channels.a: expected an object, got 1");
        key_fails("{\"channels\": {\"comment\": 1}}",
                  "channels.comment: expected an object, got 1");
}

static void test_unknown_keys(void **state) {
        key_fails("{\"bogus\": 1}", "bogus: unknown key");
        key_fails("{\"limits\": {\"bogus\": 1}}", "limits.bogus: unknown key");
        key_fails("{\"listen\": {\"udp\": []}}", "listen.udp: unknown key");
        key_fails("{\"listen\": {\"unix_group\": \"no-such-group-x\"}}",
                  "listen.unix_group: unknown group \"no-such-group-x\"");
        key_fails("{\"listen\": {\"unix_group\": 7}}",
                  "listen.unix_group: expected null or a group name, got 7");
        key_fails("{\"channel_defaults\": {\"retain\": true}}",
                  "channel_defaults.retain: unknown key");
        key_fails("{\"channels\": {\"a.b\": {\"size\": 1}}}", "channels.\"a.b\".size: unknown key");
        /* Segments quote anything but name characters, and escape what JSON would. */
        key_fails("{\"a.b\": 1}", "\"a.b\": unknown key");
        key_fails("{\"\": 1}", "\"\": unknown key");
        key_fails("{\"a b\": 1}", "\"a b\": unknown key");
        key_fails("{\"q\\\"\\\\\\t\": 1}", "\"q\\\"\\\\\\u0009\": unknown key");
        key_fails("{\"x:y/z@w_-1\": 1}", "x:y/z@w_-1: unknown key");
        /* Unknown keys are reported before any value is checked. */
        key_fails("{\"limits\": {\"max_connections\": 0, \"zz\": 1}}", "limits.zz: unknown key");
}

static void test_limit_ranges(void **state) {
        key_fails("{\"limits\": {\"max_connections\": \"lots\"}}",
                  "limits.max_connections: expected an integer from 1 to 1000000, got \"lots\"");
        key_fails("{\"limits\": {\"max_connections\": 0}}",
                  "limits.max_connections: expected an integer from 1 to 1000000, got 0");
        key_fails("{\"limits\": {\"max_connections\": 1000001}}",
                  "limits.max_connections: expected an integer from 1 to 1000000, got 1000001");
        key_fails("{\"limits\": {\"max_connections\": -1}}",
                  "limits.max_connections: expected an integer from 1 to 1000000, got -1");
        key_fails("{\"limits\": {\"max_connections\": 1.5}}",
                  "limits.max_connections: expected an integer from 1 to 1000000, got 1.5");
        key_fails("{\"limits\": {\"max_connections\": true}}",
                  "limits.max_connections: expected an integer from 1 to 1000000, got true");
        key_fails("{\"limits\": {\"max_message_bytes\": 268435457}}",
                  "limits.max_message_bytes: expected an integer from 1 to 268435456, got "
                  "268435457");
        key_fails("{\"limits\": {\"output_queue_bytes\": 65535}}",
                  "limits.output_queue_bytes: expected an integer from 65536 to 4294967296, got "
                  "65535");
        key_fails("{\"limits\": {\"output_queue_bytes\": 4294967297}}",
                  "limits.output_queue_bytes: expected an integer from 65536 to 4294967296, got "
                  "4294967297");
        key_fails("{\"limits\": {\"stall_timeout_ms\": 99}}",
                  "limits.stall_timeout_ms: expected an integer from 100 to 3600000, got 99");
        key_fails(
                "{\"limits\": {\"handshake_timeout_ms\": 600001}}",
                "limits.handshake_timeout_ms: expected an integer from 100 to 600000, got 600001");
        key_fails("{\"limits\": {\"max_subscriptions\": [1]}}",
                  "limits.max_subscriptions: expected an integer from 1 to 1000000, got an array");
        key_fails("{\"limits\": {\"max_connections_per_uid\": 0}}",
                  "limits.max_connections_per_uid: expected an integer from 1 to 1000000, got 0");
        key_fails("{\"limits\": {\"max_channels\": 1000001}}",
                  "limits.max_channels: expected an integer from 1 to 1000000, got 1000001");
        key_fails("{\"limits\": {\"max_queued_bytes_per_uid\": 65535}}",
                  "limits.max_queued_bytes_per_uid: expected an integer from 65536 to "
                  "1099511627776, got 65535");
        key_fails("{\"limits\": {\"max_rings_per_uid\": -1}}",
                  "limits.max_rings_per_uid: expected an integer from 0 to 1000000, got -1");
}

/* A user's connections together may queue at least what one of them may. */
static void test_queue_limits(void **state) {
        struct config c;

        key_fails("{\"limits\": {\"output_queue_bytes\": 1048576, "
                  "\"max_queued_bytes_per_uid\": 1048575}}",
                  "limits.max_queued_bytes_per_uid: 1048575 is less than "
                  "limits.output_queue_bytes (1048576)");
        /* Key order in the file does not matter. */
        key_fails("{\"limits\": {\"max_queued_bytes_per_uid\": 65536, "
                  "\"output_queue_bytes\": 131072}}",
                  "limits.max_queued_bytes_per_uid: 65536 is less than "
                  "limits.output_queue_bytes (131072)");
        load_ok("{\"limits\": {\"output_queue_bytes\": 65536, "
                "\"max_queued_bytes_per_uid\": 65536}}",
                &c);
        assert_int_equal(c.max_queued_bytes_per_uid, 65536);
        config_deinit(&c);
        /* Unstated, the built-in default follows a larger per-connection cap up. */
        load_ok("{\"limits\": {\"output_queue_bytes\": 268435456}}", &c);
        assert_int_equal(c.max_queued_bytes_per_uid, 268435456);
        config_deinit(&c);
        load_ok("{\"limits\": {\"max_rings_per_uid\": 0}}", &c);
        assert_int_equal(c.max_rings_per_uid, 0);
        config_deinit(&c);
}

static void test_channel_setting_errors(void **state) {
        key_fails("{\"channel_defaults\": {\"overflow\": \"x\"}}",
                  "channel_defaults.overflow: expected one of \"block\", \"drop\", "
                  "\"disconnect\", got \"x\"");
        key_fails("{\"channel_defaults\": {\"overflow\": 0}}",
                  "channel_defaults.overflow: expected one of \"block\", \"drop\", "
                  "\"disconnect\", got 0");
        key_fails("{\"channel_defaults\": {\"ring_bytes\": 100000}}",
                  "channel_defaults.ring_bytes: expected a power of two from 65536 to "
                  "1073741824, got 100000");
        key_fails("{\"channel_defaults\": {\"ring_bytes\": 32768}}",
                  "channel_defaults.ring_bytes: expected a power of two from 65536 to "
                  "1073741824, got 32768");
        key_fails("{\"channel_defaults\": {\"ring_bytes\": 2147483648}}",
                  "channel_defaults.ring_bytes: expected a power of two from 65536 to "
                  "1073741824, got 2147483648");
        key_fails("{\"channel_defaults\": {\"shared_memory\": 1}}",
                  "channel_defaults.shared_memory: expected true or false, got 1");
        key_fails("{\"channels\": {\"a.b\": {\"shared_memory\": \"no\"}}}",
                  "channels.\"a.b\".shared_memory: expected true or false, got \"no\"");
        key_fails("{\"channels\": {\"a\": {\"shared_memory\": null}}}",
                  "channels.a.shared_memory: expected true or false, got null");
        key_fails("{\"channel_defaults\": {\"max_message_bytes\": 0}}",
                  "channel_defaults.max_message_bytes: expected an integer from 1 to 268435456, "
                  "got 0");
        key_fails("{\"channel_defaults\": {\"max_message_bytes\": 2097152}}",
                  "channel_defaults.max_message_bytes: 2097152 exceeds "
                  "limits.max_message_bytes (1048576)");
        /* "limits" is applied first whatever the file order. */
        key_fails("{\"channels\": {\"a\": {\"max_message_bytes\": 8192}},"
                  " \"limits\": {\"max_message_bytes\": 4096}}",
                  "channels.a.max_message_bytes: 8192 exceeds limits.max_message_bytes (4096)");
}

static void test_channel_name_errors(void **state) {
        key_fails("{\"channels\": {\"a..b\": {}}}",
                  "channels.\"a..b\": invalid channel name or pattern");
        key_fails("{\"channels\": {\".a\": {}}}",
                  "channels.\".a\": invalid channel name or pattern");
        key_fails("{\"channels\": {\"a.\": {}}}",
                  "channels.\"a.\": invalid channel name or pattern");
        key_fails("{\"channels\": {\"\": {}}}", "channels.\"\": invalid channel name or pattern");
        key_fails("{\"channels\": {\"a.>.b\": {}}}",
                  "channels.\"a.>.b\": invalid channel name or pattern");
        key_fails("{\"channels\": {\"a*\": {}}}",
                  "channels.\"a*\": invalid channel name or pattern");
        key_fails("{\"channels\": {\"a b\": {}}}",
                  "channels.\"a b\": invalid channel name or pattern");
        key_fails("{\"channels\": {\"ok\": {}, \"x.*\": {\"overflow\": \"lossy\"}}}",
                  "channels.\"x.*\".overflow: expected one of \"block\", \"drop\", "
                  "\"disconnect\", got \"lossy\"");
}

static void test_listen_errors(void **state) {
        char text[4096], want[1024], longpath[200];

        key_fails("{\"listen\": {\"unix\": 5}}",
                  "listen.unix: expected null or a socket path of 1 to 107 bytes, got 5");
        key_fails("{\"listen\": {\"unix\": \"\"}}",
                  "listen.unix: expected null or a socket path of 1 to 107 bytes, got \"\"");
        memset(longpath, 'p', 108);
        longpath[0] = '/';
        longpath[108] = '\0';
        (void)snprintf(text, sizeof(text), "{\"listen\": {\"unix\": \"%s\"}}", longpath);
        (void)snprintf(want, sizeof(want),
                       "listen.unix: expected null or a socket path of 1 to 107 bytes, got \"%s\"",
                       longpath);
        key_fails(text, want);
        key_fails("{\"listen\": {\"tcp\": \"127.0.0.1:1\"}}",
                  "listen.tcp: expected an array of listener objects, got \"127.0.0.1:1\"");
        key_fails("{\"listen\": {\"tcp\": [" LOOP1 ", {\"address\": \"nope\"}]}}",
                  "listen.tcp[1].address: expected \"HOST:PORT\" or \"[IPV6]:PORT\", got \"nope\"");
        key_fails("{\"listen\": {\"tcp\": [{\"address\": \"h:65536\"}]}}",
                  "listen.tcp[0].address: expected \"HOST:PORT\" or \"[IPV6]:PORT\", got "
                  "\"h:65536\"");
        key_fails("{\"listen\": {\"tcp\": [{\"address\": \"::1:80\"}]}}",
                  "listen.tcp[0].address: expected \"HOST:PORT\" or \"[IPV6]:PORT\", got "
                  "\"::1:80\"");
        key_fails("{\"listen\": {\"tcp\": [7]}}",
                  "listen.tcp[0]: expected an object {\"address\": \"HOST:PORT\", ...}, got 7");
        (void)snprintf(text, sizeof(text), "{\"listen\": {\"tcp\": [");
        for (int i = 0; i <= CONFIG_TCP_MAX; i++)
                (void)snprintf(text + strlen(text), sizeof(text) - strlen(text),
                               "%s{\"address\": \"127.0.0.1:%d\", \"insecure\": true}",
                               i ? ", " : "", 1000 + i);
        (void)snprintf(text + strlen(text), sizeof(text) - strlen(text), "]}}");
        key_fails(text, "listen.tcp: expected at most 16 listeners, got 17");
}

/* The string form from before TLS is refused with what to write instead. */
static void test_tcp_bare_string(void **state) {
        key_fails("{\"listen\": {\"tcp\": [\"0.0.0.0:7420\"]}}",
                  "listen.tcp[0]: expected an object, got \"0.0.0.0:7420\"; write {\"address\": "
                  "\"0.0.0.0:7420\", \"tls\": {...}}, or {\"address\": \"0.0.0.0:7420\", "
                  "\"insecure\": true} for plain TCP on a loopback address");
}

/* Plain TCP: only with "insecure": true, only on a numeric loopback address. */
static void test_tcp_insecure_rules(void **state) {
        static const char *const remote[] = {"0.0.0.0:7420", "[::]:7420", "localhost:7420",
                                             "10.0.0.1:7420", "[::ffff:127.0.0.1]:1"};
        char text[256], msg[512];
        struct config c;

        for (size_t i = 0; i < ARRAY_SIZE(remote); i++) {
                for (int insecure = 0; insecure <= 1; insecure++) {
                        (void)snprintf(text, sizeof(text),
                                       "{\"listen\": {\"tcp\": [{\"address\": \"%s\"%s}]}}",
                                       remote[i], insecure ? ", \"insecure\": true" : "");
                        (void)snprintf(msg, sizeof(msg),
                                       "listen.tcp[0]: plain TCP is allowed only on a loopback "
                                       "address with \"insecure\": true; use \"tls\" for %s",
                                       remote[i]);
                        key_fails(text, msg);
                }
        }
        key_fails("{\"listen\": {\"tcp\": [{\"address\": \"127.0.0.1:1\"}]}}",
                  "listen.tcp[0]: plain TCP does not authenticate clients: add \"insecure\": true "
                  "to allow it on 127.0.0.1:1, or use \"tls\"");
        key_fails("{\"listen\": {\"tcp\": [{\"address\": \"127.0.0.1:1\", \"insecure\": false}]}}",
                  "listen.tcp[0]: plain TCP does not authenticate clients: add \"insecure\": true "
                  "to allow it on 127.0.0.1:1, or use \"tls\"");
        key_fails("{\"listen\": {\"tcp\": [{\"insecure\": true}]}}",
                  "listen.tcp[0]: \"address\" is required");
        key_fails("{\"listen\": {\"tcp\": [{\"address\": \"127.0.0.1:1\", \"insecure\": 1}]}}",
                  "listen.tcp[0].insecure: expected true or false, got 1");
        key_fails("{\"listen\": {\"tcp\": [{\"address\": \"127.0.0.1:1\", \"port\": 1}]}}",
                  "listen.tcp[0].port: unknown key");
        key_fails("{\"listen\": {\"tcp\": [{\"address\": \"127.0.0.1:1\", \"insecure\": true, "
                  "\"tls\": " TLS_CERT "}]}}",
                  "listen.tcp[0]: \"tls\" and \"insecure\": true exclude each other");
        load_ok("{\"listen\": {\"tcp\": [" LOOP1 ", {\"address\": \"[::1]:0\", \"insecure\": "
                "true}, {\"address\": \"127.9.9.9:2\", \"insecure\": true}]}}",
                &c);
        assert_int_equal(c.n_tcp, 3);
        assert_string_equal(c.tcp[1].address, "[::1]:0");
        assert_true(c.tcp[2].insecure);
        assert_null(c.tcp[2].tls);
        config_deinit(&c);
}

#define HASH_A "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
#define HASH_B "sha256:486EA46224D1BB4FB680F34F7C9AD96A8F24EC88BE73EA8E5A6C65260E9CB8A7"

static void tls_fails(const char *tls, const char *message) {
        char text[1024], msg[512];

        (void)snprintf(text, sizeof(text),
                       "{\"listen\": {\"tcp\": [{\"address\": \"0.0.0.0:7420\", \"tls\": %s}]}}",
                       tls);
        (void)snprintf(msg, sizeof(msg), "listen.tcp[0].tls%s", message);
        key_fails(text, msg);
}

/* What each "auth" needs and excludes; files are absolute paths (loaded later, by tls.c). */
static void test_tls_errors(void **state) {
        tls_fails("{\"key\": \"/k\", \"client_ca\": \"/ca\"}", ": \"certificate\" is required");
        tls_fails("{\"certificate\": \"/c\", \"client_ca\": \"/ca\"}", ": \"key\" is required");
        tls_fails("{\"certificate\": \"/c\", \"key\": \"/k\"}",
                  ": \"client_ca\" is required with \"auth\": \"certificate\"");
        tls_fails("{\"certificate\": \"/c\", \"key\": \"/k\", \"auth\": \"certificate\"}",
                  ": \"client_ca\" is required with \"auth\": \"certificate\"");
        tls_fails("{\"certificate\": \"/c\", \"key\": \"/k\", \"auth\": \"token\"}",
                  ": \"tokens\" is required with \"auth\": \"token\"");
        tls_fails("{\"certificate\": \"/c\", \"key\": \"/k\", \"client_ca\": \"/ca\", "
                  "\"tokens\": {\"a\": \"" HASH_A "\"}}",
                  ": \"tokens\" needs \"auth\": \"token\"");
        tls_fails("{\"certificate\": \"/c\", \"key\": \"/k\", \"client_ca\": \"/ca\", "
                  "\"auth\": \"token\", \"tokens\": {\"a\": \"" HASH_A "\"}}",
                  ": \"client_ca\" needs \"auth\": \"certificate\"");
        tls_fails("{\"certificate\": \"c.pem\"}",
                  ".certificate: expected an absolute file path, got "
                  "\"c.pem\"");
        tls_fails("{\"key\": \"\"}", ".key: expected an absolute file path, got \"\"");
        tls_fails("{\"client_ca\": 1}", ".client_ca: expected an absolute file path, got 1");
        tls_fails("{\"auth\": \"password\"}",
                  ".auth: expected \"certificate\" or \"token\", got \"password\"");
        tls_fails("{\"ciphers\": \"x\"}", ".ciphers: unknown key");
        tls_fails("{\"tokens\": {}}",
                  ".tokens: expected an object {\"NAME\": \"sha256:HEX\", ...}, "
                  "got an object");
        tls_fails("{\"tokens\": []}",
                  ".tokens: expected an object {\"NAME\": \"sha256:HEX\", ...}, "
                  "got an array");
        tls_fails("\"yes\"", ": expected an object, got \"yes\"");
}

/* A token's value is its hash; the error never repeats the value (it may be the token). */
static void test_tls_tokens(void **state) {
        static const char *const bad[] = {
                "\"secret\"",
                "\"sha256:\"",
                "\"sha1:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c\"",
                "\"sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b982\"",
                "\"sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b98244\"",
                "\"sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b982g\"",
                "7",
        };
        char tls[512];
        struct config c;

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                (void)snprintf(tls, sizeof(tls), "{\"tokens\": {\"svc\": %s}}", bad[i]);
                tls_fails(tls, ".tokens.svc: expected \"sha256:\" and the 64 hex digits of the "
                               "token's SHA-256 (printf %s TOKEN | sha256sum), not the token "
                               "itself");
        }
        tls_fails("{\"tokens\": {\"a\": \"" HASH_A "\", \"b\": \"" HASH_A "\"}}",
                  ".tokens.b: the same token as tokens.a");
        tls_fails("{\"tokens\": {\"\": \"" HASH_A "\"}}",
                  ".tokens.\"\": a token name is 1 to 255 bytes without control characters");
        tls_fails("{\"tokens\": {\"a\\nb\": \"" HASH_A "\"}}",
                  ".tokens.\"a\\u000ab\": a token name is 1 to 255 bytes without control "
                  "characters");
        load_ok("{\"listen\": {\"tcp\": [{\"address\": \"0.0.0.0:7420\", \"tls\": "
                "{\"certificate\": \"/c\", \"key\": \"/k\", \"auth\": \"token\", "
                "\"tokens\": {\"svc.a\": \"" HASH_A "\", \"b\": \"" HASH_B "\"}}}]}}",
                &c);
        assert_int_equal(c.n_tcp, 1);
        assert_false(c.tcp[0].insecure);
        assert_int_equal(c.tcp[0].tls->auth, CONFIG_TLS_AUTH_TOKEN);
        assert_null(c.tcp[0].tls->client_ca);
        assert_int_equal(c.tcp[0].tls->n_tokens, 2);
        assert_string_equal(c.tcp[0].tls->tokens[0].name, "svc.a");
        assert_int_equal(c.tcp[0].tls->tokens[0].sha256[0], 0x2c);
        assert_int_equal(c.tcp[0].tls->tokens[0].sha256[31], 0x24);
        assert_string_equal(c.tcp[0].tls->tokens[1].name, "b");
        assert_int_equal(c.tcp[0].tls->tokens[1].sha256[0], 0x48); /* upper-case hex too */
        config_deinit(&c);
}

/* Entries compare equal only when every TLS setting and token does (reload.c). */
static void test_tcp_equal(void **state) {
        struct config a, b;

        load_ok("{\"listen\": {\"tcp\": [" LOOP1 ", {\"address\": \"0.0.0.0:1\", \"tls\": " TLS_CERT
                "}, {\"address\": \"0.0.0.0:2\", \"tls\": {\"certificate\": \"/c\", "
                "\"key\": \"/k\", \"auth\": \"token\", \"tokens\": {\"a\": \"" HASH_A "\"}}}]}}",
                &a);
        load_ok("{\"listen\": {\"tcp\": [" LOOP2 ", {\"address\": \"0.0.0.0:1\", \"tls\": "
                "{\"certificate\": \"/c\", \"key\": \"/k\", \"client_ca\": "
                "\"/other\"}}, "
                "{\"address\": \"0.0.0.0:2\", \"tls\": {\"certificate\": \"/c\", "
                "\"key\": \"/k\", \"auth\": \"token\", \"tokens\": {\"a\": \"" HASH_B "\"}}}]}}",
                &b);
        assert_true(config_tcp_equal(&a.tcp[0], &a.tcp[0]));
        assert_true(config_tcp_equal(&a.tcp[1], &a.tcp[1]));
        assert_false(config_tcp_equal(&a.tcp[0], &b.tcp[0]));
        assert_false(config_tcp_equal(&a.tcp[1], &b.tcp[1]));
        assert_false(config_tcp_equal(&a.tcp[2], &b.tcp[2]));
        assert_false(config_tcp_equal(&a.tcp[0], &a.tcp[1]));
        assert_string_equal(config_tls_auth_name(a.tcp[2].tls->auth), "token");
        config_deinit(&a);
        config_deinit(&b);
}

/* A mode is an octal string: a JSON number would be decimal, 660 is not 0660. */
static void test_unix_mode_errors(void **state) {
        static const char *const bad[] = {
                "660",       "\"0800\"", "\"1777\"", "\"77\"",    "\"07777\"",
                "\"0660 \"", "\"-660\"", "\"\"",     "\"0o660\"", "null",
        };
        char text[256], msg[256];

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                (void)snprintf(text, sizeof(text), "{\"listen\": {\"unix_mode\": %s}}", bad[i]);
                (void)snprintf(msg, sizeof(msg),
                               "listen.unix_mode: expected an octal mode string from \"0000\" to "
                               "\"0777\", got %s",
                               bad[i]);
                key_fails(text, msg);
        }
}

static const char full_file[] =
        "{\n"
        "  \"comment\": \"every key set to something other than its default\",\n"
        "  \"listen\": {\"comment\": \"c\", \"unix\": \"/tmp/x.sock\", \"unix_mode\": \"0600\",\n"
        "             \"tcp\": [{\"comment\": \"c\", \"address\": \"127.0.0.1:7420\",\n"
        "                      \"insecure\": true},\n"
        "                     {\"address\": \"[::1]:0\", \"insecure\": true},\n"
        "                     {\"address\": \"localhost:65535\", \"tls\": {\"comment\": \"c\",\n"
        "                      \"certificate\": \"/c.pem\", \"key\": \"/k.pem\",\n"
        "                      \"client_ca\": \"/ca.pem\", \"auth\": \"certificate\"}}]},\n"
        "  \"limits\": {\"comment\": \"c\", \"max_connections\": 7, \"max_message_bytes\": 65536,\n"
        "             \"output_queue_bytes\": 4294967296, \"stall_timeout_ms\": 100,\n"
        "             \"handshake_timeout_ms\": 600000, \"max_subscriptions\": 1000000,\n"
        "             \"max_connections_per_uid\": 3, \"max_channels\": 9,\n"
        "             \"max_queued_bytes_per_uid\": 1099511627776, \"max_rings_per_uid\": 5},\n"
        "  \"channel_defaults\": {\"comment\": \"c\", \"max_message_bytes\": 4096,\n"
        "                       \"ring_bytes\": 65536, \"overflow\": \"drop\",\n"
        "                       \"shared_memory\": false},\n"
        "  \"channels\": {\n"
        "    \"comment\": \"a string here is a comment, not a channel\",\n"
        "    \"a.*\": {\"overflow\": \"disconnect\", \"shared_memory\": true},\n"
        "    \"a.>\": {\"ring_bytes\": 1073741824},\n"
        "    \"a.b\": {\"comment\": \"exact\", \"max_message_bytes\": 65536},\n"
        "    \">\": {\"max_message_bytes\": 100},\n"
        "    \"zzzzzzz\": {}\n"
        "  }\n"
        "}\n";

static void test_every_key(void **state) {
        struct config c;

        load_ok(full_file, &c);
        assert_non_null(c.path);
        assert_string_equal(c.unix_path, "/tmp/x.sock");
        assert_false(c.unix_disabled);
        assert_int_equal(c.n_tcp, 3);
        assert_string_equal(c.tcp[0].address, "127.0.0.1:7420");
        assert_true(c.tcp[0].insecure);
        assert_string_equal(c.tcp[1].address, "[::1]:0");
        assert_string_equal(c.tcp[2].address, "localhost:65535");
        assert_false(c.tcp[2].insecure);
        assert_string_equal(c.tcp[2].tls->certificate, "/c.pem");
        assert_string_equal(c.tcp[2].tls->key, "/k.pem");
        assert_string_equal(c.tcp[2].tls->client_ca, "/ca.pem");
        assert_int_equal(c.tcp[2].tls->auth, CONFIG_TLS_AUTH_CERTIFICATE);
        assert_int_equal(c.tcp[2].tls->n_tokens, 0);
        assert_int_equal(c.unix_mode, 0600);
        assert_int_equal(c.max_connections, 7);
        assert_int_equal(c.max_message_bytes, 65536);
        assert_int_equal(c.output_queue_bytes, UINT64_C(4294967296));
        assert_int_equal(c.stall_timeout_usec, 100 * USEC_PER_MSEC);
        assert_int_equal(c.handshake_timeout_usec, 600000 * USEC_PER_MSEC);
        assert_int_equal(c.max_subscriptions, 1000000);
        assert_int_equal(c.max_connections_per_uid, 3);
        assert_int_equal(c.max_channels, 9);
        assert_int_equal(c.max_queued_bytes_per_uid, UINT64_C(1099511627776));
        assert_int_equal(c.max_rings_per_uid, 5);
        assert_int_equal(c.channel_defaults.max_message_bytes, 4096);
        assert_int_equal(c.channel_defaults.ring_bytes, 65536);
        assert_int_equal(c.channel_defaults.overflow, PROTO_OVERFLOW_DROP);
        assert_false(c.channel_defaults.shared_memory);
        assert_int_equal(c.n_rules, 5);
        assert_string_equal(c.rules[0].pattern, "a.*");
        assert_true(c.rules[0].is_pattern);
        /* Keys an entry omits come from channel_defaults. */
        assert_int_equal(c.rules[0].settings.overflow, PROTO_OVERFLOW_DISCONNECT);
        assert_int_equal(c.rules[0].settings.max_message_bytes, 4096);
        assert_int_equal(c.rules[0].settings.ring_bytes, 65536);
        assert_true(c.rules[0].settings.shared_memory);
        assert_false(c.rules[1].settings.shared_memory);
        assert_string_equal(c.rules[2].pattern, "a.b");
        assert_false(c.rules[2].is_pattern);
        assert_int_equal(c.rules[2].settings.max_message_bytes, 65536);
        assert_int_equal(c.rules[2].settings.overflow, PROTO_OVERFLOW_DROP);
        assert_string_equal(c.rules[4].pattern, "zzzzzzz");
        assert_false(c.rules[4].is_pattern);
        config_deinit(&c);
        assert_defaults(&c);
}

/* In "channels", "comment" with a string is a comment; with an object, a channel. */
static void test_comment_channel(void **state) {
        struct config c;

        load_ok("{\"channels\": {\"comment\": {\"overflow\": \"drop\"}}}", &c);
        assert_int_equal(c.n_rules, 1);
        assert_string_equal(c.rules[0].pattern, "comment");
        assert_int_equal(config_channel_settings(&c, "comment")->overflow, PROTO_OVERFLOW_DROP);
        config_deinit(&c);

        load_ok("{\"channels\": {\"comment\": \"nothing declared\"}}", &c);
        assert_int_equal(c.n_rules, 0);
        config_deinit(&c);
}

static void test_lookup_order(void **state) {
        struct config c;

        load_ok("{\"channels\": {"
                "\"s.*\": {\"ring_bytes\": 65536},"
                "\"s.>\": {\"ring_bytes\": 131072},"
                "\"s.exact\": {\"ring_bytes\": 262144},"
                "\">\": {\"ring_bytes\": 524288},"
                "\"s.*.x\": {\"ring_bytes\": 2097152}},"
                "\"channel_defaults\": {\"overflow\": \"drop\"}}",
                &c);
        /* An exact rule wins over patterns listed before it. */
        assert_int_equal(config_channel_settings(&c, "s.exact")->ring_bytes, 262144);
        /* Otherwise the first matching pattern in file order. */
        assert_int_equal(config_channel_settings(&c, "s.other")->ring_bytes, 65536);
        assert_int_equal(config_channel_settings(&c, "s.a.x")->ring_bytes, 131072);
        assert_int_equal(config_channel_settings(&c, "t")->ring_bytes, 524288);
        assert_int_equal(config_channel_settings(&c, "s")->ring_bytes, 524288);
        /* Rules inherit channel_defaults even when "channels" comes first. */
        assert_int_equal(config_channel_settings(&c, "s.exact")->overflow, PROTO_OVERFLOW_DROP);
        config_deinit(&c);

        load_ok("{\"channels\": {\"a.b\": {\"overflow\": \"disconnect\"}}}", &c);
        assert_int_equal(config_channel_settings(&c, "a.b")->overflow, PROTO_OVERFLOW_DISCONNECT);
        assert_true(config_channel_settings(&c, "a.b")->shared_memory);
        assert_ptr_equal(config_channel_settings(&c, "a.b.c"), &c.channel_defaults);
        assert_ptr_equal(config_channel_settings(&c, "a"), &c.channel_defaults);
        config_deinit(&c);
}

static void test_limits_lower_defaults(void **state) {
        struct config c;

        /* A lower ceiling alone lowers the built-in channel default with it. */
        load_ok("{\"limits\": {\"max_message_bytes\": 4096}, \"channels\": {\"x\": {}}}", &c);
        assert_int_equal(c.channel_defaults.max_message_bytes, 4096);
        assert_int_equal(config_channel_settings(&c, "x")->max_message_bytes, 4096);
        config_deinit(&c);

        load_ok("{\"limits\": {\"max_message_bytes\": 268435456},"
                " \"channel_defaults\": {\"max_message_bytes\": 268435456}}",
                &c);
        assert_int_equal(c.channel_defaults.max_message_bytes, 268435456);
        config_deinit(&c);
}

/* "shared_memory": false on a pattern keeps its channels on the socket path, others keep rings. */
static void test_shared_memory(void **state) {
        struct config c;

        load_ok("{\"channels\": {\"net.>\": {\"shared_memory\": false},"
                " \"net.local\": {\"shared_memory\": true}}}",
                &c);
        assert_false(config_channel_settings(&c, "net.remote")->shared_memory);
        assert_true(config_channel_settings(&c, "net.local")->shared_memory);
        assert_true(config_channel_settings(&c, "other")->shared_memory);
        config_deinit(&c);

        load_ok("{\"channel_defaults\": {\"shared_memory\": false},"
                " \"channels\": {\"x\": {\"overflow\": \"drop\"}}}",
                &c);
        assert_false(config_channel_settings(&c, "x")->shared_memory);
        assert_false(config_channel_settings(&c, "y")->shared_memory);
        config_deinit(&c);
        assert_defaults(&c);
}

static void test_listen_forms(void **state) {
        struct config c;

        load_ok("{\"listen\": {\"unix\": null, \"tcp\": []}}", &c);
        assert_true(c.unix_disabled);
        assert_null(c.unix_path);
        assert_int_equal(c.n_tcp, 0);
        config_deinit(&c);

        load_ok("{}", &c);
        assert_false(c.unix_disabled);
        assert_null(c.unix_path);
        config_deinit(&c);

        /* Three digits or four with a leading 0, the whole 0000..0777 range. */
        load_ok("{\"listen\": {\"unix_mode\": \"666\"}}", &c);
        assert_int_equal(c.unix_mode, 0666);
        config_deinit(&c);
        load_ok("{\"listen\": {\"unix_mode\": \"0000\"}}", &c);
        assert_int_equal(c.unix_mode, 0);
        config_deinit(&c);
        load_ok("{\"listen\": {\"unix_mode\": \"0777\"}}", &c);
        assert_int_equal(c.unix_mode, 0777);
        config_deinit(&c);
}

static void test_reload(void **state) {
        char err[CONFIG_ERROR_MAX];
        struct config c, scratch;
        struct tmp_file t;

        load_ok("{\"channels\": {\"a\": {}}, \"listen\": {\"tcp\": [" LOOP1 "]}}", &c);
        /* A failed reload leaves the running config alone... */
        memset(&scratch, 0x5a, sizeof(scratch));
        assert_int_equal(load_text("{\"channels\": {\"b\": {}, \"c..\": {}}}", &scratch, err, &t),
                         -EINVAL);
        assert_int_equal(((unsigned char *)&scratch)[0], 0x5a);
        assert_int_equal(c.n_rules, 1);
        /* ...and a good one is swapped in by the caller. */
        assert_int_equal(load_text("{\"channels\": {\"b\": {}, \"c\": {}}}", &scratch, err, &t), 0);
        config_deinit(&c);
        c = scratch;
        assert_int_equal(c.n_rules, 2);
        assert_string_equal(c.rules[1].pattern, "c");
        config_deinit(&c);
}

#define RULE(json) "{\"access\": {\"rules\": [" json "]}}"
#define PRINCIPAL_FORMS                                                                            \
        "expected \"*\", \"uid:N\", \"gid:N\", \"user:NAME\", \"group:NAME\", \"remote:NAME\" "    \
        "or \"remote:*\", got "

static void test_access_errors(void **state) {
        key_fails("{\"access\": 1}", "access: expected an object, got 1");
        key_fails("{\"access\": {\"bogus\": 1}}", "access.bogus: unknown key");
        key_fails("{\"access\": {\"default\": \"maybe\"}}",
                  "access.default: expected \"allow\" or \"deny\", got \"maybe\"");
        key_fails("{\"access\": {\"default\": false}}",
                  "access.default: expected \"allow\" or \"deny\", got false");
        key_fails("{\"access\": {\"rules\": {}}}",
                  "access.rules: expected an array of rules, got an object");
        key_fails(RULE("5"), "access.rules[0]: expected an object, got 5");
        key_fails(RULE("{\"publish\": [\"*\"]}"), "access.rules[0]: missing \"channel\"");
        key_fails(RULE("{\"channel\": \"a\", \"comment\": \"no rights\"}"),
                  "access.rules[0]: a rule needs \"publish\" or \"subscribe\"");
        key_fails(RULE("{\"channel\": \"a\", \"publish\": [], \"read\": []}"),
                  "access.rules[0].read: unknown key");
        key_fails(RULE("{\"channel\": \"a..b\", \"publish\": []}"),
                  "access.rules[0].channel: expected a channel name or pattern (see "
                  "ipc-broker(7)), got \"a..b\"");
        key_fails(RULE("{\"channel\": \"a.>.b\", \"publish\": []}"),
                  "access.rules[0].channel: expected a channel name or pattern (see "
                  "ipc-broker(7)), got \"a.>.b\"");
        key_fails(RULE("{\"channel\": 5, \"publish\": []}"),
                  "access.rules[0].channel: expected a channel name or pattern (see "
                  "ipc-broker(7)), got 5");
        key_fails(RULE("{\"channel\": \"a\", \"publish\": \"*\"}"),
                  "access.rules[0].publish: expected an array of principals, got \"*\"");
        /* The index names the rule and the principal at fault. */
        key_fails(RULE("{\"channel\": \"a\", \"publish\": [\"*\"]},"
                       "{\"channel\": \"b\", \"subscribe\": [\"uid:1\", \"root\"]}"),
                  "access.rules[1].subscribe[1]: " PRINCIPAL_FORMS "\"root\"");
}

static void principal_fails(const char *principal, const char *message) {
        char text[512], want[512];

        (void)snprintf(text, sizeof(text), RULE("{\"channel\": \"a\", \"publish\": [%s]}"),
                       principal);
        (void)snprintf(want, sizeof(want), "access.rules[0].publish[0]: %s", message);
        key_fails(text, want);
}

static void test_access_principal_errors(void **state) {
        static const char *const bad_forms[] = {
                "5",       "null",     "\"\"",   "\"**\"",   "\"UID:1\"",
                "\"uid\"", "\"user\"", "\" *\"", "\"root\"", "\"remote\"",
        };
        static const char *const bad_ids[] = {
                "-1", "4294967295", "", "0x10", " 1", "1 ", "+1", "12345678901", "1.5", "a",
        };
        char text[64], want[256];

        for (size_t i = 0; i < ARRAY_SIZE(bad_forms); i++) {
                (void)snprintf(want, sizeof(want), PRINCIPAL_FORMS "%s", bad_forms[i]);
                principal_fails(bad_forms[i], want);
        }
        for (size_t i = 0; i < ARRAY_SIZE(bad_ids); i++) {
                (void)snprintf(text, sizeof(text), "\"uid:%s\"", bad_ids[i]);
                (void)snprintf(want, sizeof(want),
                               "expected \"uid:N\" with N from 0 to 4294967294, got \"uid:%s\"",
                               bad_ids[i]);
                principal_fails(text, want);
                (void)snprintf(text, sizeof(text), "\"gid:%s\"", bad_ids[i]);
                (void)snprintf(want, sizeof(want),
                               "expected \"gid:N\" with N from 0 to 4294967294, got \"gid:%s\"",
                               bad_ids[i]);
                principal_fails(text, want);
        }
        principal_fails("[\"uid:1\"]", PRINCIPAL_FORMS "an array");
        principal_fails("\"user:\"", "expected \"user:NAME\", got an empty name");
        principal_fails("\"group:\"", "expected \"group:NAME\", got an empty name");
        principal_fails("\"user:no-such-user-ipc\"", "unknown user \"no-such-user-ipc\"");
        principal_fails("\"remote:\"",
                        "expected \"remote:NAME\" with a NAME of 1 to 255 bytes, got \"remote:\"");
        /* The example of ipc-brokerd.json(5), word for word. */
        key_fails(
                RULE("{\"channel\": \"a\", \"publish\": []}, {\"channel\": \"b\", \"publish\": []},"
                     "{\"channel\": \"audit.>\", \"subscribe\": [\"group:wheelz\"]}"),
                "access.rules[2].subscribe[0]: unknown group \"wheelz\"");
}

static void assert_principal(const struct acl_principal *p, enum acl_principal_kind kind,
                             uint32_t id, const char *name) {
        assert_int_equal(p->kind, kind);
        if (kind == ACL_UID || kind == ACL_GID)
                assert_int_equal(p->id, id);
        if (name)
                assert_string_equal(p->name, name);
        else
                assert_null(p->name);
}

static void test_access_load(void **state) {
        const struct acl_rule *r;
        struct config c;

        load_ok("{\"access\": {\"comment\": \"c\", \"default\": \"deny\", \"rules\": ["
                "{\"comment\": \"c\", \"channel\": \"a.>\", \"publish\": [\"*\", \"uid:0\","
                " \"uid:4294967294\", \"gid:007\", \"user:root\", \"group:root\"]},"
                "{\"channel\": \"b\", \"subscribe\": [\"remote:sensor-1\", \"remote:*\","
                " \"remote:a b\"], \"publish\": []}]}}",
                &c);
        assert_false(c.access.default_allow);
        assert_int_equal(c.access.n_rules, 2);
        r = &c.access.rules[0];
        assert_string_equal(r->channel, "a.>");
        assert_int_equal(r->channel_len, 3);
        assert_true(r->is_pattern);
        assert_true(r->rights[ACL_PUBLISH].present);
        assert_false(r->rights[ACL_SUBSCRIBE].present);
        assert_int_equal(r->rights[ACL_PUBLISH].n, 6);
        assert_principal(&r->rights[ACL_PUBLISH].items[0], ACL_ANYONE, 0, NULL);
        assert_principal(&r->rights[ACL_PUBLISH].items[1], ACL_UID, 0, NULL);
        assert_principal(&r->rights[ACL_PUBLISH].items[2], ACL_UID, UINT32_C(4294967294), NULL);
        assert_principal(&r->rights[ACL_PUBLISH].items[3], ACL_GID, 7, NULL);
        assert_principal(&r->rights[ACL_PUBLISH].items[4], ACL_UID, 0, NULL);
        assert_principal(&r->rights[ACL_PUBLISH].items[5], ACL_GID, 0, NULL);
        r = &c.access.rules[1];
        assert_false(r->is_pattern);
        assert_true(r->rights[ACL_PUBLISH].present);
        assert_int_equal(r->rights[ACL_PUBLISH].n, 0); /* nobody */
        assert_int_equal(r->rights[ACL_SUBSCRIBE].n, 3);
        assert_principal(&r->rights[ACL_SUBSCRIBE].items[0], ACL_REMOTE, 0, "sensor-1");
        assert_principal(&r->rights[ACL_SUBSCRIBE].items[1], ACL_REMOTE_ANY, 0, NULL);
        assert_principal(&r->rights[ACL_SUBSCRIBE].items[2], ACL_REMOTE, 0, "a b");
        config_deinit(&c);
        assert_defaults(&c);

        load_ok("{\"access\": {\"default\": \"allow\", \"rules\": []}}", &c);
        assert_true(c.access.default_allow);
        assert_int_equal(c.access.n_rules, 0);
        config_deinit(&c);
}

static void test_overflow_names(void **state) {
        assert_string_equal(config_overflow_name(PROTO_OVERFLOW_BLOCK), "block");
        assert_string_equal(config_overflow_name(PROTO_OVERFLOW_DROP), "drop");
        assert_string_equal(config_overflow_name(PROTO_OVERFLOW_DISCONNECT), "disconnect");
        assert_string_equal(config_overflow_name(_PROTO_OVERFLOW_MAX), "unknown");
}

static void test_sample(void **state) {
        const char *top = getenv("IPC_TOP_SRCDIR");
        char path[4096], err[CONFIG_ERROR_MAX] = "";
        const struct channel_settings *s;
        struct config c;
        int r;

        if (!top)
                fail_msg("IPC_TOP_SRCDIR is unset (make check sets it)");
        (void)snprintf(path, sizeof(path), "%s/conf/ipc-brokerd.json", top);
        r = config_load(&c, path, true, err, sizeof(err));
        if (r < 0)
                fail_msg("%s", err);
        /* The sample shows the defaults: only its example entries differ. */
        free(c.path);
        c.path = NULL;
        assert_int_equal(c.n_rules, 2);
        s = config_channel_settings(&c, "metrics.cpu.load");
        assert_int_equal(s->overflow, PROTO_OVERFLOW_DROP);
        s = config_channel_settings(&c, "audit.log");
        assert_int_equal(s->overflow, PROTO_OVERFLOW_DISCONNECT);
        assert_ptr_equal(config_channel_settings(&c, "other"), &c.channel_defaults);
        for (size_t i = 0; i < c.n_rules; i++)
                free(c.rules[i].pattern);
        free(c.rules);
        c.rules = NULL;
        c.n_rules = 0;
        /* "default": "allow", and one example rule. */
        assert_true(c.access.default_allow);
        assert_int_equal(c.access.n_rules, 1);
        assert_string_equal(c.access.rules[0].channel, "audit.log");
        assert_int_equal(c.access.rules[0].rights[ACL_PUBLISH].n, 1);
        assert_int_equal(c.access.rules[0].rights[ACL_SUBSCRIBE].n, 2);
        config_access_deinit(&c.access);
        assert_defaults(&c);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_missing_file),
                cmocka_unit_test(test_unreadable_file),
                cmocka_unit_test(test_syntax_errors),
                cmocka_unit_test(test_type_errors),
                cmocka_unit_test(test_unknown_keys),
                cmocka_unit_test(test_limit_ranges),
                cmocka_unit_test(test_queue_limits),
                cmocka_unit_test(test_channel_setting_errors),
                cmocka_unit_test(test_channel_name_errors),
                cmocka_unit_test(test_listen_errors),
                cmocka_unit_test(test_tcp_bare_string),
                cmocka_unit_test(test_tcp_insecure_rules),
                cmocka_unit_test(test_tls_errors),
                cmocka_unit_test(test_tls_tokens),
                cmocka_unit_test(test_tcp_equal),
                cmocka_unit_test(test_unix_mode_errors),
                cmocka_unit_test(test_comment_channel),
                cmocka_unit_test(test_every_key),
                cmocka_unit_test(test_lookup_order),
                cmocka_unit_test(test_limits_lower_defaults),
                cmocka_unit_test(test_shared_memory),
                cmocka_unit_test(test_listen_forms),
                cmocka_unit_test(test_reload),
                cmocka_unit_test(test_access_errors),
                cmocka_unit_test(test_access_principal_errors),
                cmocka_unit_test(test_access_load),
                cmocka_unit_test(test_overflow_names),
                cmocka_unit_test(test_sample),
        };

        return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
