/* SPDX-License-Identifier: MIT */
/*
 * Helpers of the shared-memory ring integration tests (test-ring-*.c):
 * clients on a chosen transport, indexed payloads that check themselves,
 * the broker's per-channel statistics, the ring-peer child program, and
 * waiting until a thread blocks. Assertions are cmocka's: call from the
 * test's main thread only.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "harness.h"
#include "ipcclient.h"

#define RU_T_SEC (5 * HARNESS_USEC_PER_SEC)

/* Payload header: u64 index, u8 source; the rest is a pattern of both. */
#define RU_PAYLOAD_HEAD 9u

/*
 * ru_allow_rings() - let this process's clients, and the programs it spawns
 * from now on, pick the ring (unsets IPC_TRANSPORT, which the harness sets
 * to "socket" unless IPC_TEST_TRANSPORT=shm). Call after harness_start().
 */
void ru_allow_rings(void);

/*
 * ru_connect() - harness_connect() with ipc_options_set_transport(@transport)
 * (IPC_TRANSPORT_AUTO or IPC_TRANSPORT_SOCKET).
 */
ipc_client *ru_connect(const char *address, const char *name, int transport);

/* Opens a publisher / subscription, asserting success and the transport it got. */
ipc_pub *ru_pub(ipc_client *c, const char *channel, int want_transport);
ipc_sub *ru_sub(ipc_client *c, const char *pattern, int want_transport);

/*
 * ru_receive() - harness_receive() that names @sub (the one expected, only
 * for the message) when it fails, and asserts the message is of @sub when
 * @sub is not NULL.
 */
const ipc_msg *ru_receive(ipc_client *c, ipc_sub *sub, uint64_t timeout_usec);

/* Fills @size (>= RU_PAYLOAD_HEAD) bytes at @p for message @index of @source. */
void ru_payload_fill(void *p, size_t size, uint64_t index, uint8_t source);

/* Checks a payload made by ru_payload_fill(); fails the test otherwise. */
void ru_payload_check(const void *p, size_t size, uint64_t *ret_index, uint8_t *ret_source);

/* ipc_publish() of ru_payload_fill(@size, @index, @source). Return: its result. */
int ru_publish(ipc_pub *pub, size_t size, uint64_t index, uint8_t source, unsigned flags,
               uint64_t timeout_usec);

/* The broker's stats (ipc_client_stats) as JSON; json_decref() it. */
json_t *ru_stats(ipc_client *c);

/* The "channel_stats" entry of @channel in @stats (borrowed), asserting it exists. */
json_t *ru_stats_channel(json_t *stats, const char *channel);

/*
 * ru_count_clients() - entries of a channel_stats object's "clients" array
 * with "role" @role and "transport" @transport (NULL: any).
 * @ret_sum: when not NULL, the sum of their member @sum_key.
 */
unsigned ru_count_clients(json_t *ch, const char *role, const char *transport, const char *sum_key,
                          int64_t *ret_sum);

/* A string member of @obj, or "" (null or missing). */
const char *ru_json_str(json_t *obj, const char *key);

/*
 * ru_peer_spawn() - start tests/integration/ring-peer (see ring-peer.c) with
 * @mode ("sub" or "claim"), the address, @channel and @size (claim only), and
 * wait for its "ready TRANSPORT" line.
 * @ret_transport: the transport it reported, "ring" or "socket" (a static
 *                 string).
 * Return: the process; harness_proc_free() it.
 */
struct harness_proc *ru_peer_spawn(const char *mode, const char *address, const char *channel,
                                   size_t size, const char **ret_transport);

/* ru_peer_expect() - read the child's next stdout line and assert it is @line. */
void ru_peer_expect(struct harness_proc *p, const char *line);

/* The calling thread's id, for ru_wait_blocked(). */
pid_t ru_gettid(void);

/*
 * ru_wait_blocked() - wait until thread @tid of this process is asleep in
 * the kernel (state S in /proc/self/task/TID/stat for 2 ms in a row), so
 * what follows tests a real wake-up and not a race won by the other side.
 * A thread blocking has no event to wait on; this polls every 100 µs,
 * bounded by @timeout_usec (scaled). Return: 0; -ETIMEDOUT.
 */
int ru_wait_blocked(pid_t tid, uint64_t timeout_usec);
