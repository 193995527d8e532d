/* SPDX-License-Identifier: MIT */
/*
 * ipcctl ping [-c COUNT]: round trips to the broker, to check that it is
 * up and answering (exit status 0) and how fast.
 */
#include "build-config.h"

#include <inttypes.h>

#include "cli.h"

static const struct cli_option ping_options[] = {
        {'c', "count", "COUNT", "send COUNT pings, one after the other (default: 1)"},
        {'h', "help", NULL, "show this help and exit"},
        {},
};

struct ping_stats {
        uint64_t n, min, max, sum;
};

static void ping_summary(const struct ping_stats *st) {
        printf("%" PRIu64 " pings: min/avg/max = %" PRIu64 "/%" PRIu64 "/%" PRIu64 " us\n", st->n,
               st->min, st->sum / st->n, st->max);
}

static int ping_run(struct cli *cli, uint64_t count) {
        struct ping_stats st = {.min = UINT64_MAX};
        uint64_t rtt;
        int r;

        for (uint64_t i = 0; i < count; i++) {
                r = ipc_client_ping(cli->client, cli->timeout_usec, &rtt);
                if (r < 0)
                        return cli_request_error(cli, r, "ping failed");
                printf("pong from %s (%s): time=%" PRIu64 " us\n",
                       ipc_client_get_address(cli->client), ipc_client_get_server(cli->client),
                       rtt);
                r = cli_flush_stdout();
                if (r != 0)
                        return r;
                st.n++;
                st.sum += rtt;
                st.min = MIN(st.min, rtt);
                st.max = MAX(st.max, rtt);
        }
        if (count > 1)
                ping_summary(&st);
        return cli_flush_stdout();
}

static int cmd_ping(struct cli *cli, const struct cli_verb *verb, int argc, char **argv) {
        struct cli_getopt g;
        uint64_t count = 1;
        int c, r;

        cli_getopt_init(&g, verb);
        while ((c = cli_getopt(&g, argc, argv)) != -1) {
                switch (c) {
                case 'c':
                        if (cli_parse_count(optarg, &count) < 0)
                                return cli_usage_error(verb,
                                                       "invalid count \"%s\" for -c "
                                                       "(expected a positive integer)",
                                                       optarg);
                        break;
                case CLI_GETOPT_EXIT:
                        return g.exit_code;
                }
        }
        if (optind < argc)
                return cli_usage_error(verb, "ping takes no arguments");

        r = cli_connect(cli);
        return r != 0 ? r : ping_run(cli, count);
}

const struct cli_verb cli_verb_ping = {
        .name = "ping",
        .synopsis = "[-c COUNT]",
        .brief = "Check that the broker answers.",
        .summary = "Check that the broker answers, and print the round-trip time.",
        .options = ping_options,
        .run = cmd_ping,
};
