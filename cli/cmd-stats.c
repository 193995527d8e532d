/* SPDX-License-Identifier: MIT */
/*
 * ipcctl stats [--json]: broker counters, then a table of channels (with
 * their shared-memory ring's size, fill and wake-ups), a table of each
 * channel's clients (transport and counters per client and role) and a
 * table of connections and one of users (what each user's connections
 * hold together, against the broker's per-user quotas), from the JSON
 * object of ipc_client_stats(); or that JSON unchanged for scripts.
 */
#include "build-config.h"

#include <inttypes.h>

#include "cli.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const struct cli_option stats_options[] = {
        {CLI_OPT_JSON, "json", NULL, "print the broker's JSON object instead of tables"},
        {'h', "help", NULL, "show this help and exit"},
        {},
};

/* Broker-wide counters, in the order they are printed. */
static const struct {
        const char *label;
        const char *key;
} stats_counters[] = {
        {"Connections", "connections"}, {"Channels", "channels"},
        {"Published", "published"},     {"Delivered", "delivered"},
        {"Dropped", "dropped"},         {"Slow disconnects", "slow_disconnects"},
};

/* "ring_*" are copied up from the channel's "ring" object (stats_channel_rows()). */
static const struct cli_column stats_channel_columns[] = {
        {"CHANNEL", "name", CLI_COLUMN_STRING},
        {"PUBLISHERS", "publishers", CLI_COLUMN_INTEGER},
        {"SUBSCRIBERS", "subscribers", CLI_COLUMN_INTEGER},
        {"PUBLISHED", "published", CLI_COLUMN_INTEGER},
        {"DELIVERED", "delivered", CLI_COLUMN_INTEGER},
        {"DROPPED", "dropped", CLI_COLUMN_INTEGER},
        {"TRANSPORT", "transport", CLI_COLUMN_STRING},
        {"RING", "ring_capacity", CLI_COLUMN_INTEGER},
        {"FILL", "ring_fill_bytes", CLI_COLUMN_INTEGER},
        {"WAKEUPS", "ring_wakeups", CLI_COLUMN_INTEGER},
};

/* One row per channel client and role ("channel" added from the channel's row). */
static const struct cli_column stats_channel_client_columns[] = {
        {"CHANNEL", "channel", CLI_COLUMN_STRING},
        {"CLIENT", "client", CLI_COLUMN_INTEGER},
        {"ROLE", "role", CLI_COLUMN_STRING},
        {"TRANSPORT", "transport", CLI_COLUMN_STRING},
        {"PUBLISHED", "published", CLI_COLUMN_INTEGER},
        {"DELIVERED", "delivered", CLI_COLUMN_INTEGER},
        {"DROPPED", "dropped", CLI_COLUMN_INTEGER},
        {"WAKEUPS", "wakeups", CLI_COLUMN_INTEGER},
};

static const struct cli_column stats_client_columns[] = {
        {"CLIENT", "id", CLI_COLUMN_INTEGER},
        {"NAME", "name", CLI_COLUMN_STRING},
        {"PID", "pid", CLI_COLUMN_INTEGER},
        {"UID", "uid", CLI_COLUMN_INTEGER},
        {"TRANSPORT", "transport", CLI_COLUMN_STRING},
        {"REMOTE", "remote", CLI_COLUMN_STRING},
        {"PUBS", "publishers", CLI_COLUMN_INTEGER},
        {"SUBS", "subscriptions", CLI_COLUMN_INTEGER},
        {"QUEUED", "queued_bytes", CLI_COLUMN_INTEGER},
        {"RECEIVED", "received", CLI_COLUMN_INTEGER},
        {"SENT", "sent", CLI_COLUMN_INTEGER},
        {"DROPPED", "dropped", CLI_COLUMN_INTEGER},
};

/* Per-user accounts; "congested" is left to --json. */
static const struct cli_column stats_user_columns[] = {
        {"USER", "user", CLI_COLUMN_STRING},
        {"CONNECTIONS", "connections", CLI_COLUMN_INTEGER},
        {"QUEUED", "queued_bytes", CLI_COLUMN_INTEGER},
        {"RINGS", "rings", CLI_COLUMN_INTEGER},
};

/* "3d 4h 5m 6s", leaving out leading zero units. */
static void uptime_format(uint64_t usec, char *buf, size_t size) {
        uint64_t s = usec / 1000000;
        uint64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;

        if (d > 0)
                (void)snprintf(buf, size, "%" PRIu64 "d %" PRIu64 "h %" PRIu64 "m %" PRIu64 "s", d,
                               h, m, s % 60);
        else if (h > 0)
                (void)snprintf(buf, size, "%" PRIu64 "h %" PRIu64 "m %" PRIu64 "s", h, m, s % 60);
        else if (m > 0)
                (void)snprintf(buf, size, "%" PRIu64 "m %" PRIu64 "s", m, s % 60);
        else
                (void)snprintf(buf, size, "%" PRIu64 "s", s);
}

