/* SPDX-License-Identifier: MIT */
/*
 * Access rules ("access" in ipc-brokerd.json(5)) against a real broker,
 * seen by real clients of other users: the test runs as root and forks
 * children that drop to uid 65534 (nobody) or 65533 with chosen groups
 * (setgroups, setgid, setuid) before they use libipcclient or run ipcctl,
 * so the broker judges them by the kernel's SO_PEERCRED and SO_PEERGROUPS.
 * The broker's socket is made reachable for them (listen.unix_mode "0666",
 * the harness directory searchable). Those cases skip when not run as
 * root; their names start with test_local_ so the TCP rerun can leave
 * them out (their clients are local whatever the suite's transport).
 *
 * Covered: refused publish and subscribe on the socket and on the ring
 * (-EACCES with the broker's text, no fallback to the socket, no ring
 * descriptor: checked in the child's /proc/self/fd and, byte for byte, by
 * a raw client reading the REPLY's ancillary data), allowed through a
 * supplementary group and through a user name, default deny without an
 * exception for root, a wildcard subscriber that gets the allowed
 * channels' messages and retained values and never a denied one's, the
 * filtered channel listing, ipcctl's exit status 77, a reload by SIGHUP
 * that turns a refusal into a grant while what was open stays open, and
 * (TCP rerun) an anonymous TCP client that only "*" admits.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "proto.h"

#define T_SEC         (5 * HARNESS_USEC_PER_SEC)
#define NOBODY        65534
#define OTHER_UID     65533
#define EXTRA_GID     4242 /* a supplementary group that need not exist anywhere */
#define CHILD_SKIP    77
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The broker's UNIX address, for children (they inherit it). */
static char g_address[512];

/* ---- clients of another user ---------------------------------------- */

struct who {
        uid_t uid;
        gid_t gid;
        gid_t groups[4];
        size_t n_groups;
        bool rings; /* unset IPC_TRANSPORT: exact names try the ring whatever the suite's transport
                     */
};

struct child {
        pid_t pid;
        int pidfd;
        int ready; /* read end: one byte when the child is ready */
};

static int g_child_ready_fd = -1; /* in a child: the write end */

#define CHILD_CHECK(cond, ...)                                                                     \
        do {                                                                                       \
                if (!(cond)) {                                                                     \
                        fprintf(stderr, "child uid %u, %s:%d: ", (unsigned)getuid(), __FILE__,     \
                                __LINE__);                                                         \
                        fprintf(stderr, __VA_ARGS__);                                              \
                        fputc('\n', stderr);                                                       \
                        return 1;                                                                  \
                }                                                                                  \
        } while (0)

/* In the child: become @w for good. /proc/self stays ours (dumpable) for the fd count. */
static int become(const struct who *w) {
        if (setgroups(w->n_groups, w->groups) < 0 || setgid(w->gid) < 0 || setuid(w->uid) < 0)
                return -errno;
        (void)prctl(PR_SET_DUMPABLE, 1);
        if (w->rings && unsetenv("IPC_TRANSPORT") < 0)
                return -errno;
        return 0;
}

