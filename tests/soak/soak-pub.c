/* SPDX-License-Identifier: MIT */
/*
 * soak pub ADDRESS DIR ID EPOCH ring|socket RATE SEED
 *
 * One thread per channel, each with its own client, publishes RATE
 * messages a second of random sizes (soak.h) until SIGTERM, then flushes
 * and writes DIR/pub-ID-EPOCH.txt: "sent CHANNEL COUNT" per channel, the
 * count of messages the library accepted (and, once flushed, sent), then
 * "outages N notconn N skipped N": the losses of the broker connection the
 * library reported, the publishes that failed with -ENOTCONN meanwhile,
 * and the messages the pace would have sent while disconnected. The same
 * goes to DIR/pub-outages.txt as it happens, "outage CHANNEL" and
 * "resumed CHANNEL DOWN_MS RETRIES NOT_PUBLISHED", so runs killed later
 * count too. A publish
 * that finds no room in time, or no connection, is retried with the same
 * seq, so seq has no holes. Problems go to DIR/events.txt.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ipcclient.h"
#include "soak.h"

#define PUB_TIMEOUT_USEC (1u * 1000000u)
#define PUB_PROCESS_USEC 100000u          /* ipc_client_process() this often */
#define PUB_RETRY_NSEC   10000000L        /* -ENOTCONN: try again after 10 ms */
#define PUB_OPEN_USEC    (30u * 1000000u) /* keep trying to open this long */

static atomic_bool stopping;

struct pub_thread {
        const char *address, *dir;
        unsigned id, epoch, channel, rate;
        bool ring;
        uint64_t seed;
        uint64_t sent;
        uint64_t outages;    /* the library said -ENOTCONN */
        uint64_t notconn;    /* publishes that failed with -ENOTCONN (retried) */
        uint64_t skipped;    /* messages the pace was due to send while disconnected */
        uint64_t down_since; /* 0: connected */
        uint64_t notconn_seen;
        uint64_t next_process;
        bool ok;
        pthread_t thread;
};

static void on_term(int sig) {
        (void)sig;
        atomic_store(&stopping, true);
}

static size_t fill(uint8_t *buf, struct pub_thread *t, uint64_t seq) {
        size_t size = SOAK_MIN_SIZE + soak_rand(&t->seed) % (SOAK_MAX_SIZE - SOAK_MIN_SIZE + 1);
        struct soak_head h = {.magic = SOAK_MAGIC,
                              .pub_id = t->id,
                              .epoch = t->epoch,
                              .size = (uint32_t)size,
                              .seq = seq,
                              .channel = t->channel};
        uint64_t r = soak_rand(&t->seed);

        for (size_t i = sizeof(h); i < size; i++) {
                if ((i & 7) == 0)
                        r = soak_rand(&t->seed);
                buf[i] = (uint8_t)(r >> ((i & 7) * 8));
        }
        memcpy(buf, &h, sizeof(h));
        h.crc = soak_payload_crc(buf, size);
        memcpy(buf, &h, sizeof(h));
        return size;
}

static void pace(uint64_t start, uint64_t sent, unsigned rate) {
        uint64_t due = start + sent * 1000000u / rate, now = soak_now_usec();

        if (due > now) {
                struct timespec ts = {.tv_sec = (time_t)((due - now) / 1000000u),
                                      .tv_nsec = (long)((due - now) % 1000000u * 1000u)};

                (void)nanosleep(&ts, NULL);
        }
}

static int open_pub_once(struct pub_thread *t, ipc_client **ret_c, ipc_pub **ret_p) {
        ipc_options *o = NULL;
        char name[64];
        int r;

        snprintf(name, sizeof(name), "soak-pub-%u.%u", t->id, t->epoch);
        r = ipc_options_new(&o);
        if (r >= 0)
                r = ipc_options_set_name(o, name);
        if (r >= 0)
                r = ipc_options_set_transport(o,
                                              t->ring ? IPC_TRANSPORT_AUTO : IPC_TRANSPORT_SOCKET);
        if (r >= 0)
                r = ipc_client_connect(t->address, o, ret_c);
        ipc_options_free(o);
        if (r >= 0)
                r = ipc_pub_new(*ret_c, soak_channel_names[t->channel], PUB_TIMEOUT_USEC, ret_p);
        if (r >= 0 && t->ring && ipc_pub_get_transport(*ret_p) != IPC_TRANSPORT_RING)
                soak_append(t->dir, "events.txt", "pub %u.%u %s: got the socket, not the ring",
                            t->id, t->epoch, soak_channel_names[t->channel]);
        return r;
}

/* A publisher started while the broker restarts waits for it. */
static int open_pub(struct pub_thread *t, ipc_client **ret_c, ipc_pub **ret_p) {
        uint64_t deadline = soak_now_usec() + PUB_OPEN_USEC;
        int r;

        for (;;) {
                r = open_pub_once(t, ret_c, ret_p);
                if (r >= 0 || atomic_load(&stopping) || soak_now_usec() >= deadline)
                        return r;
                *ret_p = ipc_pub_free(*ret_p);
                *ret_c = ipc_client_free(*ret_c);
                (void)nanosleep(&(struct timespec){.tv_nsec = 100000000}, NULL);
        }
}

/*
 * The library notices a lost broker when it does I/O on the socket, and
 * reconnects from within its calls: a ring publisher, which never touches
 * the socket to publish, calls ipc_client_process() now and then. Returns
 * false on an error that is no reconnect.
 */
