/* SPDX-License-Identifier: MIT */
/*
 * Broker addresses, checked against address.h: the three spellings, the
 * strict port and host rules, length limits, formatting, and the defaults
 * a broker and a client pick from IPC_BROKER_ADDRESS, XDG_RUNTIME_DIR and
 * the effective uid. The non-root defaults run in a child that drops to
 * nobody when the suite runs as root, so both branches are always covered.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "address.h"
#include "util.h"

#define NOBODY 65534
#define SUFFIX "/ipc-broker/ipc-brokerd.sock"

static void parse_unix(const char *s, const char *path) {
        struct address a;
        int r = address_parse(s, &a);

        if (r < 0)
                fail_msg("address_parse(\"%s\") = %d", s, r);
        assert_int_equal(a.kind, ADDRESS_UNIX);
        assert_string_equal(a.path, path);
}

static void parse_tcp(const char *s, const char *host, const char *port) {
        struct address a;
        int r = address_parse(s, &a);

        if (r < 0)
                fail_msg("address_parse(\"%s\") = %d", s, r);
        assert_int_equal(a.kind, ADDRESS_TCP);
        assert_string_equal(a.host, host);
        assert_string_equal(a.port, port);
        assert_int_equal(a.tls, strncmp(s, "tls:", 4) == 0);
}

/* Also checks that a failed parse leaves *ret alone. */
static void parse_fails(const char *s, int error) {
        struct address a;
        int r;

        memset(&a, 0x5a, sizeof(a));
        r = address_parse(s, &a);
        if (r != error)
                fail_msg("address_parse(\"%s\") = %d, expected %d", s, r, error);
        assert_int_equal(((unsigned char *)&a)[0], 0x5a);
        assert_int_equal(((unsigned char *)&a)[sizeof(a) - 1], 0x5a);
}

static void test_unix_forms(void **state) {
        parse_unix("unix:/run/x.sock", "/run/x.sock");
        parse_unix("/run/x.sock", "/run/x.sock");
        parse_unix("./x.sock", "./x.sock");
        parse_unix("../x.sock", "../x.sock");
        parse_unix("/", "/");
        parse_unix("unix:/a:b", "/a:b");
        parse_unix("unix:tcp:h:1", "tcp:h:1"); /* the scheme decides, not what follows */
        parse_fails("unix:", -EINVAL);
        parse_fails("", -EINVAL);
        parse_fails("x.sock", -EINVAL);
        parse_fails("UNIX:/p", -EINVAL);
        parse_fails("udp:h:1", -EINVAL);
        parse_fails("unix", -EINVAL);
        parse_fails(NULL, -EINVAL);
        assert_int_equal(address_parse("/p", NULL), -EINVAL);
}

static void test_unix_length(void **state) {
        char s[ADDRESS_PATH_MAX + 16];

        assert_int_equal(ADDRESS_PATH_MAX, 108);
        strcpy(s, "unix:/");
        memset(s + 6, 'p', 106);
        s[112] = '\0'; /* path of 107 bytes: the most sun_path holds with its NUL */
        parse_unix(s, s + 5);
        parse_unix(s + 5, s + 5);
        strcat(s, "p");
        parse_fails(s, -ENAMETOOLONG);
        parse_fails(s + 5, -ENAMETOOLONG);
}

static void test_tcp_forms(void **state) {
        parse_tcp("tcp:h:1", "h", "1");
        parse_tcp("tcp:localhost:65535", "localhost", "65535");
        parse_tcp("tcp:127.0.0.1:7420", "127.0.0.1", "7420");
        parse_tcp("tcp:[::1]:7420", "::1", "7420");
        parse_tcp("tcp:[fe80::1%lo]:9", "fe80::1%lo", "9");
        parse_tcp("tcp:[127.0.0.1]:9", "127.0.0.1", "9");
        parse_tcp("tcp:h:080", "h", "80"); /* normalised */
        /* Port 0 is kept: address.h documents it for listeners (any free port). */
        parse_tcp("tcp:h:0", "h", "0");
        parse_tcp("tcp:[::]:0", "::", "0");
}

/* "tls:" is TCP with the same host and port rules, and remembers the scheme. */
static void test_tls_forms(void **state) {
        parse_tcp("tls:h:1", "h", "1");
        parse_tcp("tls:127.0.0.1:7420", "127.0.0.1", "7420");
        parse_tcp("tls:[::1]:7420", "::1", "7420");
        parse_fails("tls:", -EINVAL);
        parse_fails("tls:h", -EINVAL);
        parse_fails("tls:h:65536", -EINVAL);
        parse_fails("tls:::1:80", -EINVAL);
        parse_fails("TLS:h:1", -EINVAL);
        parse_fails("tlsx:h:1", -EINVAL);
}

