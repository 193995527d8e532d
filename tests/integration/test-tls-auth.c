/* SPDX-License-Identifier: MIT */
/*
 * TLS on TCP, end to end: a throwaway CA, a server certificate for
 * 127.0.0.1 and client certificates made with the openssl command into a
 * private directory, a real ipc-brokerd with a certificate listener, a
 * token listener and a plain loopback listener, and clients through the
 * library and through ipcctl.
 *
 * Accepted: a client certificate of the CA (its CN is the remote identity
 * in the stats), a configured token (its name is). Refused, each with the
 * broker and its other clients carrying on: no client certificate, one of
 * another CA, one without a CN, a wrong or missing token, a token on a
 * plain connection; on the client side, a broker certificate of an
 * unknown CA or for another host. And the daemon refuses to start with
 * plain TCP off loopback, a bare-string listener or unusable certificate
 * files, saying why. Skips without the openssl command.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "proto.h"
#include "util.h"

#define T_SEC (5 * HARNESS_USEC_PER_SEC)
#define TOKEN "t0ken-alpha"
/* printf %s t0ken-alpha | sha256sum */
#define TOKEN_HASH "sha256:d87be7944c8fbe6ce799c681a0c087126bf984368fb9322cf3d1b2630c9ed90c"
#define TOKEN_NAME "svc-a"

/* The material, made once for all cases (group setup). */
static struct {
        char dir[64];
        char token_file[128];
        char bad_token_file[128];
} m;

/* A running broker with its three TCP listeners. */
struct tls_broker {
        struct harness_broker *b;
        char cert_addr[64];  /* tls: certificate listener */
        char token_addr[64]; /* tls: token listener */
        char plain_addr[64]; /* tcp: insecure loopback listener */
        int plain_port;
};

static const char *path(const char *name, const char *ext) {
        static char buf[8][192];
        static unsigned next;
        char *p = buf[next++ % 8];

        (void)snprintf(p, sizeof(buf[0]), "%s/%s%s", m.dir, name, ext);
        return p;
}

static void write_text(const char *file, const char *text) {
        FILE *f = fopen(file, "we");

        assert_non_null(f);
        assert_true(fputs(text, f) >= 0);
        assert_int_equal(fclose(f), 0);
}

static int material_setup(void **state) {
        const char *tmp = getenv("TMPDIR");
        int r;

        (void)snprintf(m.dir, sizeof(m.dir), "%s/ipc-tlsauth-XXXXXX",
                       tmp && *tmp && strlen(tmp) < 40 ? tmp : "/tmp");
        if (!mkdtemp(m.dir))
                return -1;
        r = harness_tls_make_ca(m.dir, "ca");
        if (r == -ENOENT)
                return 0; /* no openssl: every case skips */
        if (r >= 0)
                r = harness_tls_make_ca(m.dir, "other-ca");
        if (r >= 0)
                r = harness_tls_make_cert(m.dir, "ca", "server", "/CN=broker", true);
        if (r >= 0)
                r = harness_tls_make_cert(m.dir, "ca", "alice", "/CN=alice", false);
        if (r >= 0)
                r = harness_tls_make_cert(m.dir, "other-ca", "mallory", "/CN=mallory", false);
        if (r >= 0)
                r = harness_tls_make_cert(m.dir, "ca", "nocn", "/O=ipc-test", false);
        if (r < 0)
                return -1;
        (void)snprintf(m.token_file, sizeof(m.token_file), "%s/token", m.dir);
        (void)snprintf(m.bad_token_file, sizeof(m.bad_token_file), "%s/bad-token", m.dir);
        write_text(m.token_file, TOKEN "\n");
        write_text(m.bad_token_file, "t0ken-beta");
        return 0;
}

static int remove_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(p);
}

