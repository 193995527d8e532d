/* SPDX-License-Identifier: MIT */
/*
 * soak sub ADDRESS DIR ID EPOCH ring|socket SEED
 *
 * One thread per channel, each with its own client (so a "disconnect" of
 * one channel leaves the others' checks running), checks every message:
 *  - intact: magic, size, channel and CRC-32 (soak.h);
 *  - per publisher incarnation (id, epoch) seq counts up: a step back is
 *    "reordered", a step forward a "pubgap" of that many (two runs of one
 *    publisher are two connections: the last messages of a killed run may
 *    still come after the first of the next);
 *  - the channel's seq: every gap is explained by the losses the library
 *    reports (ipc_msg_get_lost(), and ring messages overwritten while
 *    viewed, ipc_msg_release() -ESTALE); the rest is "unexplained";
 *  - ipc_sub_get_lost() equals the sum of both, without what was missed
 *    across reconnects, when the client ends ("mismatch" otherwise).
 * A lost connection (the broker restarted, or closed us under the
 * disconnect policy) ends an interval: the library reconnects by itself,
 * ipc_client_receive() says -ENOTCONN once ("outages"), and the first
 * message afterwards carries IPC_MSG_RESUMED ("resumed"), with what was
 * missed meanwhile either counted ("missed", ipc_sub_get_missed()) or
 * flagged IPC_MSG_GAP_UNKNOWN ("gapunknown"); it starts the next interval,
 * where the first message of each publisher is a "join" (its seq, the
 * messages before it, is counted as joingap). A gap flagged neither way
 * shows as reordered or unexplained. Every boundary goes to
 * DIR/events.txt. Any other error ends the client: the thread connects
 * again ("disconnects").
 *
 * On the drop and disconnect channels the thread now and then stops
 * reading for a while (300 ms, 3 s) so the policies act. On SIGTERM it
 * reads until the channel has been quiet for 2 s, then exits. Counters go
 * to DIR/sub-ID-EPOCH-CHANNEL.txt twice a second (and at the end, with a
 * line "final"), so a kill -9 loses at most half a second of counting,
 * never an event.
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

#define SUB_TIMEOUT_USEC  (5u * 1000000u)
#define SUB_SNAPSHOT_USEC 500000u
#define SUB_QUIET_USEC    2000000u
#define SUB_PAUSE_CHECK   1000000u
#define SUB_PAUSE_ONE_IN  8u
#define SUB_DROP_PAUSE_MS 300u
#define SUB_DISC_PAUSE_MS 3000u
#define SUB_CHANNEL_BLOCK 0u
#define SUB_CHANNEL_DROP  1u
#define SUB_RUNS          4u /* runs of one publisher tracked at once (epoch % SUB_RUNS) */

static atomic_bool stopping;

struct track {
        bool seen;
        uint32_t epoch;
        uint64_t next;
};

struct counters {
        uint64_t received, corrupt, reordered, pubgap, joingap, lost, stale, changap, unexplained;
        uint64_t intervals, disconnects, pauses, mismatch, fallback;
        uint64_t outages, resumed, gapunknown, missed;
};

struct sub_thread {
        const char *address, *dir;
        unsigned id, epoch, channel;
        bool ring;
        uint64_t seed;
        ipc_client *c;
        ipc_sub *sub;
        struct counters n;
        uint64_t interval_lost; /* lost + stale since sub_open(), for ipc_sub_get_lost() */
        uint64_t missed_seen;   /* ipc_sub_get_missed() at the last message */
        bool outage_pending;    /* -ENOTCONN came, no IPC_MSG_RESUMED yet */
        uint64_t stale_pending; /* -ESTALE messages and their losses since the last good one */
        uint64_t last_chan_seq; /* 0: none yet in this interval */
        /* Per publisher and run: runs are separate connections, unordered among them. */
        struct track track[SOAK_PUBS_MAX][SUB_RUNS];
        uint64_t next_snapshot, next_pause_check;
        pthread_t thread;
};

static void on_term(int sig) {
        (void)sig;
        atomic_store(&stopping, true);
}

static const char *chan(const struct sub_thread *t) {
        return soak_channel_names[t->channel];
}

#define event(t, fmt, ...)                                                                         \
        soak_append((t)->dir, "events.txt", "sub %u.%u %s: " fmt, (t)->id, (t)->epoch, chan(t),    \
                    __VA_ARGS__)

