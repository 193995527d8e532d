/* SPDX-License-Identifier: MIT */
/*
 * Integration test harness: runs a real ipc-brokerd in a private mkdtemp
 * directory with its own socket and optional config, waits for it on a real
 * NOTIFY_SOCKET (READY=1) instead of sleeping, and runs or spawns other
 * programs (ipcctl) with captured output.
 *
 * Environment (set by tests/local.mk): IPC_BROKERD and IPCCTL are absolute
 * paths of the built binaries, IPC_TOP_SRCDIR the source tree.
 * Optional: IPC_BROKERD_WRAPPER, a command prefix split at spaces (e.g.
 * "valgrind -q --error-exitcode=99"), and IPC_TEST_TIMEOUT_SCALE, an integer
 * factor applied to every harness deadline (defaults to 10 when the wrapper
 * mentions valgrind, else 1). IPC_TEST_SHOW_LOG=1 prints each broker's log
 * when it is freed.
 *
 * IPC_TEST_TRANSPORT picks the transport the suite's clients use, so one
 * suite runs once per transport (tests/integration/rerun.sh):
 *   unix (the default when unset or empty): harness_broker_client_address()
 *        is the UNIX socket and every harness_broker_start() does
 *        setenv("IPC_TRANSPORT", "socket"), so libipcclient, in this process
 *        and in the programs it spawns (ipcctl), never maps a ring: the tests
 *        keep meaning what they meant before the shared-memory data plane;
 *   tcp: as unix, plus a plain TCP listener on 127.0.0.1 ("insecure": true,
 *        added to the config file) that harness_broker_client_address()
 *        names;
 *   tls: as tcp, but the listener is TLS with client certificates of the
 *        process's default material (harness_tls_default()), which
 *        harness_connect() presents for "tls:" addresses;
 *   shm: the UNIX socket, and harness_broker_start() unsets IPC_TRANSPORT, so
 *        the library picks the transport itself (AUTO): exact-name publishers
 *        and subscribers take the channel's shared-memory ring, patterns stay
 *        on the socket.
 * A test that needs rings whatever the suite's transport unsets
 * IPC_TRANSPORT itself after harness_start() and connects to
 * harness_broker_address().
 *
 * IPC_TEST_SKIP=PATTERN leaves out the test cases whose names match the
 * glob PATTERN ('*', '?'; cmocka_set_skip_filter()), so a rerun on another
 * transport can omit a case whose expectation does not hold there by
 * design. Skipped cases are not run and not reported.
 *
 * Failure handling: functions return 0 or a negative errno and print what
 * went wrong (the broker log on a failed start) to stderr, so a test asserts
 * on the return value and the TAP output explains it. harness_start(),
 * harness_connect(), harness_receive(), harness_expect_none() and the
 * harness_json_*() helpers assert themselves (cmocka fail_msg()).
 *
 * Processes started here get PR_SET_PDEATHSIG(SIGKILL): they die with the
 * thread that started them, so start them from the test's main thread.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "ipcclient.h"

#define HARNESS_USEC_PER_SEC  UINT64_C(1000000)
#define HARNESS_USEC_PER_MSEC UINT64_C(1000)

/* The exit status the daemon uses for a bad configuration (EX_CONFIG). */
#define HARNESS_EXIT_CONFIG 78

struct harness_broker;
struct harness_proc;

/* Output of a finished program (harness_run()). */
struct harness_output {
        int status; /* exit code, or 128 + signal number when killed */
        char *out;  /* stdout, NUL-terminated (may contain earlier NULs) */
        size_t out_len;
        char *err; /* stderr, NUL-terminated */
        size_t err_len;
};

/**
 * harness_timeout() - scale a deadline for slow runs (valgrind).
 * @usec: the deadline on a normal build.
 * Return: @usec times IPC_TEST_TIMEOUT_SCALE (see above).
 */
uint64_t harness_timeout(uint64_t usec);

/**
 * harness_now_usec() - CLOCK_MONOTONIC in microseconds, for test deadlines.
 */
uint64_t harness_now_usec(void);

/* ---- Broker --------------------------------------------------------- */

