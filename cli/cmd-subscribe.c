/* SPDX-License-Identifier: MIT */
/*
 * ipcctl subscribe PATTERN...: print messages as they arrive, one per line
 * (or as JSON, or raw bytes), until -n messages or the -W deadline. A
 * broker that goes away is waited for: the library reconnects and
 * subscribes again, and stderr says so, with the messages missed.
 *
 * Output is flushed after each batch of messages that arrived together, so
 * a pipe sees every message promptly without a write(2) per message.
 */
#include "build-config.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const struct cli_option subscribe_options[] = {
        {'n', "count", "N", "exit after N messages"},
        {'W', "deadline", "SECONDS", "give up after SECONDS in total (exit status 75)"},
        {'v', "verbose", NULL, "print the channel name and a space before each message"},
        {CLI_OPT_JSON, "json", NULL, "print each message as a JSON object on one line"},
        {CLI_OPT_RAW, "raw", NULL, "print the payload bytes only, with no newline"},
        {CLI_OPT_SOCKET_ONLY, "socket-only", NULL,
         "receive through the socket, never shared memory"},
        {'h', "help", NULL, "show this help and exit"},
        {},
};

/* Longest wait in one receive call, so a reconnect is reported without a message to show it. */
#define SUBSCRIBE_WAIT_SLICE_USEC 250000u

enum subscribe_format {
        SUBSCRIBE_PLAIN,
        SUBSCRIBE_VERBOSE,
        SUBSCRIBE_JSON,
        SUBSCRIBE_RAW,
        _SUBSCRIBE_FORMAT_MAX,
};

struct subscribe {
        struct cli *cli;
        ipc_sub **subs;
        size_t n_subs;
        uint64_t count;     /* -n; 0 for no limit */
        uint64_t wait_usec; /* -W; 0 for no deadline */
        uint64_t end_usec;  /* CLOCK_MONOTONIC deadline, IPC_USEC_INFINITY for none */
        uint64_t received;
        uint64_t reconnects; /* last seen ipc_client_get_reconnects() */
        enum subscribe_format format;
        bool parsed_exit; /* --help or a usage error: exit with the parser's code */
};

