/* SPDX-License-Identifier: MIT */
/*
 * soak report DIR: reads what the publishers (pub-ID-EPOCH.txt), the
 * subscribers (sub-ID-EPOCH-CHANNEL.txt) and run-soak.sh (run.txt: mode,
 * broker RSS and fd counts, kills) left in DIR, prints one table and
 * exits 1 when a check failed. The checks (see soak-sub.c for the counters):
 *  - every channel: nothing corrupt or reordered, the library's loss count
 *    equals what its messages reported, ring clients got the ring;
 *  - block: nothing lost, no gap in any publisher's seq, and at the end
 *    every subscriber has every message of every publisher's last run;
 *  - drop: every gap in the channel's seq was reported lost; gaps in the
 *    publishers' seqs add up to exactly the losses reported;
 *  - disconnect: inside each connected interval nothing lost;
 *  - broker: RSS at the end within SOAK_RSS_PERCENT of RSS after warm-up,
 *    and no more fds at the end than after warm-up (SOAK_FD_SLACK); after
 *    a broker restart, the restarted broker's warm-up;
 *  - a broker restart reached the subscribers of block and drop (which are
 *    never closed otherwise) as an outage and a resume; no resume comes
 *    without an outage (an outage may lack a resume: a subscriber closed
 *    again before its first message has no gap to flag).
 * With faults, a ring publisher killed mid-claim leaves a SKIP, one seq
 * no message has: up to one unexplained seq per such kill is allowed, and
 * joins (first message of a publisher in an interval) are not losses.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "soak.h"

#define SOAK_RSS_PERCENT 5u
/*
 * The same clients hold the same fds at warm-up and at the end, but a
 * subscriber that the disconnect policy just closed may be reconnecting
 * at either moment: a few fds of slack, far below one per reconnect (there
 * are dozens a minute). After the clients leave the broker keeps each
 * channel's ring (memfds, eventfds), so that count is printed, not compared.
 */
#define SOAK_FD_SLACK 8u

struct chan_sum {
        uint64_t received, corrupt, reordered, pubgap, joingap, lost, stale, changap, unexplained;
        uint64_t intervals, disconnects, pauses, mismatch, fallback, tail_missing, files;
        uint64_t outages, resumed, gapunknown, missed;
        /* the publishers, all runs (pub-outages.txt) */
        uint64_t pub_outages, pub_notconn, pub_skipped, pub_down_ms;
};

struct run_info {
        bool faults;
        uint64_t rss_warm, rss_end, fd_start, fd_warm, fd_end, fd_after;
        uint64_t kills_pub, kills_ring_pub, kills_sub, broker_restarts, seconds;
        uint64_t rss_warm_first, fd_warm_first, restart_at, restart_down_ms, rewarm_at;
};

static uint64_t final_pub_epoch[SOAK_PUBS_MAX], sent_block[SOAK_PUBS_MAX];
static bool pub_seen[SOAK_PUBS_MAX];
static unsigned final_sub_epoch[SOAK_PUBS_MAX];
static unsigned failures;

static FILE *open_in(const char *dir, const char *name) {
        char path[PATH_MAX];

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        return fopen(path, "re");
}

static void read_run(const char *dir, struct run_info *ri) {
        FILE *f = open_in(dir, "run.txt");
        char key[64];
        uint64_t v;

        if (!f)
                return;
        while (fscanf(f, "%63s %" SCNu64, key, &v) == 2) {
                if (!strcmp(key, "faults"))
                        ri->faults = v;
                else if (!strcmp(key, "rss_warm"))
                        ri->rss_warm = v;
                else if (!strcmp(key, "rss_end"))
                        ri->rss_end = v;
                else if (!strcmp(key, "fd_start"))
                        ri->fd_start = v;
                else if (!strcmp(key, "fd_warm"))
                        ri->fd_warm = v;
                else if (!strcmp(key, "fd_end"))
                        ri->fd_end = v;
                else if (!strcmp(key, "fd_after"))
                        ri->fd_after = v;
                else if (!strcmp(key, "kills_pub"))
                        ri->kills_pub = v;
                else if (!strcmp(key, "kills_ring_pub"))
                        ri->kills_ring_pub = v;
                else if (!strcmp(key, "kills_sub"))
                        ri->kills_sub = v;
                else if (!strcmp(key, "broker_restarts"))
                        ri->broker_restarts = v;
                else if (!strcmp(key, "seconds"))
                        ri->seconds = v;
                else if (!strcmp(key, "restart_at"))
                        ri->restart_at = v;
                else if (!strcmp(key, "restart_down_ms"))
                        ri->restart_down_ms = v;
                else if (!strcmp(key, "rewarm_at"))
                        ri->rewarm_at = v;
                if (!strcmp(key, "rss_warm") && !ri->rss_warm_first)
                        ri->rss_warm_first = v;
                if (!strcmp(key, "fd_warm") && !ri->fd_warm_first)
                        ri->fd_warm_first = v;
        }
        (void)fclose(f);
}