static void child_start(struct child *ch, const struct who *w, int (*fn)(void *), void *arg) {
        int p[2];

        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        (void)fflush(NULL);
        ch->pid = fork();
        assert_true(ch->pid >= 0);
        if (ch->pid == 0) {
                int r;

                (void)close(p[0]);
                g_child_ready_fd = p[1];
                (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
                r = become(w);
                if (r < 0) {
                        fprintf(stderr, "child: cannot become uid %u: %s\n", (unsigned)w->uid,
                                strerror(-r));
                        _exit(CHILD_SKIP);
                }
                /* _exit: no atexit handlers, no cmocka, no leak check of the parent's heap. */
                _exit(fn(arg));
        }
        (void)close(p[1]);
        ch->ready = p[0];
        ch->pidfd = (int)syscall(SYS_pidfd_open, ch->pid, 0);
        assert_true(ch->pidfd >= 0);
}

/* Waits for the exit (SIGKILL after the deadline). Return: the exit status, or 128 + signal. */
static int child_finish(struct child *ch) {
        struct pollfd pf = {.fd = ch->pidfd, .events = POLLIN};
        int status = 0;

        if (poll(&pf, 1, (int)(harness_timeout(4 * T_SEC) / 1000)) != 1)
                (void)kill(ch->pid, SIGKILL);
        assert_int_equal(waitpid(ch->pid, &status, 0), ch->pid);
        (void)close(ch->pidfd);
        (void)close(ch->ready);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Asserts the child did all it was asked (its stderr says what not). */
static void child_expect(struct child *ch) {
        int status = child_finish(ch);

        if (status == CHILD_SKIP)
                fail_msg("this machine cannot run a client as another user (see above)");
        if (status != 0)
                fail_msg("the child failed with status %d (see its message above)", status);
}

static void child_wait_ready(struct child *ch) {
        struct pollfd pf = {.fd = ch->ready, .events = POLLIN};
        char c;

        if (poll(&pf, 1, (int)(harness_timeout(T_SEC) / 1000)) != 1 || read(ch->ready, &c, 1) != 1)
                fail_msg("the child did not get ready (status %d)", child_finish(ch));
}

/* In the child: let the parent go on. */
static void child_ready(void) {
        (void)!write(g_child_ready_fd, "r", 1);
}

static void run_as(const struct who *w, int (*fn)(void *), void *arg) {
        struct child ch;

        child_start(&ch, w, fn, arg);
        child_expect(&ch);
}

/* In the child. Return: 0 and *ret; CHILD_SKIP when this user cannot reach the socket. */
static int child_connect(ipc_client **ret) {
        ipc_options *o = NULL;
        int r;

        if (ipc_options_new(&o) < 0 || ipc_options_set_name(o, "acl-child") < 0 ||
            ipc_options_set_connect_timeout(o, harness_timeout(T_SEC)) < 0)
                return 1;
        r = ipc_client_connect(g_address, o, ret);
        ipc_options_free(o);
        if (r == -EACCES || r == -ENOENT) {
                fprintf(stderr, "child uid %u cannot reach %s (%s): is its directory searchable?\n",
                        (unsigned)getuid(), g_address, ipc_strerror(r));
                return CHILD_SKIP;
        }
        CHILD_CHECK(r == 0, "cannot connect to %s: %s", g_address, ipc_strerror(r));
        return 0;
}

/* Descriptors of this process that are memfds: ring memory handed to it. */
static unsigned count_memfds(void) {
        DIR *d = opendir("/proc/self/fd");
        struct dirent *e;
        unsigned n = 0;

        if (!d)
                return UINT32_MAX;
        while ((e = readdir(d))) {
                char path[300], link[256];
                ssize_t k;

                (void)snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
                k = readlink(path, link, sizeof(link) - 1);
                if (k > 0 && strncmp(link, "/memfd:", 7) == 0)
                        n++;
        }
        (void)closedir(d);
        return n;
}

/* ---- opening channels as another user ---- */

struct open_case {
        bool publish;
        const char *name;   /* channel or pattern; NULL ends a list */
        int want;           /* 0 or -EACCES */
        int want_transport; /* on success: IPC_TRANSPORT_RING or _SOCKET; -1: either */
};

/* The broker's text for a refusal, as ipc-brokerd.json(5) documents it. */
static void denial_text(const struct open_case *oc, char *buf, size_t size) {
        (void)snprintf(buf, size, "uid %u may not %s %s\"%s\"", (unsigned)getuid(),
                       oc->publish ? "publish on" : "subscribe to",
                       strpbrk(oc->name, "*>") ? "any channel matching " : "", oc->name);
}

static int open_one(ipc_client *c, const struct open_case *oc) {
        unsigned memfds = count_memfds();
        ipc_pub *pub = NULL;
        ipc_sub *sub = NULL;
        char want[512];
        int r, t = -1;

        if (oc->publish) {
                r = ipc_pub_new(c, oc->name, harness_timeout(T_SEC), &pub);
                t = r == 0 ? ipc_pub_get_transport(pub) : -1;
        } else {
                r = ipc_sub_new(c, oc->name, harness_timeout(T_SEC), &sub);
                t = r == 0 ? ipc_sub_get_transport(sub) : -1;
        }
        CHILD_CHECK(r == oc->want, "%s \"%s\": got %s, want %s (broker: \"%s\")",
                    oc->publish ? "publish" : "subscribe", oc->name, ipc_strerror(r),
                    ipc_strerror(oc->want), ipc_client_get_error(c));
        if (r == -EACCES) {
                denial_text(oc, want, sizeof(want));
                CHILD_CHECK(strcmp(ipc_client_get_error(c), want) == 0,
                            "refused with \"%s\", want \"%s\"", ipc_client_get_error(c), want);
                CHILD_CHECK(count_memfds() == memfds, "refused \"%s\", yet %u memfds came in",
                            oc->name, count_memfds() - memfds);
        }
        if (r == 0 && oc->want_transport >= 0)
                CHILD_CHECK(t == oc->want_transport, "\"%s\" on transport %d, want %d", oc->name, t,
                            oc->want_transport);
        if (r == 0 && oc->want_transport == IPC_TRANSPORT_SOCKET)
                CHILD_CHECK(count_memfds() == memfds, "\"%s\" on the socket, yet %u memfds came in",
                            oc->name, count_memfds() - memfds);
        /* What was opened stays open until the child exits: later cases may count on it. */
        return 0;
}

/* Child: opens each case of the NULL-terminated array on one client. */
static int child_open(void *arg) {
        const struct open_case *cases = arg;
        ipc_client *c = NULL;
        int r = child_connect(&c);

        for (size_t i = 0; r == 0 && cases[i].name; i++)
                r = open_one(c, &cases[i]);
        return r;
}

/* ---- the test's own clients and broker ---- */

/* A root client on the socket only, so its messages go out in publish order. */
static ipc_client *root_connect(void) {
        ipc_options *o = NULL;
        ipc_client *c = NULL;

        assert_int_equal(ipc_options_new(&o), 0);
        assert_int_equal(ipc_options_set_transport(o, IPC_TRANSPORT_SOCKET), 0);
        assert_int_equal(ipc_options_set_connect_timeout(o, harness_timeout(T_SEC)), 0);
        assert_int_equal(ipc_client_connect(g_address, o, &c), 0);
        ipc_options_free(o);
        return c;
}

/* A broker with @access as its "access" object, reachable by every local user. */
static struct harness_broker *start(void **state, const char *access) {
        struct harness_broker *b;
        char cfg[4096];

        (void)snprintf(cfg, sizeof(cfg), "{\"listen\": {\"unix_mode\": \"0666\"}, \"access\": %s}",
                       access);
        b = harness_start(state, cfg, NULL);
        /* mkdtemp() made it 0700: other users must be able to reach the socket inside. */
        assert_int_equal(chmod(harness_broker_dir(b), 0711), 0);
        (void)snprintf(g_address, sizeof(g_address), "%s", harness_broker_address(b));
        return b;
}

static json_t *list_channels(ipc_client *c) {
        char *text = NULL;
        json_t *j;

        assert_int_equal(ipc_client_list_channels(c, harness_timeout(T_SEC), &text), 0);
        j = harness_json_parse(text);
        ipc_free(text);
        return j;
}

static const struct who nobody = {.uid = NOBODY, .gid = NOBODY};
static const struct who nobody_rings = {.uid = NOBODY, .gid = NOBODY, .rings = true};

/* ---- refusals ---- */

static void test_local_deny_publish_socket(void **state) {
        const struct open_case cases[] = {
                {true, "acl.pub", -EACCES, -1},
                {false, "acl.pub", 0, -1}, /* the rule has no "subscribe": the default allows */
                {true, "acl.other", 0, -1},
                {},
        };
        ipc_client *root;
        ipc_pub *pub = NULL;
        json_t *list;

        start(state, "{\"rules\": [{\"channel\": \"acl.pub\", \"publish\": [\"uid:0\"]}]}");
        run_as(&nobody, child_open, (void *)cases);
        root = root_connect();
        /* The refused open created nothing; the subscription did, and is gone with its child. */
        list = list_channels(root);
        assert_null(harness_json_channel(list, "acl.pub"));
        json_decref(list);
        assert_int_equal(ipc_pub_new(root, "acl.pub", harness_timeout(T_SEC), &pub), 0);
        ipc_pub_free(pub);
        ipc_client_free(root);
}

static void test_local_deny_subscribe_socket(void **state) {
        const struct open_case cases[] = {
                {false, "acl.sub.x", -EACCES, -1},
                {false, "acl.sub.*", -EACCES, -1}, /* the rule covers every channel of it */
                {false, "acl.sub.>", -EACCES, -1},
                {true, "acl.sub.x", 0, -1},
                {false, "acl.*", 0, -1}, /* acl.other could be allowed */
                {},
        };
        ipc_client *root;
        ipc_sub *sub = NULL;

        start(state, "{\"rules\": [{\"channel\": \"acl.sub.>\", \"subscribe\": [\"uid:0\"]}]}");
        run_as(&nobody, child_open, (void *)cases);
        root = root_connect();
        assert_int_equal(ipc_sub_new(root, "acl.sub.*", harness_timeout(T_SEC), &sub), 0);
        ipc_sub_free(sub);
        ipc_client_free(root);
}

/*
 * On the ring: refused alike, and the library must not fall back to the
 * socket (the broker sees OPEN_RING and no SUBSCRIBE). A member of the
 * group gets the ring, so the refusal is not the ring being unavailable.
 */
static void test_local_deny_ring(void **state) {
        const struct open_case denied[] = {
                {false, "acl.ring", -EACCES, -1},
                {true, "acl.ring", -EACCES, -1},
                {},
        };
        const struct open_case allowed[] = {
                {false, "acl.ring", 0, IPC_TRANSPORT_RING},
                {true, "acl.ring", 0, IPC_TRANSPORT_RING},
                {},
        };
        struct who member = nobody_rings;
        struct harness_broker *b;
        const char *log;

        b = start(state, "{\"rules\": [{\"channel\": \"acl.ring\", \"publish\": [\"gid:4242\"],"
                         " \"subscribe\": [\"gid:4242\"]}]}");
        run_as(&nobody_rings, child_open, (void *)denied);
        member.groups[0] = EXTRA_GID;
        member.n_groups = 1;
        run_as(&member, child_open, (void *)allowed);

        assert_int_equal(harness_broker_wait_log(b,
                                                 "OPEN_RING refused by the access rules: uid 65534 "
                                                 "may not subscribe to \"acl.ring\"",
                                                 T_SEC),
                         0);
        log = harness_broker_log(b);
        assert_null(strstr(log, "SUBSCRIBE refused"));
        assert_non_null(strstr(log, "OPEN_PUB refused by the access rules: uid 65534 may not "
                                    "publish on \"acl.ring\""));
}

static void expect_message(ipc_client *c, const char *channel, const char *text);

/* Child: may publish on acl.wo but not read it: publishes over the socket. */
static int child_publish_only(void *arg) {
        const struct open_case cases[] = {
                {true, "acl.wo", 0, IPC_TRANSPORT_SOCKET},
                {true, "acl.rw", 0, IPC_TRANSPORT_RING},
        };
        ipc_client *c = NULL;
        ipc_pub *pub = NULL;
        int r = child_connect(&c);

        for (size_t i = 0; r == 0 && i < ARRAY_SIZE(cases); i++)
                r = open_one(c, &cases[i]);
        if (r != 0)
                return r;
        r = ipc_pub_new(c, "acl.wo", harness_timeout(T_SEC), &pub);
        CHILD_CHECK(r == 0, "publish on acl.wo: %s", ipc_strerror(r));
        CHILD_CHECK(ipc_pub_get_transport(pub) == IPC_TRANSPORT_SOCKET, "acl.wo on the ring");
        r = ipc_publish(pub, "wo", 2, 0, harness_timeout(T_SEC));
        if (r == 0)
                r = ipc_client_flush(c, harness_timeout(T_SEC));
        CHILD_CHECK(r == 0, "publish: %s", ipc_strerror(r));
        ipc_client_free(c);
        return 0;
}

/*
 * A ring publisher maps the channel's ring and could read every message
 * in it: a client that may publish but not subscribe publishes over the
 * socket instead, and its messages still arrive.
 */
static void test_local_publish_only_ring(void **state) {
        ipc_client *root;
        ipc_sub *sub = NULL;

        start(state, "{\"rules\": [{\"channel\": \"acl.wo\", \"publish\": [\"*\"],"
                     " \"subscribe\": [\"uid:0\"]}]}");
        root = root_connect();
        assert_int_equal(ipc_sub_new(root, "acl.wo", harness_timeout(T_SEC), &sub), 0);
        run_as(&nobody_rings, child_publish_only, NULL);
        expect_message(root, "acl.wo", "wo");
        ipc_sub_free(sub);
        ipc_client_free(root);
}

/* The raw reply to a refused OPEN_RING: status, text, and not one descriptor. */
struct raw {
        int fd;
        size_t n_fds;
};

static void raw_send(struct raw *c, const void *p, size_t n) {
        while (n > 0) {
                ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL);

                if (k < 0 && errno == EINTR)
                        continue;
                assert_true(k > 0);
                p = (const uint8_t *)p + k;
                n -= (size_t)k;
        }
}

/* Reads exactly @n bytes, counting (and closing) every descriptor that comes with them. */
static void raw_read(struct raw *c, void *p, size_t n) {
        while (n > 0) {
                union {
                        struct cmsghdr h;
                        char buf[CMSG_SPACE(sizeof(int) * 64)];
                } u;
                struct iovec iov = {.iov_base = p, .iov_len = n};
                struct msghdr msg = {
                        .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = u.buf,
                        .msg_controllen = sizeof(u.buf),
                };
                struct pollfd pf = {.fd = c->fd, .events = POLLIN};
                ssize_t k;

                if (poll(&pf, 1, (int)(harness_timeout(T_SEC) / 1000)) != 1)
                        fail_msg("no answer from the broker");
                k = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC);
                assert_true(k > 0);
                assert_false(msg.msg_flags & MSG_CTRUNC);
                for (struct cmsghdr *h = CMSG_FIRSTHDR(&msg); h; h = CMSG_NXTHDR(&msg, h)) {
                        size_t m = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                        int fds[64];

                        memcpy(fds, CMSG_DATA(h), m * sizeof(int));
                        for (size_t i = 0; i < m; i++)
                                (void)close(fds[i]);
                        c->n_fds += m;
                }
                p = (uint8_t *)p + k;
                n -= (size_t)k;
        }
}