static void test_tcp_bad_ports(void **state) {
        static const char *const bad[] = {
                "tcp:h:65536", "tcp:h:99999",     "tcp:h:abc",
                "tcp:h:",      "tcp:h:-1",        "tcp:h:+1",
                "tcp:h: 1",    "tcp:h:1 ",        "tcp:h:1x",
                "tcp:h:0x10",  "tcp:h:1.5",       "tcp:h:1:2",
                "tcp:[::1]:",  "tcp:[::1]:65536", "tcp:h:99999999999999999999",
                "tcp:h:-0",    "tcp:h:00",
        };

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                parse_fails(bad[i], -EINVAL);
}

static void test_tcp_bad_hosts(void **state) {
        static const char *const bad[] = {
                "tcp:",           "tcp:h",          "tcp::80",  "tcp:[]:80",
                "tcp:::1:80",     "tcp:[::1]80",    "tcp:[::1", "tcp:[::1]",
                "tcp:fe80::1:80", "tcp:[::1]:80:1", "tcp",      "TCP:h:1",
        };

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                parse_fails(bad[i], -EINVAL);
}

static void test_tcp_host_length(void **state) {
        char s[ADDRESS_HOST_MAX + 32], host[ADDRESS_HOST_MAX + 1];

        assert_int_equal(ADDRESS_HOST_MAX, 256);
        memset(host, 'h', 255);
        host[255] = '\0';
        (void)snprintf(s, sizeof(s), "tcp:%s:1", host);
        parse_tcp(s, host, "1");
        (void)snprintf(s, sizeof(s), "tcp:[%s]:1", host);
        parse_tcp(s, host, "1");
        (void)snprintf(s, sizeof(s), "tcp:%sh:1", host);
        parse_fails(s, -ENAMETOOLONG);
        (void)snprintf(s, sizeof(s), "tcp:[%sh]:1", host);
        parse_fails(s, -ENAMETOOLONG);
}

static bool loopback(const char *s) {
        struct address a;

        assert_int_equal(address_parse(s, &a), 0);
        return address_is_loopback(&a);
}

/* Numeric loopback only: a name may resolve to anything by the time it is used. */
static void test_loopback(void **state) {
        assert_true(loopback("tcp:127.0.0.1:1"));
        assert_true(loopback("tcp:127.255.0.9:1"));
        assert_true(loopback("tls:[::1]:1"));
        assert_false(loopback("tcp:0.0.0.0:1"));
        assert_false(loopback("tcp:[::]:1"));
        assert_false(loopback("tcp:128.0.0.1:1"));
        assert_false(loopback("tcp:10.127.0.1:1"));
        assert_false(loopback("tcp:localhost:1"));
        assert_false(loopback("tcp:[::ffff:127.0.0.1]:1"));
        assert_false(loopback("tcp:127.1:1"));
        assert_false(loopback("unix:/127.0.0.1"));
}

static void format_is(const char *in, const char *out) {
        char buf[ADDRESS_STRING_MAX];
        struct address a, b;

        assert_int_equal(address_parse(in, &a), 0);
        address_format(&a, buf, sizeof(buf));
        assert_string_equal(buf, out);
        /* What format() writes parses back to the same address. */
        assert_int_equal(address_parse(buf, &b), 0);
        assert_int_equal(b.kind, a.kind);
        assert_string_equal(b.path, a.path);
        assert_string_equal(b.host, a.host);
        assert_string_equal(b.port, a.port);
        assert_int_equal(b.tls, a.tls);
}

static void test_format(void **state) {
        char buf[ADDRESS_STRING_MAX], host[ADDRESS_HOST_MAX], in[ADDRESS_STRING_MAX];
        struct address a;

        format_is("/run/x.sock", "unix:/run/x.sock");
        format_is("unix:./x", "unix:./x");
        format_is("tcp:h:1", "tcp:h:1");
        format_is("tcp:h:080", "tcp:h:80");
        format_is("tcp:[::1]:7420", "tcp:[::1]:7420");
        format_is("tcp:[127.0.0.1]:7420", "tcp:127.0.0.1:7420");
        format_is("tcp:[::]:0", "tcp:[::]:0");
        format_is("tls:h:080", "tls:h:80");
        format_is("tls:[::1]:7420", "tls:[::1]:7420");
        /* The longest address fits ADDRESS_STRING_MAX. */
        memset(host, ':', 255);
        host[255] = '\0';
        (void)snprintf(in, sizeof(in), "tcp:[%s]:65535", host);
        format_is(in, in);
        /* A short buffer truncates, NUL-terminated. */
        assert_int_equal(address_parse("tcp:[::1]:7420", &a), 0);
        memset(buf, 'x', sizeof(buf));
        address_format(&a, buf, 8);
        assert_string_equal(buf, "tcp:[::");
}

