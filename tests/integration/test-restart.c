/* SPDX-License-Identifier: MIT */
/*
 * Broker restarts: a broker killed with SIGKILL leaves its socket node
 * behind, and the next one on the same path must serve at once; and with
 * a service manager's fd store (here the test's own NOTIFY_SOCKET, which
 * keeps what FDSTORE=1 sends, as systemd does), a channel's ring comes
 * back after the kill with its unread messages and sequence numbers, a
 * subscriber resuming where it was gets them, and a ring that does not
 * fit the configuration any more is discarded with a log line.
 */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "proto.h"
#include "ring.h"
#include "sd-broker.h"

#define T_SEC      HARNESS_USEC_PER_SEC
#define CHANNEL    "restart.chan"
#define N_MESSAGES 5
/* Where the stored fds wait in the child until the shell moves them to 3.. */

/* What systemd sets with FileDescriptorStoreMax=: the broker stores rings only then. */
static const char *const store_env[] = {"FDSTORE=64", NULL};

#define T(f) cmocka_unit_test_setup_teardown(f, sd_broker_setup, sd_broker_teardown)

/* ipcctl with @args against the broker; asserts exit 0 and returns stdout (free it). */
static char *ipcctl(struct sd_broker *b, const char *const *args) {
        const char *argv[16];
        struct harness_output o;
        size_t n = 0;
        char *out;

        argv[n++] = getenv("IPCCTL");
        argv[n++] = "--address";
        argv[n++] = b->address;
        for (size_t i = 0; args[i] && n < 15; i++)
                argv[n++] = args[i];
        argv[n] = NULL;
        assert_int_equal(harness_run(argv, NULL, 0, 10 * T_SEC, &o), 0);
        if (o.status != 0)
                fail_msg("ipcctl %s: exit %d: %s", args[0], o.status, o.err);
        out = strdup(o.out);
        harness_output_free(&o);
        return out;
}

/* The channel's "next_seq" from `ipcctl channels --json`, or -1 without the channel. */
static int64_t next_seq(struct sd_broker *b) {
        const char *args[] = {"channels", "--json", NULL};
        char *out = ipcctl(b, args);
        json_t *arr = json_loads(out, 0, NULL);
        int64_t seq = -1;
        size_t i;
        json_t *c;

        assert_non_null(arr);
        json_array_foreach(arr, i, c) {
                if (strcmp(json_string_value(json_object_get(c, "name")), CHANNEL) == 0)
                        seq = harness_json_int(c, "next_seq");
        }
        json_decref(arr);
        free(out);
        return seq;
}

/* The node stays after SIGKILL; the next broker replaces it (nobody answers on it) and serves. */
static void test_sigkill_restart(void **state) {
        struct sd_broker *b = *state;
        struct stat st;
        ipc_client *c;

        sd_broker_start(b, NULL, NULL);
        sd_broker_kill(b);
        assert_int_equal(stat(b->sock, &st), 0);
        assert_true(S_ISSOCK(st.st_mode));

        sd_broker_start(b, NULL, NULL);
        c = harness_connect(b->address, "after-kill");
        assert_int_equal(ipc_client_ping(c, harness_timeout(T_SEC), NULL), 0);
        ipc_client_free(c);
}

/* A live broker on the path is not replaced: the second one refuses and says why. */
static void test_live_node_kept(void **state) {
        struct sd_broker *b = *state;
        struct sd_broker other = *b;
        ipc_client *c;

        sd_broker_start(b, NULL, NULL);
        other.proc = NULL;
        other.stderr_fd = -1;
        sd_broker_spawn(&other, NULL, NULL, NULL);
        assert_int_equal(daemon_proc_wait_log(other.proc, "Address already in use", 5 * T_SEC),
                         0);
        other.proc = daemon_proc_free(other.proc);
        c = harness_connect(b->address, "still-there");
        assert_int_equal(ipc_client_ping(c, harness_timeout(T_SEC), NULL), 0);
        ipc_client_free(c);
}

/* A ring subscriber keeps the channel (and its ring) alive; returns it, connected. */
static ipc_client *ring_subscriber(struct sd_broker *b, ipc_sub **ret) {
        ipc_client *c;

        (void)unsetenv("IPC_TRANSPORT");
        c = harness_connect(b->address, "holder");
        assert_int_equal(ipc_sub_new(c, CHANNEL, harness_timeout(5 * T_SEC), ret), 0);
        assert_int_equal(ipc_sub_get_transport(*ret), IPC_TRANSPORT_RING);
        return c;
}