/* Reads one frame, which must be of @type. Return: its body (free()) and length. */
static uint8_t *raw_expect(struct raw *c, uint8_t type, size_t *ret_len) {
        uint8_t h[PROTO_HEADER_BYTES], *body;
        struct proto_header hdr;

        raw_read(c, h, sizeof(h));
        assert_int_equal(proto_header_decode(h, &hdr), 0);
        assert_int_equal(hdr.type, type);
        body = malloc(hdr.length + 1);
        assert_non_null(body);
        raw_read(c, body, hdr.length);
        *ret_len = hdr.length;
        return body;
}

static void raw_connect(struct raw *c, const char *path) {
        struct proto_hello h = {.version_min = 1, .version_max = 1, .name = "raw", .name_len = 3};
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        uint8_t buf[PROTO_HEAD_MAX];
        size_t len;

        *c = (struct raw){.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
        assert_true(c->fd >= 0);
        assert_true(strlen(path) < sizeof(sa.sun_path));
        strcpy(sa.sun_path, path);
        assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        raw_send(c, buf, proto_encode_hello(buf, &h));
        raw_send(c, h.name, h.name_len);
        free(raw_expect(c, PROTO_WELCOME, &len));
}

/* OPEN_RING; the reply's text into @text. Return: its status; *ret_fds the descriptors it carried.
 */
static int raw_open_ring(struct raw *c, uint8_t role, const char *name, char *text, size_t size,
                         size_t *ret_fds) {
        struct proto_open_ring m = {
                .request_id = 7, .role = role, .name = name, .name_len = strlen(name)};
        uint8_t buf[PROTO_HEAD_MAX], *body;
        struct proto_reply rep;
        size_t len;

        c->n_fds = 0;
        raw_send(c, buf, proto_encode_open_ring(buf, &m)); /* the name is in the head */
        body = raw_expect(c, PROTO_REPLY, &len);
        assert_int_equal(proto_decode_reply(body, len, &rep), 0);
        assert_int_equal(rep.request_id, 7);
        (void)snprintf(text, size, "%.*s", rep.status < 0 ? (int)rep.body_len : 0,
                       (const char *)rep.body);
        free(body);
        *ret_fds = c->n_fds;
        return rep.status;
}

/* Needs no second user: the rules refuse this test's own uid. */
static void test_raw_ring_refused_without_fds(void **state) {
        struct harness_broker *b;
        char access[512], text[512], want[512];
        ipc_client *c;
        struct raw raw;
        size_t n_fds;
        json_t *list;

        (void)snprintf(access, sizeof(access),
                       "{\"rules\": [{\"channel\": \"acl.raw\", \"publish\": [\"uid:%u\"],"
                       " \"subscribe\": []},"
                       " {\"channel\": \"acl.wo\", \"publish\": [\"uid:%u\"], \"subscribe\": []}]}",
                       (unsigned)getuid() + 1, (unsigned)getuid());
        b = start(state, access);
        raw_connect(&raw, harness_broker_socket_path(b));

        assert_int_equal(
                raw_open_ring(&raw, PROTO_RING_SUBSCRIBER, "acl.raw", text, sizeof(text), &n_fds),
                -EACCES);
        assert_int_equal(n_fds, 0);
        (void)snprintf(want, sizeof(want), "uid %u may not subscribe to \"acl.raw\"",
                       (unsigned)getuid());
        assert_string_equal(text, want);
        assert_int_equal(
                raw_open_ring(&raw, PROTO_RING_PUBLISHER, "acl.raw", text, sizeof(text), &n_fds),
                -EACCES);
        assert_int_equal(n_fds, 0);
        (void)snprintf(want, sizeof(want), "uid %u may not publish on \"acl.raw\"",
                       (unsigned)getuid());
        assert_string_equal(text, want);
        /* Publish only: a ring publisher could read the ring, so no slot, and no EACCES. */
        assert_int_equal(
                raw_open_ring(&raw, PROTO_RING_PUBLISHER, "acl.wo", text, sizeof(text), &n_fds),
                -ENOTSUP);
        assert_int_equal(n_fds, 0);
        (void)snprintf(want, sizeof(want), "uid %u may not subscribe to \"acl.wo\"",
                       (unsigned)getuid());
        assert_non_null(strstr(text, want));
        /* The same reader sees the descriptors of a ring it may have. */
        assert_int_equal(
                raw_open_ring(&raw, PROTO_RING_SUBSCRIBER, "acl.open", text, sizeof(text), &n_fds),
                0);
        assert_true(n_fds > 0);

        /* Refused opens create no channel and no ring. */
        c = harness_connect(harness_broker_address(b), "lister");
        list = list_channels(c);
        assert_null(harness_json_channel(list, "acl.raw"));
        assert_non_null(harness_json_channel(list, "acl.open"));
        json_decref(list);
        ipc_client_free(c);
        (void)close(raw.fd);
}

/* ---- grants ---- */

/* A group to use by name: one that exists here and is not nobody's. */
static const struct group *some_group(void) {
        static const char *const names[] = {"users", "staff", "adm", "daemon", "bin", "sys"};

        for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
                const struct group *g = getgrnam(names[i]);

                if (g && g->gr_gid != 0 && g->gr_gid != NOBODY)
                        return g;
        }
        return NULL;
}