static void snapshot(struct sub_thread *t, bool final) {
        char text[4096], name[96];
        const struct counters *n = &t->n;
        size_t len = 0;

        len += (size_t)snprintf(
                text + len, sizeof(text) - len,
                "chan %s transport %s received %" PRIu64 " corrupt %" PRIu64 " reordered %" PRIu64
                " pubgap %" PRIu64 " joingap %" PRIu64 " lost %" PRIu64 " stale %" PRIu64
                " changap %" PRIu64 " unexplained %" PRIu64 " intervals %" PRIu64
                " disconnects %" PRIu64 " pauses %" PRIu64 " mismatch %" PRIu64 " fallback %" PRIu64
                " outages %" PRIu64 " resumed %" PRIu64 " gapunknown %" PRIu64 " missed %" PRIu64
                "\n",
                chan(t), t->ring ? "ring" : "socket", n->received, n->corrupt, n->reordered,
                n->pubgap, n->joingap, n->lost, n->stale, n->changap, n->unexplained, n->intervals,
                n->disconnects, n->pauses, n->mismatch, n->fallback, n->outages, n->resumed,
                n->gapunknown, n->missed);
        for (unsigned p = 0; p < SOAK_PUBS_MAX; p++)
                for (unsigned k = 0; k < SUB_RUNS; k++)
                        if (t->track[p][k].seen)
                                len += (size_t)snprintf(text + len, sizeof(text) - len,
                                                        "next %u %u %" PRIu64 "\n", p,
                                                        t->track[p][k].epoch, t->track[p][k].next);
        if (final)
                (void)snprintf(text + len, sizeof(text) - len, "final\n");
        snprintf(name, sizeof(name), "sub-%u-%u-%s.txt", t->id, t->epoch, chan(t));
        soak_replace(t->dir, name, text);
}

/* Connects and subscribes, retrying until it works or we stop; starts an interval. */
static bool sub_open(struct sub_thread *t) {
        while (!atomic_load(&stopping)) {
                ipc_options *o = NULL;
                char name[64];
                int r;

                snprintf(name, sizeof(name), "soak-sub-%u.%u", t->id, t->epoch);
                r = ipc_options_new(&o);
                if (r >= 0)
                        r = ipc_options_set_name(o, name);
                if (r >= 0)
                        r = ipc_options_set_transport(o, t->ring ? IPC_TRANSPORT_AUTO
                                                                 : IPC_TRANSPORT_SOCKET);
                if (r >= 0)
                        r = ipc_client_connect(t->address, o, &t->c);
                ipc_options_free(o);
                if (r >= 0)
                        r = ipc_sub_new(t->c, chan(t), SUB_TIMEOUT_USEC, &t->sub);
                if (r >= 0) {
                        if (t->ring && ipc_sub_get_transport(t->sub) != IPC_TRANSPORT_RING) {
                                t->n.fallback++;
                                event(t, "%s", "got the socket, not the ring");
                        }
                        t->n.intervals++;
                        memset(t->track, 0, sizeof(t->track));
                        t->last_chan_seq = 0;
                        t->interval_lost = t->stale_pending = t->missed_seen = 0;
                        t->outage_pending = false;
                        return true;
                }
                event(t, "connect/subscribe: %s", ipc_strerror(r));
                t->sub = ipc_sub_free(t->sub);
                t->c = ipc_client_free(t->c);
                (void)nanosleep(&(struct timespec){.tv_nsec = 100000000}, NULL);
        }
        return false;
}

/*
 * Ends an interval: the library's loss count must be what the messages
 * said. At the end of the run it may be more: a loss is told with the next
 * message, and the run can stop between a LOSS frame (a drop, or a resume
 * right after an outage) and that message; the difference is noted, and
 * only a count below what the messages said is a mismatch.
 */
static void sub_close(struct sub_thread *t, const char *why) {
        uint64_t lib = t->sub ? ipc_sub_get_lost(t->sub) : 0;
        bool end = strcmp(why, "end") == 0;

        if (end && lib > t->interval_lost) {
                event(t, "ipc_sub_get_lost() %" PRIu64 ", messages reported %" PRIu64
                      " (end: %" PRIu64 " booked, not yet told with a message)",
                      lib, t->interval_lost, lib - t->interval_lost);
        } else if (lib != t->interval_lost) {
                t->n.mismatch++;
                event(t, "ipc_sub_get_lost() %" PRIu64 ", messages reported %" PRIu64 " (%s)", lib,
                      t->interval_lost, why);
        }
        t->sub = ipc_sub_free(t->sub);
        t->c = ipc_client_free(t->c);
}

static bool payload_ok(const struct sub_thread *t, const uint8_t *p, size_t size,
                       struct soak_head *h) {
        if (size < sizeof(*h) || size > SOAK_MAX_SIZE)
                return false;
        memcpy(h, p, sizeof(*h));
        return h->magic == SOAK_MAGIC && h->size == size && h->channel == t->channel &&
               h->pub_id < SOAK_PUBS_MAX && h->crc == soak_payload_crc(p, size);
}