static bool keep_connected(struct pub_thread *t, ipc_client *c, uint64_t now) {
        int r;

        if (now < t->next_process)
                return true;
        t->next_process = now + PUB_PROCESS_USEC;
        r = ipc_client_process(c);
        if (r == -ENOTCONN) {
                t->outages++;
                soak_append(t->dir, "pub-outages.txt", "outage %s", soak_channel_names[t->channel]);
                soak_append(t->dir, "events.txt", "pub %u.%u %s: -ENOTCONN after seq %" PRIu64,
                            t->id, t->epoch, soak_channel_names[t->channel], t->sent);
        } else if (r < 0) {
                soak_append(t->dir, "events.txt", "pub %u.%u %s: process: %s", t->id, t->epoch,
                            soak_channel_names[t->channel], ipc_strerror(r));
                return false;
        }
        return true;
}

/*
 * A socket publish while the client reconnects fails with -ENOTCONN: the
 * same seq is tried again. When it goes through, the pace starts over
 * (no burst to catch up), and what it would have sent meanwhile is
 * counted as skipped.
 */
static void publish_resumed(struct pub_thread *t, uint64_t *start, uint64_t now) {
        uint64_t down = now - t->down_since, skipped = down * t->rate / 1000000u;

        t->skipped += skipped;
        *start += down;
        t->down_since = 0;
        soak_append(t->dir, "pub-outages.txt", "resumed %s %" PRIu64 " %" PRIu64 " %" PRIu64,
                    soak_channel_names[t->channel], down / 1000, t->notconn - t->notconn_seen,
                    skipped);
        t->notconn_seen = t->notconn;
        soak_append(t->dir, "events.txt",
                    "pub %u.%u %s: published again at seq %" PRIu64 " after %" PRIu64
                    " ms disconnected (%" PRIu64 " not published)",
                    t->id, t->epoch, soak_channel_names[t->channel], t->sent, down / 1000, skipped);
}

static void *pub_run(void *arg) {
        struct pub_thread *t = arg;
        uint8_t buf[SOAK_MAX_SIZE];
        ipc_client *c = NULL;
        ipc_pub *pub = NULL;
        uint64_t start;
        int r = open_pub(t, &c, &pub);

        if (r < 0) {
                soak_append(t->dir, "events.txt", "pub %u.%u %s: open: %s", t->id, t->epoch,
                            soak_channel_names[t->channel], ipc_strerror(r));
                goto out;
        }
        start = soak_now_usec();
        while (!atomic_load(&stopping)) {
                size_t size = fill(buf, t, t->sent);

                if (!keep_connected(t, c, soak_now_usec()))
                        goto out;
                r = ipc_publish(pub, buf, size, 0, PUB_TIMEOUT_USEC);
                if (r == -EAGAIN)
                        continue; /* no room yet: the same seq again (fill() again, new size) */
                if (r == -ENOTCONN) {
                        if (!t->down_since)
                                t->down_since = soak_now_usec();
                        t->notconn++;
                        (void)nanosleep(&(struct timespec){.tv_nsec = PUB_RETRY_NSEC}, NULL);
                        continue;
                }
                if (r >= 0 && t->down_since)
                        publish_resumed(t, &start, soak_now_usec());
                if (r < 0) {
                        soak_append(t->dir, "events.txt", "pub %u.%u %s: publish %" PRIu64 ": %s",
                                    t->id, t->epoch, soak_channel_names[t->channel], t->sent,
                                    ipc_strerror(r));
                        goto out;
                }
                t->sent++;
                pace(start, t->sent, t->rate);
        }
        r = ipc_client_flush(c, 30u * 1000000u);
        if (r < 0)
                soak_append(t->dir, "events.txt", "pub %u.%u %s: flush: %s", t->id, t->epoch,
                            soak_channel_names[t->channel], ipc_strerror(r));
        else
                t->ok = true;
out:
        ipc_pub_free(pub);
        ipc_client_free(c);
        return NULL;
}

int soak_pub_main(int argc, char **argv) {
        struct pub_thread t[SOAK_CHANNELS];
        char text[1024], name[64];
        size_t len = 0;
        bool ok = true;

        if (argc != 9) {
                fprintf(stderr, "usage: soak pub ADDRESS DIR ID EPOCH ring|socket RATE SEED\n");
                return 2;
        }
        (void)signal(SIGTERM, on_term);
        (void)signal(SIGPIPE, SIG_IGN);
        for (unsigned i = 0; i < SOAK_CHANNELS; i++) {
                t[i] = (struct pub_thread){
                        .address = argv[2],
                        .dir = argv[3],
                        .id = (unsigned)atoi(argv[4]),
                        .epoch = (unsigned)atoi(argv[5]),
                        .ring = strcmp(argv[6], "ring") == 0,
                        .rate = (unsigned)atoi(argv[7]),
                        .seed = strtoull(argv[8], NULL, 10) * 3 + i + 1,
                        .channel = i,
                };
                if (t[i].rate == 0)
                        t[i].rate = 1;
                if (pthread_create(&t[i].thread, NULL, pub_run, &t[i]) != 0)
                        return 1;
        }
        for (unsigned i = 0; i < SOAK_CHANNELS; i++) {
                (void)pthread_join(t[i].thread, NULL);
                ok = ok && t[i].ok;
                len += (size_t)snprintf(text + len, sizeof(text) - len,
                                        "sent %s %" PRIu64 " outages %" PRIu64 " notconn %" PRIu64
                                        " skipped %" PRIu64 "\n",
                                        soak_channel_names[i], t[i].sent, t[i].outages,
                                        t[i].notconn, t[i].skipped);
        }
        snprintf(name, sizeof(name), "pub-%s-%s.txt", argv[4], argv[5]);
        soak_replace(argv[3], name, text);
        return ok ? 0 : 1;
}