static void test_local_allow_by_group(void **state) {
        const struct open_case granted[] = {
                {true, "acl.grp", 0, -1},
                {false, "acl.grp", 0, -1},
                {false, "acl.gid", 0, -1},
                {},
        };
        const struct open_case refused[] = {
                {true, "acl.grp", -EACCES, -1},
                {false, "acl.grp", -EACCES, -1},
                {false, "acl.gid", -EACCES, -1},
                {},
        };
        const struct group *g;
        struct who member = nobody;
        char access[1024];

        g = some_group();
        if (!g)
                fail_msg("no group to name here: none of users, staff, adm, daemon, bin, sys");
        /* By name and by number; the default refuses everything else. */
        (void)snprintf(access, sizeof(access),
                       "{\"default\": \"deny\", \"rules\": ["
                       "{\"channel\": \"acl.grp\", \"publish\": [\"group:%s\"],"
                       " \"subscribe\": [\"group:%s\"]},"
                       "{\"channel\": \"acl.gid\", \"subscribe\": [\"gid:%u\"]}]}",
                       g->gr_name, g->gr_name, EXTRA_GID);
        start(state, access);
        /* Supplementary groups only: the primary group stays nobody's. */
        member.groups[0] = g->gr_gid;
        member.groups[1] = EXTRA_GID;
        member.n_groups = 2;
        run_as(&member, child_open, (void *)granted);
        run_as(&nobody, child_open, (void *)refused);
}

