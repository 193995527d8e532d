/* SPDX-License-Identifier: MIT */
/*
 * Socket activation through systemd-socket-activate(1), which binds, waits
 * for the first connection and then execs ipc-brokerd with $LISTEN_FDS: a
 * passed UNIX socket replaces --socket, a passed TCP socket the --listen
 * and configured TCP addresses, each found by what it is whatever its
 * FileDescriptorName says; a passed TCP socket is served as the
 * "listen"."tcp" entry with its address says (TLS included), and one that matches none
 * stops the daemon (exit 78); a passed node keeps its mode and is never
 * unlinked; a passed fd that is not a listening stream socket is refused
 * with a log line. Also the mode of a node the daemon binds itself
 * ("listen.unix_mode").
 * Skips the activation cases when systemd-socket-activate is missing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "sd-broker.h"

#define T_SEC (5 * HARNESS_USEC_PER_SEC)

struct activated {
        char act_sock[160]; /* DIR/act.sock, bound by systemd-socket-activate */
        char act_address[200];
        char tcp_address[64];
        int port;
};

/* A config whose "listen"."tcp" serves the passed TCP socket as plain, insecure TCP. */
static void write_insecure_config(struct sd_broker *b, const struct activated *a) {
        char text[256];

        (void)snprintf(text, sizeof(text),
                       "{\"listen\": {\"tcp\": [{\"address\": \"127.0.0.1:%d\", "
                       "\"insecure\": true}]}}",
                       a->port);
        sd_broker_write_config(b, text);
}

static void activated_init(struct sd_broker *b, struct activated *a) {
        char prog[PATH_MAX];

        if (!sd_broker_find_program("systemd-socket-activate", prog, sizeof(prog)))
                skip();
        (void)snprintf(a->act_sock, sizeof(a->act_sock), "%s/act.sock", b->dir);
        (void)snprintf(a->act_address, sizeof(a->act_address), "unix:%s", a->act_sock);
        a->port = harness_free_tcp_port();
        assert_true(a->port > 0);
        (void)snprintf(a->tcp_address, sizeof(a->tcp_address), "tcp:127.0.0.1:%d", a->port);
}

/*
 * systemd-socket-activate passes only the variables named with -E (and a
 * few of its own): the notify socket and the sanitizer settings.
 */
static void spawn_activated(struct sd_broker *b, const char *const *socks, const char *fdnames,
                            const char *const *args) {
        const char *prefix[24] = {"systemd-socket-activate",
                                  "-E",
                                  "NOTIFY_SOCKET",
                                  "-E",
                                  "ASAN_OPTIONS",
                                  "-E",
                                  "UBSAN_OPTIONS"};
        size_t n = 7;

        for (size_t i = 0; socks[i]; i++)
                prefix[n++] = socks[i];
        if (fdnames)
                prefix[n++] = fdnames;
        prefix[n] = NULL;
        sd_broker_spawn(b, prefix, args, NULL);
}

static void assert_status_has(struct sd_broker *b, const char *needle) {
        const char *status = notify_msg_get(&b->ready, "STATUS", NULL);

        if (!status || !strstr(status, needle))
                fail_msg("\"%s\" not in READY=1 message \"%s\"", needle, b->ready.text);
}

static mode_t node_mode(const char *path) {
        struct stat st;

        assert_int_equal(stat(path, &st), 0);
        assert_true(S_ISSOCK(st.st_mode));
        return st.st_mode & 07777;
}

static void stop_ok(struct sd_broker *b) {
        int status = -1;

        assert_int_equal(daemon_proc_stop(b->proc, SIGTERM, &status), 0);
        assert_int_equal(status, 0);
}

/* A passed UNIX socket: used instead of --socket, its mode untouched, its node kept. */
static void test_unix(void **state) {
        struct sd_broker *b = *state;
        struct activated a;
        char line[256];
        const char *args[] = {"--socket", b->sock, NULL};
        const char *socks[] = {"-l", a.act_sock, NULL};
        ipc_client *c;
        mode_t mode;

        activated_init(b, &a);
        spawn_activated(b, socks, "--fdname=unix", args);
        (void)snprintf(line, sizeof(line), "Listening on %s as 3.", a.act_sock);
        sd_broker_wait_log(b, line);
        mode = node_mode(a.act_sock);

        /* The first connection starts the broker, which then answers it. */
        c = harness_connect(a.act_address, "first");
        (void)sd_broker_wait_ready(b);
        assert_status_has(b, a.act_address);
        assert_int_equal(ipc_client_ping(c, harness_timeout(T_SEC), NULL), 0);
        (void)snprintf(line, sizeof(line), "listening on %s (socket-activated)", a.act_address);
        assert_non_null(strstr(daemon_proc_log(b->proc), line));
        assert_non_null(strstr(daemon_proc_log(b->proc), "not binding unix:"));
        assert_int_equal(access(b->sock, F_OK), -1);
        assert_int_equal(node_mode(a.act_sock), mode);

        ipc_client_free(c);
        stop_ok(b);
        /* The node belongs to whoever passed the socket (daemon(7)). */
        assert_int_equal(node_mode(a.act_sock), mode);
}