/* The last run of each publisher and subscriber: the highest epoch with a file. */
static void scan_epochs(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *e;

        if (!d)
                return;
        while ((e = readdir(d))) {
                unsigned id, epoch;

                if (sscanf(e->d_name, "pub-%u-%u.txt", &id, &epoch) == 2 && id < SOAK_PUBS_MAX) {
                        if (!pub_seen[id] || epoch > final_pub_epoch[id])
                                final_pub_epoch[id] = epoch;
                        pub_seen[id] = true;
                } else if (sscanf(e->d_name, "sub-%u-%u-", &id, &epoch) == 2 &&
                           id < SOAK_PUBS_MAX && epoch > final_sub_epoch[id]) {
                        final_sub_epoch[id] = epoch;
                }
        }
        closedir(d);
}

/*
 * What the publishers met while the broker was away, every run of them
 * (pub-outages.txt, appended as it happens): "outage CHANNEL" and
 * "resumed CHANNEL DOWN_MS RETRIES NOT_PUBLISHED".
 */
static void read_pub_outages(const char *dir, struct chan_sum sums[SOAK_CHANNELS]) {
        FILE *f = open_in(dir, "pub-outages.txt");
        char line[256], ch[64];
        uint64_t down, retries, skipped;

        if (!f)
                return;
        while (fgets(line, sizeof(line), f)) {
                bool outage = sscanf(line, "outage %63s", ch) == 1;
                bool resumed =
                        !outage && sscanf(line, "resumed %63s %" SCNu64 " %" SCNu64 " %" SCNu64, ch,
                                          &down, &retries, &skipped) == 4;

                for (unsigned c = 0; c < SOAK_CHANNELS; c++) {
                        if (strcmp(ch, soak_channel_names[c]))
                                continue;
                        if (outage)
                                sums[c].pub_outages++;
                        if (!resumed)
                                continue;
                        sums[c].pub_notconn += retries;
                        sums[c].pub_skipped += skipped;
                        if (down > sums[c].pub_down_ms)
                                sums[c].pub_down_ms = down;
                }
        }
        (void)fclose(f);
}

/* Lines "sent CHANNEL N ..." of each publisher's last run. */
static void read_pubs(const char *dir, struct chan_sum sums[SOAK_CHANNELS]) {
        for (unsigned id = 0; id < SOAK_PUBS_MAX; id++) {
                char name[64], ch[64], line[256];
                uint64_t n, outages, notconn, skipped;
                FILE *f;

                if (!pub_seen[id])
                        continue;
                snprintf(name, sizeof(name), "pub-%u-%" PRIu64 ".txt", id, final_pub_epoch[id]);
                f = open_in(dir, name);
                if (!f)
                        continue;
                while (fgets(line, sizeof(line), f)) {
                        if (sscanf(line,
                                   "sent %63s %" SCNu64 " outages %" SCNu64 " notconn %" SCNu64
                                   " skipped %" SCNu64,
                                   ch, &n, &outages, &notconn, &skipped) != 5)
                                continue;
                        for (unsigned c = 0; c < SOAK_CHANNELS; c++) {
                                if (strcmp(ch, soak_channel_names[c]))
                                        continue;
                                if (c == 0)
                                        sent_block[id] = n;
                        }
                }
                (void)fclose(f);
        }
}