/* A user to use by name: one that exists here and is not root. */
static const struct passwd *some_user(void) {
        static const char *const names[] = {"nobody", "daemon", "bin"};

        for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
                const struct passwd *pw = getpwnam(names[i]);

                if (pw && pw->pw_uid != 0)
                        return pw;
        }
        return NULL;
}

static void test_local_allow_by_user(void **state) {
        const struct open_case granted[] = {
                {true, "acl.usr", 0, -1},
                {false, "acl.usr", -EACCES, -1}, /* only "publish" names the user */
                {},
        };
        const struct open_case refused[] = {
                {true, "acl.usr", -EACCES, -1},
                {},
        };
        struct who user = {.gid = NOBODY}, other = {.gid = NOBODY};
        const struct passwd *pw = some_user();
        char access[512];

        if (!pw)
                fail_msg("no user to name here: none of nobody, daemon, bin exists");
        (void)snprintf(access, sizeof(access),
                       "{\"default\": \"deny\", \"rules\": ["
                       "{\"channel\": \"acl.usr\", \"publish\": [\"user:%s\"]}]}",
                       pw->pw_name);
        user.uid = pw->pw_uid;
        other.uid = pw->pw_uid == OTHER_UID ? OTHER_UID - 1 : OTHER_UID;
        start(state, access);
        run_as(&user, child_open, (void *)granted);
        /* The same primary group, another uid. */
        run_as(&other, child_open, (void *)refused);
}

