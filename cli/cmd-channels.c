/* SPDX-License-Identifier: MIT */
/*
 * ipcctl channels [--json]: the broker's channels as a table, or the JSON
 * array ipc_client_list_channels() returns, unchanged, for scripts (jq).
 */
#include "build-config.h"

#include "cli.h"

static const struct cli_option channels_options[] = {
        {CLI_OPT_JSON, "json", NULL, "print the broker's JSON array instead of a table"},
        {'h', "help", NULL, "show this help and exit"},
        {},
};

static const struct cli_column channels_columns[] = {
        {"NAME", "name", CLI_COLUMN_STRING},
        {"PUBLISHERS", "publishers", CLI_COLUMN_INTEGER},
        {"SUBSCRIBERS", "subscribers", CLI_COLUMN_INTEGER},
        {"PUBLISHED", "published", CLI_COLUMN_INTEGER},
        {"RETAINED", "retained", CLI_COLUMN_BOOLEAN},
        {"POLICY", "overflow", CLI_COLUMN_STRING},
};

static int channels_table(struct cli *cli, const char *text) {
        _cli_cleanup_(cli_json_decrefp) json_t *rows = NULL;
        int r;

        r = cli_json_parse(text, JSON_ARRAY, "channel list", &rows);
        if (r != 0)
                return r;
        r = cli_table_print(stdout, rows, channels_columns,
                            sizeof(channels_columns) / sizeof(channels_columns[0]));
        return r != 0 ? r : cli_flush_stdout();
}

static const struct cli_json_query cmd_channels_query = {
        .fetch = ipc_client_list_channels,
        .failure = "cannot list channels",
        .print = channels_table,
};

static int cmd_channels(struct cli *cli, const struct cli_verb *verb, int argc, char **argv) {
        return cli_run_json_query(cli, verb, argc, argv, &cmd_channels_query);
}

const struct cli_verb cli_verb_channels = {
        .name = "channels",
        .synopsis = "[--json]",
        .brief = "List the broker's channels.",
        .summary = "List the broker's channels: name, publishers, subscribers, messages\n"
                   "published, whether a retained message is stored, and overflow policy.",
        .options = channels_options,
        .run = cmd_channels,
};
