/* SPDX-License-Identifier: MIT */
/*
 * Integration test harness, the broker side (see harness.h): a real
 * ipc-brokerd per test in a private directory, awaited on NOTIFY_SOCKET;
 * libipcclient and JSON helpers for assertions.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness-internal.h"
#include "harness.h"

#define ARGV_MAX 64

struct harness_broker {
        char dir[128];
        char sock_path[256];
        char address[PATH_MAX];
        char log_path[PATH_MAX];
        char config_path[PATH_MAX];
        char wrapper_path[PATH_MAX];
        char client_address[PATH_MAX];
        json_t *listener; /* IPC_TEST_TRANSPORT tcp or tls: the "listen"."tcp" entry to add */
        pid_t pid;
        int pidfd;
        int notify_fd;
        char *log;
        bool has_config;
        char *extra[ARGV_MAX]; /* copies of the extra arguments, for restarts */
        unsigned starts;
};

/*
 * IPC_TEST_SKIP (see harness.h), applied before main() so that every test
 * program linked with the harness honours it without code of its own.
 */
__attribute__((constructor)) static void harness_skip_filter(void) {
        const char *pattern = getenv("IPC_TEST_SKIP");

        if (pattern && *pattern)
                cmocka_set_skip_filter(pattern);
}

/* ---- Broker --------------------------------------------------------- */

static int write_file(const char *path, const char *text) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        size_t len = strlen(text), off = 0;

        if (fd < 0)
                return -errno;
        while (off < len) {
                ssize_t n = write(fd, text + off, len - off);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int r = -errno;

                        (void)close(fd);
                        return r;
                }
                off += (size_t)n;
        }
        return close(fd) < 0 ? -errno : 0;
}

static int broker_make_dir(struct harness_broker *b) {
        const char *tmp = getenv("TMPDIR");

        /* sun_path holds 108 bytes: keep the directory short. */
        if (!tmp || !*tmp || strlen(tmp) > 60)
                tmp = "/tmp";
        snprintf(b->dir, sizeof(b->dir), "%s/ipc-test-XXXXXX", tmp);
        if (!mkdtemp(b->dir))
                return -errno;
        snprintf(b->sock_path, sizeof(b->sock_path), "%s/broker.sock", b->dir);
        snprintf(b->address, sizeof(b->address), "unix:%s", b->sock_path);
        snprintf(b->log_path, sizeof(b->log_path), "%s/broker.log", b->dir);
        snprintf(b->config_path, sizeof(b->config_path), "%s/config.json", b->dir);
        return 0;
}

static int broker_bind_notify(struct harness_broker *b, char *path, size_t size) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};

        snprintf(path, size, "%s/notify.sock", b->dir);
        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        b->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (b->notify_fd < 0)
                return -errno;
        if (bind(b->notify_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return -errno;
        return 0;
}

const char *harness_path_lookup(const char *name, char *buf, size_t size) {
        const char *path = getenv("PATH");

        for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
                size_t len = strcspn(p, ":");

                snprintf(buf, size, "%.*s/%s", (int)len, p, name);
                if (len > 0 && access(buf, X_OK) == 0)
                        return buf;
                p += len + (p[len] == ':');
        }
        fprintf(stderr, "harness: %s not found in $PATH\n", name);
        return NULL;
}

/* Builds [wrapper...] IPC_BROKERD --socket PATH [-c CONFIG] [extra...] in @argv. */
static int broker_argv(struct harness_broker *b, bool config, const char *const *extra,
                       char *wrapper, const char **argv) {
        const char *brokerd = getenv("IPC_BROKERD");
        size_t n = 0;
        char *save = NULL;

        if (!brokerd || brokerd[0] != '/') {
                fprintf(stderr, "harness: IPC_BROKERD must be an absolute path\n");
                return -EINVAL;
        }
        if (wrapper)
                for (char *t = strtok_r(wrapper, " ", &save); t && n < 8;
                     t = strtok_r(NULL, " ", &save))
                        argv[n++] = t;
        if (n > 0 && !strchr(argv[0], '/')) {
                argv[0] = harness_path_lookup(argv[0], b->wrapper_path, sizeof(b->wrapper_path));
                if (!argv[0])
                        return -ENOENT;
        }
        argv[n++] = brokerd;
        argv[n++] = "--socket";
        argv[n++] = b->sock_path;
        if (config) {
                argv[n++] = "-c";
                argv[n++] = b->config_path;
        }
        for (size_t i = 0; extra && extra[i]; i++) {
                if (n >= ARGV_MAX - 1)
                        return -E2BIG;
                argv[n++] = extra[i];
        }
        argv[n] = NULL;
        return 0;
}