static int material_teardown(void **state) {
        return nftw(m.dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

static void need_material(void) {
        if (access(path("server", ".pem"), R_OK) < 0)
                skip();
}

/* ---- Brokers and clients -------------------------------------------- */

static void tls_broker_start(void **state, struct tls_broker *t, const char *limits) {
        int cert = harness_free_tcp_port(), token = harness_free_tcp_port();
        char config[4096];

        need_material();
        t->plain_port = harness_free_tcp_port();
        assert_true(cert > 0 && token > 0 && t->plain_port > 0);
        (void)snprintf(t->cert_addr, sizeof(t->cert_addr), "tls:127.0.0.1:%d", cert);
        (void)snprintf(t->token_addr, sizeof(t->token_addr), "tls:127.0.0.1:%d", token);
        (void)snprintf(t->plain_addr, sizeof(t->plain_addr), "tcp:127.0.0.1:%d", t->plain_port);
        (void)snprintf(config, sizeof(config),
                       "{\"limits\": {%s}, \"listen\": {\"tcp\": ["
                       "{\"address\": \"127.0.0.1:%d\", \"tls\": {\"certificate\": \"%s\", "
                       "\"key\": \"%s\", \"client_ca\": \"%s\"}},"
                       "{\"address\": \"127.0.0.1:%d\", \"tls\": {\"certificate\": \"%s\", "
                       "\"key\": \"%s\", \"auth\": \"token\", "
                       "\"tokens\": {\"" TOKEN_NAME "\": \"" TOKEN_HASH "\"}}},"
                       "{\"address\": \"127.0.0.1:%d\", \"insecure\": true}]}}",
                       limits ? limits : "", cert, path("server", ".pem"), path("server", ".key"),
                       path("ca", ".pem"), token, path("server", ".pem"), path("server", ".key"),
                       t->plain_port);
        t->b = harness_start(state, config, NULL);
}

/*
 * Connects with the given TLS material (names of files in the material
 * directory, or NULL). Return: ipc_client_connect()'s result.
 */
static int tls_connect(const char *address, const char *ca, const char *cert, const char *token,
                       ipc_client **ret) {
        ipc_options *opts = NULL;
        int r;

        assert_int_equal(ipc_options_new(&opts), 0);
        assert_int_equal(ipc_options_set_connect_timeout(opts, harness_timeout(T_SEC)), 0);
        if (ca || cert)
                assert_int_equal(ipc_options_set_tls(opts, ca ? path(ca, ".pem") : NULL,
                                                     cert ? path(cert, ".pem") : NULL,
                                                     cert ? path(cert, ".key") : NULL),
                                 0);
        if (token)
                assert_int_equal(ipc_options_set_token(opts, token), 0);
        *ret = NULL;
        r = ipc_client_connect(address, opts, ret);
        ipc_options_free(opts);
        return r;
}

static ipc_client *tls_connect_ok(const char *address, const char *cert, const char *token) {
        ipc_client *c;
        int r = tls_connect(address, "ca", cert, token, &c);

        if (r < 0)
                fail_msg("connecting to %s: %s", address, ipc_strerror(r));
        return c;
}

static void connect_fails(const char *address, const char *ca, const char *cert, const char *token,
                          int expected) {
        ipc_client *c;
        int r = tls_connect(address, ca, cert, token, &c);

        if (r != expected)
                fail_msg("connecting to %s (ca %s, cert %s, token %s): %d (%s), expected %d (%s)",
                         address, ca ?: "-", cert ?: "-", token ?: "-", r, ipc_strerror(r),
                         expected, ipc_strerror(expected));
        assert_null(c);
}

/* One message from @pc's side to @sc's, on the socket (a TLS client never maps a ring). */
static void roundtrip(ipc_client *pc, ipc_client *sc, const char *channel) {
        ipc_pub *pub;
        ipc_sub *sub;
        const ipc_msg *msg;
        const char *data;
        size_t size;

        assert_int_equal(ipc_sub_new(sc, channel, harness_timeout(T_SEC), &sub), 0);
        assert_int_equal(ipc_pub_new(pc, channel, harness_timeout(T_SEC), &pub), 0);
        assert_int_equal(ipc_pub_get_transport(pub), IPC_TRANSPORT_SOCKET);
        assert_int_equal(ipc_publish(pub, "over tls", 8, 0, harness_timeout(T_SEC)), 0);
        msg = harness_receive(sc, T_SEC);
        data = ipc_msg_get_data(msg, &size);
        assert_int_equal(size, 8);
        assert_memory_equal(data, "over tls", 8);
        ipc_pub_free(pub);
        ipc_sub_free(sub);
}

/* The "clients" row of the broker's stats whose name is @name. */
static json_t *client_row(json_t *stats, const char *name) {
        json_t *row;
        size_t i;

        json_array_foreach(json_object_get(stats, "clients"), i, row) {
                const char *n = json_string_value(json_object_get(row, "name"));

                if (n && strcmp(n, name) == 0)
                        return row;
        }
        fail_msg("no client \"%s\" in the stats", name);
        return NULL;
}

/* @c's own row must show @transport and @remote (NULL: JSON null). */
static void expect_identity(ipc_client *c, const char *name, const char *transport,
                            const char *remote) {
        char *text = NULL;
        json_t *stats, *row;

        assert_int_equal(ipc_client_stats(c, harness_timeout(T_SEC), &text), 0);
        stats = harness_json_parse(text);
        row = client_row(stats, name);
        assert_string_equal(json_string_value(json_object_get(row, "transport")), transport);
        if (remote)
                assert_string_equal(json_string_value(json_object_get(row, "remote")), remote);
        else
                assert_true(json_is_null(json_object_get(row, "remote")));
        json_decref(stats);
        ipc_free(text);
}

static ipc_client *named(const char *address, const char *cert, const char *token,
                         const char *name) {
        ipc_options *opts = NULL;
        ipc_client *c = NULL;

        assert_int_equal(ipc_options_new(&opts), 0);
        assert_int_equal(ipc_options_set_name(opts, name), 0);
        assert_int_equal(ipc_options_set_tls(opts, path("ca", ".pem"),
                                             cert ? path(cert, ".pem") : NULL,
                                             cert ? path(cert, ".key") : NULL),
                         0);
        if (token)
                assert_int_equal(ipc_options_set_token(opts, token), 0);
        assert_int_equal(ipc_client_connect(address, opts, &c), 0);
        ipc_options_free(opts);
        return c;
}

/* The broker is still fine: a good client completes a round trip. */
static void expect_broker_serves(const struct tls_broker *t) {
        ipc_client *c = tls_connect_ok(t->cert_addr, "alice", NULL);

        roundtrip(c, c, "still.up");
        ipc_client_free(c);
        assert_true(harness_broker_running(t->b));
}

static void wait_log(struct harness_broker *b, const char *needle) {
        assert_int_equal(harness_broker_wait_log(b, needle, T_SEC), 0);
}

/* ---- ipcctl --------------------------------------------------------- */

/* ipcctl -t 5 ARGS..., captured. */
static void ctl(struct harness_output *o, const char *const *args) {
        const char *argv[32] = {getenv("IPCCTL"), "-t", "5"};
        size_t n = 3;

        for (size_t i = 0; args[i] && n < 31; i++)
                argv[n++] = args[i];
        argv[n] = NULL;
        assert_int_equal(harness_run(argv, NULL, 0, T_SEC, o), 0);
}

static void ctl_expect(const char *const *args, int status, const char *err) {
        struct harness_output o;

        ctl(&o, args);
        if (o.status != status || (err && !strstr(o.err, err)))
                fail_msg("ipcctl exited %d (expected %d): %s", o.status, status, o.err);
        harness_output_free(&o);
}

/* ---- Accepted ------------------------------------------------------- */

/*
 * A TLS client is charged to the user it authenticates as, not to the
 * anonymous user it is until then: with one connection per user, alice's
 * second is refused with -EDQUOT while the token's user and an anonymous
 * plain client still get in, and alice gets in again once her first is gone.
 */
static void test_remote_user_quota(void **state) {
        struct tls_broker t;
        ipc_client *alice, *token, *plain = NULL;

        tls_broker_start(state, &t, "\"max_connections_per_uid\": 1");
        alice = tls_connect_ok(t.cert_addr, "alice", NULL);
        connect_fails(t.cert_addr, "ca", "alice", NULL, -EDQUOT);
        wait_log(t.b, "remote \"alice\": refused: max_connections_per_uid (1) reached");
        token = tls_connect_ok(t.token_addr, NULL, TOKEN);
        assert_int_equal(ipc_client_connect(t.plain_addr, NULL, &plain), 0);
        roundtrip(alice, token, "tls.quota");
        ipc_client_free(alice);
        alice = tls_connect_ok(t.cert_addr, "alice", NULL);
        roundtrip(plain, alice, "tls.quota");
        ipc_client_free(plain);
        ipc_client_free(token);
        ipc_client_free(alice);
}

/* A certificate of the CA: a round trip, and its CN is the remote identity. */
static void test_certificate_library(void **state) {
        struct tls_broker t;
        ipc_client *pc, *sc;

        tls_broker_start(state, &t, NULL);
        pc = named(t.cert_addr, "alice", NULL, "cert-pub");
        sc = named(t.cert_addr, "alice", NULL, "cert-sub");
        assert_string_equal(ipc_client_get_address(pc), t.cert_addr);
        roundtrip(pc, sc, "tls.cert");
        expect_identity(pc, "cert-pub", "tls", "alice");
        expect_identity(pc, "cert-sub", "tls", "alice");
        ipc_client_free(sc);
        ipc_client_free(pc);
        wait_log(t.b, "connected over tls as remote \"alice\"");
}

/* The same through ipcctl: subscribe, publish, and stats naming the identity. */
static void test_certificate_ipcctl(void **state) {
        struct harness_proc *sub = NULL;
        struct harness_output o;
        struct tls_broker t;
        const char *ca, *cert, *key;
        char *line = NULL;

        tls_broker_start(state, &t, NULL);
        ca = path("ca", ".pem"); /* after the start: path() reuses its buffers */
        cert = path("alice", ".pem");
        key = path("alice", ".key");
        {
                const char *argv[] = {
                        getenv("IPCCTL"), "-s", t.cert_addr, "--tls-ca", ca,  "--tls-cert", cert,
                        "--tls-key",      key,  "subscribe", "-n",       "1", "tls.ctl",    NULL};

                assert_int_equal(harness_spawn(argv, &sub), 0);
        }
        assert_int_equal(harness_wait_subscribers(harness_broker_address(t.b), "tls.ctl", 1, T_SEC),
                         0);
        {
                const char *args[] = {"-s",         t.cert_addr, "--tls-ca",  ca,
                                      "--tls-cert", cert,        "--tls-key", key,
                                      "publish",    "tls.ctl",   "hi there",  NULL};

                ctl_expect(args, 0, NULL);
        }
        assert_int_equal(harness_proc_read_line(sub, T_SEC, &line), 0);
        assert_string_equal(line, "hi there");
        free(line);
        assert_int_equal(harness_proc_wait(sub, harness_timeout(T_SEC), NULL), 0);
        harness_proc_free(sub);
        {
                const char *args[] = {"-s", t.cert_addr, "--tls-ca", ca,      "--tls-cert",
                                      cert, "--tls-key", key,        "stats", NULL};

                ctl(&o, args);
        }
        assert_int_equal(o.status, 0);
        /* The table's client row: name, transport and remote identity of ipcctl itself. */
        assert_non_null(strstr(o.out, "REMOTE"));
        assert_non_null(strstr(o.out, "tls"));
        assert_non_null(strstr(o.out, "alice"));
        harness_output_free(&o);
}

/* A configured token: a round trip, its name is the identity; ipcctl reads it from a file. */
static void test_token(void **state) {
        struct tls_broker t;
        ipc_client *c;

        tls_broker_start(state, &t, NULL);
        c = named(t.token_addr, NULL, TOKEN, "token-client");
        roundtrip(c, c, "tls.token");
        expect_identity(c, "token-client", "tls", TOKEN_NAME);
        ipc_client_free(c);
        {
                const char *args[] = {"-s",           t.token_addr, "--tls-ca", path("ca", ".pem"),
                                      "--token-file", m.token_file, "ping",     NULL};

                ctl_expect(args, 0, NULL);
        }
        /* A plain loopback client is anonymous. */
        c = harness_connect(t.plain_addr, "plain-client");
        expect_identity(c, "plain-client", "tcp", NULL);
        ipc_client_free(c);
}

/* ---- Refused -------------------------------------------------------- */

/* No certificate, another CA's, one without a CN: EACCES, logged; the broker carries on. */
static void test_refused_certificates(void **state) {
        struct tls_broker t;

        tls_broker_start(state, &t, NULL);
        connect_fails(t.cert_addr, "ca", NULL, NULL, -EACCES);
        wait_log(t.b, "TLS handshake failed: peer did not return a certificate");
        connect_fails(t.cert_addr, "ca", "mallory", NULL, -EACCES);
        wait_log(t.b, "TLS handshake failed: certificate verify failed");
        connect_fails(t.cert_addr, "ca", "nocn", NULL, -EACCES);
        wait_log(t.b, "has no subject CN");
        /* A token is not how this listener authenticates. */
        connect_fails(t.cert_addr, "ca", "alice", TOKEN, -EACCES);
        wait_log(t.b, "authenticates by client certificate");
        {
                const char *args[] = {"-s",   t.cert_addr, "--tls-ca", path("ca", ".pem"),
                                      "ping", NULL};

                ctl_expect(args, 77, "refused the client certificate or token");
        }
        expect_broker_serves(&t);
}

/* A wrong token, none, or a client certificate instead: EACCES, logged. */
static void test_refused_tokens(void **state) {
        struct tls_broker t;

        tls_broker_start(state, &t, NULL);
        connect_fails(t.token_addr, "ca", NULL, "t0ken-beta", -EACCES);
        wait_log(t.b, "the token matches none configured");
        connect_fails(t.token_addr, "ca", NULL, NULL, -EACCES);
        connect_fails(t.token_addr, "ca", "alice", NULL, -EACCES);
        wait_log(t.b, "this listener needs a token");
        {
                const char *args[] = {
                        "-s",           t.token_addr,     "--tls-ca", path("ca", ".pem"),
                        "--token-file", m.bad_token_file, "ping",     NULL};

                ctl_expect(args, 77, NULL);
        }
        expect_broker_serves(&t);
}

/* A raw HELLO carrying a token over a plain stream; the ERROR code the broker answers. */
static int raw_hello_with_token(int fd) {
        struct proto_hello h = {.version_min = PROTO_VERSION_MIN,
                                .version_max = PROTO_VERSION_MAX,
                                .token = TOKEN,
                                .token_len = strlen(TOKEN)};
        uint8_t buf[PROTO_HEAD_MAX + 512];
        struct proto_header hdr;
        struct proto_error e;
        size_t got = 0;

        assert_true(fd >= 0);
        assert_true(write(fd, buf, proto_encode_hello(buf, &h)) > 0);
        for (;;) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                ssize_t n;

                assert_int_equal(poll(&p, 1, (int)(harness_timeout(T_SEC) / 1000)), 1);
                n = read(fd, buf + got, sizeof(buf) - got);
                assert_true(n > 0);
                got += (size_t)n;
                if (got >= PROTO_HEADER_BYTES && proto_header_decode(buf, &hdr) == 0 &&
                    got >= PROTO_HEADER_BYTES + hdr.length)
                        break;
        }
        (void)close(fd);
        assert_int_equal(hdr.type, PROTO_ERROR);
        assert_int_equal(proto_decode_error(buf + PROTO_HEADER_BYTES, hdr.length, &e), 0);
        return (int)e.code;
}

static int connect_tcp(int port) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        return fd;
}

