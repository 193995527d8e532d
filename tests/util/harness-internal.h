/* SPDX-License-Identifier: MIT */
/*
 * Internals shared by harness.c (the broker) and harness-proc.c (child
 * processes): growable buffers, deadlines, fork/exec with pidfds.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A growable byte buffer, always NUL-terminated. */
struct buf {
        char *data;
        size_t len;
        size_t cap;
};

/* Appends @n bytes. Return: 0; -ENOMEM. */
int buf_append(struct buf *b, const void *p, size_t n);

/* Reads what a non-blocking fd has. Return: 1 more may come; 0 EOF; negative errno. */
int buf_read_fd(struct buf *b, int fd);

/* A whole file from offset 0 as a new NUL-terminated string ("" on errors). */
char *buf_read_whole(int fd);

/* Milliseconds left until a CLOCK_MONOTONIC @deadline (µs), rounded up, for poll(2). */
int harness_ms_until(uint64_t deadline);

/* A copy of environ without NOTIFY_SOCKET, plus @extra ("K=V") unless NULL; free() the array. */
char **proc_env_build(const char *extra);

/*
 * Forks and execs @argv with stdio fds @in/@out/@err (-1: inherit), with
 * PR_SET_PDEATHSIG(SIGKILL). Return: 0 with pid and a pidfd; negative errno.
 */
int proc_spawn_child(const char *const *argv, char **envp, int in, int out, int err, pid_t *ret_pid,
                     int *ret_pidfd);

/* Waits for the pidfd to report an exit. Return: 1 exited; 0 the deadline passed. */
int proc_pidfd_wait(int pidfd, uint64_t deadline);

/* Reaps an exited child, closes its pidfd, zeroes *pid. Return: exit code or 128 + signal. */
int proc_reap(pid_t *pid, int *pidfd);

/*
 * Finds @name in $PATH (execve() does not search), into @buf, saying so on
 * stderr when it is not there. Return: @buf or NULL.
 */
const char *harness_path_lookup(const char *name, char *buf, size_t size);
