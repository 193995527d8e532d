/* SPDX-License-Identifier: MIT */
/*
 * A well-behaved client that keeps round-tripping in a thread of its own
 * while a test attacks the broker from its main thread: it publishes a
 * message on its own channel, receives it back (libipcclient, blocking
 * calls with timeouts), checks it, and records when each round trip
 * completed. The test reads the count, any failure and the longest gap
 * between consecutive round trips, per phase and overall.
 *
 * The thread never calls cmocka (its asserts longjmp within the calling
 * thread); it stops at its first failure and records it instead. Its
 * handles are used by that thread alone (libipcclient's thread rule: one
 * thread at a time per handle tree).
 */
#pragma once

#include <stdint.h>

struct good_client;

/* What the good client did so far. */
struct good_client_report {
        uint64_t round_trips;        /* completed, checked round trips */
        uint64_t max_gap_usec;       /* longest time between two completions, overall */
        uint64_t phase_max_gap_usec; /* the same since good_client_phase_begin() */
        int error;                   /* 0, or the negative errno of the failed round trip */
        char error_text[256];        /* what failed, for the test's message */
};

/**
 * good_client_start() - connect to @address, open a subscription and a
 * publisher on @channel (asserting success, in the calling thread) and
 * start round-tripping in a new thread.
 * Return: the running client; stop it with good_client_stop().
 */
struct good_client *good_client_start(const char *address, const char *channel);

/** good_client_phase_begin() - start a new phase: resets phase_max_gap_usec. */
void good_client_phase_begin(struct good_client *g);

/**
 * good_client_wait() - wait until @n more round trips have completed,
 * failing the test (naming @when) if the client failed or did not get there
 * within @timeout_usec (scaled by harness_timeout()).
 */
void good_client_wait(struct good_client *g, unsigned n, uint64_t timeout_usec, const char *when);

/** good_client_report() - a snapshot of the counters into @ret. */
void good_client_report(struct good_client *g, struct good_client_report *ret);

/**
 * good_client_stop() - stop the thread after its current round trip, join
 * it, free the handles and @g. @ret (may be NULL) receives the final
 * report. Accepts NULL. Return: NULL.
 */
struct good_client *good_client_stop(struct good_client *g, struct good_client_report *ret);
