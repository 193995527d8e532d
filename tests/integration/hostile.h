/* SPDX-License-Identifier: MIT */
/*
 * The hostile-client test (test-hostile.c): one broker with small limits,
 * attacked phase by phase from the test's main thread while a good client
 * (good-client.h) keeps round-tripping. Shared here: the configuration,
 * the fixture, what a phase checks, and probes of the daemon from outside
 * (/proc/PID, the broker's stats). The phases live in test-hostile.c and,
 * one theme per file, hostile-slow.c, hostile-fds.c and hostile-flood.c.
 *
 * Everything here asserts (cmocka): main thread only.
 */
#pragma once

#include <stdint.h>

#include <jansson.h>

#include "harness.h"

#define T_SEC (5 * HARNESS_USEC_PER_SEC)
#define KIB   1024u
#define MIB   (1024u * 1024u)

/*
 * Longest allowed pause between two of the good client's round trips
 * (scaled by harness_timeout(), so 20 s under valgrind). A round trip takes
 * well under a millisecond here, even under ASan; the broker handles at
 * most one 256 KiB read per ready connection per loop turn, so even the
 * flood phase adds milliseconds, and the good client never waits for any of
 * the broker's timers (handshake, stall check). What remains is the
 * scheduler: CI runs this on 2 cores shared with other jobs, where a
 * runnable thread still gets the CPU every few hundred milliseconds at
 * worst. 2 s is ten times that, so only a broker that really stalls the
 * good client for a noticeable time fails it.
 */
#define GAP_MAX_USEC (2 * HARNESS_USEC_PER_SEC)

/* Round trips the good client must complete while an attack is under way, and after it. */
#define DURING_ROUND_TRIPS 5

/*
 * Growth of the daemon's VmRSS a phase may cause. Legitimate growth is a
 * few MiB (input chunks of 256 KiB, a 64 KiB queue cap per client, ASan's
 * quarantine cut to 16 MiB for this daemon, valgrind's freed-block list of
 * 20 MB); what is checked against it is far larger: 18 frames declaring
 * 4 GiB each, and a 128 MiB flood to a client that never reads.
 */
#define RSS_GROWTH_MAX_KIB (64u * 1024u)

#define MAX_CONNECTIONS   32
#define MAX_SUBSCRIPTIONS 8
#define HANDSHAKE_MS      500
#define QUEUE_BYTES       65536
#define CONFIG                                                                                     \
        "{\"limits\": {\"max_connections\": 32, \"max_subscriptions\": 8,"                         \
        "  \"handshake_timeout_ms\": 500, \"output_queue_bytes\": 65536,"                          \
        "  \"stall_timeout_ms\": 1000},"                                                           \
        " \"channels\": {\"flood.drop\": {\"overflow\": \"drop\"},"                                \
        "  \"flood.block\": {\"overflow\": \"block\"},"                                            \
        "  \"flood.disconnect\": {\"overflow\": \"disconnect\"}}}"

struct hostile {
        struct harness_broker *b;
        struct good_client *good;
        ipc_client *probe; /* the test's own client: stats, pacing */
        const char *phase;
        int held[MAX_CONNECTIONS]; /* connections a phase keeps open (hostile_hold()) */
        size_t n_held;
};

/* ---- Phases ---------------------------------------------------------------- */

/**
 * hostile_phase_begin() - a phase called @name starts: connections an
 * earlier phase held are closed, the daemon runs, gaps count anew.
 */
void hostile_phase_begin(struct hostile *f, const char *name);

/**
 * hostile_phase_during() - the attack is under way: the good client must
 * get DURING_ROUND_TRIPS more round trips through.
 */
void hostile_phase_during(struct hostile *f);

/**
 * hostile_phase_end() - the attack is over: more round trips, none failed,
 * no gap in the phase over GAP_MAX_USEC (scaled), the daemon still runs.
 */
void hostile_phase_end(struct hostile *f);

/**
 * hostile_hold() - keep @fd open until hostile_release(), or until the next
 * phase begins, should this one fail half-way: a failed phase must not
 * leave the broker at its connection limit for the next.
 */
void hostile_hold(struct hostile *f, int fd);

/** hostile_release() - close the held connections. Return: how many. */
size_t hostile_release(struct hostile *f);

/** hostile_rss_check() - VmRSS at most RSS_GROWTH_MAX_KIB over @before_kib. */
void hostile_rss_check(struct hostile *f, unsigned long before_kib, unsigned long max_kib);

/* ---- The daemon from outside ------------------------------------------------ */

/** hostile_rss_kib() - the daemon's VmRSS (/proc/PID/status) in KiB. */
unsigned long hostile_rss_kib(struct hostile *f);

/** hostile_fd_count() - descriptors the daemon holds (/proc/PID/fd). */
unsigned hostile_fd_count(struct hostile *f);

/** hostile_stats() - the broker's statistics (REQUEST op 3). Return: json_decref() it. */
json_t *hostile_stats(struct hostile *f);

/** hostile_stats_client() - the "clients" entry whose HELLO name is @name, or NULL. */
json_t *hostile_stats_client(json_t *stats, const char *name);

/** hostile_wait_client_gone() - wait (10 s, scaled) until no client is named @name. */
void hostile_wait_client_gone(struct hostile *f, const char *name);

/** hostile_pace() - one ping of the probe client, to pace a wait on the broker. */
void hostile_pace(struct hostile *f);

/** hostile_ms_until() - milliseconds until @deadline for poll(2), rounded up. */
int hostile_ms_until(uint64_t deadline);

/* ---- Phases in files of their own ---------------------------------------------- */

void test_slowloris(void **state);      /* hostile-slow.c */
void test_unexpected_fds(void **state); /* hostile-fds.c */
void test_never_reads(void **state);    /* hostile-flood.c */
