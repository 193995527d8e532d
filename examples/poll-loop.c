/* SPDX-License-Identifier: MIT */
/*
 * poll-loop: subscribe to a channel (or pattern) and print every message,
 * driving libipcclient from a plain poll(2) loop.
 *
 *   poll-loop PATTERN [ADDRESS]
 *
 * The loop is the whole integration recipe: poll the client's fd for its
 * events with its timeout, call ipc_client_process(), then drain messages
 * with ipc_client_receive(..., 0, ...) until -EAGAIN. The same loop serves
 * a channel read from its shared-memory ring: draining to -EAGAIN is what
 * arms the ring's wake-up, so the fd turns readable for its next message.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <ipcclient.h>

static volatile sig_atomic_t quit;

static void on_signal(int sig) {
        (void)sig;
        quit = 1;
}

/* ipc_client_get_timeout() gives an absolute CLOCK_MONOTONIC time; poll wants ms from now. */
static int poll_timeout_ms(const ipc_client *client) {
        struct timespec ts;
        uint64_t when, now;

        if (ipc_client_get_timeout(client, &when) < 0 || when == IPC_USEC_INFINITY)
                return -1;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        now = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
        if (when <= now)
                return 0;
        return (when - now) / 1000 >= INT_MAX ? INT_MAX : (int)((when - now + 999) / 1000);
}

static void print_message(const ipc_msg *msg) {
        size_t size, shown;
        const unsigned char *data = ipc_msg_get_data(msg, &size);

        printf("%s #%llu (%zu bytes%s", ipc_msg_get_channel(msg),
               (unsigned long long)ipc_msg_get_sequence(msg), size,
               (ipc_msg_get_flags(msg) & IPC_MSG_RETAINED) ? ", retained" : "");
        if (ipc_msg_get_lost(msg) > 0)
                printf(", %llu lost before", (unsigned long long)ipc_msg_get_lost(msg));
        printf("): ");
        /* Payloads are binary: show printable bytes, escape the rest. */
        shown = size < 64 ? size : 64;
        for (size_t i = 0; i < shown; i++) {
                if (data[i] >= 0x20 && data[i] < 0x7f)
                        putchar(data[i]);
                else
                        printf("\\x%02x", data[i]);
        }
        printf("%s\n", shown < size ? "..." : "");
}

static int drain(ipc_client *client) {
        const ipc_msg *msg;
        int r;

        while ((r = ipc_client_receive(client, 0, &msg)) == 0)
                print_message(msg);
        return r == -EAGAIN ? 0 : r;
}

static int run(ipc_client *client) {
        int r;

        /* Messages may already be buffered (retained values read during ipc_sub_new). */
        while (!quit) {
                struct pollfd pfd = {
                        .fd = ipc_client_get_fd(client),
                        .events = (short)ipc_client_get_events(client),
                };

                if (poll(&pfd, 1, poll_timeout_ms(client)) < 0 && errno != EINTR)
                        return -errno;
                r = ipc_client_process(client);
                if (r < 0)
                        return r;
                r = drain(client);
                if (r < 0)
                        return r;
                fflush(stdout);
        }
        return 0;
}

int main(int argc, char **argv) {
        struct sigaction sa = {.sa_handler = on_signal};
        ipc_client *client = NULL;
        ipc_sub *sub = NULL;
        int r;

        if (argc < 2 || argc > 3) {
                fprintf(stderr, "usage: %s PATTERN [ADDRESS]\n", argv[0]);
                return 2;
        }
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        r = ipc_client_connect(argc > 2 ? argv[2] : NULL, NULL, &client);
        if (r < 0) {
                fprintf(stderr, "connect: %s\n", ipc_strerror(r));
                return 1;
        }
        r = ipc_sub_new(client, argv[1], 5000000, &sub);
        if (r < 0)
                fprintf(stderr, "subscribe %s: %s %s\n", argv[1], ipc_strerror(r),
                        ipc_client_get_error(client));
        else
                r = run(client);
        if (r < 0 && sub)
                fprintf(stderr, "%s %s\n", ipc_strerror(r), ipc_client_get_error(client));
        ipc_sub_free(sub);
        ipc_client_free(client);
        return r < 0 ? 1 : 0;
}