static uint64_t now_usec(void) {
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* RFC 4648 base64 of a payload that is not UTF-8 text, for --json. */
static json_t *base64_json(const uint8_t *data, size_t size) {
        static const char alphabet[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        _cli_cleanup_(cli_freep) char *out = NULL;
        uint32_t v;
        size_t i, n = 0;

        out = malloc(size / 3 * 4 + 5);
        if (!out)
                return NULL;
        for (i = 0; i < size; i += 3) {
                v = (uint32_t)data[i] << 16;
                if (i + 1 < size)
                        v |= (uint32_t)data[i + 1] << 8;
                if (i + 2 < size)
                        v |= data[i + 2];
                out[n++] = alphabet[v >> 18 & 63];
                out[n++] = alphabet[v >> 12 & 63];
                out[n++] = i + 1 < size ? alphabet[v >> 6 & 63] : '=';
                out[n++] = i + 2 < size ? alphabet[v & 63] : '=';
        }
        return json_stringn(out, n);
}

/*
 * {"channel","seq","timestamp","retained","lost"?,"payload"|"payload_base64"}.
 * json_stringn() rejects invalid UTF-8 (and keeps NUL bytes, escaped as
 * \u0000), which is exactly the test for choosing "payload".
 */
static json_t *message_json(const ipc_msg *msg) {
        _cli_cleanup_(cli_json_decrefp) json_t *o = NULL;
        uint64_t lost = ipc_msg_get_lost(msg);
        const void *data;
        json_t *payload;
        size_t size;
        int r = 0;

        data = ipc_msg_get_data(msg, &size);
        o = json_object();
        if (!o)
                return NULL;
        r |= json_object_set_new(o, "channel", json_string(ipc_msg_get_channel(msg)));
        r |= json_object_set_new(o, "seq", json_integer((json_int_t)ipc_msg_get_sequence(msg)));
        r |= json_object_set_new(o, "timestamp",
                                 json_integer((json_int_t)ipc_msg_get_timestamp(msg)));
        r |= json_object_set_new(o, "retained",
                                 json_boolean(ipc_msg_get_flags(msg) & IPC_MSG_RETAINED));
        if (lost > 0)
                r |= json_object_set_new(o, "lost", json_integer((json_int_t)lost));
        payload = json_stringn(size ? data : "", size);
        if (payload)
                r |= json_object_set_new(o, "payload", payload);
        else
                r |= json_object_set_new(o, "payload_base64", base64_json(data, size));
        return r == 0 ? CLI_TAKE_PTR(o) : NULL;
}

static int print_json(const ipc_msg *msg) {
        _cli_cleanup_(cli_json_decrefp) json_t *o = message_json(msg);
        _cli_cleanup_(cli_freep) char *text = NULL;

        text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (!text)
                return cli_error(EX_SOFTWARE, "out of memory");
        fputs(text, stdout);
        fputc('\n', stdout);
        return 0;
}

/* The first message of a subscription after a reconnect tells what was missed. */
static void subscribe_print_gap(const ipc_msg *msg) {
        unsigned flags = ipc_msg_get_flags(msg);
        uint64_t lost = ipc_msg_get_lost(msg);

        (void)fflush(stdout);
        if (flags & IPC_MSG_GAP_UNKNOWN)
                fprintf(stderr,
                        CLI_PROGRAM ": %s: resumed after reconnecting; messages published "
                                    "meanwhile may be missing (how many is unknown)\n",
                        ipc_msg_get_channel(msg));
        else
                fprintf(stderr,
                        CLI_PROGRAM ": %s: resumed after reconnecting; %" PRIu64
                                    " message%s missed\n",
                        ipc_msg_get_channel(msg), lost, lost == 1 ? "" : "s");
}

static int subscribe_print(struct subscribe *s, const ipc_msg *msg) {
        uint64_t lost = ipc_msg_get_lost(msg);
        const void *data;
        size_t size;

        if (ipc_msg_get_flags(msg) & IPC_MSG_RESUMED)
                subscribe_print_gap(msg);
        else if (lost > 0) {
                /* Keep stderr in order with what stdout already showed. */
                (void)fflush(stdout);
                fprintf(stderr, CLI_PROGRAM ": %s: %" PRIu64 " message%s lost\n",
                        ipc_msg_get_channel(msg), lost, lost == 1 ? "" : "s");
        }
        s->received++;
        if (s->format == SUBSCRIBE_JSON)
                return print_json(msg);
        if (s->format == SUBSCRIBE_VERBOSE)
                fprintf(stdout, "%s ", ipc_msg_get_channel(msg));
        data = ipc_msg_get_data(msg, &size);
        if (size > 0)
                (void)fwrite(data, 1, size, stdout);
        if (s->format != SUBSCRIBE_RAW)
                fputc('\n', stdout);
        return 0;
}

static bool subscribe_done(const struct subscribe *s) {
        return s->count > 0 && s->received >= s->count;
}

/* Says on stderr when the connection went and when it came back. */
static void subscribe_note_link(struct subscribe *s, int r) {
        uint64_t n = ipc_client_get_reconnects(s->cli->client);

        if (r == -ENOTCONN) {
                (void)fflush(stdout);
                fprintf(stderr, CLI_PROGRAM ": connection to %s lost; reconnecting\n",
                        s->cli->address_shown);
        }
        if (n != s->reconnects) {
                s->reconnects = n;
                (void)fflush(stdout);
                fprintf(stderr, CLI_PROGRAM ": reconnected to %s\n", s->cli->address_shown);
        }
}

/* Print @msg and every message already waiting, then flush stdout once. */
static int subscribe_batch(struct subscribe *s, const ipc_msg *msg) {
        int r, q;

        for (;;) {
                r = subscribe_print(s, msg);
                if (r != 0)
                        return r;
                if (subscribe_done(s))
                        break;
                r = ipc_client_receive(s->cli->client, 0, &msg);
                if (r < 0)
                        break;
        }
        q = cli_flush_stdout();
        if (r == -ENOTCONN)
                subscribe_note_link(s, r);
        else if (r < 0 && r != -EAGAIN)
                return cli_request_error(s->cli, r, "cannot receive messages");
        return q;
}

static int subscribe_timed_out(const struct subscribe *s) {
        if (s->count > 0)
                return cli_error(EX_TEMPFAIL,
                                 "timed out after %g s (%" PRIu64 " of %" PRIu64 " messages)",
                                 cli_seconds(s->wait_usec), s->received, s->count);
        return cli_error(EX_TEMPFAIL, "timed out after %g s (%" PRIu64 " messages)",
                         cli_seconds(s->wait_usec), s->received);
}

static int subscribe_loop(struct subscribe *s) {
        uint64_t end = s->end_usec, timeout, now;
        const ipc_msg *msg;
        int r;

        while (!subscribe_done(s)) {
                now = now_usec();
                timeout = end == IPC_USEC_INFINITY ? end : end > now ? end - now : 0;
                r = ipc_client_receive(s->cli->client, MIN(timeout, SUBSCRIBE_WAIT_SLICE_USEC),
                                       &msg);
                subscribe_note_link(s, r);
                if (r == -ENOTCONN || (r == -ETIMEDOUT && timeout > SUBSCRIBE_WAIT_SLICE_USEC))
                        continue;
                if (r == -ETIMEDOUT || (r == -EAGAIN && timeout == 0))
                        return subscribe_timed_out(s);
                if (r < 0)
                        return cli_request_error(s->cli, r, "cannot receive messages");
                r = subscribe_batch(s, msg);
                if (r != 0)
                        return r;
        }
        return 0;
}

static int subscribe_run(struct subscribe *s, char **patterns) {
        int r;

        /* -W counts from the start, connecting and subscribing included. */
        s->end_usec = s->wait_usec ? now_usec() + s->wait_usec : IPC_USEC_INFINITY;
        if (s->wait_usec)
                s->cli->timeout_usec = MIN(s->cli->timeout_usec, s->wait_usec);
        s->cli->reconnect = true;
        r = cli_connect(s->cli);
        if (r != 0)
                return r;
        s->subs = calloc(s->n_subs, sizeof(*s->subs));
        if (!s->subs)
                return cli_error(EX_SOFTWARE, "out of memory");
        for (size_t i = 0; i < s->n_subs; i++) {
                r = ipc_sub_new(s->cli->client, patterns[i], s->cli->timeout_usec, &s->subs[i]);
                if (r < 0)
                        return cli_channel_error(s->cli, r, "subscribe to", patterns[i]);
        }
        return subscribe_loop(s);
}

static int subscribe_parse(struct subscribe *s, const struct cli_verb *verb, int argc,
                           char **argv) {
        struct cli_getopt g;
        bool verbose = false;
        int c;

        cli_getopt_init(&g, verb);
        while ((c = cli_getopt(&g, argc, argv)) != -1) {
                switch (c) {
                case 'n':
                        if (cli_parse_count(optarg, &s->count) < 0)
                                return cli_usage_error(verb,
                                                       "invalid count \"%s\" for -n "
                                                       "(expected a positive integer)",
                                                       optarg);
                        break;
                case 'W':
                        if (cli_parse_seconds(optarg, &s->wait_usec) < 0)
                                return cli_usage_error(verb,
                                                       "invalid time \"%s\" for -W "
                                                       "(expected positive seconds)",
                                                       optarg);
                        break;
                case 'v':
                        verbose = true;
                        break;
                case CLI_OPT_SOCKET_ONLY:
                        s->cli->socket_only = true;
                        break;
                case CLI_OPT_JSON:
                case CLI_OPT_RAW:
                        if (s->format != SUBSCRIBE_PLAIN)
                                return cli_usage_error(verb, "--json and --raw exclude each other");
                        s->format = c == CLI_OPT_JSON ? SUBSCRIBE_JSON : SUBSCRIBE_RAW;
                        break;
                case CLI_GETOPT_EXIT:
                        s->parsed_exit = true;
                        return g.exit_code;
                }
        }
        if (verbose && s->format == SUBSCRIBE_RAW)
                return cli_usage_error(verb, "--raw prints payloads only; drop -v");
        if (verbose && s->format == SUBSCRIBE_PLAIN)
                s->format = SUBSCRIBE_VERBOSE;
        if (optind >= argc)
                return cli_usage_error(verb, "subscribe needs at least one CHANNEL or PATTERN");
        s->n_subs = (size_t)(argc - optind);
        return 0;
}

static int cmd_subscribe(struct cli *cli, const struct cli_verb *verb, int argc, char **argv) {
        struct subscribe s = {.cli = cli};
        int r;

        r = subscribe_parse(&s, verb, argc, argv);
        if (r == 0 && !s.parsed_exit)
                r = subscribe_run(&s, argv + optind);
        for (size_t i = 0; s.subs && i < s.n_subs; i++)
                ipc_sub_free(s.subs[i]);
        free(s.subs);
        return r;
}

const struct cli_verb cli_verb_subscribe = {
        .name = "subscribe",
        .synopsis = "[-v] [-n N] [-W SECONDS] [--json | --raw] [--socket-only] PATTERN...",
        .brief = "Print the messages of channels as they arrive.",
        .summary = "Print the messages of the channels matching each PATTERN (a channel name,\n"
                   "or with wildcards: \"a.*\" one token, \"a.>\" one or more), one per line.",
        .options = subscribe_options,
        .run = cmd_subscribe,
};
