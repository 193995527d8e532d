/* SPDX-License-Identifier: MIT */
/*
 * ipc-brokerd: command line, configuration, listeners (bound here or passed
 * by the service manager), then the broker loop until SIGTERM/SIGINT, with
 * SIGHUP reloads and watchdog pings on the way. Exit codes follow
 * sysexits(3): 0 after a clean shutdown, 64 usage, 78 bad configuration,
 * 71 cannot listen, 70 internal error.
 */
#include "build-config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "activation.h"
#include "address.h"
#include "broker.h"
#include "config.h"
#include "listener.h"
#include "log.h"
#include "reload.h"
#include "ring-store.h"
#include "tls.h"
#include "watchdog.h"

#define PROGRAM         "ipc-brokerd"
#define LISTEN_ARGS_MAX 32
/* parse_args(): stop now and exit 0 (--help, --version). */
#define EXIT_NOW (-1)

struct options {
        const char *config_path;
        bool config_required;
        const char *socket_path;
        const char *listen[LISTEN_ARGS_MAX];
        size_t n_listen;
        bool check_config;
};

/* What to listen on, from the options and the configuration; TLS contexts loaded. */
struct listen_set {
        struct listen_spec spec[LISTEN_ARGS_MAX + CONFIG_TCP_MAX + 2];
        size_t n;
};

static void listen_set_clear(struct listen_set *s) {
        for (size_t i = 0; i < s->n; i++)
                s->spec[i].tls = tls_server_unref(s->spec[i].tls);
        s->n = 0;
}

static void usage(FILE *f) {
        fprintf(f,
                "Usage: %s [OPTIONS]\n"
                "Local publish/subscribe message broker.\n\n"
                "  -c, --config FILE    configuration file (default %s, optional)\n"
                "      --socket PATH    UNIX socket path (overrides the configuration)\n"
                "      --listen ADDR    also listen on unix:/PATH, or tcp:HOST:PORT on loopback\n"
                "                       (plain TCP, unauthenticated; repeatable)\n"
                "      --check-config   validate the configuration and exit\n"
                "  -v, --verbose        log debug messages\n"
                "  -V, --version        print the version and exit\n"
                "  -h, --help           print this help and exit\n",
                PROGRAM, CONFIG_DEFAULT_PATH);
}

static int parse_args(int argc, char **argv, struct options *o) {
        enum { OPT_SOCKET = 0x100, OPT_LISTEN, OPT_CHECK };
        static const struct option longopts[] = {
                {"config", required_argument, NULL, 'c'},
                {"socket", required_argument, NULL, OPT_SOCKET},
                {"listen", required_argument, NULL, OPT_LISTEN},
                {"check-config", no_argument, NULL, OPT_CHECK},
                {"verbose", no_argument, NULL, 'v'},
                {"version", no_argument, NULL, 'V'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "c:vVh", longopts, NULL)) >= 0) {
                switch (c) {
                case 'c':
                        o->config_path = optarg;
                        o->config_required = true;
                        break;
                case OPT_SOCKET:
                        o->socket_path = optarg;
                        break;
                case OPT_LISTEN:
                        if (o->n_listen == LISTEN_ARGS_MAX) {
                                fprintf(stderr, "%s: at most %d --listen options\n", PROGRAM,
                                        LISTEN_ARGS_MAX);
                                return EX_USAGE;
                        }
                        o->listen[o->n_listen++] = optarg;
                        break;
                case OPT_CHECK:
                        o->check_config = true;
                        break;
                case 'v':
                        log_set_max_level(LOG_DEBUG);
                        break;
                case 'V':
                        printf("%s %s\n", PROGRAM, PACKAGE_VERSION);
                        return EXIT_NOW;
                case 'h':
                        usage(stdout);
                        return EXIT_NOW;
                default:
                        fprintf(stderr, "Try '%s --help' for more information.\n", PROGRAM);
                        return EX_USAGE;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "%s: unexpected argument '%s'\n", PROGRAM, argv[optind]);
                return EX_USAGE;
        }
        return 0;
}

static int add_unix(struct listen_set *s, const char *path) {
        struct address *a = &s->spec[s->n].address;

        if (!*path || strlen(path) >= sizeof(a->path))
                return -ENAMETOOLONG;
        *a = (struct address){.kind = ADDRESS_UNIX};
        strcpy(a->path, path);
        s->n++;
        return 0;
}

/*
 * One --listen: a UNIX path, or plain TCP on a numeric loopback address,
 * the same rule as "insecure": true in the configuration (TLS needs
 * certificates, so it is configured there). Return: 0 or EX_USAGE.
 */