/*
 * A passed TCP socket replaces the --listen and configured TCP addresses,
 * served as the entry with its address says; the UNIX socket is ours as usual.
 */
static void test_tcp(void **state) {
        struct sd_broker *b = *state;
        struct activated a;
        char listen_arg[64], line[512];
        const char *args[] = {"--socket", b->sock,           "-c", b->config,
                              "--listen", "tcp:127.0.0.1:0", NULL};
        const char *socks[] = {"-l", listen_arg, NULL};
        ipc_client *c, *u;

        activated_init(b, &a);
        write_insecure_config(b, &a);
        (void)snprintf(listen_arg, sizeof(listen_arg), "127.0.0.1:%d", a.port);
        spawn_activated(b, socks, "--fdname=tcp", args);
        (void)snprintf(line, sizeof(line), "Listening on %s as 3.", listen_arg);
        sd_broker_wait_log(b, line);

        c = harness_connect(a.tcp_address, "tcp");
        (void)sd_broker_wait_ready(b);
        /* Passed sockets are taken first. */
        (void)snprintf(line, sizeof(line), "%s %s", a.tcp_address, b->address);
        assert_status_has(b, line);
        assert_non_null(strstr(daemon_proc_log(b->proc), "not binding tcp:127.0.0.1:0"));
        (void)snprintf(line, sizeof(line), "not binding %s", a.tcp_address);
        assert_non_null(strstr(daemon_proc_log(b->proc), line));
        u = harness_connect(b->address, "unix");
        assert_int_equal(ipc_client_ping(u, harness_timeout(T_SEC), NULL), 0);
        assert_int_equal(ipc_client_ping(c, harness_timeout(T_SEC), NULL), 0);
        assert_int_equal(node_mode(b->sock), 0660);
        ipc_client_free(u);
        ipc_client_free(c);
        stop_ok(b);
        assert_int_equal(access(b->sock, F_OK), -1); /* ours: removed */
}

/* Both kinds, with names that say the opposite: what the fd is decides, with a warning. */
static void test_names_do_not_decide(void **state) {
        struct sd_broker *b = *state;
        struct activated a;
        char listen_arg[64], line[512];
        const char *args[] = {"--socket", b->sock, "-c", b->config, NULL};
        const char *socks[] = {"-l", a.act_sock, "-l", listen_arg, NULL};
        ipc_client *c, *t;

        activated_init(b, &a);
        write_insecure_config(b, &a);
        (void)snprintf(listen_arg, sizeof(listen_arg), "127.0.0.1:%d", a.port);
        spawn_activated(b, socks, "--fdname=tcp:unix", args);
        (void)snprintf(line, sizeof(line), "Listening on %s as 4.", listen_arg);
        sd_broker_wait_log(b, line);

        c = harness_connect(a.act_address, "unix");
        (void)sd_broker_wait_ready(b);
        (void)snprintf(line, sizeof(line), "%s %s", a.act_address, a.tcp_address);
        assert_status_has(b, line);
        t = harness_connect(a.tcp_address, "tcp");
        assert_int_equal(ipc_client_ping(t, harness_timeout(T_SEC), NULL), 0);
        assert_non_null(strstr(daemon_proc_log(b->proc),
                               "passed fd 3 is named \"tcp\" but is a UNIX socket"));
        assert_non_null(strstr(daemon_proc_log(b->proc),
                               "passed fd 4 is named \"unix\" but is a TCP socket"));
        ipc_client_free(t);
        ipc_client_free(c);
}

static void send_datagram(const char *path) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        strcpy(sa.sun_path, path);
        assert_int_equal(sendto(fd, "x", 1, 0, (struct sockaddr *)&sa, sizeof(sa)), 1);
        (void)close(fd);
}

