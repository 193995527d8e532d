/* SPDX-License-Identifier: MIT */
/*
 * What the daemon tells the service manager (sd_notify(3)), read from a
 * real NOTIFY_SOCKET: READY=1 only once every listener accepts, STATUS=
 * with the client and channel counts as they change but at most about once
 * a second, WATCHDOG=1 at half of $WATCHDOG_USEC (and only for the process
 * $WATCHDOG_PID names), STOPPING=1 on SIGTERM; and the log's priority
 * prefixes, kept for the journal and pipes, dropped on a terminal.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
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

#define T_SEC  (5 * HARNESS_USEC_PER_SEC)
#define T_MSEC HARNESS_USEC_PER_MSEC
/* The daemon sends STATUS= at most once a second; allow for a late READY read. */
#define STATUS_GAP_MIN_USEC (500 * T_MSEC)

/* A blocking connect(2), once, no retry: it works only if the socket listens now. */
static int connect_unix(const char *path) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

        assert_true(fd >= 0);
        assert_true(strlen(path) < sizeof(sa.sun_path));
        strcpy(sa.sun_path, path);
        r = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
        (void)close(fd);
        return r;
}

static int connect_tcp(unsigned port) {
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

        assert_true(fd >= 0);
        r = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
        (void)close(fd);
        return r;
}

/* The STATUS= value of @m as a string in @buf. */
static const char *status_of(const struct notify_msg *m, char *buf, size_t size) {
        size_t len = 0;
        const char *v = notify_msg_get(m, "STATUS", &len);

        if (!v)
                fail_msg("no STATUS= in \"%s\"", m->text);
        (void)snprintf(buf, size, "%.*s", (int)len, v);
        return buf;
}

static void assert_status_starts(const struct notify_msg *m, const char *want) {
        char status[NOTIFY_MSG_MAX];

        if (strncmp(status_of(m, status, sizeof(status)), want, strlen(want)) != 0)
                fail_msg("STATUS=\"%s\", expected it to start with \"%s\"", status, want);
}

/* STATUS= messages until one starts with @want (counts may pass through others first). */
static void wait_status(struct sd_broker *b, const char *want, struct notify_msg *m) {
        uint64_t deadline = harness_now_usec() + harness_timeout(10 * HARNESS_USEC_PER_SEC);
        char status[NOTIFY_MSG_MAX];

        while (harness_now_usec() < deadline) {
                sd_broker_expect(b, "STATUS=", 5 * HARNESS_USEC_PER_SEC, m);
                if (strncmp(status_of(m, status, sizeof(status)), want, strlen(want)) == 0)
                        return;
        }
        fail_msg("no STATUS= starting with \"%s\"; last \"%s\"", want, status);
}

/* READY=1 comes once both listeners accept, with counts and addresses in STATUS=. */
static void test_ready_when_accepting(void **state) {
        struct sd_broker *b = *state;
        const char *args[] = {"--socket", b->sock,           "-c", b->config,
                              "--listen", "tcp:127.0.0.1:0", NULL};
        char status[NOTIFY_MSG_MAX], want[256];
        const struct notify_msg *m;
        const char *tcp;
        unsigned port;

        sd_broker_write_config(b, "{\"channels\": {\"decl.one\": {}}}");
        sd_broker_spawn(b, NULL, args, NULL);
        m = sd_broker_wait_ready(b);
        /* Right now, without retrying: both sockets must already accept. */
        assert_int_equal(connect_unix(b->sock), 0);
        (void)status_of(m, status, sizeof(status));
        tcp = strstr(status, " tcp:127.0.0.1:");
        if (!tcp || sscanf(tcp, " tcp:127.0.0.1:%u", &port) != 1)
                fail_msg("no TCP listener in STATUS=\"%s\"", status);
        assert_int_equal(connect_tcp(port), 0);
        (void)snprintf(want, sizeof(want),
                       "0 clients, 1 channel; listening on unix:%s tcp:", b->sock);
        assert_status_starts(m, want);
        /* The listeners were logged before readiness was announced. */
        assert_non_null(strstr(daemon_proc_log(b->proc), "listening on tcp:127.0.0.1:"));
}

/*
 * Counts follow connections and channels, rate-limited: READY=1 counts as
 * the first line, the next change waits out the second after it, and a
 * burst of changes within a second becomes one message.
 */