static void publish_n(struct sd_broker *b, int n) {
        for (int i = 1; i <= n; i++) {
                char payload[32];
                const char *args[] = {"publish", CHANNEL, payload, NULL};

                (void)snprintf(payload, sizeof(payload), "m%d", i);
                free(ipcctl(b, args));
        }
}

/*
 * The ring is stored when made; after SIGKILL the next broker takes it
 * back: same next seq, and the channel exists although nobody holds it.
 */
static void test_ring_survives_kill(void **state) {
        struct sd_broker *b = *state;
        ipc_client *holder;
        ipc_sub *sub;

        sd_broker_start(b, NULL, store_env);
        holder = ring_subscriber(b, &sub);
        publish_n(b, N_MESSAGES);
        assert_int_equal(next_seq(b), N_MESSAGES + 1);
        /* DATA and STATE, in the store under paired names. */
        assert_int_equal(notify_listener_store(b->nl, &(const int *){NULL}), 0);
        sd_broker_kill(b); /* what it sent, its FDSTORE=1 messages among it, fills the store */
        assert_int_equal(notify_listener_store(b->nl, &(const int *){NULL}), 2);
        assert_non_null(strstr(notify_listener_store_name(b->nl, 0), "ring-data-"));
        ipc_sub_free(sub);
        ipc_client_free(holder);

        sd_broker_start_with_store(b, store_env);
        sd_broker_wait_log(b, "channel \"" CHANNEL "\" restored");
        assert_int_equal(next_seq(b), N_MESSAGES + 1);
        /* It goes on numbering from there (a holder keeps it, as before the kill). */
        holder = ring_subscriber(b, &sub);
        publish_n(b, 1);
        assert_int_equal(next_seq(b), N_MESSAGES + 2);
        ipc_sub_free(sub);
        ipc_client_free(holder);
}

/* A stored ring whose geometry the configuration no longer gives is discarded, not trusted. */
static void test_mismatched_ring_discarded(void **state) {
        struct sd_broker *b = *state;
        ipc_client *holder;
        ipc_sub *sub;

        sd_broker_write_config(b, "{\"channels\": {\"restart.*\": {\"ring_bytes\": 65536, \"max_message_bytes\": 1024}}}");
        sd_broker_start(b, NULL, store_env);
        holder = ring_subscriber(b, &sub);
        publish_n(b, 2);
        sd_broker_kill(b);
        ipc_sub_free(sub);
        ipc_client_free(holder);
        sd_broker_write_config(b, "{\"channels\": {\"restart.*\": {\"ring_bytes\": 131072, \"max_message_bytes\": 1024}}}");
        sd_broker_start_with_store(b, store_env);
        sd_broker_wait_log(b, "discarding stored ring of channel \"" CHANNEL "\"");
        assert_int_equal(next_seq(b), -1);
}

/*
 * A stored ring of another layout version (a broker of an older release
 * stored it: RING_VERSION 2 had no channel epoch) is discarded with a log
 * line, never read with this version's layout.
 */
static void test_old_version_ring_discarded(void **state) {
        struct sd_broker *b = *state;
        struct ring_header *h;
        ipc_client *holder;
        const int *fds;
        ipc_sub *sub;
        size_t n;
        int data = -1;

        sd_broker_write_config(b, "{\"channels\": {\"restart.*\": {\"ring_bytes\": 65536, \"max_message_bytes\": 1024}}}");
        sd_broker_start(b, NULL, store_env);
        holder = ring_subscriber(b, &sub);
        publish_n(b, 2);
        sd_broker_kill(b);
        ipc_sub_free(sub);
        ipc_client_free(holder);
        n = notify_listener_store(b->nl, &fds);
        for (size_t i = 0; i < n; i++)
                if (strncmp(notify_listener_store_name(b->nl, i), "ring-data-", 10) == 0)
                        data = fds[i];
        assert_true(data >= 0);
        h = mmap(NULL, RING_PAGE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, data, 0);
        assert_true(h != MAP_FAILED);
        assert_int_equal(h->version, RING_VERSION);
        h->version = RING_VERSION - 1;
        assert_int_equal(munmap(h, RING_PAGE_BYTES), 0);
        sd_broker_start_with_store(b, store_env);
        sd_broker_wait_log(b, "discarding stored ring");
        assert_int_equal(next_seq(b), -1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                T(test_sigkill_restart),
                T(test_live_node_kept),
                T(test_ring_survives_kill),
                T(test_mismatched_ring_discarded),
                T(test_old_version_ring_discarded),
        };

        return cmocka_run_group_tests_name("restart", tests, NULL, NULL);
}