/* The "listen"."tcp" entry of a tls transport: the default material, client certificates. */
static json_t *tls_listener(const char *address) {
        const struct harness_tls *t;

        if (harness_tls_default(&t) < 0)
                return NULL;
        return json_pack("{s:s, s:{s:s, s:s, s:s}}", "address", address, "tls", "certificate",
                         t->server_cert, "key", t->server_key, "client_ca", t->ca);
}

/* A TCP listener for the tcp or tls transport: its entry, and the address clients use. */
static int broker_add_listener(struct harness_broker *b, bool tls) {
        char address[64];
        int port = harness_free_tcp_port();

        if (port < 0)
                return port;
        snprintf(address, sizeof(address), "127.0.0.1:%d", port);
        snprintf(b->client_address, sizeof(b->client_address), "%s:%s", tls ? "tls" : "tcp",
                 address);
        b->listener = tls ? tls_listener(address)
                          : json_pack("{s:s, s:b}", "address", address, "insecure", 1);
        return b->listener ? 0 : -EIO;
}

/*
 * IPC_TEST_TRANSPORT (see harness.h): unix (the default), tcp and tls pin
 * the library to the socket through IPC_TRANSPORT=socket, which this
 * process and every child it spawns (ipcctl) inherit; shm removes it, so
 * exact-name publishers and subscribers on the UNIX socket take the ring
 * (AUTO). tcp and tls also add a TCP listener to the config, used by
 * harness_broker_client_address().
 */
static int broker_pick_transport(struct harness_broker *b) {
        const char *t = getenv("IPC_TEST_TRANSPORT");

        snprintf(b->client_address, sizeof(b->client_address), "%s", b->address);
        if (!t || !*t)
                t = "unix";
        if (strcmp(t, "unix") != 0 && strcmp(t, "tcp") != 0 && strcmp(t, "tls") != 0 &&
            strcmp(t, "shm") != 0) {
                fprintf(stderr, "harness: IPC_TEST_TRANSPORT=%s: expected unix, tcp, tls or shm\n",
                        t);
                return -EINVAL;
        }
        if (strcmp(t, "shm") == 0) {
                if (unsetenv("IPC_TRANSPORT") < 0)
                        return -errno;
                return 0;
        }
        if (setenv("IPC_TRANSPORT", "socket", 1) < 0)
                return -errno;
        if (strcmp(t, "unix") == 0)
                return 0;
        return broker_add_listener(b, strcmp(t, "tls") == 0);
}

/*
 * The config file: @text as given, with the transport's listener appended
 * to "listen"."tcp" when there is one. Text that is not a JSON object is
 * written unchanged, for tests of bad files.
 */
static int broker_write_config(struct harness_broker *b, const char *text) {
        json_t *root, *listen, *tcp;
        char *merged;
        int r;

        if (!b->listener)
                return write_file(b->config_path, text);
        root = text ? json_loads(text, 0, NULL) : json_object();
        if (!json_is_object(root)) {
                json_decref(root);
                return write_file(b->config_path, text);
        }
        listen = json_object_get(root, "listen");
        if (!listen && json_object_set_new(root, "listen", listen = json_object()) < 0)
                listen = NULL;
        tcp = json_object_get(listen, "tcp");
        if (listen && !tcp && json_object_set_new(listen, "tcp", tcp = json_array()) < 0)
                tcp = NULL;
        merged = json_array_append(tcp, b->listener) == 0 ? json_dumps(root, JSON_INDENT(2)) : NULL;
        json_decref(root);
        r = merged ? write_file(b->config_path, merged) : -ENOMEM;
        free(merged);
        return r;
}

/* Checks one notify datagram for a READY=1 line. */
static bool notify_is_ready(const char *msg) {
        for (const char *p = msg; p; p = strchr(p, '\n')) {
                if (*p == '\n')
                        p++;
                if (strncmp(p, "READY=1", 7) == 0 && (p[7] == '\n' || p[7] == 0))
                        return true;
        }
        return false;
}

