/* SPDX-License-Identifier: MIT */
/*
 * A daemon started with a chosen environment, for the service-manager
 * tests: NOTIFY_SOCKET= from a notify_listener, WATCHDOG_USEC=, or a
 * systemd-socket-activate in front of ipc-brokerd. (harness.h starts the
 * broker with its own NOTIFY_SOCKET and keeps the messages to itself.)
 *
 * The child's environment is the test's minus every variable of the
 * service-manager protocols (NOTIFY_SOCKET, LISTEN_*, WATCHDOG_*,
 * JOURNAL_STREAM), plus the given ones. It dies with the test
 * (PR_SET_PDEATHSIG), its stdout and stderr go to a log file unless told
 * otherwise, and every wait is on a pidfd or inotify with a deadline.
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>

struct daemon_proc;

/**
 * daemon_proc_spawn() - start @argv.
 * @dir: a directory for its log, DIR/daemon.log.
 * @argv: NULL-terminated; argv[0] is an absolute path.
 * @env: NULL-terminated "KEY=VALUE" strings added to the environment, or NULL.
 * @stderr_fd: where its stdout and stderr go instead of the log, or -1.
 * Return: 0; negative errno from fork/pidfd_open.
 */
int daemon_proc_spawn(const char *dir, const char *const *argv, const char *const *env,
                      int stderr_fd, struct daemon_proc **ret);

/** daemon_proc_pid() - its pid, 0 once reaped. */
pid_t daemon_proc_pid(const struct daemon_proc *p);

/** daemon_proc_pidfd() - its pidfd (readable once it exits), -1 once reaped. */
int daemon_proc_pidfd(const struct daemon_proc *p);

/** daemon_proc_log() - the log so far; owned by @p, valid until the next call. */
const char *daemon_proc_log(struct daemon_proc *p);

/**
 * daemon_proc_wait_log() - wait until the log contains @needle (inotify).
 * Return: 0; -ETIMEDOUT or -ECHILD (it exited), with the log printed.
 */
int daemon_proc_wait_log(struct daemon_proc *p, const char *needle, uint64_t timeout_usec);

/**
 * daemon_proc_stop() - send @sig (0: none, only wait), wait for the exit and
 * reap (10 s, scaled).
 * @ret_status: exit code, or 128 + signal; may be NULL.
 * Return: 0; -ETIMEDOUT (then SIGKILLed and reaped); -ECHILD already reaped.
 */
int daemon_proc_stop(struct daemon_proc *p, int sig, int *ret_status);

/** daemon_proc_free() - SIGKILL if still running, reap, free. Accepts NULL. */
struct daemon_proc *daemon_proc_free(struct daemon_proc *p);

void daemon_proc_freep(struct daemon_proc **p);
