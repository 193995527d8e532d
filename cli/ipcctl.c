/* SPDX-License-Identifier: MIT */
/*
 * ipcctl: publish, subscribe and inspect an ipc-brokerd broker from the
 * shell. This file parses the global options and dispatches to one
 * cmd-<verb>.c per verb (tmux cmd-*.c style); exit codes follow sysexits(3)
 * so scripts can tell "broker down" (69) from "bad input" (65) and
 * "timed out" (75).
 */
#include "build-config.h"

#include <signal.h>
#include <string.h>

#include "cli.h"

static const struct cli_option global_options[] = {
        {'s', "address", "ADDRESS", "unix:/PATH, tls:HOST:PORT, tcp:HOST:PORT or a path"},
        {'t', "timeout", "SECONDS", "connect and request timeout (default: 5)"},
        {CLI_OPT_TLS_CA, "tls-ca", "FILE", "tls: trust these CAs (PEM; default: the system's)"},
        {CLI_OPT_TLS_CERT, "tls-cert", "FILE", "tls: client certificate (PEM)"},
        {CLI_OPT_TLS_KEY, "tls-key", "FILE", "tls: its private key (PEM)"},
        {CLI_OPT_TOKEN_FILE, "token-file", "FILE", "tls: authenticate with the token in FILE"},
        {'h', "help", NULL, "show this help and exit"},
        {'V', "version", NULL, "show the version and exit"},
        {},
};

const struct cli_verb cli_global = {
        .name = NULL,
        .synopsis = "[-s ADDRESS] [-t SECONDS] [TLS OPTIONS] [-h] [-V] VERB [ARGS]",
        .summary = "Publish, subscribe to and inspect the channels of an ipc-brokerd broker.\n"
                   "The address defaults to $" IPC_BROKER_ADDRESS_ENV
                   ", else the broker's default socket.",
        .options = global_options,
};

const struct cli_verb *const cli_verbs[] = {
        &cli_verb_publish, &cli_verb_subscribe, &cli_verb_channels,
        &cli_verb_stats,   &cli_verb_ping,      NULL,
};

static const struct cli_verb *verb_find(const char *name) {
        for (size_t i = 0; cli_verbs[i]; i++)
                if (strcmp(cli_verbs[i]->name, name) == 0)
                        return cli_verbs[i];
        return NULL;
}

/* "ipcctl help [VERB]": the usage of ipcctl or of VERB, on stdout. */
static int verb_help(int argc, char **argv) {
        const struct cli_verb *verb = &cli_global;

        if (argc > 2)
                return cli_usage_error(&cli_global, "help takes at most one verb");
        if (argc == 2 && strcmp(argv[1], "help") != 0) {
                verb = verb_find(argv[1]);
                if (!verb)
                        return cli_usage_error(&cli_global, "unknown verb \"%s\"", argv[1]);
        }
        cli_usage(verb, stdout);
        return cli_flush_stdout();
}

static int print_version(void) {
        printf("%s %s (libipcclient %s)\n", CLI_PROGRAM, PACKAGE_VERSION, ipc_version());
        return cli_flush_stdout();
}

/* Parse the options before the verb, then hand the rest to the verb. */
static int run(struct cli *cli, int argc, char **argv) {
        const struct cli_verb *verb;
        struct cli_getopt g;
        int c, r;

        cli_getopt_init(&g, &cli_global);
        while ((c = cli_getopt(&g, argc, argv)) != -1) {
                switch (c) {
                case 's':
                        r = cli_set_address(cli, optarg);
                        if (r != 0)
                                return r;
                        break;
                case 't':
                        if (cli_parse_seconds(optarg, &cli->timeout_usec) < 0)
                                return cli_usage_error(&cli_global,
                                                       "invalid timeout \"%s\" (expected a "
                                                       "positive number of seconds)",
                                                       optarg);
                        break;
                case CLI_OPT_TLS_CA:
                        cli->tls_ca = optarg;
                        break;
                case CLI_OPT_TLS_CERT:
                        cli->tls_cert = optarg;
                        break;
                case CLI_OPT_TLS_KEY:
                        cli->tls_key = optarg;
                        break;
                case CLI_OPT_TOKEN_FILE:
                        cli->token_file = optarg;
                        break;
                case 'V':
                        return print_version();
                case CLI_GETOPT_EXIT:
                        return g.exit_code;
                default:
                        return cli_error(EX_SOFTWARE, "unhandled option %d", c);
                }
        }

        if (optind >= argc)
                return cli_usage_error(&cli_global, "no verb given");
        argc -= optind;
        argv += optind;
        if (strcmp(argv[0], "help") == 0)
                return verb_help(argc, argv);
        verb = verb_find(argv[0]);
        if (!verb)
                return cli_usage_error(&cli_global, "unknown verb \"%s\"", argv[0]);
        return verb->run(cli, verb, argc, argv);
}

int main(int argc, char **argv) {
        struct cli cli;
        int r;

        /*
         * A vanished stdout reader or broker must show up as EPIPE, handled
         * and reported with the right exit code, not as a silent death.
         */
        (void)signal(SIGPIPE, SIG_IGN);

        r = cli_init(&cli);
        if (r == 0)
                r = run(&cli, argc, argv);
        cli_deinit(&cli);
        return r;
}