/**
 * harness_broker_start() - start ipc-brokerd in a fresh private directory.
 * @config_json: config file contents written to DIR/config.json and passed
 *               with -c, or NULL for built-in defaults. With
 *               IPC_TEST_TRANSPORT tcp or tls the harness adds its listener
 *               to "listen"."tcp" (a config is then always written).
 * @extra_args: NULL-terminated extra arguments after "--socket DIR/broker.sock"
 *              (e.g. {"--listen", "tcp:127.0.0.1:4242", NULL}), or NULL.
 * @ret: the running broker; free with harness_broker_free().
 *
 * Sets or unsets IPC_TRANSPORT in this process's environment as
 * IPC_TEST_TRANSPORT says (see above). The daemon's stderr and stdout go to
 * DIR/broker.log. Waits (10 s, scaled)
 * for the READY=1 datagram on DIR/notify.sock, watching for an early exit
 * through a pidfd. On failure the log is printed to stderr.
 *
 * Return: 0; -ECHILD (the broker exited before READY=1); -ETIMEDOUT; other
 * negative errno from setting up (mkdtemp, socket, fork).
 */
int harness_broker_start(const char *config_json, const char *const *extra_args,
                         struct harness_broker **ret);

/**
 * harness_broker_address() - the broker's UNIX address, "unix:DIR/broker.sock".
 * Return: a string owned by @b.
 */
const char *harness_broker_address(const struct harness_broker *b);

/**
 * harness_broker_client_address() - the address tests should connect their
 * clients to: harness_broker_address(), or with IPC_TEST_TRANSPORT=tcp or
 * tls a "tcp:127.0.0.1:PORT" or "tls:127.0.0.1:PORT" listener the harness
 * added to the config, so one suite runs once per transport (unix and shm
 * both use the UNIX socket; see above).
 * Return: a string owned by @b.
 */
const char *harness_broker_client_address(const struct harness_broker *b);

/** harness_broker_socket_path() - DIR/broker.sock. Return: a string owned by @b. */
const char *harness_broker_socket_path(const struct harness_broker *b);

/** harness_broker_dir() - the private directory. Return: a string owned by @b. */
const char *harness_broker_dir(const struct harness_broker *b);

/** harness_broker_pid() - the daemon's pid (0 once reaped). */
pid_t harness_broker_pid(const struct harness_broker *b);

/**
 * harness_broker_running() - whether the daemon has not exited yet (checked
 * without blocking through its pidfd; does not reap it).
 */
bool harness_broker_running(const struct harness_broker *b);

/**
 * harness_broker_log() - the daemon's log (stderr) so far.
 * Return: a NUL-terminated string owned by @b, valid until the next call
 * on @b; "" when empty or unreadable.
 */
const char *harness_broker_log(struct harness_broker *b);

/**
 * harness_broker_wait_log() - wait until the log contains @needle.
 * Woken by inotify on the log file, bounded by @timeout_usec (scaled).
 * Return: 0; -ETIMEDOUT (the log is printed to stderr); -ECHILD if the
 * broker exited without logging it.
 */
int harness_broker_wait_log(struct harness_broker *b, const char *needle, uint64_t timeout_usec);

/**
 * harness_broker_stop() - send @sig and wait (10 s, scaled) for the exit.
 * @ret_exit_status: exit code, or 128 + signal; may be NULL.
 * Return: 0; -ETIMEDOUT (then the daemon is SIGKILLed and reaped, the log
 * printed); -ECHILD when already reaped.
 */
int harness_broker_stop(struct harness_broker *b, int sig, int *ret_exit_status);

/**
 * harness_broker_restart() - SIGKILL the daemon if it still runs (a crash:
 * its socket node, rings and the rest stay behind), then start it again
 * with the same directory, socket path, config and arguments, and wait for
 * READY=1 as harness_broker_start() does. The log is appended to.
 * Return: 0; as harness_broker_start().
 */
int harness_broker_restart(struct harness_broker *b);

/**
 * harness_broker_free() - SIGKILL the daemon if still running, reap it,
 * remove the directory and free @b. Accepts NULL. Return: NULL.
 */
