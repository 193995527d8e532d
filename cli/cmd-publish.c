/* SPDX-License-Identifier: MIT */
/*
 * ipcctl publish CHANNEL [MESSAGE]: one message from the command line, one
 * message per line of standard input, or (-b) all of standard input as one
 * binary message.
 *
 * Line mode is meant for pipes ("producer | ipcctl publish ch"): lines read
 * in one read(2) are published with IPC_PUBLISH_MORE so the library sends
 * them in one write, and the batch is flushed before blocking for more
 * input, so a slow producer's lines still go out at once.
 */
#include "build-config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define PUBLISH_READ_BYTES (64 * 1024)

static const struct cli_option publish_options[] = {
        {'b', "binary", NULL, "publish all of standard input as one message"},
        {'r', "retain", NULL, "keep the message as the channel's retained value"},
        {CLI_OPT_SOCKET_ONLY, "socket-only", NULL, "send through the socket, never shared memory"},
        {'h', "help", NULL, "show this help and exit"},
        {},
};

struct publish {
        struct cli *cli;
        ipc_pub *pub;
        const char *channel;
        unsigned flags; /* IPC_PUBLISH_RETAIN or 0 */
        size_t max;     /* the channel's message size limit */
};

/* A growable input buffer: bytes [start, end) of data[0, size) are unread. */
struct input {
        char *data;
        size_t size, start, end;
        bool eof;
};

static int publish_too_large(struct publish *p, size_t size) {
        return cli_error(EX_DATAERR,
                         "message of %zu bytes exceeds the %zu-byte limit of channel %s", size,
                         p->max, p->channel);
}

/* Report what a failed ipc_publish() or ipc_client_flush() means for the user. */
static int publish_error(struct publish *p, int r, size_t size) {
        switch (-r) {
        case EMSGSIZE:
                return publish_too_large(p, size);
        case EAGAIN:
        case ETIMEDOUT:
                return cli_error(EX_TEMPFAIL,
                                 "the broker took no message on %s for %g s (a slow subscriber on "
                                 "a channel with the block policy? raise the limit with -t)",
                                 p->channel, cli_seconds(p->cli->timeout_usec));
        default:
                return cli_request_error(p->cli, r, "cannot publish on \"%s\"", p->channel);
        }
}

static int publish_one(struct publish *p, const void *data, size_t size, bool more) {
        int r;

        if (size > p->max)
                return publish_too_large(p, size);
        r = ipc_publish(p->pub, data, size, p->flags | (more ? IPC_PUBLISH_MORE : 0),
                        p->cli->timeout_usec);
        return r < 0 ? publish_error(p, r, size) : 0;
}

/* Send what IPC_PUBLISH_MORE held back, before waiting for more input. */
static int publish_flush(struct publish *p) {
        int r = ipc_client_flush(p->cli->client, p->cli->timeout_usec);

        return r < 0 ? publish_error(p, r, 0) : 0;
}

/**
 * input_read() - append what one read(2) of stdin returns, growing the
 * buffer (never beyond @limit bytes) when it is full.
 * Return: 0; EX_IOERR or EX_SOFTWARE after a message.
 */
static int input_read(struct input *in, size_t limit) {
        size_t size;
        char *data;
        ssize_t n;

        if (in->end == in->size) {
                size = in->size ? MIN(in->size * 2, limit) : MIN(PUBLISH_READ_BYTES, limit);
                data = realloc(in->data, MAX(size, 1));
                if (!data)
                        return cli_error(EX_SOFTWARE, "out of memory");
                in->data = data;
                in->size = MAX(size, 1);
        }
        do
                n = read(STDIN_FILENO, in->data + in->end, in->size - in->end);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return cli_error(EX_IOERR, "cannot read standard input: %s", strerror(errno));
        in->end += (size_t)n;
        in->eof = n == 0;
        return 0;
}

/* Count the rest of an oversized message (to the end of the line, or all of stdin). */
static int input_count_rest(struct input *in, bool to_newline, size_t *size) {
        char *nl;
        int r;

        for (;;) {
                nl = to_newline ? memchr(in->data, '\n', in->end) : NULL;
                *size += nl ? (size_t)(nl - in->data) : in->end;
                if (nl || in->eof)
                        return 0;
                in->end = 0;
                r = input_read(in, in->size);
                if (r != 0)
                        return r;
        }
}