/* The channel's seq: a gap must be what the library reported lost. */
static void check_channel_seq(struct sub_thread *t, uint64_t seq, uint64_t lost) {
        if (t->last_chan_seq && seq <= t->last_chan_seq) {
                t->n.reordered++;
                event(t, "channel seq %" PRIu64 " after %" PRIu64, seq, t->last_chan_seq);
        } else if (t->last_chan_seq) {
                uint64_t gap = seq - t->last_chan_seq - 1, told = lost + t->stale_pending;

                t->n.changap += gap;
                if (gap != told) {
                        t->n.unexplained += gap > told ? gap - told : told - gap;
                        event(t,
                              "channel seq %" PRIu64 " after %" PRIu64 ": %" PRIu64
                              " missing, %" PRIu64 " reported lost",
                              seq, t->last_chan_seq, gap, told);
                }
        }
        t->last_chan_seq = seq;
        t->stale_pending = 0;
}

/* The publisher's own seq within its incarnation. */
static void check_publisher_seq(struct sub_thread *t, const struct soak_head *h) {
        struct track *tr = &t->track[h->pub_id][h->epoch % SUB_RUNS];

        if (tr->seen && h->epoch < tr->epoch) {
                t->n.reordered++;
                event(t, "pub %u epoch %u after epoch %u", h->pub_id, h->epoch, tr->epoch);
                return;
        }
        if (!tr->seen || h->epoch != tr->epoch) {
                if (h->seq > 0 && (t->n.intervals > 1 || t->epoch > 0 || h->epoch > 0))
                        event(t, "joined pub %u.%u at seq %" PRIu64, h->pub_id, h->epoch, h->seq);
                t->n.joingap += h->seq;
                *tr = (struct track){.seen = true, .epoch = h->epoch, .next = h->seq + 1};
                return;
        }
        if (h->seq < tr->next) {
                t->n.reordered++;
                event(t, "pub %u.%u seq %" PRIu64 ", expected %" PRIu64, h->pub_id, h->epoch,
                      h->seq, tr->next);
                return;
        }
        if (h->seq > tr->next) {
                t->n.pubgap += h->seq - tr->next;
                if (t->channel != SUB_CHANNEL_DROP)
                        event(t, "pub %u.%u seq %" PRIu64 ", expected %" PRIu64, h->pub_id,
                              h->epoch, h->seq, tr->next);
        }
        tr->next = h->seq + 1;
}

/*
 * The first message after the library reconnected (the broker restarted,
 * or closed us under the disconnect policy): a new connected interval.
 * What was missed meanwhile is either counted (ipc_sub_get_missed(), part
 * of the message's ipc_msg_get_lost() but not of ipc_sub_get_lost()) or
 * flagged unknown; either way it is reported, and the publishers' runs are
 * joined again. Returns the message's losses to the overflow policy.
 */
static uint64_t on_resumed(struct sub_thread *t, unsigned flags, uint64_t lost) {
        uint64_t missed = ipc_sub_get_missed(t->sub), delta = missed - t->missed_seen;

        t->missed_seen = missed;
        if (!(flags & IPC_MSG_RESUMED))
                return lost - delta;
        t->n.resumed++;
        t->n.intervals++;
        t->n.missed += delta;
        if (!t->outage_pending)
                event(t, "%s", "IPC_MSG_RESUMED without -ENOTCONN before it");
        event(t,
              "resumed after channel seq %" PRIu64 ": %s, %" PRIu64 " missed, %" PRIu64
              " lost to the policy",
              t->last_chan_seq, flags & IPC_MSG_GAP_UNKNOWN ? "gap unknown" : "gap known", delta,
              lost - delta);
        if (flags & IPC_MSG_GAP_UNKNOWN) {
                t->n.gapunknown++;
                t->last_chan_seq = 0; /* numbered afresh: nothing to compare with */
        }
        t->outage_pending = false;
        memset(t->track, 0, sizeof(t->track));
        return lost - delta;
}

