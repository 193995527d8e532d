/* SPDX-License-Identifier: MIT */
/*
 * ipcctl internals: the verb table, option parsing, connecting and the
 * mapping of library errors to messages and sysexits(3) exit codes.
 *
 * ipcctl is built on the public libipcclient API only (ipcclient.h), so it
 * doubles as a check that the library is enough to write a real client.
 */
#pragma once

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

#include <jansson.h>

#include "ipcclient.h"

#define CLI_PROGRAM              "ipcctl"
#define CLI_TIMEOUT_DEFAULT_USEC (5 * UINT64_C(1000000))
#define CLI_OPTIONS_MAX          15

#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif
#ifndef MAX
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#endif

#define _cli_cleanup_(f) __attribute__((cleanup(f)))
/* Takes ownership out of a _cli_cleanup_ variable. */
#define CLI_TAKE_PTR(p)                                                                            \
        ({                                                                                         \
                __typeof__(p) _ptr = (p);                                                          \
                (p) = NULL;                                                                        \
                _ptr;                                                                              \
        })
#define _cli_printf_(a, b) __attribute__((format(printf, a, b)))

/* Long-only options use values above any character. */
enum {
        CLI_OPT_JSON = 0x100,
        CLI_OPT_RAW,
        CLI_OPT_SOCKET_ONLY,
        CLI_OPT_TLS_CA,
        CLI_OPT_TLS_CERT,
        CLI_OPT_TLS_KEY,
        CLI_OPT_TOKEN_FILE,
};

/* What every verb gets: the global options and, once connected, the client. */
/* ipcctl subscribe's reconnect backoff: a person watching wants it back soon. */
#define CLI_RECONNECT_INITIAL_MSEC 100u
#define CLI_RECONNECT_MAX_MSEC     2000u

struct cli {
        const char *address;   /* given to the library; NULL for its default */
        char *address_shown;   /* the address as it appears in messages */
        uint64_t timeout_usec; /* -t: connect and per-request timeout */
        bool socket_only;      /* --socket-only: IPC_TRANSPORT_SOCKET */
        bool reconnect;        /* survive a broker restart (subscribe); else fail at once */
        const char *tls_ca;    /* --tls-ca FILE */
        const char *tls_cert;  /* --tls-cert FILE */
        const char *tls_key;   /* --tls-key FILE */
        const char *token_file; /* --token-file FILE */
        ipc_client *client;    /* set by cli_connect() */
};

/*
 * One option of a verb, in the order --help and the man page list them.
 * The same table drives getopt_long(), so the help cannot drift from what
 * is actually accepted.
 */
struct cli_option {
        int val;          /* short option letter, or CLI_OPT_* for long-only */
        const char *name; /* long name, without "--" */
        const char *arg;  /* argument name, NULL for a flag */
        const char *help;
};

struct cli_verb {
        const char *name;                 /* NULL for the global options */
        const char *synopsis;             /* what follows the verb in the usage line */
        const char *brief;                /* one line for the list of verbs */
        const char *summary;              /* printed under the usage line */
        const struct cli_option *options; /* terminated by an all-zero entry */
        int (*run)(struct cli *cli, const struct cli_verb *verb, int argc, char **argv);
};

extern const struct cli_verb cli_global;
extern const struct cli_verb cli_verb_publish;
extern const struct cli_verb cli_verb_subscribe;
extern const struct cli_verb cli_verb_channels;
extern const struct cli_verb cli_verb_stats;
extern const struct cli_verb cli_verb_ping;
/* NULL-terminated, in the order the global usage lists them. */
extern const struct cli_verb *const cli_verbs[];

/* ---- Option parsing (cli-util.c) ---------------------------------------- */

/* cli_getopt() returned after printing help or a usage error: exit with .exit_code. */
#define CLI_GETOPT_EXIT (-2)

struct cli_getopt {
        const struct cli_verb *verb;
        struct option longopts[CLI_OPTIONS_MAX + 1];
        char shortopts[2 * CLI_OPTIONS_MAX + 4];
        int exit_code;
};

void cli_getopt_init(struct cli_getopt *g, const struct cli_verb *verb);
int cli_getopt(struct cli_getopt *g, int argc, char **argv);
void cli_usage(const struct cli_verb *verb, FILE *f);
int cli_usage_error(const struct cli_verb *verb, const char *fmt, ...) _cli_printf_(2, 3);
int cli_parse_seconds(const char *s, uint64_t *ret_usec);
int cli_parse_count(const char *s, uint64_t *ret);
const char *cli_option_name(const struct cli_verb *verb, int val, char *buf, size_t size);

/* ---- Connecting and errors (cli-util.c) -------------------------------- */

int cli_init(struct cli *cli);
void cli_deinit(struct cli *cli);
int cli_set_address(struct cli *cli, const char *address);
int cli_connect(struct cli *cli);
int cli_error(int exit_code, const char *fmt, ...) _cli_printf_(2, 3);

/* ---- TLS options (cli-tls.c) ------------------------------------------- */

int cli_tls_options(const struct cli *cli, ipc_options *opts);
const char *cli_tls_hint(const struct cli *cli, int r);
int cli_exit_code(int r);
int cli_request_error(struct cli *cli, int r, const char *fmt, ...) _cli_printf_(3, 4);
int cli_channel_error(struct cli *cli, int r, const char *action, const char *channel);
int cli_flush_stdout(void);
double cli_seconds(uint64_t usec);

/* ---- Tables (cli-table.c) ---------------------------------------------- */

enum cli_column_kind {
        CLI_COLUMN_STRING,
        CLI_COLUMN_INTEGER,
        CLI_COLUMN_BOOLEAN,
        _CLI_COLUMN_KIND_MAX,
};

struct cli_column {
        const char *header;
        const char *key; /* member of each row object */
        enum cli_column_kind kind;
};

int cli_table_print(FILE *f, const json_t *rows, const struct cli_column *columns,
                    size_t n_columns);
int cli_json_parse(const char *text, json_type type, const char *what, json_t **ret);
int cli_print_json_text(const char *text);

/*
 * A verb whose only option is --json: it fetches one JSON document from the
 * broker and prints it unchanged (--json) or through @print (tables).
 */
struct cli_json_query {
        int (*fetch)(ipc_client *client, uint64_t timeout_usec, char **ret_json);
        const char *failure; /* "cannot list channels": prefix of the error */
        int (*print)(struct cli *cli, const char *text);
};

/* Runs such a verb. Return: an exit code. */
int cli_run_json_query(struct cli *cli, const struct cli_verb *verb, int argc, char **argv,
                       const struct cli_json_query *q);

/* ---- Cleanup helpers ---------------------------------------------------- */

static inline void cli_json_decrefp(json_t **p) {
        json_decref(*p);
}

static inline void cli_ipc_options_freep(ipc_options **p) {
        ipc_options_free(*p);
}

static inline void cli_ipc_freep(char **p) {
        ipc_free(*p);
}

static inline void cli_freep(void *p) {
        free(*(void **)p);
}