static void test_local_default_deny(void **state) {
        const struct open_case cases[] = {
                {true, "acl.closed", -EACCES, -1},
                {false, "acl.closed", -EACCES, -1},
                {false, "acl.closed.>", -EACCES, -1},
                {true, "acl.open.x", 0, -1},
                {false, "acl.open.x", 0, -1},
                {false, ">", 0, -1}, /* acl.open.> could be delivered */
                {},
        };
        ipc_client *root;
        ipc_pub *pub = NULL;

        start(state, "{\"default\": \"deny\", \"rules\": [{\"channel\": \"acl.open.>\","
                     " \"publish\": [\"*\"], \"subscribe\": [\"*\"]}]}");
        run_as(&nobody, child_open, (void *)cases);
        /* Root gets no exception. */
        root = root_connect();
        assert_int_equal(ipc_pub_new(root, "acl.closed", harness_timeout(T_SEC), &pub), -EACCES);
        assert_string_equal(ipc_client_get_error(root), "uid 0 may not publish on \"acl.closed\"");
        ipc_client_free(root);
}

/* ---- wildcard filtering ---- */

static int child_receive(ipc_client *c, const char *channel, const char *payload, bool retained) {
        const ipc_msg *m = NULL;
        size_t size;
        const char *data;
        int r = ipc_client_receive(c, harness_timeout(T_SEC), &m);

        CHILD_CHECK(r == 0, "no message \"%s\" on %s: %s", payload, channel, ipc_strerror(r));
        data = ipc_msg_get_data(m, &size);
        CHILD_CHECK(strcmp(ipc_msg_get_channel(m), channel) == 0 && size == strlen(payload) &&
                            memcmp(data, payload, size) == 0,
                    "got \"%.*s\" on %s, want \"%s\" on %s", (int)size, data,
                    ipc_msg_get_channel(m), payload, channel);
        CHILD_CHECK(!!(ipc_msg_get_flags(m) & IPC_MSG_RETAINED) == retained,
                    "\"%s\": retained flag %u", payload, ipc_msg_get_flags(m));
        return 0;
}

/* Child: "acl.w.>" gets the public channels only, retained values included. */
static int child_wildcard(void *arg) {
        const struct open_case refused = {false, "acl.w.secret.*", -EACCES, -1};
        const ipc_msg *m = NULL;
        ipc_client *c = NULL;
        ipc_sub *sub = NULL;
        int r = child_connect(&c);

        if (r != 0)
                return r;
        r = ipc_sub_new(c, "acl.w.>", harness_timeout(T_SEC), &sub);
        CHILD_CHECK(r == 0, "subscribe acl.w.>: %s (%s)", ipc_strerror(r), ipc_client_get_error(c));
        r = open_one(c, &refused);
        if (r == 0)
                r = child_receive(c, "acl.w.public.a", "R-pub", true);
        if (r != 0)
                return r;
        child_ready();
        /* The parent publishes secret, new secret, new public, public: only the publics come. */
        r = child_receive(c, "acl.w.public.b", "L-pub2", false);
        if (r == 0)
                r = child_receive(c, "acl.w.public.a", "L-pub", false);
        if (r != 0)
                return r;
        CHILD_CHECK(ipc_client_ping(c, harness_timeout(T_SEC), NULL) == 0, "ping failed");
        r = ipc_client_receive(c, 0, &m);
        CHILD_CHECK(r == -EAGAIN, "one message too many: %s on \"%s\"", ipc_strerror(r),
                    r == 0 ? ipc_msg_get_channel(m) : "");
        return 0;
}

static void publish(ipc_client *c, const char *channel, const char *text, unsigned flags) {
        ipc_pub *pub = NULL;

        assert_int_equal(ipc_pub_new(c, channel, harness_timeout(T_SEC), &pub), 0);
        assert_int_equal(ipc_publish(pub, text, strlen(text), flags, harness_timeout(T_SEC)), 0);
        ipc_pub_free(pub);
}

static void expect_message(ipc_client *c, const char *channel, const char *text) {
        const ipc_msg *m = harness_receive(c, T_SEC);

        assert_string_equal(ipc_msg_get_channel(m), channel);
        assert_int_equal(ipc_msg_get_size(m), strlen(text));
        assert_memory_equal(ipc_msg_get_data(m, NULL), text, strlen(text));
}

static void test_local_wildcard_filter(void **state) {
        ipc_client *root, *reader;
        ipc_sub *all = NULL;
        struct child ch;

        start(state,
              "{\"rules\": [{\"channel\": \"acl.w.secret.>\", \"subscribe\": [\"uid:0\"]}]}");
        root = root_connect();
        publish(root, "acl.w.public.a", "R-pub", IPC_PUBLISH_RETAIN);
        publish(root, "acl.w.secret.a", "R-sec", IPC_PUBLISH_RETAIN);
        /* Root may read all: the messages are really there. */
        reader = root_connect();
        assert_int_equal(ipc_sub_new(reader, "acl.w.>", harness_timeout(T_SEC), &all), 0);
        expect_message(reader, "acl.w.public.a", "R-pub");
        expect_message(reader, "acl.w.secret.a", "R-sec");

        child_start(&ch, &nobody, child_wildcard, NULL);
        child_wait_ready(&ch);
        publish(root, "acl.w.secret.a", "L-sec", 0);
        publish(root, "acl.w.secret.b", "L-sec2", 0); /* a channel created after subscribing */
        publish(root, "acl.w.public.b", "L-pub2", 0);
        publish(root, "acl.w.public.a", "L-pub", 0);
        child_expect(&ch);

        expect_message(reader, "acl.w.secret.a", "L-sec");
        expect_message(reader, "acl.w.secret.b", "L-sec2");
        expect_message(reader, "acl.w.public.b", "L-pub2");
        expect_message(reader, "acl.w.public.a", "L-pub");
        ipc_sub_free(all);
        ipc_client_free(reader);
        ipc_client_free(root);
}