/* A passed TCP socket whose entry is TLS is served with TLS, certificate checks and all. */
static void test_tcp_tls(void **state) {
        struct sd_broker *b = *state;
        const struct harness_tls *tls;
        struct activated a;
        char listen_arg[64], line[512], config[1024], address[80];
        const char *args[] = {"--socket", b->sock, "-c", b->config, NULL};
        const char *socks[] = {"-l", listen_arg, NULL};
        ipc_client *c;

        activated_init(b, &a);
        if (harness_tls_default(&tls) == -ENOENT)
                skip();
        (void)snprintf(listen_arg, sizeof(listen_arg), "127.0.0.1:%d", a.port);
        (void)snprintf(config, sizeof(config),
                       "{\"listen\": {\"tcp\": [{\"address\": \"%s\", \"tls\": "
                       "{\"certificate\": \"%s\", \"key\": \"%s\", \"client_ca\": \"%s\"}}]}}",
                       listen_arg, tls->server_cert, tls->server_key, tls->ca);
        sd_broker_write_config(b, config);
        spawn_activated(b, socks, "--fdname=tcp", args);
        (void)snprintf(line, sizeof(line), "Listening on %s as 3.", listen_arg);
        sd_broker_wait_log(b, line);

        (void)snprintf(address, sizeof(address), "tls:%s", listen_arg);
        c = harness_connect(address, "tls");
        (void)sd_broker_wait_ready(b);
        (void)snprintf(line, sizeof(line), "listening on %s (socket-activated)", address);
        assert_non_null(strstr(daemon_proc_log(b->proc), line));
        assert_int_equal(ipc_client_ping(c, harness_timeout(T_SEC), NULL), 0);
        ipc_client_free(c);
        /* Plain TCP to it is not a session. */
        assert_int_equal(ipc_client_connect(a.tcp_address, NULL, &c), -ECONNRESET);
        stop_ok(b);
}

/*
 * A passed TCP socket that no "listen"."tcp" entry names: the daemon cannot
 * tell whether it is meant for TLS, so it refuses to start, saying so.
 */
static void test_tcp_unconfigured(void **state) {
        struct sd_broker *b = *state;
        struct activated a;
        char listen_arg[64], line[512];
        const char *args[] = {"--socket", b->sock, "--listen", "tcp:127.0.0.1:0", NULL};
        const char *socks[] = {"-l", listen_arg, NULL};
        ipc_client *c = NULL;
        int status = -1;

        activated_init(b, &a);
        (void)snprintf(listen_arg, sizeof(listen_arg), "127.0.0.1:%d", a.port);
        spawn_activated(b, socks, "--fdname=tcp", args);
        (void)snprintf(line, sizeof(line), "Listening on %s as 3.", listen_arg);
        sd_broker_wait_log(b, line);
        /* The connection that starts it is closed when it exits. */
        assert_true(ipc_client_connect(a.tcp_address, NULL, &c) < 0);
        assert_int_equal(daemon_proc_stop(b->proc, 0, &status), 0);
        assert_int_equal(status, HARNESS_EXIT_CONFIG);
        (void)snprintf(line, sizeof(line),
                       "the service manager passed a TCP socket on %s, but no \"listen\".\"tcp\" "
                       "entry of the configuration has that address",
                       listen_arg);
        assert_non_null(strstr(daemon_proc_log(b->proc), line));
}

/* A datagram socket is refused with a log line; the daemon binds its own instead. */
static void test_reject_datagram(void **state) {
        struct sd_broker *b = *state;
        struct activated a;
        char line[256];
        const char *args[] = {"--socket", b->sock, NULL};
        const char *socks[] = {"--datagram", "-l", a.act_sock, NULL};

        activated_init(b, &a);
        spawn_activated(b, socks, NULL, args);
        (void)snprintf(line, sizeof(line), "Listening on %s as 3.", a.act_sock);
        sd_broker_wait_log(b, line);
        send_datagram(a.act_sock);
        (void)sd_broker_wait_ready(b);
        assert_non_null(strstr(daemon_proc_log(b->proc),
                               "<3>passed fd 3 (\"unknown\") is not a listening stream socket"));
        assert_status_has(b, b->address);
        stop_ok(b);
        (void)node_mode(a.act_sock); /* not ours to remove either */
}

/* The node the daemon binds gets "listen.unix_mode", 0660 by default, whatever the umask. */
static void test_unix_mode(void **state) {
        struct sd_broker *b = *state;
        mode_t old = umask(0);

        sd_broker_start(b, NULL, NULL);
        umask(old);
        assert_int_equal(node_mode(b->sock), 0660);
        stop_ok(b);
        b->proc = daemon_proc_free(b->proc);

        sd_broker_write_config(b, "{\"listen\": {\"unix_mode\": \"0604\"}}");
        sd_broker_start(b, NULL, NULL);
        assert_int_equal(node_mode(b->sock), 0604);
}

#define T(f) cmocka_unit_test_setup_teardown(f, sd_broker_setup, sd_broker_teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(test_unix),
                T(test_tcp),
                T(test_names_do_not_decide),
                T(test_tcp_tls),
                T(test_tcp_unconfigured),
                T(test_reject_datagram),
                T(test_unix_mode),
        };

        return cmocka_run_group_tests_name("activation", tests, NULL, NULL);
}
