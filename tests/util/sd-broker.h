/* SPDX-License-Identifier: MIT */
/*
 * ipc-brokerd under a pretend service manager, for the tests of its
 * systemd integration (readiness, status, watchdog, reload, socket
 * activation): a notify_listener for NOTIFY_SOCKET, a daemon_proc with the
 * environment the test chooses, and the files in one private directory:
 * DIR/broker.sock (the --socket path), DIR/config.json (-c, when a config
 * is given) and DIR/daemon.log.
 *
 * For cmocka: sd_broker_setup() and sd_broker_teardown() as fixtures; the
 * teardown stops the daemon with SIGTERM and fails unless it exits 0, so a
 * sanitizer finding in the daemon fails the test.
 */
#pragma once

#include <limits.h>
#include <stdbool.h>

#include "daemon-proc.h"
#include "notify-listener.h"

#define SD_BROKER_ARGS_MAX 48

struct sd_broker {
        struct notify_listener *nl;
        struct daemon_proc *proc; /* NULL until sd_broker_spawn() */
        char dir[64];
        char sock[128];          /* DIR/broker.sock */
        char address[160];       /* unix:DIR/broker.sock */
        char config[128];        /* DIR/config.json */
        struct notify_msg ready; /* the first READY=1 (sd_broker_wait_ready()) */
        int stderr_fd;           /* where stdout/stderr go instead of the log; -1 (default) */
};

/* cmocka setup: a struct sd_broker in *state, no daemon yet. */
int sd_broker_setup(void **state);

/* The same with NOTIFY_SOCKET an abstract address ("@..."). */
int sd_broker_setup_abstract(void **state);

/* cmocka teardown: SIGTERM, which must give exit 0; then free. */
int sd_broker_teardown(void **state);

/** sd_broker_write_config() - (re)write DIR/config.json, asserting success. */
void sd_broker_write_config(struct sd_broker *b, const char *text);

/**
 * sd_broker_spawn() - start the daemon, asserting success; does not wait.
 * @prefix: NULL-terminated argv before ipc-brokerd (e.g. systemd-socket-activate
 *          and its options), or NULL. Its argv[0] is looked up in $PATH.
 * @args: NULL-terminated ipc-brokerd arguments; NULL means
 *        "--socket DIR/broker.sock" plus "-c DIR/config.json" when that exists.
 * @env: NULL-terminated "KEY=VALUE" strings besides NOTIFY_SOCKET, or NULL.
 */
void sd_broker_spawn(struct sd_broker *b, const char *const *prefix, const char *const *args,
                     const char *const *env);

/** sd_broker_wait_ready() - wait for READY=1 (10 s, scaled), asserting it comes. */
const struct notify_msg *sd_broker_wait_ready(struct sd_broker *b);

/** sd_broker_start() - sd_broker_spawn() with @args and @env, then sd_broker_wait_ready(). */
void sd_broker_start(struct sd_broker *b, const char *const *args, const char *const *env);

/**
 * sd_broker_expect() - wait for the next message with a line starting with
 * @prefix, asserting it comes within @timeout_usec (scaled).
 */
void sd_broker_expect(struct sd_broker *b, const char *prefix, uint64_t timeout_usec,
                      struct notify_msg *ret);

/**
 * sd_broker_kill() - SIGKILL the daemon (asserting it dies of it), then
 * read what it had sent the listener, so that its FDSTORE=1 descriptors
 * are in the listener's store (notify_listener_store()).
 */
void sd_broker_kill(struct sd_broker *b);

/**
 * sd_broker_start_with_store() - start the daemon with the listener's
 * stored descriptors as $LISTEN_FDS / $LISTEN_FDNAMES, the way systemd
 * hands back its fd store (bash moves them to 3.. and sets $LISTEN_PID to
 * its own pid before exec), and wait for READY=1. Asserts the store holds
 * some. @env as for sd_broker_spawn().
 */
void sd_broker_start_with_store(struct sd_broker *b, const char *const *env);

/** sd_broker_wait_log() - assert that the log gets @needle within 10 s (scaled). */
void sd_broker_wait_log(struct sd_broker *b, const char *needle);

/** sd_broker_find_program() - @name in $PATH into @buf, or NULL. */
const char *sd_broker_find_program(const char *name, char *buf, size_t size);
