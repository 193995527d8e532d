/* SPDX-License-Identifier: MIT */
/*
 * Option parsing and usage text. Each verb describes its options once, in
 * a struct cli_option table; getopt_long() tables and --help output are both
 * generated from it, so what --help lists is exactly what is accepted (and
 * the man page is checked against --help).
 */
#include "build-config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "cli.h"

/* Column where option descriptions start in --help output. */
#define CLI_HELP_COLUMN 26

/**
 * cli_getopt_init() - prepare to parse the options of one verb.
 * @g: parser state, filled in here.
 * @verb: the verb, or &cli_global for the options before the verb.
 *
 * The global options stop at the first non-option (the verb), so that
 * "ipcctl -s X publish -r ch" hands "-r" to publish. Verb options may be
 * mixed with operands ("subscribe ch -n 1"); "--" ends them, which is how
 * a message starting with '-' is published.
 */
void cli_getopt_init(struct cli_getopt *g, const struct cli_verb *verb) {
        char *s;
        size_t n = 0;

        *g = (struct cli_getopt){.verb = verb};
        s = g->shortopts;
        if (!verb->name)
                *s++ = '+';
        *s++ = ':'; /* report a missing argument as ':', not '?' */
        for (const struct cli_option *o = verb->options; o->name && n < CLI_OPTIONS_MAX; o++, n++) {
                g->longopts[n] = (struct option){
                        .name = o->name,
                        .has_arg = o->arg ? required_argument : no_argument,
                        .val = o->val,
                };
                if (o->val < CLI_OPT_JSON) {
                        *s++ = (char)o->val;
                        if (o->arg)
                                *s++ = ':';
                }
        }
        *s = '\0';
        /* glibc: 0 rescans from argv[1] with fresh state, as each verb gets its own argv. */
        optind = 0;
        opterr = 0;
}

/**
 * cli_option_name() - how to name an option in a message: "-n" when it has
 * a short form, else "--json".
 */
const char *cli_option_name(const struct cli_verb *verb, int val, char *buf, size_t size) {
        for (const struct cli_option *o = verb->options; o->name; o++) {
                if (o->val != val)
                        continue;
                if (val < CLI_OPT_JSON)
                        (void)snprintf(buf, size, "-%c", val);
                else
                        (void)snprintf(buf, size, "--%s", o->name);
                return buf;
        }
        (void)snprintf(buf, size, "-%c", val > 0 && val < CLI_OPT_JSON ? val : '?');
        return buf;
}

/**
 * cli_getopt() - the next option, as getopt_long() returns it.
 *
 * -h/--help prints the usage on stdout and a bad option prints a message and
 * the usage on stderr; both return CLI_GETOPT_EXIT with g->exit_code set
 * (0 or EX_USAGE) so the caller just returns it.
 *
 * Return: the option's val; -1 after the last option; CLI_GETOPT_EXIT.
 */
int cli_getopt(struct cli_getopt *g, int argc, char **argv) {
        const char *arg;
        char name[64];
        int c;

        c = getopt_long(argc, argv, g->shortopts, g->longopts, NULL);
        switch (c) {
        case 'h':
                cli_usage(g->verb, stdout);
                g->exit_code = cli_flush_stdout();
                return CLI_GETOPT_EXIT;
        case '?':
                arg = argv[optind - 1];
                if (strncmp(arg, "--", 2) == 0)
                        g->exit_code = cli_usage_error(g->verb, "unknown option %s", arg);
                else
                        g->exit_code = cli_usage_error(g->verb, "unknown option -%c", optopt);
                return CLI_GETOPT_EXIT;
        case ':':
                g->exit_code =
                        cli_usage_error(g->verb, "option %s needs an argument",
                                        cli_option_name(g->verb, optopt, name, sizeof(name)));
                return CLI_GETOPT_EXIT;
        default:
                return c;
        }
}

/* "  -n, --count N" or "      --json", the left column of --help. */
static int usage_option_label(const struct cli_option *o, char *buf, size_t size) {
        char shortname[8] = "    ";

        if (o->val < CLI_OPT_JSON)
                (void)snprintf(shortname, sizeof(shortname), "-%c, ", o->val);
        return snprintf(buf, size, "  %s--%s%s%s", shortname, o->name, o->arg ? " " : "",
                        o->arg ?: "");
}

static void usage_options(const struct cli_option *options, FILE *f) {
        char label[128];
        int n;

        fputs("\nOptions:\n", f);
        for (const struct cli_option *o = options; o->name; o++) {
                n = usage_option_label(o, label, sizeof(label));
                if (n >= CLI_HELP_COLUMN)
                        fprintf(f, "%s\n%*s%s\n", label, CLI_HELP_COLUMN, "", o->help);
                else
                        fprintf(f, "%-*s%s\n", CLI_HELP_COLUMN, label, o->help);
        }
}

static void usage_verbs(FILE *f) {
        fputs("\nVerbs:\n", f);
        for (size_t i = 0; cli_verbs[i]; i++)
                fprintf(f, "  %-12s%s\n", cli_verbs[i]->name, cli_verbs[i]->brief);
        fprintf(f, "  %-12s%s\n", "help", "Show the usage of ipcctl or of one verb.");
        fputs("\nRun \"" CLI_PROGRAM " VERB --help\" for the options of a verb.\n", f);
}

/**
 * cli_usage() - print the usage of a verb, or with &cli_global of ipcctl.
 */
void cli_usage(const struct cli_verb *verb, FILE *f) {
        if (verb->name)
                fprintf(f, "Usage: %s %s %s\n\n", CLI_PROGRAM, verb->name, verb->synopsis);
        else
                fprintf(f, "Usage: %s %s\n\n", CLI_PROGRAM, verb->synopsis);
        fprintf(f, "%s\n", verb->summary);
        usage_options(verb->options, f);
        if (!verb->name)
                usage_verbs(f);
}

/**
 * cli_usage_error() - report a command-line mistake, then the usage, on stderr.
 * Return: EX_USAGE.
 */
int cli_usage_error(const struct cli_verb *verb, const char *fmt, ...) {
        va_list ap;

        fputs(CLI_PROGRAM ": ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputs("\n\n", stderr);
        cli_usage(verb, stderr);
        return EX_USAGE;
}

/**
 * cli_parse_seconds() - parse a positive, possibly fractional, number of
 * seconds ("5", "0.25").
 * Return: 0; -EINVAL (not a number, not positive, or above ten years).
 */
int cli_parse_seconds(const char *s, uint64_t *ret_usec) {
        char *end;
        double d;

        errno = 0;
        d = strtod(s, &end);
        if (errno != 0 || end == s || *end != '\0' || !isfinite(d) || d <= 0 || d > 315576000.0)
                return -EINVAL;
        *ret_usec = (uint64_t)(d * 1e6 + 0.5) ?: 1;
        return 0;
}

/**
 * cli_parse_count() - parse a positive decimal integer.
 * Return: 0; -EINVAL.
 */
int cli_parse_count(const char *s, uint64_t *ret) {
        unsigned long long v;
        char *end;

        if (*s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || *end != '\0' || v == 0)
                return -EINVAL;
        *ret = v;
        return 0;
}

/**
 * cli_seconds() - microseconds as seconds, for messages.
 */
double cli_seconds(uint64_t usec) {
        return (double)usec / 1e6;
}
