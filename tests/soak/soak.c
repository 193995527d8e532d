/* SPDX-License-Identifier: MIT */
/*
 * soak: the processes of the soak test (run-soak.sh), one program with a
 * mode word:
 *   soak start-broker DIR BROKER [ARG...]   start BROKER with NOTIFY_SOCKET
 *                                          DIR/notify.sock, its output in
 *                                          DIR/broker.log; print its pid once
 *                                          it said READY=1, then exit
 *   soak pub ADDRESS DIR ID EPOCH ring|socket RATE SEED
 *   soak sub ADDRESS DIR ID EPOCH ring|socket SEED
 *   soak report DIR                          the summary table; exit 1 when a
 *                                          check failed
 * See soak.h for the payload and how results survive a kill -9.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "soak.h"

const char *const soak_channel_names[SOAK_CHANNELS] = {"soak.block", "soak.drop",
                                                       "soak.disconnect"};

static uint32_t crc_table[256];

static void crc_init(void) {
        for (uint32_t i = 0; i < 256; i++) {
                uint32_t c = i;

                for (int k = 0; k < 8; k++)
                        c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
                crc_table[i] = c;
        }
}

uint32_t soak_crc32(const void *p, size_t n, uint32_t crc) {
        const uint8_t *b = p;

        crc = ~crc;
        for (size_t i = 0; i < n; i++)
                crc = crc_table[(crc ^ b[i]) & 0xff] ^ (crc >> 8);
        return ~crc;
}

uint32_t soak_payload_crc(const void *p, size_t n) {
        static const uint32_t zero;
        size_t at = offsetof(struct soak_head, crc);
        uint32_t crc = soak_crc32(p, at, 0);

        crc = soak_crc32(&zero, sizeof(zero), crc);
        return soak_crc32((const uint8_t *)p + at + 4, n - at - 4, crc);
}

uint64_t soak_now_usec(void) {
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t soak_rand(uint64_t *s) {
        /* xorshift64*: fast, and good enough for sizes and pauses. */
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        return *s * 2685821657736338717u;
}

void soak_append(const char *dir, const char *name, const char *fmt, ...) {
        char path[PATH_MAX], line[1024];
        va_list ap;
        int fd, n;

        va_start(ap, fmt);
        n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if ((size_t)n > sizeof(line) - 2)
                n = (int)sizeof(line) - 2;
        line[n++] = '\n';
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
                return;
        (void)!write(fd, line, (size_t)n);
        (void)close(fd);
}

void soak_replace(const char *dir, const char *name, const char *text) {
        char path[PATH_MAX], tmp[PATH_MAX];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
        f = fopen(tmp, "we");
        if (!f)
                return;
        (void)fputs(text, f);
        if (fclose(f) == 0)
                (void)rename(tmp, path);
}

/* ---- start-broker ------------------------------------------------------ */

static bool notify_ready(const char *msg) {
        for (const char *p = msg; p; p = strchr(p, '\n')) {
                if (*p == '\n')
                        p++;
                if (strncmp(p, "READY=1", 7) == 0 && (p[7] == '\n' || p[7] == 0))
                        return true;
        }
        return false;
}

static void broker_child(const char *log, const char *notify, char **argv) {
        int fd = open(log, O_WRONLY | O_APPEND | O_CREAT, 0644);

        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0 || setenv("NOTIFY_SOCKET", notify, 1))
                _exit(127);
        (void)setsid(); /* the script's job control must not signal it */
        execv(argv[0], argv);
        _exit(127);
}

static int wait_ready(int sock, pid_t pid) {
        uint64_t deadline = soak_now_usec() + 60u * 1000000u;

        while (soak_now_usec() < deadline) {
                struct pollfd p = {.fd = sock, .events = POLLIN};
                char msg[4097];
                ssize_t n;

                if (poll(&p, 1, 200) > 0 && (n = recv(sock, msg, sizeof(msg) - 1, 0)) > 0) {
                        msg[n] = 0;
                        if (notify_ready(msg))
                                return 0;
                }
                if (kill(pid, 0) < 0 || waitpid(pid, NULL, WNOHANG) == pid) {
                        fprintf(stderr, "soak: the broker exited before READY=1\n");
                        return -1;
                }
        }
        fprintf(stderr, "soak: no READY=1 from the broker within 60 s\n");
        return -1;
}

int soak_start_broker_main(int argc, char **argv) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        char log[PATH_MAX];
        int sock;
        pid_t pid;

        if (argc < 4) {
                fprintf(stderr, "usage: soak start-broker DIR BROKER [ARG...]\n");
                return 2;
        }
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify.sock", argv[2]);
        snprintf(log, sizeof(log), "%s/broker.log", argv[2]);
        (void)unlink(sa.sun_path);
        sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (sock < 0 || bind(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                perror("soak: notify socket");
                return 1;
        }
        pid = fork();
        if (pid < 0) {
                perror("soak: fork");
                return 1;
        }
        if (pid == 0)
                broker_child(log, sa.sun_path, argv + 3);
        if (wait_ready(sock, pid) < 0)
                return 1;
        printf("%d\n", (int)pid);
        return 0;
}

int main(int argc, char **argv) {
        crc_init();
        if (argc >= 2 && strcmp(argv[1], "start-broker") == 0)
                return soak_start_broker_main(argc, argv);
        if (argc >= 2 && strcmp(argv[1], "pub") == 0)
                return soak_pub_main(argc, argv);
        if (argc >= 2 && strcmp(argv[1], "sub") == 0)
                return soak_sub_main(argc, argv);
        if (argc >= 2 && strcmp(argv[1], "report") == 0)
                return soak_report_main(argc, argv);
        fprintf(stderr, "usage: soak start-broker|pub|sub|report ...\n");
        return 2;
}
