/* SPDX-License-Identifier: MIT */
/*
 * Connecting to the broker and turning library errors into messages and
 * sysexits(3) codes. Every message names the cause and, where there is
 * one, the fix: a user reading "No such file or directory" alone cannot
 * tell whether the broker is down or the address is wrong.
 */
#include "build-config.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* The library's default socket paths (see ipc_client_connect()), for messages only. */
#define CLI_SYSTEM_SOCKET "/run/ipc-broker/ipc-brokerd.sock"
#define CLI_USER_SOCKET   "/ipc-broker/ipc-brokerd.sock"

int cli_init(struct cli *cli) {
        *cli = (struct cli){.timeout_usec = CLI_TIMEOUT_DEFAULT_USEC};
        return cli_set_address(cli, NULL);
}

void cli_deinit(struct cli *cli) {
        cli->client = ipc_client_free(cli->client);
        free(cli->address_shown);
        cli->address_shown = NULL;
}

/*
 * The address ipc_client_connect(NULL) will use, mirroring its documented
 * rule, so that "cannot connect to ..." names the socket that was tried.
 */
static int address_default(char **ret) {
        const char *env, *runtime;
        struct stat st;
        char *path;

        env = getenv(IPC_BROKER_ADDRESS_ENV);
        if (env && *env)
                return (*ret = strdup(env)) ? 0 : -ENOMEM;
        runtime = getenv("XDG_RUNTIME_DIR");
        if (geteuid() != 0 && runtime && *runtime) {
                if (asprintf(&path, "unix:%s%s", runtime, CLI_USER_SOCKET) < 0)
                        return -ENOMEM;
                if (stat(path + strlen("unix:"), &st) == 0) {
                        *ret = path;
                        return 0;
                }
                free(path);
        }
        return (*ret = strdup("unix:" CLI_SYSTEM_SOCKET)) ? 0 : -ENOMEM;
}

/**
 * cli_set_address() - use @address (-s), or with NULL the library default.
 * A bare path is shown as "unix:PATH", the form ipc_client_get_address() uses.
 * Return: 0; EX_SOFTWARE when out of memory.
 */
int cli_set_address(struct cli *cli, const char *address) {
        char *shown = NULL;
        int r;

        if (!address)
                r = address_default(&shown);
        else if (strncmp(address, "unix:", 5) == 0 || strncmp(address, "tcp:", 4) == 0 ||
                 strncmp(address, "tls:", 4) == 0)
                r = (shown = strdup(address)) ? 0 : -ENOMEM;
        else
                r = asprintf(&shown, "unix:%s", address) < 0 ? -ENOMEM : 0;
        if (r < 0)
                return cli_error(EX_SOFTWARE, "out of memory");
        free(cli->address_shown);
        cli->address_shown = shown;
        cli->address = address;
        return 0;
}

/* What to try when connecting failed with @r. */
static const char *connect_hint(int r) {
        switch (-r) {
        case ENOENT:
        case ECONNREFUSED:
                return "is ipc-brokerd running?";
        case EACCES:
        case EPERM:
                return "is your user allowed to use the broker's socket? see ipc-brokerd(8)";
        case ETIMEDOUT:
                return "no answer in time; is the broker overloaded? raise the limit with -t";
        case ECONNRESET:
        case EPIPE:
                return "the broker closed the connection; see its log";
        case EPROTONOSUPPORT:
                return "ipcctl and ipc-brokerd share no protocol version; upgrade the older one";
        case EPROTO:
                return "is this the socket of an ipc-brokerd?";
        case ENXIO:
                return "set " IPC_BROKER_ADDRESS_ENV " or use -s";
        default:
                return NULL;
        }
}

/**
 * cli_connect() - connect to the broker chosen by the global options.
 * Return: 0; an exit code after printing why not.
 */