/* ---- control requests ---- */

static bool json_has_channel(json_t *array, const char *name) {
        return harness_json_channel(array, name) != NULL;
}

/* Child: the listing shows what it may use; the statistics show everything. */
static int child_listings(void *arg) {
        ipc_client *c = NULL;
        char *text = NULL;
        json_t *list, *stats;
        int r = child_connect(&c);

        if (r != 0)
                return r;
        r = ipc_client_list_channels(c, harness_timeout(T_SEC), &text);
        CHILD_CHECK(r == 0, "list channels: %s", ipc_strerror(r));
        list = json_loads(text, 0, NULL);
        ipc_free(text);
        CHILD_CHECK(json_is_array(list), "the listing is no JSON array");
        CHILD_CHECK(!json_has_channel(list, "acl.l.hidden"), "the listing shows acl.l.hidden");
        CHILD_CHECK(json_has_channel(list, "acl.l.readonly"), "acl.l.readonly missing");
        CHILD_CHECK(json_has_channel(list, "acl.l.writeonly"), "acl.l.writeonly missing");
        CHILD_CHECK(json_has_channel(list, "acl.l.open"), "acl.l.open missing");
        r = ipc_client_stats(c, harness_timeout(T_SEC), &text);
        CHILD_CHECK(r == 0, "stats: %s", ipc_strerror(r));
        stats = json_loads(text, 0, NULL);
        ipc_free(text);
        CHILD_CHECK(
                stats && json_has_channel(json_object_get(stats, "channel_stats"), "acl.l.hidden"),
                "the statistics are not filtered, yet miss acl.l.hidden");
        return 0;
}

static void test_local_list_channels(void **state) {
        static const char *const names[] = {"acl.l.hidden", "acl.l.readonly", "acl.l.writeonly",
                                            "acl.l.open"};
        ipc_pub *pubs[4] = {NULL};
        ipc_client *root;

        start(state, "{\"rules\": ["
                     "{\"channel\": \"acl.l.hidden\", \"publish\": [\"uid:0\"], \"subscribe\": []},"
                     "{\"channel\": \"acl.l.readonly\", \"publish\": [\"uid:0\"]},"
                     "{\"channel\": \"acl.l.writeonly\", \"subscribe\": [\"uid:0\"]}]}");
        root = root_connect();
        for (size_t i = 0; i < 4; i++)
                assert_int_equal(ipc_pub_new(root, names[i], harness_timeout(T_SEC), &pubs[i]), 0);
        run_as(&nobody, child_listings, NULL);
        for (size_t i = 0; i < 4; i++)
                ipc_pub_free(pubs[i]);
        ipc_client_free(root);
}

/* ---- ipcctl ---- */

/* Child: ipcctl run as this user exits 77 and quotes the broker. */
static int child_ipcctl(void *arg) {
        const char *argv[] = {getenv("IPCCTL"), "-s", g_address, "publish", "acl.cli", "x", NULL};
        const char *sub_argv[] = {getenv("IPCCTL"), "-s",        g_address,
                                  "subscribe",      "acl.cli.>", NULL};
        struct harness_output out;
        int r;

        r = harness_run(argv, NULL, 0, 2 * T_SEC, &out);
        CHILD_CHECK(r == 0, "cannot run ipcctl: %s", strerror(-r));
        if (out.status == 126 || out.status == 127) {
                fprintf(stderr, "child: cannot run %s as uid %u: %s\n", argv[0], (unsigned)getuid(),
                        out.err);
                return CHILD_SKIP;
        }
        CHILD_CHECK(out.status == 77, "ipcctl publish exited %d: %s", out.status, out.err);
        CHILD_CHECK(strstr(out.err, "ipcctl: permission denied: uid 65534 may not publish on "
                                    "\"acl.cli\""),
                    "ipcctl said: %s", out.err);
        harness_output_free(&out);
        r = harness_run(sub_argv, NULL, 0, 2 * T_SEC, &out);
        CHILD_CHECK(r == 0 && out.status == 77, "ipcctl subscribe exited %d: %s", out.status,
                    out.err);
        CHILD_CHECK(strstr(out.err, "may not subscribe to any channel matching \"acl.cli.>\""),
                    "ipcctl said: %s", out.err);
        harness_output_free(&out);
        return 0;
}

static void test_local_ipcctl(void **state) {
        start(state, "{\"rules\": [{\"channel\": \"acl.cli.>\", \"subscribe\": [\"uid:0\"]},"
                     " {\"channel\": \"acl.cli\", \"publish\": [\"uid:0\"]}]}");
        run_as(&nobody, child_ipcctl, NULL);
}

/* ---- reload ---- */

static void write_config(struct harness_broker *b, const char *text) {
        char path[600];
        FILE *f;

        (void)snprintf(path, sizeof(path), "%s/config.json", harness_broker_dir(b));
        f = fopen(path, "we");
        assert_non_null(f);
        assert_true(fputs(text, f) >= 0);
        assert_int_equal(fclose(f), 0);
}

/* Child: publishes one message on acl.r and waits until it is out. */
static int child_publish_reload(void *arg) {
        ipc_client *c = NULL;
        ipc_pub *pub = NULL;
        int r = child_connect(&c);

        if (r != 0)
                return r;
        r = ipc_pub_new(c, "acl.r", harness_timeout(T_SEC), &pub);
        CHILD_CHECK(r == 0, "publish on acl.r after the reload: %s (%s)", ipc_strerror(r),
                    ipc_client_get_error(c));
        r = ipc_publish(pub, "after", 5, 0, harness_timeout(T_SEC));
        CHILD_CHECK(r == 0, "publish: %s", ipc_strerror(r));
        r = ipc_client_flush(c, harness_timeout(T_SEC));
        CHILD_CHECK(r == 0, "flush: %s", ipc_strerror(r));
        ipc_pub_free(pub);
        ipc_client_free(c);
        return 0;
}