static void test_status_counts(void **state) {
        struct sd_broker *b = *state;
        ipc_client *c[4] = {};
        ipc_sub *sub = NULL;
        struct notify_msg m1, m2, m3;

        sd_broker_start(b, NULL, NULL);
        assert_status_starts(&b->ready, "0 clients, 0 channels; listening on unix:");
        c[0] = harness_connect(b->address, "first");
        sd_broker_expect(b, "STATUS=", T_SEC, &m1);
        assert_status_starts(&m1, "1 client, 0 channels;");
        assert_true(m1.usec - b->ready.usec >= STATUS_GAP_MIN_USEC);

        /* Four changes within the second: only their result is sent. */
        for (int i = 1; i < 4; i++)
                c[i] = harness_connect(b->address, "burst");
        assert_int_equal(ipc_sub_new(c[0], "notify.counted", harness_timeout(T_SEC), &sub), 0);
        sd_broker_expect(b, "STATUS=", T_SEC, &m2);
        assert_status_starts(&m2, "4 clients, 1 channel;");
        assert_true(m2.usec - m1.usec >= STATUS_GAP_MIN_USEC);

        ipc_sub_free(sub);
        for (int i = 0; i < 4; i++)
                ipc_client_free(c[i]);
        wait_status(b, "0 clients, 0 channels;", &m3);
        assert_true(m3.usec - m2.usec >= STATUS_GAP_MIN_USEC);
}

/* SIGTERM: STOPPING=1, then exit 0. */
static void test_stopping(void **state) {
        struct sd_broker *b = *state;
        struct notify_msg m;
        int status = -1;

        sd_broker_start(b, NULL, NULL);
        assert_int_equal(kill(daemon_proc_pid(b->proc), SIGTERM), 0);
        sd_broker_expect(b, "STOPPING=1", T_SEC, &m);
        /* Signal 0: only wait. A second SIGTERM after the loop ended would kill it. */
        assert_int_equal(daemon_proc_stop(b->proc, 0, &status), 0);
        assert_int_equal(status, 0);
}

/* Waits for @n WATCHDOG=1 messages after READY=1. Return: the mean interval in µs. */
static uint64_t watchdog_pings(struct sd_broker *b, int n) {
        struct notify_msg first, m;

        sd_broker_expect(b, "WATCHDOG=1", T_SEC, &first);
        m = first;
        for (int i = 1; i < n; i++)
                sd_broker_expect(b, "WATCHDOG=1", T_SEC, &m);
        return (m.usec - first.usec) / (uint64_t)(n - 1);
}

/* WATCHDOG_USEC=200000: a ping every 100 ms from the event loop. */
static void test_watchdog(void **state) {
        struct sd_broker *b = *state;
        const char *env[] = {"WATCHDOG_USEC=200000", NULL};
        uint64_t mean;

        sd_broker_start(b, NULL, env);
        assert_non_null(strstr(daemon_proc_log(b->proc), "watchdog enabled: pinging every 100 ms"));
        mean = watchdog_pings(b, 6);
        /* Half the interval; a loaded machine may stretch it, never compress it much. */
        if (mean < 50 * T_MSEC || mean > 200 * T_MSEC)
                fail_msg("mean interval between pings %llu us, expected about 100000",
                         (unsigned long long)mean);
}

/* The shell's pid is the daemon's after exec: WATCHDOG_PID names it. */
static const char *const exec_as_watchdog_pid[] = {"sh", "-c", "WATCHDOG_PID=$$ exec \"$0\" \"$@\"",
                                                   NULL};

static void test_watchdog_pid(void **state) {
        struct sd_broker *b = *state;
        const char *env[] = {"WATCHDOG_USEC=100000", NULL};

        sd_broker_spawn(b, exec_as_watchdog_pid, NULL, env);
        (void)sd_broker_wait_ready(b);
        (void)watchdog_pings(b, 3);
}

/* WATCHDOG_PID of another process: the watchdog is not ours, no pings. */
static void test_watchdog_other_pid(void **state) {
        struct sd_broker *b = *state;
        const char *env[] = {"WATCHDOG_USEC=100000", "WATCHDOG_PID=1", NULL};

        sd_broker_start(b, NULL, env);
        /* Decided and logged before READY=1. */
        assert_null(strstr(daemon_proc_log(b->proc), "watchdog"));
}

/* A malformed WATCHDOG_USEC is reported and ignored. */
static void test_watchdog_malformed(void **state) {
        struct sd_broker *b = *state;
        const char *env[] = {"WATCHDOG_USEC=soon", NULL};

        sd_broker_start(b, NULL, env);
        assert_non_null(strstr(daemon_proc_log(b->proc), "<4>ignoring the watchdog settings"));
}