static int connect_unix(const char *sock) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        strcpy(sa.sun_path, sock);
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        return fd;
}

/* A token never travels in clear: the library refuses to send it, the broker to take it. */
static void test_token_over_plain(void **state) {
        struct tls_broker t;
        ipc_client *c;

        tls_broker_start(state, &t, NULL);
        connect_fails(t.plain_addr, NULL, NULL, TOKEN, -EINVAL);
        connect_fails(harness_broker_address(t.b), NULL, NULL, TOKEN, -EINVAL);
        connect_fails(t.plain_addr, "ca", NULL, NULL, -EINVAL);
        assert_int_equal(raw_hello_with_token(connect_tcp(t.plain_port)), EACCES);
        assert_int_equal(raw_hello_with_token(connect_unix(harness_broker_socket_path(t.b))),
                         EACCES);
        wait_log(t.b, "a token is accepted over TLS only");
        c = harness_connect(t.plain_addr, NULL);
        assert_int_equal(ipc_client_ping(c, harness_timeout(T_SEC), NULL), 0);
        ipc_client_free(c);
}

/* The client checks the broker: CA, host name; and a tls: address must be a TLS listener. */
static void test_server_verification(void **state) {
        struct tls_broker t;
        char by_name[64];

        tls_broker_start(state, &t, NULL);
        connect_fails(t.cert_addr, "other-ca", "alice", NULL, -EKEYREJECTED);
        /* The certificate names 127.0.0.1 and ::1, not "localhost". */
        (void)snprintf(by_name, sizeof(by_name), "tls:localhost:%s", strrchr(t.cert_addr, ':') + 1);
        connect_fails(by_name, "ca", "alice", NULL, -EKEYREJECTED);
        (void)snprintf(by_name, sizeof(by_name), "tls:127.0.0.1:%d", t.plain_port);
        connect_fails(by_name, "ca", NULL, NULL, -EPROTO);
        {
                const char *args[] = {"-s",   t.cert_addr, "--tls-ca", path("other-ca", ".pem"),
                                      "ping", NULL};

                ctl_expect(args, 76, "failed verification");
        }
        expect_broker_serves(&t);
}

