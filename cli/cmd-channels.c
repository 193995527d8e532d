/* SPDX-License-Identifier: MIT */
/*
 * ipcctl channels [--json]: the broker's channels as a table, or the JSON
 * array ipc_client_list_channels() returns, unchanged, for scripts (jq).
 */
#include "config.h"

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

static int channels_table(const char *text) {
        _cli_cleanup_(cli_json_decrefp) json_t *rows = NULL;
        int r;

        r = cli_json_parse(text, JSON_ARRAY, "channel list", &rows);
        if (r != 0)
                return r;
        r = cli_table_print(stdout, rows, channels_columns,
                            sizeof(channels_columns) / sizeof(channels_columns[0]));
        return r != 0 ? r : cli_flush_stdout();
}

static int cmd_channels(struct cli *cli, const struct cli_verb *verb, int argc, char **argv) {
        _cli_cleanup_(cli_ipc_freep) char *text = NULL;
        struct cli_getopt g;
        bool json = false;
        int c, r;

        cli_getopt_init(&g, verb);
        while ((c = cli_getopt(&g, argc, argv)) != -1) {
                switch (c) {
                case CLI_OPT_JSON:
                        json = true;
                        break;
                case CLI_GETOPT_EXIT:
                        return g.exit_code;
                }
        }
        if (optind < argc)
                return cli_usage_error(verb, "channels takes no arguments");

        r = cli_connect(cli);
        if (r != 0)
                return r;
        r = ipc_client_list_channels(cli->client, cli->timeout_usec, &text);
        if (r < 0)
                return cli_request_error(cli, r, "cannot list channels");
        return json ? cli_print_json_text(text) : channels_table(text);
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