/* Reads the pty master until @needle shows up. Return: what was read (static buffer). */
static const char *pty_read_until(int master, const char *needle) {
        static char buf[16384];
        uint64_t deadline = harness_now_usec() + harness_timeout(T_SEC);
        size_t len = 0;

        buf[0] = '\0';
        while (!strstr(buf, needle)) {
                struct pollfd p = {.fd = master, .events = POLLIN};
                ssize_t n;

                uint64_t now = harness_now_usec();
                int ms = now < deadline ? (int)((deadline - now) / 1000 + 1) : 0;

                if (len + 1 >= sizeof(buf) || poll(&p, 1, ms) <= 0)
                        fail_msg("\"%s\" never appeared on the terminal; got:\n%s", needle, buf);
                n = read(master, buf + len, sizeof(buf) - 1 - len);
                if (n > 0)
                        len += (size_t)n;
                buf[len] = '\0';
        }
        return buf;
}

/* A terminal for the daemon's stderr: the slave end; *@ret_master is ours. */
static int pty_open(int *ret_master) {
        int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC), slave;
        const char *name;

        assert_true(master >= 0);
        assert_int_equal(grantpt(master), 0);
        assert_int_equal(unlockpt(master), 0);
        name = ptsname(master);
        assert_non_null(name);
        slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
        assert_true(slave >= 0);
        *ret_master = master;
        return slave;
}

/* Stops the daemon (exit 0) before the master closes: a hung-up tty would fail its writes. */
static void pty_stop(struct sd_broker *b, int master) {
        int status = -1;

        (void)close(b->stderr_fd);
        b->stderr_fd = -1;
        assert_int_equal(daemon_proc_stop(b->proc, SIGTERM, &status), 0);
        assert_int_equal(status, 0);
        (void)close(master);
}

/* On a terminal: no "<N>", but "warning: " where it matters. */
static void test_log_terminal(void **state) {
        struct sd_broker *b = *state;
        const char *env[] = {"WATCHDOG_USEC=soon", NULL};
        const char *out;
        int master;

        b->stderr_fd = pty_open(&master);
        sd_broker_start(b, NULL, env);
        out = pty_read_until(master, "ready (");
        assert_null(strstr(out, "<6>"));
        assert_non_null(strstr(out, "\nready (0 clients"));
        assert_non_null(strstr(out, "warning: ignoring the watchdog settings"));
        pty_stop(b, master);
}

/* $JOURNAL_STREAM naming stderr wins over the terminal: prefixes for journald. */
static void test_log_journal(void **state) {
        struct sd_broker *b = *state;
        char journal[64];
        const char *env[] = {journal, NULL};
        struct stat st;
        int master;

        b->stderr_fd = pty_open(&master);
        assert_int_equal(fstat(b->stderr_fd, &st), 0);
        (void)snprintf(journal, sizeof(journal), "JOURNAL_STREAM=%llu:%llu",
                       (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
        sd_broker_start(b, NULL, env);
        (void)pty_read_until(master, "<6>ready (0 clients");
        pty_stop(b, master);
}

/* A pipe or a file (and a $JOURNAL_STREAM naming something else): prefixes. */
static void test_log_stream(void **state) {
        struct sd_broker *b = *state;
        const char *env[] = {"JOURNAL_STREAM=1:1", NULL};

        sd_broker_start(b, NULL, env);
        sd_broker_wait_log(b, "<6>ready (0 clients");
}

/* NOTIFY_SOCKET=@name, an abstract address: the whole exchange works the same. */
static void test_abstract_notify_socket(void **state) {
        struct sd_broker *b = *state;
        const char *env[] = {"WATCHDOG_USEC=100000", NULL};

        sd_broker_start(b, NULL, env);
        (void)watchdog_pings(b, 2);
}

#define T(f) cmocka_unit_test_setup_teardown(f, sd_broker_setup, sd_broker_teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(test_ready_when_accepting),
                T(test_status_counts),
                T(test_stopping),
                T(test_watchdog),
                T(test_watchdog_pid),
                T(test_watchdog_other_pid),
                T(test_watchdog_malformed),
                T(test_log_terminal),
                T(test_log_journal),
                T(test_log_stream),
                cmocka_unit_test_setup_teardown(test_abstract_notify_socket,
                                                sd_broker_setup_abstract, sd_broker_teardown),
        };

        return cmocka_run_group_tests_name("notify", tests, NULL, NULL);
}