static int broker_wait_ready(struct harness_broker *b) {
        uint64_t deadline = harness_now_usec() + harness_timeout(10 * HARNESS_USEC_PER_SEC);

        for (;;) {
                struct pollfd p[2] = {{.fd = b->notify_fd, .events = POLLIN},
                                      {.fd = b->pidfd, .events = POLLIN}};
                char msg[4097];
                ssize_t n;
                int r = poll(p, 2, harness_ms_until(deadline));

                if (r < 0 && errno == EINTR)
                        continue;
                if (r == 0)
                        return -ETIMEDOUT;
                if (r < 0)
                        return -errno;
                n = recv(b->notify_fd, msg, sizeof(msg) - 1, 0);
                if (n > 0) {
                        msg[n] = 0;
                        if (notify_is_ready(msg))
                                return 0;
                        continue;
                }
                if (p[1].revents) {
                        fprintf(stderr,
                                "harness: ipc-brokerd exited with status %d before READY=1\n",
                                proc_reap(&b->pid, &b->pidfd));
                        return -ECHILD;
                }
        }
}

static int broker_exec(struct harness_broker *b, bool config, const char *const *extra) {
        const char *wrap = getenv("IPC_BROKERD_WRAPPER");
        const char *argv[ARGV_MAX];
        char notify[PATH_MAX + 16], env_notify[PATH_MAX + 32];
        char *wrapper = wrap && *wrap ? strdup(wrap) : NULL;
        char **envp = NULL;
        int r, log_fd = -1, null_fd = -1;

        r = broker_bind_notify(b, notify, sizeof(notify));
        if (r >= 0)
                r = broker_argv(b, config, extra, wrapper, argv);
        if (r >= 0) {
                snprintf(env_notify, sizeof(env_notify), "NOTIFY_SOCKET=%s", notify);
                envp = proc_env_build(env_notify);
                /* A restart appends, so the log tells the whole story. */
                log_fd = open(b->log_path,
                              O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (b->starts ? 0 : O_TRUNC),
                              0600);
                null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (!envp)
                        r = -ENOMEM;
                else if (log_fd < 0 || null_fd < 0)
                        r = -errno;
        }
        if (r >= 0)
                r = proc_spawn_child(argv, envp, null_fd, log_fd, log_fd, &b->pid, &b->pidfd);
        if (r >= 0)
                b->starts++;
        if (log_fd >= 0)
                (void)close(log_fd);
        if (null_fd >= 0)
                (void)close(null_fd);
        free(envp);
        free(wrapper);
        return r;
}

int harness_broker_start(const char *config_json, const char *const *extra_args,
                         struct harness_broker **ret) {
        struct harness_broker *b = calloc(1, sizeof(*b));
        int r;

        if (!b)
                return -ENOMEM;
        b->pidfd = b->notify_fd = -1;
        r = broker_make_dir(b);
        if (r >= 0)
                r = broker_pick_transport(b);
        b->has_config = config_json || b->listener;
        for (size_t i = 0; r >= 0 && extra_args && extra_args[i] && i + 1 < ARGV_MAX; i++)
                if (!(b->extra[i] = strdup(extra_args[i])))
                        r = -ENOMEM;
        if (r >= 0 && (config_json || b->listener))
                r = broker_write_config(b, config_json);
        if (r >= 0)
                r = broker_exec(b, config_json || b->listener, extra_args);
        if (r >= 0)
                r = broker_wait_ready(b);
        if (r < 0) {
                fprintf(stderr,
                        "harness: starting ipc-brokerd failed: %s\n--- broker log ---\n%s"
                        "--- end of broker log ---\n",
                        strerror(-r), b->dir[0] ? harness_broker_log(b) : "");
                harness_broker_free(b);
                return r;
        }
        *ret = b;
        return 0;
}

const char *harness_broker_address(const struct harness_broker *b) {
        return b->address;
}

const char *harness_broker_client_address(const struct harness_broker *b) {
        return b->client_address;
}

const char *harness_broker_socket_path(const struct harness_broker *b) {
        return b->sock_path;
}

const char *harness_broker_dir(const struct harness_broker *b) {
        return b->dir;
}

pid_t harness_broker_pid(const struct harness_broker *b) {
        return b->pid;
}

bool harness_broker_running(const struct harness_broker *b) {
        struct pollfd p = {.fd = b->pidfd, .events = POLLIN};

        if (b->pid <= 0)
                return false;
        return poll(&p, 1, 0) == 0;
}

const char *harness_broker_log(struct harness_broker *b) {
        int fd = open(b->log_path, O_RDONLY | O_CLOEXEC);

        free(b->log);
        b->log = fd >= 0 ? buf_read_whole(fd) : strdup("");
        if (fd >= 0)
                (void)close(fd);
        return b->log ? b->log : "";
}