/*
 * SIGHUP: root's grant moves to nobody. Nobody, refused before, may now
 * publish; root's subscription, opened before, stays and receives it;
 * root's new subscription is refused.
 */
static void test_local_reload(void **state) {
        static const char before[] = "{\"listen\": {\"unix_mode\": \"0666\"}, \"access\": "
                                     "{\"rules\": [{\"channel\": \"acl.r\", \"publish\": "
                                     "[\"uid:0\"], \"subscribe\": [\"uid:0\"]}]}}";
        static const char after[] = "{\"listen\": {\"unix_mode\": \"0666\"}, \"access\": "
                                    "{\"rules\": [{\"channel\": \"acl.r\", \"publish\": "
                                    "[\"uid:65534\"], \"subscribe\": [\"uid:65534\"]}]}}";
        const struct open_case refused[] = {{true, "acl.r", -EACCES, -1}, {}};
        struct harness_broker *b;
        ipc_sub *old = NULL, *fresh = NULL;
        ipc_client *root;

        b = start(state, "{\"rules\": [{\"channel\": \"acl.r\", \"publish\": [\"uid:0\"],"
                         " \"subscribe\": [\"uid:0\"]}]}");
        write_config(b, before); /* the same, as the reload will read it */
        root = root_connect();
        assert_int_equal(ipc_sub_new(root, "acl.r", harness_timeout(T_SEC), &old), 0);
        run_as(&nobody, child_open, (void *)refused);

        write_config(b, after);
        assert_int_equal(kill(harness_broker_pid(b), SIGHUP), 0);
        assert_int_equal(
                harness_broker_wait_log(b, "access rules changed (1 rules, default allow)", T_SEC),
                0);
        assert_int_equal(harness_broker_wait_log(b, "configuration reloaded from", T_SEC), 0);

        run_as(&nobody, child_publish_reload, NULL);
        expect_message(root, "acl.r", "after");
        assert_int_equal(ipc_sub_new(root, "acl.r", harness_timeout(T_SEC), &fresh), -EACCES);
        ipc_sub_free(old);
        ipc_client_free(root);
}

/* ---- TCP (the rerun with IPC_TEST_TRANSPORT=tcp) ---- */

static void test_tcp_anonymous(void **state) {
        struct harness_broker *b;
        ipc_client *c;
        ipc_pub *pub = NULL;
        ipc_sub *sub = NULL;

        b = start(state, "{\"default\": \"deny\", \"rules\": ["
                         "{\"channel\": \"acl.anyone\", \"publish\": [\"*\"]},"
                         "{\"channel\": \"acl.root\", \"publish\": [\"uid:0\", \"gid:0\"]},"
                         "{\"channel\": \"acl.remote\", \"publish\": [\"remote:*\"]}]}");
        assert_int_equal(strncmp(harness_broker_client_address(b), "tcp:", 4), 0);
        c = harness_connect(harness_broker_client_address(b), "anonymous");
        assert_int_equal(ipc_pub_new(c, "acl.anyone", harness_timeout(T_SEC), &pub), 0);
        ipc_pub_free(pub);
        assert_int_equal(ipc_pub_new(c, "acl.root", harness_timeout(T_SEC), &pub), -EACCES);
        assert_string_equal(ipc_client_get_error(c), "anonymous may not publish on \"acl.root\"");
        assert_int_equal(ipc_pub_new(c, "acl.remote", harness_timeout(T_SEC), &pub), -EACCES);
        assert_int_equal(ipc_sub_new(c, "acl.anyone", harness_timeout(T_SEC), &sub), -EACCES);
        ipc_client_free(c);
}

#define T(f) cmocka_unit_test_teardown(f, harness_teardown)

/*
 * Cases that cannot run here are left out, not skipped: automake's TAP
 * driver counts cmocka's "not ok # SKIP" as a failure. Without root there
 * is no second user; only the TCP rerun has an anonymous client.
 */
int main(void) {
        static const struct CMUnitTest local[] = {
                T(test_local_deny_publish_socket),
                T(test_local_deny_subscribe_socket),
                T(test_local_deny_ring),
                T(test_local_publish_only_ring),
                T(test_local_allow_by_group),
                T(test_local_allow_by_user),
                T(test_local_default_deny),
                T(test_local_wildcard_filter),
                T(test_local_list_channels),
                T(test_local_ipcctl),
                T(test_local_reload),
        };
        static const struct CMUnitTest raw = T(test_raw_ring_refused_without_fds);
        static const struct CMUnitTest tcp = T(test_tcp_anonymous);
        struct CMUnitTest tests[ARRAY_SIZE(local) + 2];
        const char *transport = getenv("IPC_TEST_TRANSPORT");
        size_t n = 0;

        if (geteuid() == 0)
                for (size_t i = 0; i < ARRAY_SIZE(local); i++)
                        tests[n++] = local[i];
        else
                printf("# not root: the cases with clients of other users are left out\n");
        tests[n++] = raw;
        if (transport && strcmp(transport, "tcp") == 0)
                tests[n++] = tcp;
        return _cmocka_run_group_tests("acl", tests, n, NULL, NULL);
}