/* The handshake timeout covers the TLS handshake: a silent connection is closed. */
static void test_handshake_timeout(void **state) {
        struct tls_broker t;
        char buf[16];
        int fd;

        tls_broker_start(state, &t, "\"handshake_timeout_ms\": 200");
        fd = connect_tcp(atoi(strrchr(t.cert_addr, ':') + 1));
        wait_log(t.b, "no TLS handshake within 200 ms");
        assert_int_equal(read(fd, buf, sizeof(buf)), 0);
        (void)close(fd);
}

/* ---- The daemon refuses to start ------------------------------------ */

/* ipc-brokerd with @config (and @extra arguments), which must exit @status saying @needle. */
static void brokerd_refuses(const char *config, const char *extra, int status, const char *needle) {
        char file[192], sock[192];
        const char *argv[] = {getenv("IPC_BROKERD"),     "--socket", sock, "-c", file,
                              extra ? "--listen" : NULL, extra,      NULL};
        struct harness_output o;

        (void)snprintf(file, sizeof(file), "%s/refused.json", m.dir);
        (void)snprintf(sock, sizeof(sock), "%s/refused.sock", m.dir);
        write_text(file, config);
        assert_int_equal(harness_run(argv, NULL, 0, T_SEC, &o), 0);
        if (o.status != status || !strstr(o.err, needle))
                fail_msg("ipc-brokerd exited %d (expected %d) without \"%s\":\n%s", o.status,
                         status, needle, o.err);
        harness_output_free(&o);
}

