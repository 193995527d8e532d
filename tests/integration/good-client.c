/* SPDX-License-Identifier: MIT */
/*
 * The well-behaved round-tripping client of the hostile-client test (see
 * good-client.h). Each payload carries its round trip's number, which is
 * also the channel's sequence number (the client is the channel's only
 * publisher), so a lost, duplicated or foreign message is a failure too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "good-client.h"
#include "harness.h"
#include "util.h"

#define GOOD_CALL_TIMEOUT_USEC (5 * HARNESS_USEC_PER_SEC)

struct good_client {
        ipc_client *client;
        ipc_pub *pub;
        ipc_sub *sub;
        uint64_t call_timeout_usec; /* computed once: getenv() stays in the main thread */
        pthread_t thread;

        pthread_mutex_t lock; /* protects everything below */
        pthread_cond_t progress;
        bool stop;
        bool done; /* the thread has returned */
        uint64_t last_usec;
        struct good_client_report report;
};

/* One publish -> receive round trip, checked. Return: 0 or a negative errno (text in @why). */
static int good_round_trip(struct good_client *g, uint64_t n, char *why, size_t size) {
        const ipc_msg *m = NULL;
        uint8_t out[8];
        const uint8_t *in;
        int r;

        le64_put(out, n);
        r = ipc_publish(g->pub, out, sizeof(out), 0, g->call_timeout_usec);
        if (r < 0) {
                snprintf(why, size, "publish #%" PRIu64 ": %s (%s)", n, ipc_strerror(r),
                         ipc_client_get_error(g->client));
                return r;
        }
        r = ipc_client_receive(g->client, g->call_timeout_usec, &m);
        if (r < 0) {
                snprintf(why, size, "receive #%" PRIu64 ": %s (%s)", n, ipc_strerror(r),
                         ipc_client_get_error(g->client));
                return r;
        }
        in = ipc_msg_get_data(m, NULL);
        if (ipc_msg_get_size(m) != sizeof(out) || le64_get(in) != n ||
            ipc_msg_get_sequence(m) != n || ipc_msg_get_lost(m) != 0) {
                snprintf(why, size,
                         "round trip #%" PRIu64 " got %zu bytes, seq %" PRIu64 ", lost %" PRIu64, n,
                         ipc_msg_get_size(m), ipc_msg_get_sequence(m), ipc_msg_get_lost(m));
                return -EBADMSG;
        }
        return 0;
}

static void *good_run(void *userdata) {
        struct good_client *g = userdata;
        char why[sizeof(g->report.error_text)];

        for (uint64_t n = 1;; n++) {
                uint64_t now;
                bool stop;
                int r;

                pthread_mutex_lock(&g->lock);
                stop = g->stop;
                pthread_mutex_unlock(&g->lock);
                if (stop)
                        break;
                r = good_round_trip(g, n, why, sizeof(why));
                now = harness_now_usec();
                pthread_mutex_lock(&g->lock);
                if (r < 0) {
                        g->report.error = r;
                        memcpy(g->report.error_text, why, sizeof(why));
                        pthread_mutex_unlock(&g->lock);
                        break;
                }
                g->report.max_gap_usec = MAX(g->report.max_gap_usec, now - g->last_usec);
                g->report.phase_max_gap_usec =
                        MAX(g->report.phase_max_gap_usec, now - g->last_usec);
                g->last_usec = now;
                g->report.round_trips++;
                pthread_cond_broadcast(&g->progress);
                pthread_mutex_unlock(&g->lock);
        }
        pthread_mutex_lock(&g->lock);
        g->done = true;
        pthread_cond_broadcast(&g->progress);
        pthread_mutex_unlock(&g->lock);
        return NULL;
}

struct good_client *good_client_start(const char *address, const char *channel) {
        struct good_client *g = calloc(1, sizeof(*g));
        pthread_condattr_t attr;

        assert_non_null(g);
        g->call_timeout_usec = harness_timeout(GOOD_CALL_TIMEOUT_USEC);
        g->client = harness_connect(address, "good");
        assert_int_equal(ipc_sub_new(g->client, channel, g->call_timeout_usec, &g->sub), 0);
        assert_int_equal(ipc_pub_new(g->client, channel, g->call_timeout_usec, &g->pub), 0);
        assert_int_equal(pthread_mutex_init(&g->lock, NULL), 0);
        assert_int_equal(pthread_condattr_init(&attr), 0);
        assert_int_equal(pthread_condattr_setclock(&attr, CLOCK_MONOTONIC), 0);
        assert_int_equal(pthread_cond_init(&g->progress, &attr), 0);
        (void)pthread_condattr_destroy(&attr);
        g->last_usec = harness_now_usec();
        assert_int_equal(pthread_create(&g->thread, NULL, good_run, g), 0);
        return g;
}

void good_client_phase_begin(struct good_client *g) {
        pthread_mutex_lock(&g->lock);
        g->report.phase_max_gap_usec = 0;
        pthread_mutex_unlock(&g->lock);
}

void good_client_report(struct good_client *g, struct good_client_report *ret) {
        pthread_mutex_lock(&g->lock);
        *ret = g->report;
        pthread_mutex_unlock(&g->lock);
}

void good_client_wait(struct good_client *g, unsigned n, uint64_t timeout_usec, const char *when) {
        uint64_t deadline = harness_now_usec() + harness_timeout(timeout_usec);
        struct timespec ts = {
                .tv_sec = (time_t)(deadline / HARNESS_USEC_PER_SEC),
                .tv_nsec = (long)(deadline % HARNESS_USEC_PER_SEC) * 1000,
        };
        struct good_client_report rep;
        uint64_t target;
        int r = 0;

        pthread_mutex_lock(&g->lock);
        target = g->report.round_trips + n;
        while (g->report.round_trips < target && !g->done && r != ETIMEDOUT)
                r = pthread_cond_timedwait(&g->progress, &g->lock, &ts);
        rep = g->report;
        pthread_mutex_unlock(&g->lock);
        if (rep.error < 0)
                fail_msg("the good client failed %s: %s", when, rep.error_text);
        if (rep.round_trips < target)
                fail_msg("the good client completed %" PRIu64
                         " of %u round trips %s within %" PRIu64 " ms",
                         n - (target - rep.round_trips), n, when,
                         harness_timeout(timeout_usec) / HARNESS_USEC_PER_MSEC);
}

struct good_client *good_client_stop(struct good_client *g, struct good_client_report *ret) {
        if (!g)
                return NULL;
        pthread_mutex_lock(&g->lock);
        g->stop = true;
        pthread_mutex_unlock(&g->lock);
        (void)pthread_join(g->thread, NULL);
        if (ret)
                *ret = g->report;
        ipc_pub_free(g->pub);
        ipc_sub_free(g->sub);
        ipc_client_free(g->client);
        (void)pthread_cond_destroy(&g->progress);
        (void)pthread_mutex_destroy(&g->lock);
        free(g);
        return NULL;
}
