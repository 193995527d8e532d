/* SPDX-License-Identifier: MIT */
/*
 * Throwaway TLS material for tests (see harness.h): CAs and certificates
 * made with the openssl command at test time, never checked in, so no
 * test depends on a certificate that expires or a key anyone has seen.
 * EC P-256 keys: each certificate takes a few milliseconds.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness-internal.h"
#include "harness.h"

#define OPENSSL_TIMEOUT_USEC (30 * HARNESS_USEC_PER_SEC)

/* Extensions by role: a CA, a server for loopback, a client. No system openssl.cnf involved. */
static const char openssl_cnf[] = "[req]\n"
                                  "distinguished_name = dn\n"
                                  "prompt = no\n"
                                  "[dn]\n"
                                  "CN = unused\n"
                                  "[ca]\n"
                                  "basicConstraints = critical, CA:TRUE\n"
                                  "keyUsage = critical, keyCertSign, cRLSign\n"
                                  "subjectKeyIdentifier = hash\n"
                                  "[server]\n"
                                  "basicConstraints = critical, CA:FALSE\n"
                                  "keyUsage = critical, digitalSignature\n"
                                  "extendedKeyUsage = serverAuth\n"
                                  "subjectAltName = IP:127.0.0.1, IP:::1\n"
                                  "[client]\n"
                                  "basicConstraints = critical, CA:FALSE\n"
                                  "keyUsage = critical, digitalSignature\n"
                                  "extendedKeyUsage = clientAuth\n";

static int write_text(const char *path, const char *text) {
        FILE *f = fopen(path, "we");
        int r = 0;

        if (!f)
                return -errno;
        if (fputs(text, f) == EOF)
                r = -EIO;
        if (fclose(f) != 0 && r == 0)
                r = -errno;
        return r;
}

/* Runs "openssl req" with @args after the common ones; its output is shown only on failure. */
static int openssl_req(const char *dir, const char *const *args) {
        char prog[PATH_MAX], cnf[PATH_MAX];
        const char *argv[32] = {prog,      "req",    "-x509",    "-config",
                                cnf,       "-nodes", "-days",    "2",
                                "-newkey", "ec",     "-pkeyopt", "ec_paramgen_curve:P-256"};
        struct harness_output o;
        size_t n = 12;
        int r;

        if (!harness_path_lookup("openssl", prog, sizeof(prog)))
                return -ENOENT;
        (void)snprintf(cnf, sizeof(cnf), "%s/openssl.cnf", dir);
        if (access(cnf, F_OK) < 0 && (r = write_text(cnf, openssl_cnf)) < 0)
                return r;
        for (size_t i = 0; args[i] && n < 31; i++)
                argv[n++] = args[i];
        argv[n] = NULL;
        r = harness_run(argv, NULL, 0, OPENSSL_TIMEOUT_USEC, &o);
        if (r == 0 && o.status != 0) {
                fprintf(stderr, "harness: openssl req failed (%d): %s\n", o.status, o.err);
                r = -EIO;
        }
        harness_output_free(&o);
        return r;
}

int harness_tls_make_ca(const char *dir, const char *name) {
        char pem[PATH_MAX], key[PATH_MAX], subj[300];
        const char *args[] = {"-extensions", "ca",    "-keyout", key, "-out",
                              pem,           "-subj", subj,      NULL};

        (void)snprintf(pem, sizeof(pem), "%s/%s.pem", dir, name);
        (void)snprintf(key, sizeof(key), "%s/%s.key", dir, name);
        (void)snprintf(subj, sizeof(subj), "/CN=%s", name);
        return openssl_req(dir, args);
}

int harness_tls_make_cert(const char *dir, const char *ca, const char *name, const char *subject,
                          bool server) {
        char pem[PATH_MAX], key[PATH_MAX], ca_pem[PATH_MAX], ca_key[PATH_MAX];
        const char *args[] = {"-extensions", server ? "server" : "client",
                              "-CA",         ca_pem,
                              "-CAkey",      ca_key,
                              "-keyout",     key,
                              "-out",        pem,
                              "-subj",       subject,
                              NULL};

        (void)snprintf(pem, sizeof(pem), "%s/%s.pem", dir, name);
        (void)snprintf(key, sizeof(key), "%s/%s.key", dir, name);
        (void)snprintf(ca_pem, sizeof(ca_pem), "%s/%s.pem", dir, ca);
        (void)snprintf(ca_key, sizeof(ca_key), "%s/%s.key", dir, ca);
        return openssl_req(dir, args);
}

/* ---- The process's default material ---------------------------------- */

static struct harness_tls tls_default;
static pid_t tls_default_owner; /* a forked child that exits must not remove it */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void)remove(path);
        return 0;
}

static void tls_default_remove(void) {
        if (tls_default.dir[0] && getpid() == tls_default_owner)
                (void)nftw(tls_default.dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void tls_default_paths(struct harness_tls *t) {
        (void)snprintf(t->ca, sizeof(t->ca), "%s/ca.pem", t->dir);
        (void)snprintf(t->server_cert, sizeof(t->server_cert), "%s/server.pem", t->dir);
        (void)snprintf(t->server_key, sizeof(t->server_key), "%s/server.key", t->dir);
        (void)snprintf(t->client_cert, sizeof(t->client_cert), "%s/client.pem", t->dir);
        (void)snprintf(t->client_key, sizeof(t->client_key), "%s/client.key", t->dir);
}

int harness_tls_default(const struct harness_tls **ret) {
        const char *tmp = getenv("TMPDIR");
        struct harness_tls *t = &tls_default;
        int r;

        if (t->ca[0]) {
                *ret = t;
                return 0;
        }
        (void)snprintf(t->dir, sizeof(t->dir), "%s/ipc-tls-XXXXXX",
                       tmp && *tmp && strlen(tmp) < 60 ? tmp : "/tmp");
        if (!mkdtemp(t->dir)) {
                t->dir[0] = '\0';
                return -errno;
        }
        tls_default_owner = getpid();
        (void)atexit(tls_default_remove);
        r = harness_tls_make_ca(t->dir, "ca");
        if (r >= 0)
                r = harness_tls_make_cert(t->dir, "ca", "server", "/CN=ipc-test-broker", true);
        if (r >= 0)
                r = harness_tls_make_cert(t->dir, "ca", "client", "/CN=" HARNESS_TLS_CLIENT_CN,
                                          false);
        if (r < 0)
                return r;
        tls_default_paths(t);
        *ret = t;
        return 0;
}
