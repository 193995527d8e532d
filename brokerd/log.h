/* SPDX-License-Identifier: MIT */
/*
 * Daemon logging: one line per event on stderr, each prefixed with its
 * syslog priority as "<N>" so journald (and sd-daemon(3) readers) keep the
 * level; on a terminal without it (see log_setup()). Lines are written with
 * a single write(2) so they never interleave.
 *
 * Anything a client chose (its name, a channel name) goes through
 * log_escape() first, and per-client messages go through a log_ratelimit
 * so one client cannot flood the log.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

#include "util.h"

/* Worst case of log_escape(): every byte becomes "\xNN", plus the NUL. */
#define LOG_ESCAPE_BYTES(n) ((n)*4 + 1)

/*
 * A token bucket per source: at most @burst messages per @interval_usec.
 * Suppressed messages are counted and reported once when the source may
 * log again.
 */
struct log_ratelimit {
        uint64_t interval_usec;
        unsigned burst;
        uint64_t begin_usec;
        unsigned n;
        unsigned suppressed;
};

#define LOG_RATELIMIT_INIT(interval, b)                                                            \
        { .interval_usec = (interval), .burst = (b) }

/* Where stderr goes, which decides the line prefix. */
enum log_target {
        LOG_TARGET_STREAM,   /* a pipe or file (the default): "<N>text" */
        LOG_TARGET_JOURNAL,  /* $JOURNAL_STREAM names stderr: "<N>text", journald's priority */
        LOG_TARGET_TERMINAL, /* a tty: "text", "warning: text", "error: text" */
        _LOG_TARGET_MAX,
};

/*
 * log_setup() - look at stderr once, at start-up: the journal when
 * $JOURNAL_STREAM ("DEV:INODE") matches fstat(2) of stderr, else a terminal
 * when isatty(3) says so, else a stream.
 */
void log_setup(void);

enum log_target log_get_target(void);

/* Messages above this priority (numerically) are discarded; LOG_INFO by default. */
void log_set_max_level(int prio);

/* Whether a message of @prio would be written. */
bool log_enabled(int prio);

/* Writes "<prio>text\n" to stderr (prefix as log_setup() chose). */
void log_msg(int prio, const char *fmt, ...) _printf_(2, 3);

/*
 * log_errno() - log with errno set to -@r, so "%m" names the error.
 * Return: @r, so callers can write `return log_errno(LOG_ERR, r, "...: %m")`.
 */
int log_errno(int prio, int r, const char *fmt, ...) _printf_(3, 4);

/*
 * log_ratelimit_pass() - take one message from the bucket.
 * Starting a new interval first logs, at @prio, how many messages the
 * previous interval suppressed.
 * Return: true when the message may be written; false counts it suppressed.
 */
bool log_ratelimit_pass(struct log_ratelimit *rl, int prio);

/*
 * log_rl() - log through a rate limit.
 * When the first message of a new interval follows suppressed ones, a line
 * "N similar messages suppressed" is written before it.
 * Return: true when the message was written.
 */
bool log_rl(struct log_ratelimit *rl, int prio, const char *fmt, ...) _printf_(3, 4);

/*
 * log_escape() - make untrusted bytes printable.
 * @s, @len: the bytes (need not be NUL-terminated, may contain NULs).
 * @buf, @size: output; LOG_ESCAPE_BYTES(len) always suffices, a shorter
 *              buffer truncates.
 * Control characters, DEL, '"', '\\' and non-ASCII bytes become C escapes.
 * Return: @buf.
 */
const char *log_escape(const void *s, size_t len, char *buf, size_t size);

#define log_error(...)   log_msg(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)  log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)    log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)   log_msg(LOG_DEBUG, __VA_ARGS__)