int cli_connect(struct cli *cli) {
        _cli_cleanup_(cli_ipc_options_freep) ipc_options *opts = NULL;
        char why[512] = "";
        const char *hint;
        int r;

        r = ipc_options_new(&opts);
        if (r >= 0)
                r = ipc_options_set_connect_timeout(opts, cli->timeout_usec);
        if (r >= 0)
                r = ipc_options_set_name(opts, CLI_PROGRAM);
        if (r >= 0 && cli->socket_only)
                r = ipc_options_set_transport(opts, IPC_TRANSPORT_SOCKET);
        /* One-shot verbs report a lost broker; subscribe rides out a restart. */
        if (r >= 0)
                r = cli->reconnect ? ipc_options_set_reconnect(opts, CLI_RECONNECT_INITIAL_MSEC,
                                                               CLI_RECONNECT_MAX_MSEC)
                                   : ipc_options_set_reconnect(opts, 0, 0);
        if (r >= 0)
                r = ipc_options_set_error_buffer(opts, why, sizeof(why));
        if (r < 0)
                return cli_error(cli_exit_code(r), "cannot set up the connection: %s",
                                 ipc_strerror(r));
        r = cli_tls_options(cli, opts);
        if (r != 0)
                return r;

        r = ipc_client_connect(cli->address, opts, &cli->client);
        if (r == -EINVAL || r == -ENAMETOOLONG)
                return cli_error(EX_USAGE,
                                 "invalid address \"%s\" (use unix:/PATH, tcp:HOST:PORT, "
                                 "tls:HOST:PORT or a path starting with '/' or '.')",
                                 cli->address ?: cli->address_shown);
        /* Refused by the broker: its words say which limit. */
        if (r == -ENFILE || r == -EDQUOT)
                return cli_error(cli_exit_code(r), "cannot connect to %s: the broker refused: %s",
                                 cli->address_shown, *why ? why : ipc_strerror(r));
        if (r < 0) {
                hint = cli_tls_hint(cli, r) ?: connect_hint(r);
                /*
                 * The system's words: these are socket errors, and users search for
                 * them; but EKEYREJECTED's ("Key was rejected by service") would say
                 * the opposite of what happened, so it gets the library's.
                 */
                return cli_error(cli_exit_code(r), "cannot connect to %s: %s%s%s%s",
                                 cli->address_shown,
                                 r == -EKEYREJECTED ? ipc_strerror(r) : strerror(-r),
                                 hint ? " (" : "", hint ?: "", hint ? ")" : "");
        }
        return 0;
}

/**
 * cli_error() - print "ipcctl: MESSAGE" on stderr.
 * Return: @exit_code, so callers can "return cli_error(EX_..., ...)".
 */