#define FIELD(name)                                                                                \
        { #name, offsetof(struct chan_sum, name) }

static const struct {
        const char *key;
        size_t off;
} fields[] = {
        FIELD(received),    FIELD(corrupt),   FIELD(reordered),   FIELD(pubgap),
        FIELD(joingap),     FIELD(lost),      FIELD(stale),       FIELD(changap),
        FIELD(unexplained), FIELD(intervals), FIELD(disconnects), FIELD(pauses),
        FIELD(mismatch),    FIELD(fallback),  FIELD(outages),     FIELD(resumed),
        FIELD(gapunknown),  FIELD(missed),
};

static void add_counters(struct chan_sum *s, char *line) {
        char *save = NULL;

        for (char *k = strtok_r(line, " \n", &save); k; k = strtok_r(NULL, " \n", &save)) {
                char *v = strtok_r(NULL, " \n", &save);

                if (!v)
                        break;
                for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
                        if (!strcmp(k, fields[i].key))
                                *(uint64_t *)((char *)s + fields[i].off) += strtoull(v, NULL, 10);
        }
}

/* Adds one subscriber file; for the block channel of a last run, checks the tail. */
static void read_sub_file(const char *dir, const char *name, unsigned id, unsigned epoch,
                          unsigned c, struct chan_sum *s) {
        bool last = epoch == final_sub_epoch[id], final = false;
        uint64_t next[SOAK_PUBS_MAX] = {0}, nepoch[SOAK_PUBS_MAX] = {0};
        bool has[SOAK_PUBS_MAX] = {0};
        char line[1024];
        FILE *f = open_in(dir, name);

        if (!f)
                return;
        s->files++;
        while (fgets(line, sizeof(line), f)) {
                unsigned p, pe;
                uint64_t n;

                if (!strncmp(line, "chan ", 5))
                        add_counters(s, line);
                else if (sscanf(line, "next %u %u %" SCNu64, &p, &pe, &n) == 3 &&
                         p < SOAK_PUBS_MAX && pe == final_pub_epoch[p]) {
                        has[p] = true;
                        next[p] = n;
                        nepoch[p] = pe;
                } else if (!strncmp(line, "final", 5))
                        final = true;
        }
        (void)fclose(f);
        if (c != 0 || !last)
                return;
        if (!final) {
                printf("FAIL: %s has no final line (the subscriber did not finish)\n", name);
                failures++;
                return;
        }
        for (unsigned p = 0; p < SOAK_PUBS_MAX; p++) {
                if (!pub_seen[p])
                        continue;
                if (!has[p] || nepoch[p] != final_pub_epoch[p] || next[p] != sent_block[p]) {
                        s->tail_missing +=
                                sent_block[p] -
                                (has[p] && nepoch[p] == final_pub_epoch[p] ? next[p] : 0);
                        printf("FAIL: sub %u.%u: pub %u.%" PRIu64 " sent %" PRIu64
                               " on soak.block, got up to %" PRIu64 "\n",
                               id, epoch, p, final_pub_epoch[p], sent_block[p],
                               has[p] ? next[p] : 0);
                }
        }
}

static void read_subs(const char *dir, struct chan_sum sums[SOAK_CHANNELS]) {
        DIR *d = opendir(dir);
        struct dirent *e;

        if (!d)
                return;
        while ((e = readdir(d))) {
                unsigned id, epoch;

                if (sscanf(e->d_name, "sub-%u-%u-", &id, &epoch) != 2 || id >= SOAK_PUBS_MAX)
                        continue;
                for (unsigned c = 0; c < SOAK_CHANNELS; c++) {
                        char want[96];

                        snprintf(want, sizeof(want), "sub-%u-%u-%s.txt", id, epoch,
                                 soak_channel_names[c]);
                        if (!strcmp(want, e->d_name))
                                read_sub_file(dir, e->d_name, id, epoch, c, &sums[c]);
                }
        }
        closedir(d);
}

static void check(bool ok, const char *what) {
        if (!ok) {
                printf("FAIL: %s\n", what);
                failures++;
        }
}

static void check_channels(const struct chan_sum s[SOAK_CHANNELS], const struct run_info *ri) {
        uint64_t skips = ri->faults ? ri->kills_ring_pub * s[0].files : 0;

        for (unsigned c = 0; c < SOAK_CHANNELS; c++) {
                check(s[c].corrupt == 0, "corrupt messages");
                check(s[c].reordered == 0, "reordered messages");
                check(s[c].mismatch == 0, "ipc_sub_get_lost() differs from the losses reported");
                check(s[c].fallback == 0, "a ring client got the socket");
                check(s[c].received > 0, "a channel received nothing");
        }
        check(s[0].lost == 0 && s[0].stale == 0 && s[0].pubgap == 0, "block: messages lost");
        check(s[0].tail_missing == 0, "block: a subscriber lacks the end of a publisher's run");
        check(s[0].unexplained <= skips, "block: a gap in the channel's seq");
        check(s[1].unexplained <= skips, "drop: a gap in the channel's seq not reported lost");
        check(ri->faults ? s[1].pubgap <= s[1].lost + s[1].stale
                         : s[1].pubgap + s[1].joingap == s[1].lost + s[1].stale,
              "drop: publishers' gaps differ from the losses reported");
        check(s[2].lost == 0 && s[2].pubgap == 0, "disconnect: loss inside a connected interval");
        check(s[2].unexplained <= skips, "disconnect: a gap in the channel's seq");
        if (!ri->faults)
                check(s[0].joingap == 0, "block: a subscriber missed the start");
        for (unsigned c = 0; c < SOAK_CHANNELS; c++)
                check(s[c].resumed <= s[c].outages, "IPC_MSG_RESUMED without an outage before it");
        /* Block and drop never close a subscriber: their outages are the restart's. */
        for (unsigned c = 0; ri->broker_restarts && c < 2; c++)
                check(s[c].outages > 0 && s[c].resumed > 0,
                      "the broker restart was not reported to a subscriber");
}

static void check_broker(const struct run_info *ri) {
        check(!ri->broker_restarts || ri->rewarm_at,
              "the run ended before the restarted broker's warm-up (make it longer)");
        check(ri->rss_end * 100 <= ri->rss_warm * (100 + SOAK_RSS_PERCENT),
              "broker RSS grew after warm-up");
        check(ri->fd_end <= ri->fd_warm + SOAK_FD_SLACK, "broker fds grew after warm-up");
}

static void print_table(const struct chan_sum s[SOAK_CHANNELS], const struct run_info *ri) {
        printf("soak: %" PRIu64 " s, %s; pub kills %" PRIu64 " (ring %" PRIu64
               "), sub kills %" PRIu64 ", broker restarts %" PRIu64 "\n",
               ri->seconds, ri->faults ? "faults" : "no faults", ri->kills_pub, ri->kills_ring_pub,
               ri->kills_sub, ri->broker_restarts);
        printf("%-16s %10s %8s %8s %8s %8s %8s %6s %6s %6s %6s %6s %6s %6s %6s %6s %8s\n",
               "channel", "received", "lost", "stale", "changap", "pubgap", "joingap", "unexp",
               "corr", "reord", "discon", "intvl", "tail", "outage", "resume", "gapunk", "missed");
        for (unsigned c = 0; c < SOAK_CHANNELS; c++)
                printf("%-16s %10" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64
                       " %8" PRIu64 " %6" PRIu64 " %6" PRIu64 " %6" PRIu64 " %6" PRIu64 " %6" PRIu64
                       " %6" PRIu64 " %6" PRIu64 " %6" PRIu64 " %6" PRIu64 " %8" PRIu64 "\n",
                       soak_channel_names[c], s[c].received, s[c].lost, s[c].stale, s[c].changap,
                       s[c].pubgap, s[c].joingap, s[c].unexplained, s[c].corrupt, s[c].reordered,
                       s[c].disconnects, s[c].intervals, s[c].tail_missing, s[c].outages,
                       s[c].resumed, s[c].gapunknown, s[c].missed);
        printf("publishers: -ENOTCONN outages / publishes retried / not published while"
               " disconnected / longest ms:");
        for (unsigned c = 0; c < SOAK_CHANNELS; c++)
                printf(" %s %" PRIu64 "/%" PRIu64 "/%" PRIu64 "/%" PRIu64, soak_channel_names[c],
                       s[c].pub_outages, s[c].pub_notconn, s[c].pub_skipped, s[c].pub_down_ms);
        printf("\n");
        if (ri->broker_restarts)
                printf("broker restart: kill -9 at %" PRIu64 " s, READY=1 again %" PRIu64
                       " ms later; the first broker had VmRSS %" PRIu64 " KiB and %" PRIu64
                       " fds after warm-up; the baseline below is the restarted broker's,"
                       " after its warm-up (at %" PRIu64 " s)\n",
                       ri->restart_at, ri->restart_down_ms, ri->rss_warm_first, ri->fd_warm_first,
                       ri->rewarm_at);
        printf("broker: VmRSS %" PRIu64 " KiB after warm-up, %" PRIu64
               " KiB at the end (bound +%u%%); fds %" PRIu64 " before clients, %" PRIu64
               " after warm-up, %" PRIu64 " at the end, %" PRIu64 " after clients left\n",
               ri->rss_warm, ri->rss_end, SOAK_RSS_PERCENT, ri->fd_start, ri->fd_warm, ri->fd_end,
               ri->fd_after);
}

int soak_report_main(int argc, char **argv) {
        struct chan_sum sums[SOAK_CHANNELS] = {0};
        struct run_info ri = {0};

        if (argc != 3) {
                fprintf(stderr, "usage: soak report DIR\n");
                return 2;
        }
        read_run(argv[2], &ri);
        scan_epochs(argv[2]);
        read_pubs(argv[2], sums);
        read_pub_outages(argv[2], sums);
        read_subs(argv[2], sums);
        check_channels(sums, &ri);
        check_broker(&ri);
        print_table(sums, &ri);
        printf("soak: %s (%u failed checks; events in %s/events.txt)\n", failures ? "FAIL" : "PASS",
               failures, argv[2]);
        return failures ? 1 : 0;
}