int harness_broker_wait_log(struct harness_broker *b, const char *needle, uint64_t timeout_usec) {
        uint64_t deadline = harness_now_usec() + harness_timeout(timeout_usec);
        int ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK), r = -ETIMEDOUT;
        char drain[4096];

        if (ino < 0)
                return -errno;
        /* Watch before reading, so no write between the two is missed. */
        if (inotify_add_watch(ino, b->log_path, IN_MODIFY) < 0) {
                r = -errno;
                goto out;
        }
        for (;;) {
                struct pollfd p[2] = {{.fd = ino, .events = POLLIN},
                                      {.fd = b->pidfd, .events = POLLIN}};

                if (strstr(harness_broker_log(b), needle)) {
                        r = 0;
                        break;
                }
                if (b->pid <= 0 || poll(p, 2, harness_ms_until(deadline)) == 0 || p[1].revents) {
                        r = b->pid <= 0 || p[1].revents ? -ECHILD : -ETIMEDOUT;
                        if (strstr(harness_broker_log(b), needle))
                                r = 0;
                        break;
                }
                while (read(ino, drain, sizeof(drain)) > 0)
                        ;
        }
        if (r < 0)
                fprintf(stderr, "harness: \"%s\" not in the broker log:\n%s\n", needle, b->log);
out:
        (void)close(ino);
        return r;
}

int harness_broker_stop(struct harness_broker *b, int sig, int *ret_exit_status) {
        uint64_t deadline = harness_now_usec() + harness_timeout(10 * HARNESS_USEC_PER_SEC);
        int status;

        if (b->pid <= 0)
                return -ECHILD;
        (void)kill(b->pid, sig);
        if (!proc_pidfd_wait(b->pidfd, deadline)) {
                fprintf(stderr, "harness: ipc-brokerd ignored signal %d:\n%s\n", sig,
                        harness_broker_log(b));
                (void)kill(b->pid, SIGKILL);
                (void)proc_reap(&b->pid, &b->pidfd);
                return -ETIMEDOUT;
        }
        status = proc_reap(&b->pid, &b->pidfd);
        if (ret_exit_status)
                *ret_exit_status = status;
        return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void)remove(path);
        return 0;
}