int cli_error(int exit_code, const char *fmt, ...) {
        va_list ap;

        fputs(CLI_PROGRAM ": ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return exit_code;
}

/**
 * cli_exit_code() - the sysexits(3) code for a negative errno from the library.
 */
int cli_exit_code(int r) {
        switch (-r) {
        case 0:
                return EX_OK;
        case EINVAL:
        case EMSGSIZE:
        case ENAMETOOLONG:
                return EX_DATAERR;
        case ENOENT:
        case ECONNREFUSED:
        case ECONNRESET:
        case ECONNABORTED:
        case EPIPE:
        case ENOTCONN:
        case EHOSTUNREACH:
        case ENETUNREACH:
        case EADDRNOTAVAIL:
        case ENXIO:
        case EMFILE:
        case ENFILE:
        case EDQUOT:
                return EX_UNAVAILABLE;
        case ETIMEDOUT:
        case EAGAIN:
                return EX_TEMPFAIL;
        case EPROTO:
        case EPROTONOSUPPORT:
        case EBADMSG:
        case EOPNOTSUPP:
        case EKEYREJECTED:
                return EX_PROTOCOL;
        case EACCES:
        case EPERM:
                return EX_NOPERM;
        default:
                return EX_SOFTWARE;
        }
}

/* The broker's own words about the last failure, if it gave any. */
static const char *broker_error(const struct cli *cli) {
        const char *text = cli->client ? ipc_client_get_error(cli->client) : NULL;

        return text && *text ? text : NULL;
}

/**
 * cli_request_error() - report a failed request or a lost connection.
 * @fmt: what was being done, e.g. "cannot list channels".
 *
 * A lost connection is reported as such whatever the request was, since
 * that, not the request, is what the user has to fix.
 *
 * Return: the exit code for @r.
 */
int cli_request_error(struct cli *cli, int r, const char *fmt, ...) {
        const char *text = broker_error(cli);
        char what[512];
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);

        switch (-r) {
        case ECONNRESET:
        case EPIPE:
        case ENOTCONN:
                /* No broker text here: it closed without an ERROR frame (else -EPROTO). */
                return cli_error(EX_UNAVAILABLE,
                                 "connection to %s lost: %s (ipc-brokerd stopped or dropped this "
                                 "client; see its log)",
                                 cli->address_shown, ipc_strerror(r));
        case ETIMEDOUT:
                return cli_error(EX_TEMPFAIL,
                                 "%s: no answer from %s within %g s (raise it with -t)", what,
                                 cli->address_shown, cli_seconds(cli->timeout_usec));
        case EPROTO:
                return cli_error(EX_PROTOCOL, "%s: protocol error from %s: %s", what,
                                 cli->address_shown, text ?: ipc_strerror(r));
        case ENOMEM:
                return cli_error(EX_SOFTWARE, "%s: out of memory", what);
        default:
                return cli_error(cli_exit_code(r), "%s: %s%s%s%s", what, ipc_strerror(r),
                                 text ? " (" : "", text ?: "", text ? ")" : "");
        }
}

/**
 * cli_channel_error() - report a failed ipc_pub_new() or ipc_sub_new().
 * @action: "publish on" or "subscribe to".
 *
 * A refusal by the broker's access rules comes with its words, which name
 * the user as the broker saw it ("uid 1000 may not subscribe to ...").
 *
 * Return: the exit code.
 */
int cli_channel_error(struct cli *cli, int r, const char *action, const char *channel) {
        const char *text = broker_error(cli);

        switch (-r) {
        case EINVAL:
                return cli_error(EX_DATAERR, "invalid channel name \"%s\" (see ipc-broker(7))",
                                 channel);
        case EACCES:
        case EPERM:
                if (text)
                        return cli_error(EX_NOPERM,
                                         "permission denied: %s (the broker's access rules, see "
                                         "ipc-brokerd.json(5))",
                                         text);
                return cli_error(EX_NOPERM, "permission denied to %s \"%s\"", action, channel);
        case EMFILE:
        case ENFILE:
        case EDQUOT:
                /* A broker limit: its text names it (see ipc-brokerd.json(5)). */
                return cli_error(EX_UNAVAILABLE, "cannot %s \"%s\": %s", action, channel,
                                 broker_error(cli) ?: ipc_strerror(r));
        default:
                return cli_request_error(cli, r, "cannot %s \"%s\"", action, channel);
        }
}

/**
 * cli_flush_stdout() - flush standard output and report a write error.
 *
 * EPIPE (the reader went away, as in "ipcctl subscribe x | head -1") is not
 * worth a message; it still fails with EX_IOERR so that loops stop.
 *
 * Return: 0; EX_IOERR.
 */
int cli_flush_stdout(void) {
        if (fflush(stdout) == 0 && !ferror(stdout))
                return 0;
        if (errno == EPIPE)
                return EX_IOERR;
        return cli_error(EX_IOERR, "cannot write to standard output: %s", strerror(errno));
}

int cli_run_json_query(struct cli *cli, const struct cli_verb *verb, int argc, char **argv,
                       const struct cli_json_query *q) {
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
                return cli_usage_error(verb, "%s takes no arguments", verb->name);

        r = cli_connect(cli);
        if (r != 0)
                return r;
        r = q->fetch(cli->client, cli->timeout_usec, &text);
        if (r < 0)
                return cli_request_error(cli, r, "%s", q->failure);
        return json ? cli_print_json_text(text) : q->print(cli, text);
}
