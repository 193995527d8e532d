/* SPDX-License-Identifier: MIT */
/*
 * What every phase of the hostile-client test checks, and probes of the
 * daemon from outside (see hostile.h).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "good-client.h"
#include "hostile.h"
#include "util.h"

/* ---- The daemon from outside ---------------------------------------------- */

static pid_t broker_pid(struct hostile *f) {
        pid_t pid = harness_broker_pid(f->b);

        assert_true(pid > 0);
        return pid;
}

unsigned long hostile_rss_kib(struct hostile *f) {
        char path[64], line[256];
        unsigned long kib = 0;
        FILE *fp;

        snprintf(path, sizeof(path), "/proc/%d/status", (int)broker_pid(f));
        fp = fopen(path, "re");
        assert_non_null(fp);
        while (fgets(line, sizeof(line), fp))
                if (sscanf(line, "VmRSS: %lu kB", &kib) == 1)
                        break;
        (void)fclose(fp);
        assert_true(kib > 0);
        return kib;
}

unsigned hostile_fd_count(struct hostile *f) {
        char path[64];
        struct dirent *e;
        unsigned n = 0;
        DIR *d;

        snprintf(path, sizeof(path), "/proc/%d/fd", (int)broker_pid(f));
        d = opendir(path);
        assert_non_null(d);
        while ((e = readdir(d)))
                n += e->d_name[0] != '.';
        (void)closedir(d);
        return n;
}

json_t *hostile_stats(struct hostile *f) {
        char *text = NULL;
        json_t *j;

        assert_int_equal(ipc_client_stats(f->probe, harness_timeout(T_SEC), &text), 0);
        j = harness_json_parse(text);
        ipc_free(text);
        return j;
}

/* The "clients" entry of the stats whose HELLO named it @name, or NULL. */
json_t *hostile_stats_client(json_t *stats, const char *name) {
        json_t *clients = json_object_get(stats, "clients"), *c;
        size_t i;

        json_array_foreach(clients, i, c) {
                if (json_is_string(json_object_get(c, "name")) &&
                    strcmp(json_string_value(json_object_get(c, "name")), name) == 0)
                        return c;
        }
        return NULL;
}

/* Milliseconds until @deadline for poll(2), rounded up. */
int hostile_ms_until(uint64_t deadline) {
        uint64_t now = harness_now_usec();

        return now >= deadline ? 0 : (int)MIN((deadline - now + 999) / 1000, (uint64_t)INT32_MAX);
}

/* Paces a wait on a broker-side condition: one round trip of the probe client. */
void hostile_pace(struct hostile *f) {
        assert_int_equal(ipc_client_ping(f->probe, harness_timeout(T_SEC), NULL), 0);
}

/* ---- Phases ---------------------------------------------------------------- */

void hostile_hold(struct hostile *f, int fd) {
        assert_true(f->n_held < ARRAY_SIZE(f->held));
        f->held[f->n_held++] = fd;
}

size_t hostile_release(struct hostile *f) {
        size_t n = f->n_held;

        while (f->n_held > 0)
                (void)close(f->held[--f->n_held]);
        return n;
}

void hostile_phase_begin(struct hostile *f, const char *name) {
        (void)hostile_release(f);
        f->phase = name;
        assert_true(harness_broker_running(f->b));
        good_client_phase_begin(f->good);
}

/* The attack is under way: the good client must still get round trips through. */
void hostile_phase_during(struct hostile *f) {
        good_client_wait(f->good, DURING_ROUND_TRIPS, T_SEC, "during the attack");
}

/* The attack is over: more round trips, no failure, no long gap, daemon alive. */
void hostile_phase_end(struct hostile *f) {
        struct good_client_report rep;

        good_client_wait(f->good, DURING_ROUND_TRIPS, T_SEC, "after the attack");
        good_client_report(f->good, &rep);
        printf("# %s: good client at %" PRIu64 " round trips, longest gap in the phase %" PRIu64
               " us\n",
               f->phase, rep.round_trips, rep.phase_max_gap_usec);
        if (rep.phase_max_gap_usec > harness_timeout(GAP_MAX_USEC))
                fail_msg("%s: the good client waited %" PRIu64 " us between two round trips",
                         f->phase, rep.phase_max_gap_usec);
        assert_true(harness_broker_running(f->b));
}

void hostile_rss_check(struct hostile *f, unsigned long before_kib, unsigned long max_kib) {
        printf("# %s: broker VmRSS %lu kB before, at most %lu kB during\n", f->phase, before_kib,
               max_kib);
        if (max_kib > before_kib + RSS_GROWTH_MAX_KIB)
                fail_msg("%s: broker VmRSS grew by %lu kB", f->phase, max_kib - before_kib);
}

/* Waits until the broker no longer lists a client named @name (paced by pings). */
void hostile_wait_client_gone(struct hostile *f, const char *name) {
        uint64_t deadline = harness_now_usec() + harness_timeout(10 * HARNESS_USEC_PER_SEC);

        for (;;) {
                json_t *stats = hostile_stats(f);
                bool gone = !hostile_stats_client(stats, name);

                json_decref(stats);
                if (gone)
                        return;
                if (harness_now_usec() > deadline)
                        fail_msg("%s is still connected", name);
                hostile_pace(f);
        }
}