/* Publish the complete lines buffered in @in, each with IPC_PUBLISH_MORE. */
static int publish_lines(struct publish *p, struct input *in) {
        char *line, *nl;
        size_t len;
        int r;

        if (in->end == in->start) {
                in->start = in->end = 0; /* also covers the unallocated buffer */
                return 0;
        }
        while ((nl = memchr(in->data + in->start, '\n', in->end - in->start))) {
                line = in->data + in->start;
                len = (size_t)(nl - line);
                r = publish_one(p, line, len, true);
                if (r != 0)
                        return r;
                in->start += len + 1;
        }
        memmove(in->data, in->data + in->start, in->end - in->start);
        in->end -= in->start;
        in->start = 0;
        return 0;
}

static int publish_stdin_lines(struct publish *p, struct input *in) {
        size_t size;
        int r;

        for (;;) {
                r = publish_lines(p, in);
                if (r != 0)
                        return r;
                if (in->end > p->max) {
                        /* A line longer than the limit: say how long it really is. */
                        size = 0;
                        r = input_count_rest(in, true, &size);
                        return r != 0 ? r : publish_too_large(p, size);
                }
                if (in->eof)
                        break;
                r = publish_flush(p);
                if (r != 0)
                        return r;
                r = input_read(in, p->max + 1);
                if (r != 0)
                        return r;
        }
        /* A last line without '\n' is a message too; an empty rest is not. */
        return in->end > 0 ? publish_one(p, in->data, in->end, false) : 0;
}

static int publish_stdin_binary(struct publish *p, struct input *in) {
        size_t size;
        int r;

        while (!in->eof && in->end <= p->max) {
                r = input_read(in, p->max + 1);
                if (r != 0)
                        return r;
        }
        if (in->end > p->max) {
                size = 0;
                r = input_count_rest(in, false, &size);
                return r != 0 ? r : publish_too_large(p, size);
        }
        return publish_one(p, in->data, in->end, false);
}

/*
 * Make sure the broker accepted everything: publishing has no reply, but
 * the broker answers a ping only after the frames sent before it, and
 * reports a rejected message by closing with an error, which the ping sees.
 */
static int publish_sync(struct publish *p) {
        int r;

        r = ipc_client_ping(p->cli->client, p->cli->timeout_usec, NULL);
        if (r < 0)
                return cli_request_error(p->cli, r, "cannot publish on \"%s\"", p->channel);
        return 0;
}

static int publish_run(struct publish *p, const char *message, bool binary) {
        struct input in = {};
        int r;

        if (message)
                r = publish_one(p, message, strlen(message), false);
        else if (binary)
                r = publish_stdin_binary(p, &in);
        else
                r = publish_stdin_lines(p, &in);
        free(in.data);
        if (r == 0)
                r = publish_flush(p);
        return r != 0 ? r : publish_sync(p);
}

static int cmd_publish(struct cli *cli, const struct cli_verb *verb, int argc, char **argv) {
        struct publish p = {.cli = cli};
        const char *message;
        bool binary = false;
        struct cli_getopt g;
        int c, r;

        cli_getopt_init(&g, verb);
        while ((c = cli_getopt(&g, argc, argv)) != -1) {
                switch (c) {
                case 'b':
                        binary = true;
                        break;
                case 'r':
                        p.flags |= IPC_PUBLISH_RETAIN;
                        break;
                case CLI_OPT_SOCKET_ONLY:
                        cli->socket_only = true;
                        break;
                case CLI_GETOPT_EXIT:
                        return g.exit_code;
                }
        }
        if (argc - optind < 1 || argc - optind > 2)
                return cli_usage_error(verb, "publish needs a CHANNEL and at most one MESSAGE");
        p.channel = argv[optind];
        message = argv[optind + 1]; /* argv[argc] is NULL */
        if (binary && message)
                return cli_usage_error(verb, "-b publishes standard input; give no MESSAGE");

        r = cli_connect(cli);
        if (r != 0)
                return r;
        r = ipc_pub_new(cli->client, p.channel, cli->timeout_usec, &p.pub);
        if (r < 0)
                return cli_channel_error(cli, r, "publish on", p.channel);
        p.max = ipc_pub_get_max_message_size(p.pub);
        r = publish_run(&p, message, binary);
        ipc_pub_free(p.pub);
        return r;
}

const struct cli_verb cli_verb_publish = {
        .name = "publish",
        .synopsis = "[-br] [--socket-only] CHANNEL [MESSAGE]",
        .brief = "Publish a message, or each line of standard input.",
        .summary = "Publish MESSAGE on CHANNEL. Without MESSAGE, publish each line of standard\n"
                   "input as one message (the newline removed), or with -b all of it as one.",
        .options = publish_options,
        .run = cmd_publish,
};