static int listen_arg(const char *arg, struct address *ret) {
        if (address_parse(arg, ret) < 0) {
                fprintf(stderr,
                        "%s: --listen: invalid address '%s' (unix:/PATH or tcp:HOST:PORT)\n",
                        PROGRAM, arg);
                return EX_USAGE;
        }
        if (ret->kind == ADDRESS_TCP && ret->tls) {
                fprintf(stderr,
                        "%s: --listen: '%s': a TLS listener needs a certificate; configure it in "
                        "\"listen\".\"tcp\" (ipc-brokerd.json(5))\n",
                        PROGRAM, arg);
                return EX_USAGE;
        }
        if (ret->kind == ADDRESS_TCP && !address_is_loopback(ret)) {
                fprintf(stderr,
                        "%s: --listen: '%s': plain TCP is allowed only on a loopback address "
                        "(127.0.0.0/8, [::1]); configure a TLS listener in \"listen\".\"tcp\" "
                        "for other addresses\n",
                        PROGRAM, arg);
                return EX_USAGE;
        }
        return 0;
}

/* Command line: --socket and every --listen. Return: 0 or EX_USAGE. */
static int listen_from_args(const struct options *o, struct listen_set *s) {
        if (o->socket_path && add_unix(s, o->socket_path) < 0) {
                fprintf(stderr, "%s: --socket: invalid path '%s'\n", PROGRAM, o->socket_path);
                return EX_USAGE;
        }
        for (size_t i = 0; i < o->n_listen; i++) {
                int r = listen_arg(o->listen[i], &s->spec[s->n].address);

                if (r != 0)
                        return r;
                s->n++;
        }
        return 0;
}

/*
 * The UNIX socket: --socket or --listen unix:... replace the configured
 * one, which replaces the default; "unix": null turns the default off.
 */
static int listen_unix_default(const struct config *c, struct listen_set *s, bool have_unix) {
        char path[ADDRESS_PATH_MAX];
        int r;

        if (have_unix || c->unix_disabled)
                return 0;
        if (c->unix_path)
                return add_unix(s, c->unix_path) < 0 ? EX_CONFIG : 0;
        r = address_default_broker_path(path, sizeof(path));
        if (r < 0) {
                log_errno(LOG_ERR, r,
                          "cannot determine the default socket path (%s); use --socket PATH",
                          r == -ENXIO ? "XDG_RUNTIME_DIR is not set" : "%m");
                return EX_OSERR;
        }
        return add_unix(s, path) < 0 ? EX_OSERR : 0;
}

/*
 * Sockets the service manager passed replace ours of the same kind (see
 * activation.h); the addresses they replace were still checked above.
 */
static void listen_drop_passed(const struct activation *act, struct listen_set *s) {
        size_t k = 0;

        for (size_t i = 0; i < s->n; i++) {
                struct listen_spec *spec = &s->spec[i];
                bool is_unix = spec->address.kind == ADDRESS_UNIX;
                char name[ADDRESS_STRING_MAX];

                if ((is_unix && act->n_unix > 0) || (!is_unix && act->n_tcp > 0)) {
                        address_format(&spec->address, name, sizeof(name));
                        log_info("not binding %s: the service manager passed a %s socket", name,
                                 is_unix ? "UNIX" : "TCP");
                        spec->tls = tls_server_unref(spec->tls);
                        continue;
                }
                s->spec[k++] = *spec;
        }
        s->n = k;
}

/* A configuration error: on stderr for --check-config, else in the log. */
static void config_error(const struct options *o, const char *msg) {
        if (o->check_config)
                fprintf(stderr, "%s: %s\n", PROGRAM, msg);
        else
                log_error("%s", msg);
}

/* One "listen"."tcp" entry: its address and, for TLS, its loaded context. */
static int listen_tcp_entry(const struct options *o, const struct config *c, size_t i,
                            struct listen_spec *spec) {
        char buf[ADDRESS_STRING_MAX], where[CONFIG_ERROR_MAX], err[CONFIG_ERROR_MAX];
        const struct config_tcp *t = &c->tcp[i];

        (void)snprintf(buf, sizeof(buf), "tcp:%s", t->address);
        *spec = (struct listen_spec){};
        if (address_parse(buf, &spec->address) < 0) { /* config.c checked it */
                (void)snprintf(err, sizeof(err), "%s: listen.tcp[%zu].address: invalid", c->path,
                               i);
                config_error(o, err);
                return EX_CONFIG;
        }
        if (!t->tls)
                return 0;
        (void)snprintf(where, sizeof(where), "%s: listen.tcp[%zu].tls", c->path, i);
        if (tls_server_new(t->tls, where, err, sizeof(err), &spec->tls) < 0) {
                config_error(o, err);
                return EX_CONFIG;
        }
        return 0;
}

/* The configured TCP listeners, certificates and keys loaded. Return: 0 or EX_CONFIG. */
static int listen_from_config(const struct options *o, const struct config *c,
                              struct listen_set *s) {
        for (size_t i = 0; i < c->n_tcp; i++) {
                int r = listen_tcp_entry(o, c, i, &s->spec[s->n]);

                if (r != 0)
                        return r;
                s->n++;
        }
        return 0;
}

