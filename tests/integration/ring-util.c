/* SPDX-License-Identifier: MIT */
/* Helpers of the shared-memory ring integration tests: see ring-util.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ring-util.h"
#include "util.h"

void ru_allow_rings(void) {
        assert_int_equal(unsetenv("IPC_TRANSPORT"), 0);
}

ipc_client *ru_connect(const char *address, const char *name, int transport) {
        ipc_options *opts = NULL;
        ipc_client *c = NULL;
        int r;

        assert_int_equal(ipc_options_new(&opts), 0);
        assert_int_equal(ipc_options_set_connect_timeout(opts, harness_timeout(RU_T_SEC)), 0);
        assert_int_equal(ipc_options_set_name(opts, name), 0);
        assert_int_equal(ipc_options_set_transport(opts, transport), 0);
        r = ipc_client_connect(address, opts, &c);
        ipc_options_free(opts);
        if (r < 0)
                fail_msg("connecting to %s: %s", address, ipc_strerror(r));
        return c;
}

static const char *transport_name(int t) {
        switch (t) {
        case IPC_TRANSPORT_AUTO:
                return "auto";
        case IPC_TRANSPORT_SOCKET:
                return "socket";
        case IPC_TRANSPORT_RING:
                return "ring";
        default:
                return "invalid";
        }
}

ipc_pub *ru_pub(ipc_client *c, const char *channel, int want_transport) {
        ipc_pub *pub = NULL;
        int r = ipc_pub_new(c, channel, harness_timeout(RU_T_SEC), &pub);

        if (r < 0)
                fail_msg("ipc_pub_new(%s): %s (%s)", channel, ipc_strerror(r),
                         ipc_client_get_error(c));
        r = ipc_pub_get_transport(pub);
        if (r != want_transport)
                fail_msg("publisher of %s uses the %s transport, expected %s", channel,
                         transport_name(r), transport_name(want_transport));
        return pub;
}

ipc_sub *ru_sub(ipc_client *c, const char *pattern, int want_transport) {
        ipc_sub *sub = NULL;
        int r = ipc_sub_new(c, pattern, harness_timeout(RU_T_SEC), &sub);

        if (r < 0)
                fail_msg("ipc_sub_new(%s): %s (%s)", pattern, ipc_strerror(r),
                         ipc_client_get_error(c));
        r = ipc_sub_get_transport(sub);
        if (r != want_transport)
                fail_msg("subscription %s uses the %s transport, expected %s", pattern,
                         transport_name(r), transport_name(want_transport));
        return sub;
}

const ipc_msg *ru_receive(ipc_client *c, ipc_sub *sub, uint64_t timeout_usec) {
        const ipc_msg *m = NULL;
        int r = ipc_client_receive(c, harness_timeout(timeout_usec), &m);

        if (r < 0)
                fail_msg("receiving on %s: %s (%s)", sub ? ipc_sub_get_pattern(sub) : "a client",
                         ipc_strerror(r), ipc_client_get_error(c));
        if (sub && ipc_msg_get_sub(m) != sub)
                fail_msg("a message of %s, expected one of %s",
                         ipc_sub_get_pattern(ipc_msg_get_sub(m)), ipc_sub_get_pattern(sub));
        return m;
}

static uint8_t pattern_byte(uint64_t index, uint8_t source, size_t i) {
        return (uint8_t)(index * 131 + source * 17 + i);
}

void ru_payload_fill(void *p, size_t size, uint64_t index, uint8_t source) {
        uint8_t *b = p;

        assert_true(size >= RU_PAYLOAD_HEAD);
        le64_put(b, index);
        b[8] = source;
        for (size_t i = RU_PAYLOAD_HEAD; i < size; i++)
                b[i] = pattern_byte(index, source, i);
}

void ru_payload_check(const void *p, size_t size, uint64_t *ret_index, uint8_t *ret_source) {
        const uint8_t *b = p;
        uint64_t index;

        if (size < RU_PAYLOAD_HEAD)
                fail_msg("payload of %zu bytes is too short", size);
        index = le64_get(b);
        for (size_t i = RU_PAYLOAD_HEAD; i < size; i++)
                if (b[i] != pattern_byte(index, b[8], i))
                        fail_msg("payload %" PRIu64 " of source %u corrupt at byte %zu of %zu",
                                 index, b[8], i, size);
        if (ret_index)
                *ret_index = index;
        if (ret_source)
                *ret_source = b[8];
}

int ru_publish(ipc_pub *pub, size_t size, uint64_t index, uint8_t source, unsigned flags,
               uint64_t timeout_usec) {
        uint8_t buf[65536];

        assert_true(size <= sizeof(buf));
        ru_payload_fill(buf, size, index, source);
        return ipc_publish(pub, buf, size, flags, timeout_usec);
}

json_t *ru_stats(ipc_client *c) {
        char *text = NULL;
        json_t *j;

        assert_int_equal(ipc_client_stats(c, harness_timeout(RU_T_SEC), &text), 0);
        j = harness_json_parse(text);
        ipc_free(text);
        return j;
}

json_t *ru_stats_channel(json_t *stats, const char *channel) {
        json_t *ch = harness_json_channel(json_object_get(stats, "channel_stats"), channel);

        if (!ch) {
                char *text = json_dumps(stats, JSON_COMPACT);

                fail_msg("no channel_stats entry for %s in %s", channel, text);
        }
        return ch;
}

const char *ru_json_str(json_t *obj, const char *key) {
        const char *s = json_string_value(json_object_get(obj, key));

        return s ? s : "";
}

unsigned ru_count_clients(json_t *ch, const char *role, const char *transport, const char *sum_key,
                          int64_t *ret_sum) {
        json_t *clients = json_object_get(ch, "clients"), *cl;
        unsigned n = 0;
        int64_t sum = 0;
        size_t i;

        if (!json_is_array(clients))
                fail_msg("channel_stats entry without a \"clients\" array");
        json_array_foreach(clients, i, cl) {
                if (strcmp(ru_json_str(cl, "role"), role) != 0)
                        continue;
                if (transport && strcmp(ru_json_str(cl, "transport"), transport) != 0)
                        continue;
                n++;
                if (sum_key)
                        sum += harness_json_int(cl, sum_key);
        }
        if (ret_sum)
                *ret_sum = sum;
        return n;
}

struct harness_proc *ru_peer_spawn(const char *mode, const char *address, const char *channel,
                                   size_t size, const char **ret_transport) {
        const char *top = getenv("IPC_TOP_BUILDDIR");
        char path[PATH_MAX], size_arg[32];
        const char *argv[] = {path, mode, address, channel, size_arg, NULL};
        struct harness_proc *p = NULL;
        char *line = NULL;
        int r;

        assert_non_null(top);
        snprintf(path, sizeof(path), "%s/tests/integration/ring-peer", top);
        snprintf(size_arg, sizeof(size_arg), "%zu", size);
        assert_int_equal(harness_spawn(argv, &p), 0);
        r = harness_proc_read_line(p, harness_timeout(2 * RU_T_SEC), &line);
        if (r < 0)
                fail_msg("ring-peer %s %s: no ready line (%s): %s", mode, channel, strerror(-r),
                         harness_proc_stderr(p));
        if (strcmp(line, "ready ring") == 0)
                *ret_transport = "ring";
        else if (strcmp(line, "ready socket") == 0)
                *ret_transport = "socket";
        else
                fail_msg("ring-peer %s %s said \"%s\": %s", mode, channel, line,
                         harness_proc_stderr(p));
        free(line);
        return p;
}

void ru_peer_expect(struct harness_proc *p, const char *want) {
        char *line = NULL;
        int r = harness_proc_read_line(p, harness_timeout(2 * RU_T_SEC), &line);

        if (r < 0)
                fail_msg("ring-peer: no \"%s\" line (%s): %s", want, strerror(-r),
                         harness_proc_stderr(p));
        if (strcmp(line, want) != 0)
                fail_msg("ring-peer said \"%s\", expected \"%s\": %s", line, want,
                         harness_proc_stderr(p));
        free(line);
}

pid_t ru_gettid(void) {
        return (pid_t)syscall(SYS_gettid);
}

/* Return: the state letter of thread @tid, or 0 when unreadable. */
static char thread_state(pid_t tid) {
        char path[64], buf[512], *p;
        FILE *f;
        size_t n;

        snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
        f = fopen(path, "re");
        if (!f)
                return 0;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        (void)fclose(f);
        buf[n] = 0;
        /* "TID (COMM) S ...": COMM may contain spaces and parentheses. */
        p = strrchr(buf, ')');
        return p && p[1] == ' ' ? p[2] : 0;
}

int ru_wait_blocked(pid_t tid, uint64_t timeout_usec) {
        uint64_t deadline = harness_now_usec() + harness_timeout(timeout_usec);
        const struct timespec step = {.tv_nsec = 100 * 1000};
        unsigned asleep = 0;

        /* Asleep for 2 ms in a row: not a passing futex or page fault on the way. */
        while (asleep < 20) {
                if (harness_now_usec() >= deadline)
                        return -ETIMEDOUT;
                asleep = thread_state(tid) == 'S' ? asleep + 1 : 0;
                (void)nanosleep(&step, NULL);
        }
        return 0;
}
