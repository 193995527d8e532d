/* SPDX-License-Identifier: MIT */
/*
 * ring-peer: a misbehaving ring client for the crash tests
 * (test-ring-crash.c), run as a child process so it can be killed with
 * SIGKILL while holding the ring.
 *
 *   ring-peer sub ADDRESS CHANNEL SIZE    subscribe, then never read
 *   ring-peer claim ADDRESS CHANNEL SIZE  open a publisher, claim SIZE bytes
 *                                         and never commit
 *
 * Prints "ready ring" or "ready socket" (the transport the library chose)
 * once subscribed or opened, and for claim then "claimed" once it holds the
 * claim, each line flushed; then sleeps until killed. Errors go to stderr
 * with exit status 1 (usage 2). The library picks the transport from the
 * environment as usual (IPC_TRANSPORT).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipcclient.h"

#define PEER_TIMEOUT_USEC (10u * 1000000u)

static const char *transport_word(int t) {
        return t == IPC_TRANSPORT_RING ? "ring" : "socket";
}

static int fail(const char *what, int r, ipc_client *c) {
        fprintf(stderr, "ring-peer: %s: %s (%s)\n", what, ipc_strerror(r),
                c ? ipc_client_get_error(c) : "");
        return 1;
}

static void say(const char *line) {
        printf("%s\n", line);
        (void)fflush(stdout);
}

static void sleep_forever(void) {
        for (;;)
                (void)pause();
}

static int run_sub(ipc_client *c, const char *channel) {
        ipc_sub *sub = NULL;
        char line[32];
        int r = ipc_sub_new(c, channel, PEER_TIMEOUT_USEC, &sub);

        if (r < 0)
                return fail("ipc_sub_new", r, c);
        snprintf(line, sizeof(line), "ready %s", transport_word(ipc_sub_get_transport(sub)));
        say(line);
        sleep_forever();
        return 0;
}

static int run_claim(ipc_client *c, const char *channel, size_t size) {
        ipc_pub *pub = NULL;
        void *buf = NULL;
        char line[32];
        int r = ipc_pub_new(c, channel, PEER_TIMEOUT_USEC, &pub);

        if (r < 0)
                return fail("ipc_pub_new", r, c);
        snprintf(line, sizeof(line), "ready %s", transport_word(ipc_pub_get_transport(pub)));
        say(line);
        r = ipc_pub_claim(pub, size, PEER_TIMEOUT_USEC, &buf);
        if (r < 0) {
                r = fail("ipc_pub_claim", r, c);
                ipc_pub_free(pub);
                return r;
        }
        /* Half-written, as a crash would leave it. */
        memset(buf, 0xee, size / 2);
        say("claimed");
        sleep_forever();
        return 0;
}

int main(int argc, char **argv) {
        ipc_options *opts = NULL;
        ipc_client *c = NULL;
        char *end = NULL;
        unsigned long size;
        int r;

        if (argc != 5 || (strcmp(argv[1], "sub") != 0 && strcmp(argv[1], "claim") != 0)) {
                fprintf(stderr, "usage: ring-peer sub|claim ADDRESS CHANNEL SIZE\n");
                return 2;
        }
        errno = 0;
        size = strtoul(argv[4], &end, 10);
        if (errno || *end || end == argv[4]) {
                fprintf(stderr, "ring-peer: bad size \"%s\"\n", argv[4]);
                return 2;
        }
        r = ipc_options_new(&opts);
        if (r >= 0)
                r = ipc_options_set_name(opts, "ring-peer");
        if (r >= 0)
                r = ipc_client_connect(argv[2], opts, &c);
        ipc_options_free(opts);
        if (r < 0)
                return fail("connecting", r, NULL);
        r = strcmp(argv[1], "sub") == 0 ? run_sub(c, argv[3]) : run_claim(c, argv[3], size);
        ipc_client_free(c);
        return r;
}