/* Plain TCP off loopback, unmarked plain TCP, a bare string: configuration errors (78). */
static void test_refuses_plain_tcp(void **state) {
        brokerd_refuses("{\"listen\": {\"tcp\": [{\"address\": \"0.0.0.0:7420\", "
                        "\"insecure\": true}]}}",
                        NULL, HARNESS_EXIT_CONFIG,
                        "listen.tcp[0]: plain TCP is allowed only on a loopback address with "
                        "\"insecure\": true; use \"tls\" for 0.0.0.0:7420");
        brokerd_refuses("{\"listen\": {\"tcp\": [{\"address\": \"[::]:7420\"}]}}", NULL,
                        HARNESS_EXIT_CONFIG, "use \"tls\" for [::]:7420");
        brokerd_refuses("{\"listen\": {\"tcp\": [{\"address\": \"127.0.0.1:7420\"}]}}", NULL,
                        HARNESS_EXIT_CONFIG,
                        "add \"insecure\": true to allow it on 127.0.0.1:7420");
        brokerd_refuses("{\"listen\": {\"tcp\": [\"127.0.0.1:7420\"]}}", NULL, HARNESS_EXIT_CONFIG,
                        "listen.tcp[0]: expected an object, got \"127.0.0.1:7420\"; write "
                        "{\"address\": \"127.0.0.1:7420\", \"tls\": {...}}, or {\"address\": "
                        "\"127.0.0.1:7420\", \"insecure\": true}");
        /* The command line follows the same rule, as a usage error. */
        brokerd_refuses("{}", "tcp:0.0.0.0:7420", 64,
                        "plain TCP is allowed only on a loopback address");
        brokerd_refuses("{}", "tls:127.0.0.1:7420", 64, "a TLS listener needs a certificate");
}

