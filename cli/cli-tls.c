/* SPDX-License-Identifier: MIT */
/*
 * The TLS options of ipcctl (--tls-ca, --tls-cert, --tls-key,
 * --token-file) turned into connection options, with messages that name
 * the option and the file when something is wrong with them: the library
 * can only say "No such file or directory", not which one.
 */
#include "build-config.h"

#include <errno.h>
#include <string.h>

#include "cli.h"

/* A token is at most this long (the protocol's limit). */
#define CLI_TOKEN_MAX 255

static bool address_is_tls(const struct cli *cli) {
        return cli->address_shown && strncmp(cli->address_shown, "tls:", 4) == 0;
}

static bool tls_options_given(const struct cli *cli) {
        return cli->tls_ca || cli->tls_cert || cli->tls_key || cli->token_file;
}

/* Each file can be opened: otherwise say which option named it. Return: 0 or EX_NOINPUT. */
static int check_readable(const char *option, const char *path) {
        FILE *f;

        if (!path)
                return 0;
        f = fopen(path, "re");
        if (!f)
                return cli_error(EX_NOINPUT, "cannot read %s %s: %s", option, path,
                                 strerror(errno));
        (void)fclose(f);
        return 0;
}

/*
 * The token: the file's bytes without one trailing newline ("\n" or
 * "\r\n"), so `echo TOKEN > FILE` works; 1 to 255 bytes, no NUL.
 * Return: 0; an exit code after a message.
 */
static int read_token(const char *path, char *buf, size_t size) {
        FILE *f = fopen(path, "re");
        size_t n;

        if (!f)
                return cli_error(EX_NOINPUT, "cannot read --token-file %s: %s", path,
                                 strerror(errno));
        n = fread(buf, 1, size - 1, f);
        (void)fclose(f);
        buf[n] = '\0';
        if (n > 0 && buf[n - 1] == '\n')
                buf[--n] = '\0';
        if (n > 0 && buf[n - 1] == '\r')
                buf[--n] = '\0';
        if (n == 0 || n > CLI_TOKEN_MAX || strlen(buf) != n)
                return cli_error(EX_DATAERR,
                                 "--token-file %s: expected a token of 1 to %d bytes without NUL "
                                 "(a final newline is dropped)",
                                 path, CLI_TOKEN_MAX);
        return 0;
}

static int set_token(const struct cli *cli, ipc_options *opts) {
        char token[CLI_TOKEN_MAX + 3];
        int r;

        if (!cli->token_file)
                return 0;
        r = read_token(cli->token_file, token, sizeof(token));
        if (r == 0 && ipc_options_set_token(opts, token) < 0)
                r = cli_error(EX_SOFTWARE, "cannot use the token: out of memory");
        explicit_bzero(token, sizeof(token));
        return r;
}

/**
 * cli_tls_options() - apply the TLS options to @opts, when the address is
 * "tls:". The options need that address; the certificate and key go
 * together.
 * Return: 0; an exit code after a message.
 */
int cli_tls_options(const struct cli *cli, ipc_options *opts) {
        int r;

        if (!address_is_tls(cli)) {
                if (tls_options_given(cli))
                        return cli_error(EX_USAGE,
                                         "--tls-ca, --tls-cert, --tls-key and --token-file need a "
                                         "tls:HOST:PORT address (the address is %s)",
                                         cli->address_shown);
                return 0;
        }
        if (!cli->tls_cert != !cli->tls_key)
                return cli_error(EX_USAGE, "--tls-cert and --tls-key go together");
        r = check_readable("--tls-ca", cli->tls_ca);
        if (r == 0)
                r = check_readable("--tls-cert", cli->tls_cert);
        if (r == 0)
                r = check_readable("--tls-key", cli->tls_key);
        if (r != 0)
                return r;
        r = ipc_options_set_tls(opts, cli->tls_ca, cli->tls_cert, cli->tls_key);
        if (r == -EINVAL)
                return cli_error(EX_DATAERR,
                                 "cannot use the TLS files: not PEM, or --tls-key does not match "
                                 "--tls-cert");
        if (r < 0)
                return cli_error(cli_exit_code(r), "cannot use the TLS files: %s", ipc_strerror(r));
        return set_token(cli, opts);
}

/**
 * cli_tls_hint() - what to check when connecting to a "tls:" address
 * failed with @r, or NULL when TLS has nothing to add.
 */
const char *cli_tls_hint(const struct cli *cli, int r) {
        if (!address_is_tls(cli))
                return NULL;
        switch (-r) {
        case EACCES:
                return "the broker refused the client certificate or token; see its log";
        case EKEYREJECTED:
                return "the broker's certificate does not verify against --tls-ca, or does not "
                       "name the host of the address";
        case EPROTO:
                return "is this a TLS listener of an ipc-brokerd?";
        case ECONNRESET:
                return "the broker closed the connection: a TLS listener that wants a client "
                       "certificate (--tls-cert) or token (--token-file)? see its log";
        default:
                return NULL;
        }
}