struct harness_broker *harness_broker_free(struct harness_broker *b);

/* Cleanup helper: _cleanup_(harness_broker_freep). */
void harness_broker_freep(struct harness_broker **b);

/**
 * harness_start() - harness_broker_start() for a cmocka test using the
 * harness_teardown() fixture: asserts success and stores the broker in
 * *@state, so it is killed and its directory removed even when the test
 * fails half-way.
 * Return: the broker (owned by *@state).
 */
struct harness_broker *harness_start(void **state, const char *config_json,
                                     const char *const *extra_args);

/**
 * harness_teardown() - cmocka teardown for the broker in *@state (if any):
 * stops it with SIGTERM, which must give exit status 0 (so sanitizer or
 * valgrind findings in the daemon fail the test), then frees it. Use with
 * cmocka_unit_test_teardown(test, harness_teardown).
 * Return: 0; -1 when the daemon exited non-zero (its log is printed).
 */
int harness_teardown(void **state);

/* ---- Clients -------------------------------------------------------- */

/**
 * harness_connect() - connect a libipcclient client to @address (5 s,
 * scaled), asserting success. @name: client name or NULL. A "tls:"
 * address gets the default TLS material: its CA and client certificate.
 * Return: the client; free with ipc_client_free().
 */
ipc_client *harness_connect(const char *address, const char *name);

/**
 * harness_receive() - receive the next message on @client within
 * @timeout_usec (scaled), asserting success.
 * Return: the message (valid until the next receive/process on @client).
 */
const ipc_msg *harness_receive(ipc_client *client, uint64_t timeout_usec);

/**
 * harness_expect_none() - assert that no message is pending on @client:
 * a ping round trip first makes sure everything the broker sent before its
 * reply has arrived, then ipc_client_receive(..., 0, ...) must give -EAGAIN.
 */
void harness_expect_none(ipc_client *client);

/**
 * harness_wait_subscribers() - wait until the broker lists @channel with at
 * least @n subscribers. Connects its own client and polls LIST_CHANNELS,
 * pacing the polls with pings (a broker-side condition has no event to
 * wait for).
 * Return: 0; -ETIMEDOUT (the last listing is printed); negative errno from
 * connecting.
 */
int harness_wait_subscribers(const char *address, const char *channel, unsigned n,
                             uint64_t timeout_usec);

/**
 * harness_json_parse() - parse @text as JSON, asserting success.
 * Return: a new reference; json_decref() it.
 */
json_t *harness_json_parse(const char *text);

/**
 * harness_json_channel() - the object named @name in a LIST_CHANNELS or
 * "channel_stats" array. Return: a borrowed reference, or NULL.
 */
json_t *harness_json_channel(json_t *array, const char *name);

/**
 * harness_json_int() - integer member @key of @obj, asserting it exists and
 * is an integer.
 */
int64_t harness_json_int(json_t *obj, const char *key);

/* ---- TLS material --------------------------------------------------- */

/* The subject CN of the default client certificate: its remote identity. */
#define HARNESS_TLS_CLIENT_CN "harness-client"

/* Paths of the default material: a CA, a server certificate for 127.0.0.1 and ::1, a client. */
struct harness_tls {
        char dir[128];
        char ca[160];
        char server_cert[160];
        char server_key[160];
        char client_cert[160];
        char client_key[160];
};

/**
 * harness_tls_make_ca() - a throwaway CA made with the openssl command:
 * DIR/NAME.pem and DIR/NAME.key, subject CN NAME, valid for two days.
 * Return: 0; -ENOENT (no openssl command: skip the test); -EIO (it failed,
 * its stderr printed); other negative errno.
 */
int harness_tls_make_ca(const char *dir, const char *name);

/**
 * harness_tls_make_cert() - a certificate @ca (made by harness_tls_make_ca()
 * in @dir) signs: DIR/NAME.pem and DIR/NAME.key.
 * @subject: e.g. "/CN=alice" (or "/O=x" for one without a CN).
 * @server: for a server on 127.0.0.1 and ::1 (subjectAltName, serverAuth),
 *          else for a client (clientAuth).
 * Return: as harness_tls_make_ca().
 */