static void stats_summary(struct cli *cli, const json_t *stats) {
        const json_t *uptime = json_object_get(stats, "uptime_usec");
        const char *version = json_string_value(json_object_get(stats, "version"));
        char buf[64] = "-";
        const json_t *v;

        printf("%-18s%s %s at %s\n", "Broker:", "ipc-brokerd", version ?: "?", cli->address_shown);
        if (json_is_integer(uptime) && json_integer_value(uptime) >= 0)
                uptime_format((uint64_t)json_integer_value(uptime), buf, sizeof(buf));
        printf("%-18s%s\n", "Uptime:", buf);
        for (size_t i = 0; i < ARRAY_LEN(stats_counters); i++) {
                v = json_object_get(stats, stats_counters[i].key);
                (void)snprintf(buf, sizeof(buf), "%s:", stats_counters[i].label);
                if (json_is_integer(v))
                        printf("%-18s%" JSON_INTEGER_FORMAT "\n", buf, json_integer_value(v));
                else
                        printf("%-18s-\n", buf);
        }
}

/* Copies member @from of @src (if any) into @dst as @to. Return: 0; -1 out of memory. */
static int copy_member(json_t *dst, const char *to, const json_t *src, const char *from) {
        json_t *v = json_object_get(src, from);

        return !v || json_object_set(dst, to, v) == 0 ? 0 : -1;
}

/*
 * The channel rows with the ring's members copied up (tables show flat
 * members only), and the rows of every channel's clients with the
 * channel's name added. Return: 0; -1 out of memory.
 */
static int stats_channel_rows(const json_t *channels, json_t *ret_channels, json_t *ret_clients) {
        const json_t *ch, *client;
        size_t i, j;

        json_array_foreach(channels, i, ch) {
                const json_t *ring = json_object_get(ch, "ring");
                json_t *row = json_copy((json_t *)ch);

                if (!row || json_array_append_new(ret_channels, row) < 0)
                        return -1;
                if (copy_member(row, "ring_capacity", ring, "capacity") < 0 ||
                    copy_member(row, "ring_fill_bytes", ring, "fill_bytes") < 0 ||
                    copy_member(row, "ring_wakeups", ring, "wakeups") < 0)
                        return -1;
                json_array_foreach(json_object_get(ch, "clients"), j, client) {
                        json_t *c = json_copy((json_t *)client);

                        if (!c || json_array_append_new(ret_clients, c) < 0 ||
                            copy_member(c, "channel", ch, "name") < 0)
                                return -1;
                }
        }
        return 0;
}

static int stats_tables(const json_t *stats, json_t *channels, json_t *channel_clients,
                        json_t *empty) {
        const json_t *rows = json_object_get(stats, "channel_stats");
        int r;

        if (stats_channel_rows(json_is_array(rows) ? rows : empty, channels, channel_clients) < 0)
                return cli_error(EX_SOFTWARE, "out of memory");
        r = cli_table_print(stdout, channels, stats_channel_columns,
                            ARRAY_LEN(stats_channel_columns));
        if (r == 0 && json_array_size(channel_clients) > 0) {
                putchar('\n');
                r = cli_table_print(stdout, channel_clients, stats_channel_client_columns,
                                    ARRAY_LEN(stats_channel_client_columns));
        }
        if (r == 0) {
                putchar('\n');
                rows = json_object_get(stats, "clients");
                r = cli_table_print(stdout, json_is_array(rows) ? rows : empty,
                                    stats_client_columns, ARRAY_LEN(stats_client_columns));
        }
        /* A broker without per-user accounting sends no "users": no table. */
        rows = json_object_get(stats, "users");
        if (r == 0 && json_is_array(rows)) {
                putchar('\n');
                r = cli_table_print(stdout, rows, stats_user_columns,
                                    ARRAY_LEN(stats_user_columns));
        }
        return r;
}

static int stats_print(struct cli *cli, const char *text) {
        _cli_cleanup_(cli_json_decrefp) json_t *stats = NULL;
        json_t *empty = json_array(), *channels = json_array(), *channel_clients = json_array();
        int r;

        r = cli_json_parse(text, JSON_OBJECT, "statistics object", &stats);
        if (r == 0 && (!empty || !channels || !channel_clients))
                r = cli_error(EX_SOFTWARE, "out of memory");
        if (r == 0) {
                stats_summary(cli, stats);
                putchar('\n');
                r = stats_tables(stats, channels, channel_clients, empty);
        }
        json_decref(empty);
        json_decref(channels);
        json_decref(channel_clients);
        return r != 0 ? r : cli_flush_stdout();
}

static const struct cli_json_query cmd_stats_query = {
        .fetch = ipc_client_stats,
        .failure = "cannot get statistics",
        .print = stats_print,
};

static int cmd_stats(struct cli *cli, const struct cli_verb *verb, int argc, char **argv) {
        return cli_run_json_query(cli, verb, argc, argv, &cmd_stats_query);
}

const struct cli_verb cli_verb_stats = {
        .name = "stats",
        .synopsis = "[--json]",
        .brief = "Show broker, channel and client statistics.",
        .summary = "Show broker statistics: version, uptime and message counters, then one\n"
                   "line per channel, one per connected client and one per user.",
        .options = stats_options,
        .run = cmd_stats,
};