static int listen_collect(const struct options *o, const struct config *c, struct activation *act,
                          struct listen_set *s) {
        bool have_unix = act->n_unix > 0;
        int r;

        r = listen_from_args(o, s);
        if (r != 0)
                return r;
        for (size_t i = 0; i < s->n; i++)
                have_unix = have_unix || s->spec[i].address.kind == ADDRESS_UNIX;
        r = listen_unix_default(c, s, have_unix);
        if (r == 0)
                r = listen_from_config(o, c, s);
        if (r == 0 && activation_match_tcp(act, s->spec, s->n, c->path) < 0)
                r = EX_CONFIG;
        if (r != 0)
                return r;
        listen_drop_passed(act, s);
        if (s->n == 0 && act->n_unix == 0 && act->n_tcp == 0) {
                log_error("nothing to listen on: \"listen\" disables the UNIX socket and names "
                          "no TCP address");
                return EX_CONFIG;
        }
        return 0;
}

static const char *config_path(const struct options *o) {
        return o->config_path ? o->config_path : CONFIG_DEFAULT_PATH;
}

static int load_config(const struct options *o, struct config *c) {
        const char *path = config_path(o);
        char err[CONFIG_ERROR_MAX];
        int r;

        r = config_load(c, path, o->config_required, err, sizeof(err));
        if (r == -ENOENT && !err[0])
                (void)snprintf(err, sizeof(err), "%s: file not found", path);
        if (r < 0) {
                config_error(o, err);
                return EX_CONFIG;
        }
        if (o->check_config)
                return 0;
        if (c->path)
                log_info("configuration loaded from %s", c->path);
        else
                log_info("no configuration file %s; using built-in defaults", path);
        return 0;
}

/*
 * --check-config: the file, and the certificates and keys it names, as a
 * start would load them. Return: EXIT_NOW (after "... OK"); EX_CONFIG.
 */
static int check_config(const struct options *o, const struct config *c) {
        struct listen_set s = {};
        int r = listen_from_config(o, c, &s);

        listen_set_clear(&s);
        if (r != 0)
                return r;
        if (c->path)
                printf("%s: configuration %s OK\n", PROGRAM, c->path);
        else
                printf("%s: no configuration file %s; built-in defaults OK\n", PROGRAM,
                       config_path(o));
        return EXIT_NOW;
}

/* Every listener, passed or ours. Return: 0; EX_OSERR (logged). */
static int run_listen(struct broker *b, struct activation *act, const struct listen_set *s) {
        if (activation_listen(act, b) < 0)
                return EX_OSERR;
        for (size_t i = 0; i < s->n; i++)
                if (broker_listen(b, &s->spec[i]) < 0)
                        return EX_OSERR;
        return 0;
}

/*
 * The broker on @c, which SIGHUP may replace in place (reload.h): main()
 * keeps it where it is until the broker is gone.
 */
static int run(const struct options *o, struct config *c, struct activation *act,
               const struct listen_set *s) {
        struct broker *b = NULL;
        struct reload *rl = NULL;
        struct watchdog *wd = NULL;
        int r;

        r = broker_new(c, &b);
        if (r >= 0)
                r = reload_new(b, c, config_path(o), o->config_required, &rl);
        if (r >= 0) {
                r = watchdog_new(b->base, &wd);
                r = r == -ENOMEM ? r : 0; /* anything else is logged and ignored */
        }
        if (r < 0) {
                log_errno(LOG_ERR, r, "cannot set up the broker: %m");
                r = EX_SOFTWARE;
        } else {
                /* Before listening: clients that reconnect at once find their channels. */
                (void)ring_store_restore(&act->rings, b);
                r = run_listen(b, act, s);
        }
        if (r == 0)
                r = broker_run(b) < 0 ? EX_SOFTWARE : 0;
        /* Their events live on the broker's loop: free them first. */
        watchdog_free(wd);
        reload_free(rl);
        broker_free(b);
        if (r == 0)
                log_info("shut down");
        return r;
}

int main(int argc, char **argv) {
        struct options o = {};
        struct listen_set listen = {};
        struct activation act = {};
        struct config c;
        int r;

        config_init_defaults(&c);
        log_setup();
        r = parse_args(argc, argv, &o);
        if (r != 0)
                return r == EXIT_NOW ? 0 : r;
        (void)signal(SIGPIPE, SIG_IGN);
        /* Until the loop watches it, a reload request must not kill us (the default). */
        (void)signal(SIGHUP, SIG_IGN);
        r = load_config(&o, &c);
        if (r == 0 && o.check_config)
                r = check_config(&o, &c);
        if (r == 0) {
                activation_collect(&act);
                r = listen_collect(&o, &c, &act, &listen);
        }
        if (r == 0)
                r = run(&o, &c, &act, &listen);
        activation_done(&act);
        listen_set_clear(&listen);
        config_deinit(&c);
        return r == EXIT_NOW ? 0 : r;
}
