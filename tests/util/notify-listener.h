/* SPDX-License-Identifier: MIT */
/*
 * The service manager's side of sd_notify(3), for tests: a datagram socket
 * in a private mkdtemp directory that a daemon is pointed at with
 * NOTIFY_SOCKET=, and waits for its messages ("READY=1", "STATUS=...",
 * "WATCHDOG=1", ...) with deadlines, never sleeps. Each message is stamped
 * with its arrival time, so tests can check pacing. Used with daemon-proc.h
 * by the tests that need to see more than the harness's READY=1.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NOTIFY_MSG_MAX 4096
/* Descriptors the listener's fd store keeps (FDSTORE=1). */
#define NOTIFY_STORE_MAX 64

struct notify_listener;

/* One datagram: "KEY=VALUE" lines. */
struct notify_msg {
        char text[NOTIFY_MSG_MAX + 1]; /* NUL-terminated */
        uint64_t usec;                 /* CLOCK_MONOTONIC at arrival */
};

/**
 * notify_listener_new() - make DIR (/tmp/ipc-sd-XXXXXX) and bind DIR/notify.sock,
 * or with @abstract the abstract address "@ipc-sd-XXXXXX/notify" (the same
 * unique part), which sd_notify(3) accepts as NOTIFY_SOCKET too.
 * Return: 0; negative errno.
 */
int notify_listener_new(bool abstract, struct notify_listener **ret);

/** notify_listener_free() - close, remove DIR and everything in it. Accepts NULL. */
struct notify_listener *notify_listener_free(struct notify_listener *l);

void notify_listener_freep(struct notify_listener **l);

/** notify_listener_dir() - the private directory, for the test's other files. */
const char *notify_listener_dir(const struct notify_listener *l);

/** notify_listener_env() - "NOTIFY_SOCKET=DIR/notify.sock". */
const char *notify_listener_env(const struct notify_listener *l);

/**
 * notify_listener_next() - the next message.
 * @pidfd: the daemon's pidfd, or -1: its exit ends the wait early.
 * @timeout_usec: scaled with harness_timeout().
 * Return: 0; -ETIMEDOUT; -ECHILD (the process exited, nothing pending).
 */
int notify_listener_next(struct notify_listener *l, int pidfd, uint64_t timeout_usec,
                         struct notify_msg *ret);

/**
 * notify_listener_wait() - messages until one has a line starting with
 * @prefix (e.g. "READY=1", "STATUS="); the others are discarded.
 * Return: as notify_listener_next(); on failure the discarded messages
 * are printed to stderr.
 */
int notify_listener_wait(struct notify_listener *l, const char *prefix, int pidfd,
                         uint64_t timeout_usec, struct notify_msg *ret);

/**
 * notify_msg_get() - the value of @key ("STATUS") in @m.
 * Return: a pointer into @m (up to the end of the line, see @ret_len), or
 * NULL when @m has no such line.
 */
const char *notify_msg_get(const struct notify_msg *m, const char *key, size_t *ret_len);

/**
 * notify_listener_store() - the descriptors kept so far: like a service
 * manager's fd store, every message read with FDSTORE=1 adds its fds
 * under its FDNAME= (default "stored"), FDSTOREREMOVE=1 closes those of
 * its name, and fds sent with anything else are closed. Messages are read
 * only by notify_listener_next()/_wait(). The fds stay owned by @l.
 * Return: how many; *ret_fds points at them.
 */
size_t notify_listener_store(const struct notify_listener *l, const int **ret_fds);

/** notify_listener_store_name() - the FDNAME of stored fd @i, or NULL. */
const char *notify_listener_store_name(const struct notify_listener *l, size_t i);

/** notify_msg_has() - whether @m has a line that starts with @prefix. */
bool notify_msg_has(const struct notify_msg *m, const char *prefix);