static void tls_config(char *buf, size_t size, const char *cert, const char *key, const char *ca) {
        (void)snprintf(buf, size,
                       "{\"listen\": {\"tcp\": [{\"address\": \"127.0.0.1:0\", \"tls\": "
                       "{\"certificate\": \"%s\", \"key\": \"%s\", \"client_ca\": \"%s\"}}]}}",
                       cert, key, ca);
}

/* Certificates load at start: a missing file, a non-PEM one, a key of another certificate. */
static void test_refuses_bad_files(void **state) {
        char config[1024], want[512];
        const char *missing = path("missing", ".pem");

        need_material();
        tls_config(config, sizeof(config), missing, path("server", ".key"), path("ca", ".pem"));
        (void)snprintf(want, sizeof(want),
                       "listen.tcp[0].tls.certificate: cannot load %s: No such file or directory",
                       missing);
        brokerd_refuses(config, NULL, HARNESS_EXIT_CONFIG, want);
        tls_config(config, sizeof(config), path("server", ".pem"), path("alice", ".key"),
                   path("ca", ".pem"));
        brokerd_refuses(config, NULL, HARNESS_EXIT_CONFIG, "does not match the certificate");
        tls_config(config, sizeof(config), path("server", ".pem"), path("server", ".key"),
                   m.token_file);
        (void)snprintf(want, sizeof(want), "listen.tcp[0].tls.client_ca: cannot load %s",
                       m.token_file);
        brokerd_refuses(config, NULL, HARNESS_EXIT_CONFIG, want);
}

#define T(f) cmocka_unit_test_teardown(f, harness_teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(test_certificate_library),
                T(test_remote_user_quota),
                T(test_certificate_ipcctl),
                T(test_token),
                T(test_refused_certificates),
                T(test_refused_tokens),
                T(test_token_over_plain),
                T(test_server_verification),
                T(test_handshake_timeout),
                cmocka_unit_test(test_refuses_plain_tcp),
                cmocka_unit_test(test_refuses_bad_files),
        };

        return cmocka_run_group_tests_name("tls", tests, material_setup, material_teardown);
}