struct harness_broker *harness_broker_free(struct harness_broker *b) {
        if (!b)
                return NULL;
        if (getenv("IPC_TEST_SHOW_LOG"))
                fprintf(stderr, "--- broker log (%s) ---\n%s--- end of broker log ---\n", b->dir,
                        harness_broker_log(b));
        if (b->pid > 0) {
                (void)kill(b->pid, SIGKILL);
                (void)proc_reap(&b->pid, &b->pidfd);
        }
        if (b->notify_fd >= 0)
                (void)close(b->notify_fd);
        if (b->dir[0])
                (void)nftw(b->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        json_decref(b->listener);
        free(b->log);
        for (size_t i = 0; i < ARGV_MAX; i++)
                free(b->extra[i]);
        free(b);
        return NULL;
}

int harness_broker_restart(struct harness_broker *b) {
        char notify[PATH_MAX];
        int r;

        if (b->pid > 0) {
                (void)kill(b->pid, SIGKILL);
                (void)proc_reap(&b->pid, &b->pidfd);
        }
        /* The daemon's own socket node stays behind on purpose: it must cope with it. */
        if (b->notify_fd >= 0)
                (void)close(b->notify_fd);
        b->notify_fd = -1;
        snprintf(notify, sizeof(notify), "%s/notify.sock", b->dir);
        (void)unlink(notify);
        r = broker_exec(b, b->has_config, (const char *const *)b->extra);
        if (r >= 0)
                r = broker_wait_ready(b);
        if (r < 0)
                fprintf(stderr, "harness: restarting ipc-brokerd failed: %s\n%s\n", strerror(-r),
                        harness_broker_log(b));
        return r;
}

void harness_broker_freep(struct harness_broker **b) {
        *b = harness_broker_free(*b);
}

struct harness_broker *harness_start(void **state, const char *config_json,
                                     const char *const *extra_args) {
        struct harness_broker *b = NULL;
        int r = harness_broker_start(config_json, extra_args, &b);

        if (r < 0)
                fail_msg("starting ipc-brokerd: %s", strerror(-r));
        *state = b;
        return b;
}

int harness_teardown(void **state) {
        struct harness_broker *b = *state;
        int r = 0, status = 0;

        /*
         * A clean stop, not SIGKILL: the daemon's exit status then carries
         * what LeakSanitizer or valgrind (--error-exitcode) found in it.
         */
        if (b && b->pid > 0 && harness_broker_stop(b, SIGTERM, &status) == 0 && status != 0) {
                fprintf(stderr, "harness: ipc-brokerd exited with status %d on SIGTERM:\n%s\n",
                        status, harness_broker_log(b));
                r = -1;
        }
        harness_broker_free(b);
        *state = NULL;
        return r;
}

/* ---- Clients -------------------------------------------------------- */

ipc_client *harness_connect(const char *address, const char *name) {
        ipc_options *opts = NULL;
        ipc_client *c = NULL;
        int r;

        assert_int_equal(ipc_options_new(&opts), 0);
        assert_int_equal(
                ipc_options_set_connect_timeout(opts, harness_timeout(5 * HARNESS_USEC_PER_SEC)),
                0);
        if (name)
                assert_int_equal(ipc_options_set_name(opts, name), 0);
        if (strncmp(address, "tls:", 4) == 0) {
                const struct harness_tls *t;

                assert_int_equal(harness_tls_default(&t), 0);
                assert_int_equal(ipc_options_set_tls(opts, t->ca, t->client_cert, t->client_key),
                                 0);
        }
        r = ipc_client_connect(address, opts, &c);
        ipc_options_free(opts);
        if (r < 0)
                fail_msg("connecting to %s: %s", address, ipc_strerror(r));
        return c;
}

const ipc_msg *harness_receive(ipc_client *client, uint64_t timeout_usec) {
        const ipc_msg *m = NULL;
        int r = ipc_client_receive(client, harness_timeout(timeout_usec), &m);

        if (r < 0)
                fail_msg("ipc_client_receive: %s (%s)", ipc_strerror(r),
                         ipc_client_get_error(client));
        assert_non_null(m);
        return m;
}

void harness_expect_none(ipc_client *client) {
        const ipc_msg *m = NULL;
        int r;

        assert_int_equal(ipc_client_ping(client, harness_timeout(5 * HARNESS_USEC_PER_SEC), NULL),
                         0);
        r = ipc_client_receive(client, 0, &m);
        if (r != -EAGAIN)
                fail_msg("expected no message, got %d (channel \"%s\", %zu bytes)", r,
                         r == 0 ? ipc_msg_get_channel(m) : "", r == 0 ? ipc_msg_get_size(m) : 0);
}

json_t *harness_json_parse(const char *text) {
        json_error_t err;
        json_t *j = json_loads(text, 0, &err);

        if (!j)
                fail_msg("bad JSON at %d:%d (%s): %s", err.line, err.column, err.text, text);
        return j;
}

json_t *harness_json_channel(json_t *array, const char *name) {
        size_t i;
        json_t *v;

        json_array_foreach(array, i, v) {
                const char *n = json_string_value(json_object_get(v, "name"));

                if (n && strcmp(n, name) == 0)
                        return v;
        }
        return NULL;
}

int64_t harness_json_int(json_t *obj, const char *key) {
        json_t *v = json_object_get(obj, key);

        if (!json_is_integer(v))
                fail_msg("JSON member \"%s\" missing or not an integer", key);
        return json_integer_value(v);
}

/* Return: 1 when @channel has >= @n subscribers in @listing, else 0. */
static int listing_has(const char *listing, const char *channel, unsigned n) {
        json_t *j = json_loads(listing, 0, NULL), *c;
        int r = 0;

        c = j ? harness_json_channel(j, channel) : NULL;
        if (c && json_integer_value(json_object_get(c, "subscribers")) >= (json_int_t)n)
                r = 1;
        json_decref(j);
        return r;
}

int harness_wait_subscribers(const char *address, const char *channel, unsigned n,
                             uint64_t timeout_usec) {
        uint64_t deadline = harness_now_usec() + harness_timeout(timeout_usec);
        uint64_t step = harness_timeout(HARNESS_USEC_PER_SEC);
        ipc_client *c = harness_connect(address, "harness-wait");
        char *listing = NULL;
        int r;

        for (;;) {
                ipc_free(listing);
                listing = NULL;
                r = ipc_client_list_channels(c, step, &listing);
                if (r < 0)
                        break;
                if (listing_has(listing, channel, n))
                        break;
                if (harness_now_usec() >= deadline) {
                        fprintf(stderr, "harness: %s never had %u subscribers: %s\n", channel, n,
                                listing);
                        r = -ETIMEDOUT;
                        break;
                }
                /* Pace the polls by a broker round trip rather than a sleep. */
                r = ipc_client_ping(c, step, NULL);
                if (r < 0)
                        break;
        }
        ipc_free(listing);
        ipc_client_free(c);
        return r;
}
