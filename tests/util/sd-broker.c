/* SPDX-License-Identifier: MIT */
/*
 * ipc-brokerd under a pretend service manager (see sd-broker.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "sd-broker.h"

#define SD_BROKER_TIMEOUT_USEC (10 * HARNESS_USEC_PER_SEC)

static int setup(void **state, bool abstract) {
        struct sd_broker *b = calloc(1, sizeof(*b));

        if (!b || notify_listener_new(abstract, &b->nl) < 0) {
                free(b);
                return -1;
        }
        b->stderr_fd = -1;
        (void)snprintf(b->dir, sizeof(b->dir), "%s", notify_listener_dir(b->nl));
        (void)snprintf(b->sock, sizeof(b->sock), "%s/broker.sock", b->dir);
        (void)snprintf(b->address, sizeof(b->address), "unix:%s", b->sock);
        (void)snprintf(b->config, sizeof(b->config), "%s/config.json", b->dir);
        *state = b;
        return 0;
}

int sd_broker_setup(void **state) {
        return setup(state, false);
}

int sd_broker_setup_abstract(void **state) {
        return setup(state, true);
}

int sd_broker_teardown(void **state) {
        struct sd_broker *b = *state;
        int r = 0, status = -1;

        if (b->proc && daemon_proc_pid(b->proc) > 0) {
                r = daemon_proc_stop(b->proc, SIGTERM, &status);
                if (r < 0 || status != 0) {
                        fprintf(stderr, "ipc-brokerd exited with status %d; log:\n%s\n", status,
                                daemon_proc_log(b->proc));
                        r = -1;
                }
        }
        if (getenv("IPC_TEST_SHOW_LOG") && b->proc)
                fprintf(stderr, "--- log ---\n%s--- end of log ---\n", daemon_proc_log(b->proc));
        daemon_proc_free(b->proc);
        notify_listener_free(b->nl);
        free(b);
        return r;
}

void sd_broker_write_config(struct sd_broker *b, const char *text) {
        FILE *f = fopen(b->config, "we");

        assert_non_null(f);
        assert_true(fputs(text, f) >= 0);
        assert_int_equal(fclose(f), 0);
}

const char *sd_broker_find_program(const char *name, char *buf, size_t size) {
        const char *path = getenv("PATH");

        for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
                size_t len = strcspn(p, ":");

                (void)snprintf(buf, size, "%.*s/%s", (int)len, p, name);
                if (len > 0 && access(buf, X_OK) == 0)
                        return buf;
                p += len + (p[len] == ':');
        }
        return NULL;
}

void sd_broker_spawn(struct sd_broker *b, const char *const *prefix, const char *const *args,
                     const char *const *env) {
        const char *argv[SD_BROKER_ARGS_MAX], *envv[SD_BROKER_ARGS_MAX];
        char prog[PATH_MAX];
        size_t n = 0, m = 0;
        int r;

        for (size_t i = 0; prefix && prefix[i] && n < SD_BROKER_ARGS_MAX - 8; i++)
                argv[n++] = prefix[i];
        if (n > 0 && argv[0][0] != '/') {
                argv[0] = sd_broker_find_program(argv[0], prog, sizeof(prog));
                assert_non_null(argv[0]);
        }
        argv[n++] = getenv("IPC_BROKERD");
        assert_non_null(argv[n - 1]);
        if (!args) {
                argv[n++] = "--socket";
                argv[n++] = b->sock;
                if (access(b->config, F_OK) == 0) {
                        argv[n++] = "-c";
                        argv[n++] = b->config;
                }
        }
        for (size_t i = 0; args && args[i] && n < SD_BROKER_ARGS_MAX - 1; i++)
                argv[n++] = args[i];
        argv[n] = NULL;
        envv[m++] = notify_listener_env(b->nl);
        for (size_t i = 0; env && env[i] && m < SD_BROKER_ARGS_MAX - 1; i++)
                envv[m++] = env[i];
        envv[m] = NULL;
        r = daemon_proc_spawn(b->dir, argv, envv, b->stderr_fd, &b->proc);
        if (r < 0)
                fail_msg("cannot start %s: %s", argv[0], strerror(-r));
}

void sd_broker_expect(struct sd_broker *b, const char *prefix, uint64_t timeout_usec,
                      struct notify_msg *ret) {
        int r = notify_listener_wait(b->nl, prefix, daemon_proc_pidfd(b->proc), timeout_usec, ret);

        if (r < 0)
                fail_msg("no \"%s\" from ipc-brokerd: %s; log:\n%s", prefix, strerror(-r),
                         daemon_proc_log(b->proc));
}

const struct notify_msg *sd_broker_wait_ready(struct sd_broker *b) {
        sd_broker_expect(b, "READY=1", SD_BROKER_TIMEOUT_USEC, &b->ready);
        return &b->ready;
}

void sd_broker_start(struct sd_broker *b, const char *const *args, const char *const *env) {
        sd_broker_spawn(b, NULL, args, env);
        (void)sd_broker_wait_ready(b);
}

void sd_broker_kill(struct sd_broker *b) {
        struct notify_msg m;
        int status = -1;

        assert_int_equal(daemon_proc_stop(b->proc, SIGKILL, &status), 0);
        assert_int_equal(status, 128 + SIGKILL);
        b->proc = daemon_proc_free(b->proc);
        while (notify_listener_next(b->nl, -1, 0, &m) == 0)
                ;
}

/* Where the stored descriptors wait, above anything the test has open, until bash moves them. */
#define STASH_FD 40

void sd_broker_start_with_store(struct sd_broker *b, const char *const *env) {
        char script[2048], names[1024] = "";
        const char *prefix[] = {"/bin/bash", "-c", script, "bash", NULL};
        const int *fds;
        size_t n = notify_listener_store(b->nl, &fds);
        size_t len = 0, off;

        assert_true(n > 0);
        off = (size_t)snprintf(script, sizeof(script), "exec");
        for (size_t i = 0; i < n; i++) {
                assert_int_equal(dup2(fds[i], STASH_FD + (int)i), STASH_FD + (int)i);
                off += (size_t)snprintf(script + off, sizeof(script) - off, " %zu<&%zu %zu<&-",
                                        3 + i, STASH_FD + i, STASH_FD + i);
                len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s", i ? ":" : "",
                                        notify_listener_store_name(b->nl, i));
        }
        (void)snprintf(script + off, sizeof(script) - off,
                       "; LISTEN_PID=$$ LISTEN_FDS=%zu LISTEN_FDNAMES='%s'; "
                       "export LISTEN_PID LISTEN_FDS LISTEN_FDNAMES; exec \"$@\"",
                       n, names);
        sd_broker_spawn(b, prefix, NULL, env);
        for (size_t i = 0; i < n; i++)
                (void)close(STASH_FD + (int)i);
        (void)sd_broker_wait_ready(b);
}

void sd_broker_wait_log(struct sd_broker *b, const char *needle) {
        if (daemon_proc_wait_log(b->proc, needle, SD_BROKER_TIMEOUT_USEC) < 0)
                fail_msg("\"%s\" never appeared in the log", needle);
}