static void on_message(struct sub_thread *t, const ipc_msg *m) {
        static _Thread_local uint8_t buf[SOAK_MAX_SIZE];
        size_t size = 0;
        const void *data = ipc_msg_get_data(m, &size);
        uint64_t seq = ipc_msg_get_sequence(m), lost = ipc_msg_get_lost(m);
        unsigned flags = ipc_msg_get_flags(m);
        uint64_t policy_lost = on_resumed(t, flags, lost);
        struct soak_head h = {0};
        bool ok;

        if (size <= sizeof(buf))
                memcpy(buf, data, size);
        if (ipc_msg_release(m) == -ESTALE) {
                /* Overwritten while we read it: the library counts it lost. */
                t->n.stale++;
                t->stale_pending += 1 + lost; /* it and those lost before it */
                t->interval_lost++;
                t->n.lost += policy_lost;
                t->interval_lost += policy_lost;
                return;
        }
        t->n.received++;
        t->n.lost += policy_lost;
        t->interval_lost += policy_lost;
        check_channel_seq(t, seq, lost);
        ok = payload_ok(t, buf, size, &h);
        if (!ok) {
                t->n.corrupt++;
                /* Which field failed tells a torn read from a message of another channel. */
                event(t,
                      "corrupt message at channel seq %" PRIu64
                      " (%zu bytes, flags %#x, lost %" PRIu64
                      "): magic %#x pub %u.%u size %u seq %" PRIu64
                      " channel %u crc %#x, computed %#x",
                      seq, size, flags, lost, h.magic, h.pub_id, h.epoch, h.size, h.seq, h.channel,
                      h.crc,
                      size >= sizeof(h) && size <= SOAK_MAX_SIZE ? soak_payload_crc(buf, size) : 0);
                return;
        }
        check_publisher_seq(t, &h);
}

static void maybe_pause(struct sub_thread *t, uint64_t now) {
        unsigned ms;

        if (now < t->next_pause_check || t->channel == SUB_CHANNEL_BLOCK || atomic_load(&stopping))
                return;
        t->next_pause_check = now + SUB_PAUSE_CHECK;
        if (soak_rand(&t->seed) % SUB_PAUSE_ONE_IN != 0)
                return;
        ms = t->channel == SUB_CHANNEL_DROP ? SUB_DROP_PAUSE_MS : SUB_DISC_PAUSE_MS;
        t->n.pauses++;
        (void)nanosleep(&(struct timespec){.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000L},
                        NULL);
}

static void *sub_run(void *arg) {
        struct sub_thread *t = arg;
        uint64_t quiet_since = 0;

        if (!sub_open(t))
                return NULL;
        snapshot(t, false); /* the script waits for these: subscribed */
        for (;;) {
                const ipc_msg *m = NULL;
                uint64_t now;
                int r = ipc_client_receive(t->c, 200000u, &m);

                now = soak_now_usec();
                if (r == 0) {
                        on_message(t, m);
                        quiet_since = 0;
                } else if (r == -EBADMSG) {
                        t->n.corrupt++;
                        event(t, "corrupt ring record: %s", ipc_client_get_error(t->c));
                } else if (r == -ENOTCONN) {
                        /* The library reconnects by itself; the next message says the gap. */
                        t->n.outages++;
                        t->outage_pending = true;
                        event(t, "-ENOTCONN (%s) after channel seq %" PRIu64,
                              ipc_client_get_error(t->c), t->last_chan_seq);
                } else if (r == -ETIMEDOUT) {
                        if (atomic_load(&stopping) && !quiet_since)
                                quiet_since = now;
                        if (quiet_since && now - quiet_since >= SUB_QUIET_USEC)
                                break;
                } else {
                        t->n.disconnects++;
                        event(t,
                              "disconnected (%s: %s) after channel seq %" PRIu64 "; reconnecting",
                              ipc_strerror(r), ipc_client_get_error(t->c), t->last_chan_seq);
                        sub_close(t, "disconnected");
                        if (!sub_open(t))
                                return NULL;
                        continue;
                }
                if (now >= t->next_snapshot) {
                        snapshot(t, false);
                        t->next_snapshot = now + SUB_SNAPSHOT_USEC;
                }
                maybe_pause(t, now);
        }
        sub_close(t, "end");
        snapshot(t, true);
        return NULL;
}

int soak_sub_main(int argc, char **argv) {
        struct sub_thread *t = calloc(SOAK_CHANNELS, sizeof(*t));

        if (argc != 8 || !t) {
                fprintf(stderr, "usage: soak sub ADDRESS DIR ID EPOCH ring|socket SEED\n");
                return 2;
        }
        (void)signal(SIGTERM, on_term);
        (void)signal(SIGPIPE, SIG_IGN);
        for (unsigned i = 0; i < SOAK_CHANNELS; i++) {
                t[i] = (struct sub_thread){
                        .address = argv[2],
                        .dir = argv[3],
                        .id = (unsigned)atoi(argv[4]),
                        .epoch = (unsigned)atoi(argv[5]),
                        .ring = strcmp(argv[6], "ring") == 0,
                        .seed = strtoull(argv[7], NULL, 10) * 7 + i + 1,
                        .channel = i,
                };
                if (pthread_create(&t[i].thread, NULL, sub_run, &t[i]) != 0)
                        return 1;
        }
        for (unsigned i = 0; i < SOAK_CHANNELS; i++)
                (void)pthread_join(t[i].thread, NULL);
        free(t);
        return 0;
}