int harness_tls_make_cert(const char *dir, const char *ca, const char *name, const char *subject,
                          bool server);

/**
 * harness_tls_default() - the process's default material, made on first
 * use in a private temporary directory removed at exit: "ca", "server"
 * and "client" (CN HARNESS_TLS_CLIENT_CN). Call it first from the main
 * thread (harness_broker_start() does, for IPC_TEST_TRANSPORT=tls).
 * Return: 0 and *@ret; as harness_tls_make_ca().
 */
int harness_tls_default(const struct harness_tls **ret);

/* ---- Processes ------------------------------------------------------ */

/**
 * harness_free_tcp_port() - a currently free TCP port on 127.0.0.1 (bind
 * port 0, read it back, close). Racy by nature; fine for tests.
 * Return: the port (1..65535), or a negative errno.
 */
int harness_free_tcp_port(void);

/**
 * harness_run() - run a program to completion with captured output.
 * @argv: NULL-terminated; argv[0] is the path (e.g. getenv("IPCCTL")).
 * @stdin_data: bytes fed to stdin, then stdin is closed; NULL for empty.
 * @timeout_usec: deadline (scaled); on expiry the program is SIGKILLed.
 * @ret: filled on success and on timeout; release with harness_output_free().
 * Return: 0; -ETIMEDOUT; negative errno from pipe/fork. An exec failure is
 * exit status 127.
 */
int harness_run(const char *const *argv, const void *stdin_data, size_t stdin_len,
                uint64_t timeout_usec, struct harness_output *ret);

/** harness_output_free() - free the buffers of @o and zero it. */
void harness_output_free(struct harness_output *o);

/**
 * harness_spawn() - start a program in the background.
 * @argv: as harness_run().
 * @ret: the process; stdin and stdout are pipes (harness_proc_stdin_fd(),
 *       harness_proc_read_line()), stderr goes to a memfd that never fills
 *       up (harness_proc_stderr()). Free with harness_proc_free().
 * Return: 0; negative errno from pipe/fork.
 */
int harness_spawn(const char *const *argv, struct harness_proc **ret);

/** harness_proc_pid() - the pid (0 once reaped). */
pid_t harness_proc_pid(const struct harness_proc *p);

/** harness_proc_stdin_fd() - write end of its stdin, or -1 once closed. */
int harness_proc_stdin_fd(const struct harness_proc *p);

/** harness_proc_close_stdin() - close its stdin (EOF for the program). */
void harness_proc_close_stdin(struct harness_proc *p);

/** harness_proc_stdout_fd() - read end of its stdout (non-blocking). */
int harness_proc_stdout_fd(const struct harness_proc *p);

/**
 * harness_proc_read_line() - the next line of its stdout, without the '\n'.
 * @timeout_usec: deadline (scaled).
 * @ret_line: malloc'd; free() it.
 * Return: 0; -ETIMEDOUT; -EPIPE (stdout closed before a full line; a final
 * unterminated line is returned with 0 first).
 */
int harness_proc_read_line(struct harness_proc *p, uint64_t timeout_usec, char **ret_line);

/**
 * harness_proc_stderr() - its stderr so far. Return: a NUL-terminated
 * string owned by @p, valid until the next call on @p.
 */
const char *harness_proc_stderr(struct harness_proc *p);

/** harness_proc_kill() - send @sig (ignored once reaped). Return: 0 or negative errno. */
int harness_proc_kill(struct harness_proc *p, int sig);

/**
 * harness_proc_wait() - wait for the exit (pidfd + poll) and reap.
 * @ret_status: exit code, or 128 + signal; may be NULL.
 * Return: 0; -ETIMEDOUT (still running, not killed); -ECHILD (already reaped).
 */
int harness_proc_wait(struct harness_proc *p, uint64_t timeout_usec, int *ret_status);

/**
 * harness_proc_free() - SIGKILL if still running, reap, close the pipes.
 * Accepts NULL. Return: NULL.
 */
struct harness_proc *harness_proc_free(struct harness_proc *p);

/* Cleanup helper: _cleanup_(harness_proc_freep). */
void harness_proc_freep(struct harness_proc **p);