/* --- defaults --- */

#define CHECK(x)                                                                                   \
        do {                                                                                       \
                if (!(x)) {                                                                        \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);      \
                        return 1;                                                                  \
                }                                                                                  \
        } while (0)

/* A runtime dir holding either a real socket or a plain file at the user socket path. */
struct runtime_dir {
        char dir[64];
        char sock[128];
};

static void runtime_dir_make(struct runtime_dir *d, bool real_socket) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        char sub[96];
        int fd;

        strcpy(d->dir, "/tmp/test-address-XXXXXX");
        assert_non_null(mkdtemp(d->dir));
        assert_int_equal(chmod(d->dir, 0755), 0); /* nobody must reach the socket */
        (void)snprintf(sub, sizeof(sub), "%s/ipc-broker", d->dir);
        assert_int_equal(mkdir(sub, 0755), 0);
        (void)snprintf(d->sock, sizeof(d->sock), "%s%s", d->dir, SUFFIX);
        if (real_socket) {
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                assert_true(fd >= 0);
                strcpy(sa.sun_path, d->sock);
                assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
                assert_int_equal(close(fd), 0);
        } else {
                fd = open(d->sock, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
                assert_true(fd >= 0);
                assert_int_equal(close(fd), 0);
        }
}

static void runtime_dir_remove(struct runtime_dir *d) {
        char sub[96];

        (void)unlink(d->sock);
        (void)snprintf(sub, sizeof(sub), "%s/ipc-broker", d->dir);
        (void)rmdir(sub);
        (void)rmdir(d->dir);
}

/* Runs fn in a child that is not root (dropping to nobody if need be); asserts it returned 0. */
static void run_unprivileged(int (*fn)(const void *arg), const void *arg) {
        int status;
        pid_t pid;

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                if (geteuid() == 0 && (setgid(NOBODY) < 0 || setuid(NOBODY) < 0))
                        _exit(2);
                _exit(fn(arg));
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

static int user_broker_path(const void *arg) {
        char buf[ADDRESS_PATH_MAX], big[300];

        CHECK(geteuid() != 0);
        CHECK(setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1) == 0);
        CHECK(address_default_broker_path(buf, sizeof(buf)) == 0);
        CHECK(strcmp(buf, "/run/user/1000" SUFFIX) == 0);
        CHECK(address_default_broker_path(buf, strlen("/run/user/1000" SUFFIX)) == -ENAMETOOLONG);
        CHECK(address_default_broker_path(buf, strlen("/run/user/1000" SUFFIX) + 1) == 0);
        memset(big, 'd', sizeof(big) - 1);
        big[0] = '/';
        big[sizeof(big) - 1] = '\0';
        CHECK(setenv("XDG_RUNTIME_DIR", big, 1) == 0);
        CHECK(address_default_broker_path(buf, sizeof(buf)) == -ENAMETOOLONG);
        CHECK(unsetenv("XDG_RUNTIME_DIR") == 0);
        CHECK(address_default_broker_path(buf, sizeof(buf)) == -ENXIO);
        /* Beyond the header: a relative or empty value counts as unset. */
        CHECK(setenv("XDG_RUNTIME_DIR", "run/user", 1) == 0);
        CHECK(address_default_broker_path(buf, sizeof(buf)) == -ENXIO);
        CHECK(setenv("XDG_RUNTIME_DIR", "", 1) == 0);
        CHECK(address_default_broker_path(buf, sizeof(buf)) == -ENXIO);
        return 0;
}

static void test_default_broker_path(void **state) {
        char buf[ADDRESS_PATH_MAX];

        if (geteuid() == 0) {
                /* Root always gets the system socket, whatever XDG_RUNTIME_DIR says. */
                assert_int_equal(setenv("XDG_RUNTIME_DIR", "/run/user/0", 1), 0);
                assert_int_equal(address_default_broker_path(buf, sizeof(buf)), 0);
                assert_string_equal(buf, ADDRESS_SYSTEM_SOCKET);
                assert_int_equal(unsetenv("XDG_RUNTIME_DIR"), 0);
                assert_int_equal(address_default_broker_path(buf, sizeof(buf)), 0);
                assert_string_equal(buf, "/run/ipc-broker/ipc-brokerd.sock");
                assert_int_equal(address_default_broker_path(buf, strlen(ADDRESS_SYSTEM_SOCKET)),
                                 -ENAMETOOLONG);
        }
        run_unprivileged(user_broker_path, NULL);
}

