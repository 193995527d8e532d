/* SPDX-License-Identifier: MIT */
/*
 * Daemon logging (see log.h). Deliberately tiny: the daemon runs in the
 * foreground under systemd, which adds timestamps and the unit name, so a
 * line is only the priority prefix and the text.
 *
 * The "<N>" prefix is for journald (its SyslogLevelPrefix= default) and for
 * whatever else collects stderr (a pipe, a file: a supervisor may parse it
 * too). A person at a terminal gets plain lines, with "error: " and
 * "warning: " where the priority matters.
 */
#include "build-config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "platform.h"

#define LOG_LINE_MAX 2048

static int log_max_level = LOG_INFO;
static enum log_target log_target = LOG_TARGET_STREAM;

/* $JOURNAL_STREAM is "DEV:INODE" of the stream systemd connected; it may be inherited stale. */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;
        char tail;

        if (!e || sscanf(e, "%llu:%llu%c", &dev, &ino, &tail) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_setup(void) {
        if (stderr_is_journal())
                log_target = LOG_TARGET_JOURNAL;
        else if (isatty(STDERR_FILENO))
                log_target = LOG_TARGET_TERMINAL;
        else
                log_target = LOG_TARGET_STREAM;
}

enum log_target log_get_target(void) {
        return log_target;
}

static int log_prefix(int prio, char *buf, size_t size) {
        if (log_target != LOG_TARGET_TERMINAL)
                return snprintf(buf, size, "<%d>", prio);
        if (prio <= LOG_ERR)
                return snprintf(buf, size, "error: ");
        if (prio == LOG_WARNING)
                return snprintf(buf, size, "warning: ");
        buf[0] = '\0';
        return 0;
}

void log_set_max_level(int prio) {
        log_max_level = prio;
}

bool log_enabled(int prio) {
        return prio <= log_max_level;
}

static _printf_(2, 0) void log_write(int prio, const char *fmt, va_list ap) {
        char line[LOG_LINE_MAX];
        int n, m;

        n = log_prefix(prio, line, sizeof(line));
        m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
        if (m < 0)
                return;
        n += MIN(m, (int)sizeof(line) - n - 2);
        line[n++] = '\n';
        /* One write per line: lines of concurrent writers never interleave. */
        (void)!write(STDERR_FILENO, line, (size_t)n);
}

void log_msg(int prio, const char *fmt, ...) {
        va_list ap;

        if (!log_enabled(prio))
                return;
        va_start(ap, fmt);
        log_write(prio, fmt, ap);
        va_end(ap);
}

int log_errno(int prio, int r, const char *fmt, ...) {
        int saved = errno;
        va_list ap;

        if (log_enabled(prio)) {
                errno = r < 0 ? -r : r;
                va_start(ap, fmt);
                log_write(prio, fmt, ap);
                va_end(ap);
        }
        errno = saved;
        return r;
}

bool log_ratelimit_pass(struct log_ratelimit *rl, int prio) {
        uint64_t now = plat_now_usec();

        if (rl->begin_usec == 0 || now - rl->begin_usec >= rl->interval_usec) {
                if (rl->suppressed > 0)
                        log_msg(prio, "%u similar messages suppressed", rl->suppressed);
                rl->begin_usec = now;
                rl->n = 0;
                rl->suppressed = 0;
        }
        if (rl->n < rl->burst) {
                rl->n++;
                return true;
        }
        rl->suppressed++;
        return false;
}

bool log_rl(struct log_ratelimit *rl, int prio, const char *fmt, ...) {
        va_list ap;

        if (!log_enabled(prio))
                return false;
        if (!log_ratelimit_pass(rl, prio))
                return false;
        va_start(ap, fmt);
        log_write(prio, fmt, ap);
        va_end(ap);
        return true;
}

static size_t escape_byte(unsigned char c, char *out) {
        static const char hex[] = "0123456789abcdef";

        switch (c) {
        case '\n':
                return (size_t)snprintf(out, 5, "\\n");
        case '\t':
                return (size_t)snprintf(out, 5, "\\t");
        case '\r':
                return (size_t)snprintf(out, 5, "\\r");
        case '\\':
        case '"':
                out[0] = '\\';
                out[1] = (char)c;
                return 2;
        default:
                break;
        }
        if (c < 0x20 || c >= 0x7f) {
                out[0] = '\\';
                out[1] = 'x';
                out[2] = hex[c >> 4];
                out[3] = hex[c & 0xf];
                return 4;
        }
        out[0] = (char)c;
        return 1;
}

const char *log_escape(const void *s, size_t len, char *buf, size_t size) {
        const unsigned char *p = s;
        size_t o = 0;

        if (size == 0)
                return buf;
        for (size_t i = 0; i < len; i++) {
                char tmp[5];
                size_t n = escape_byte(p[i], tmp);

                if (o + n >= size)
                        break;
                memcpy(buf + o, tmp, n);
                o += n;
        }
        buf[o] = '\0';
        return buf;
}