static bool is_unix(const struct address *a, const char *path) {
        return a->kind == ADDRESS_UNIX && strcmp(a->path, path) == 0;
}

/* arg: a runtime dir with a real socket; fills dirs of its own for the misses. */
static int user_client(const void *arg) {
        const struct runtime_dir *d = arg;
        struct address a;

        CHECK(geteuid() != 0);
        CHECK(unsetenv(ADDRESS_ENV) == 0);
        CHECK(setenv("XDG_RUNTIME_DIR", d->dir, 1) == 0);
        CHECK(address_default_client(&a) == 0);
        CHECK(is_unix(&a, d->sock));
        /* The environment wins over an existing per-user socket. */
        CHECK(setenv(ADDRESS_ENV, "tcp:[::1]:9", 1) == 0);
        CHECK(address_default_client(&a) == 0);
        CHECK(a.kind == ADDRESS_TCP && strcmp(a.host, "::1") == 0 && strcmp(a.port, "9") == 0);
        CHECK(setenv(ADDRESS_ENV, "", 1) == 0); /* empty: as if unset */
        CHECK(address_default_client(&a) == 0);
        CHECK(is_unix(&a, d->sock));
        CHECK(unsetenv("XDG_RUNTIME_DIR") == 0);
        CHECK(address_default_client(&a) == 0);
        CHECK(is_unix(&a, ADDRESS_SYSTEM_SOCKET));
        CHECK(setenv("XDG_RUNTIME_DIR", "/nonexistent-runtime-dir", 1) == 0);
        CHECK(address_default_client(&a) == 0);
        CHECK(is_unix(&a, ADDRESS_SYSTEM_SOCKET));
        return 0;
}

/* arg: a runtime dir with a regular file where the socket would be. */
static int user_client_not_socket(const void *arg) {
        const struct runtime_dir *d = arg;
        struct address a;

        CHECK(unsetenv(ADDRESS_ENV) == 0);
        CHECK(setenv("XDG_RUNTIME_DIR", d->dir, 1) == 0);
        CHECK(address_default_client(&a) == 0);
        CHECK(is_unix(&a, ADDRESS_SYSTEM_SOCKET));
        return 0;
}

static void test_default_client(void **state) {
        struct runtime_dir sock, file;
        struct address a;

        runtime_dir_make(&sock, true);
        runtime_dir_make(&file, false);
        assert_int_equal(setenv(ADDRESS_ENV, "tcp:h:5", 1), 0);
        assert_int_equal(address_default_client(&a), 0);
        assert_int_equal(a.kind, ADDRESS_TCP);
        assert_string_equal(a.host, "h");
        assert_string_equal(a.port, "5");
        assert_int_equal(setenv(ADDRESS_ENV, "unix:/x/y.sock", 1), 0);
        assert_int_equal(address_default_client(&a), 0);
        assert_true(is_unix(&a, "/x/y.sock"));
        assert_int_equal(setenv(ADDRESS_ENV, "garbage", 1), 0);
        assert_int_equal(address_default_client(&a), -EINVAL);
        assert_int_equal(setenv(ADDRESS_ENV, "tcp:h:65536", 1), 0);
        assert_int_equal(address_default_client(&a), -EINVAL);
        assert_int_equal(unsetenv(ADDRESS_ENV), 0);
        if (geteuid() == 0) {
                /* Root ignores a per-user socket, even one that exists. */
                assert_int_equal(setenv("XDG_RUNTIME_DIR", sock.dir, 1), 0);
                assert_int_equal(address_default_client(&a), 0);
                assert_true(is_unix(&a, ADDRESS_SYSTEM_SOCKET));
        }
        run_unprivileged(user_client, &sock);
        run_unprivileged(user_client_not_socket, &file);
        runtime_dir_remove(&sock);
        runtime_dir_remove(&file);
        assert_int_equal(unsetenv("XDG_RUNTIME_DIR"), 0);
}

int main(void) {
        /* clang-format off */
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_unix_forms),
                cmocka_unit_test(test_unix_length),
                cmocka_unit_test(test_tcp_forms),
                cmocka_unit_test(test_tls_forms),
                cmocka_unit_test(test_tcp_bad_ports),
                cmocka_unit_test(test_tcp_bad_hosts),
                cmocka_unit_test(test_tcp_host_length),
                cmocka_unit_test(test_format),
                cmocka_unit_test(test_loopback),
                cmocka_unit_test(test_default_broker_path),
                cmocka_unit_test(test_default_client),
        };
        /* clang-format on */

        (void)unsetenv(ADDRESS_ENV);
        return cmocka_run_group_tests_name("address", tests, NULL, NULL);
}
