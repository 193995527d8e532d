/* SPDX-License-Identifier: MIT */
/*
 * Socket activation (see activation.h).
 */
#include "build-config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "activation.h"
#include "broker.h"
#include "listener.h"
#include "log.h"
#include "sd-compat.h"
#include "tls.h"

/* What one passed fd is: 1 UNIX, 2 TCP, 0 neither (not a listening stream socket). */
enum passed_kind { PASSED_OTHER, PASSED_UNIX, PASSED_TCP };

static enum passed_kind passed_kind(int fd) {
        if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) > 0)
                return PASSED_UNIX;
        if (sd_is_socket_inet(fd, 0, SOCK_STREAM, 1, 0) > 0)
                return PASSED_TCP;
        return PASSED_OTHER;
}

/* A FileDescriptorName= that says one kind while the fd is the other is worth a warning. */
static void check_name(int fd, const char *name, enum passed_kind kind) {
        char esc[LOG_ESCAPE_BYTES(64)];

        if ((kind == PASSED_UNIX && strcmp(name, "tcp") == 0) ||
            (kind == PASSED_TCP && strcmp(name, "unix") == 0))
                log_warning("passed fd %d is named \"%s\" but is a %s socket; using it as one", fd,
                            log_escape(name, strlen(name), esc, sizeof(esc)),
                            kind == PASSED_UNIX ? "UNIX" : "TCP");
}

static void take_fd(struct activation *a, int fd, const char *name) {
        char esc[LOG_ESCAPE_BYTES(64)];
        enum passed_kind kind;

        if (ring_store_name_is_ring(name)) {
                ring_store_take(&a->rings, fd, name);
                return;
        }
        kind = passed_kind(fd);
        (void)log_escape(name, strlen(name), esc, sizeof(esc));
        if (kind == PASSED_OTHER) {
                log_error("passed fd %d (\"%s\") is not a listening stream socket (UNIX or TCP); "
                          "closing it",
                          fd, esc);
                (void)close(fd);
                return;
        }
        if ((kind == PASSED_UNIX ? a->n_unix : a->n_tcp) == ACTIVATION_FDS_MAX) {
                log_error("passed fd %d (\"%s\"): more than %d sockets of one kind; closing it", fd,
                          esc, ACTIVATION_FDS_MAX);
                (void)close(fd);
                return;
        }
        check_name(fd, name, kind);
        log_debug("passed fd %d (\"%s\"): a listening %s socket", fd, esc,
                  kind == PASSED_UNIX ? "UNIX" : "TCP");
        if (kind == PASSED_UNIX)
                a->unix_fds[a->n_unix++] = fd;
        else
                a->tcp_fds[a->n_tcp++] = fd;
}

static void names_free(char **names) {
        for (size_t i = 0; names && names[i]; i++)
                free(names[i]);
        free(names);
}

void activation_collect(struct activation *ret) {
        char **names = NULL;
        int n;

        *ret = (struct activation){};
        /* Unset: nothing we might start later should think the sockets are its own. */
        n = sd_listen_fds_with_names(1, &names);
        if (n < 0) {
                log_errno(LOG_WARNING, n, "ignoring the passed sockets ($LISTEN_FDS): %m");
                return;
        }
        for (int i = 0; i < n; i++)
                take_fd(ret, SD_LISTEN_FDS_START + i, names && names[i] ? names[i] : "unknown");
        names_free(names);
}

/* The bound address as sockaddr, and whether @a (numeric) names exactly it. */
static bool address_matches(const struct address *a, const struct sockaddr_storage *ss) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)ss;
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)ss;
        struct in6_addr a6;
        struct in_addr a4;
        int port = atoi(a->port);

        if (a->kind != ADDRESS_TCP || port == 0)
                return false;
        if (ss->ss_family == AF_INET)
                return inet_pton(AF_INET, a->host, &a4) == 1 && a4.s_addr == v4->sin_addr.s_addr &&
                       ntohs(v4->sin_port) == port;
        if (ss->ss_family == AF_INET6)
                return inet_pton(AF_INET6, a->host, &a6) == 1 &&
                       memcmp(&a6, &v6->sin6_addr, sizeof(a6)) == 0 && ntohs(v6->sin6_port) == port;
        return false;
}

/* "tcp:HOST:PORT" of a passed socket, for the message. */
static void bound_name(int fd, char *buf, size_t len) {
        char host[INET6_ADDRSTRLEN], port[8];
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);

        if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 ||
            getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
                        NI_NUMERICHOST | NI_NUMERICSERV) != 0)
                (void)snprintf(buf, len, "fd %d", fd);
        else
                (void)snprintf(buf, len, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host,
                               port);
}

static const struct listen_spec *spec_for_fd(int fd, const struct listen_spec *specs, size_t n) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);

        if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (address_matches(&specs[i].address, &ss))
                        return &specs[i];
        return NULL;
}

int activation_match_tcp(struct activation *a, const struct listen_spec *specs, size_t n,
                         const char *config_path) {
        for (size_t i = 0; i < a->n_tcp; i++) {
                const struct listen_spec *spec = spec_for_fd(a->tcp_fds[i], specs, n);
                char name[INET6_ADDRSTRLEN + 16];

                if (spec) {
                        a->tcp_tls[i] = spec->tls ? tls_server_ref(spec->tls) : NULL;
                        continue;
                }
                bound_name(a->tcp_fds[i], name, sizeof(name));
                log_error(
                        "the service manager passed a TCP socket on %s, but no \"listen\".\"tcp\" "
                        "entry of %s has that address: add {\"address\": \"%s\", \"tls\": "
                        "{...}} (or \"insecure\": true on a loopback address) so the socket is "
                        "served as configured",
                        name, config_path ? config_path : "the configuration", name);
                return -ENOENT;
        }
        return 0;
}

static int adopt(struct broker *b, int *fd, enum address_kind kind, struct tls_server *tls) {
        struct listener *l;
        int r, raw = *fd;

        *fd = -1; /* listener_adopt() owns it now, also when it fails */
        r = listener_adopt(b, raw, kind, tls, &l);
        if (r < 0) {
                log_errno(LOG_ERR, r, "cannot listen on passed fd %d: %m", raw);
                return -BROKER_E_LISTEN;
        }
        list_append(&b->listeners, &l->node);
        log_info("listening on %s (socket-activated)", l->name);
        return 0;
}

int activation_listen(struct activation *a, struct broker *b) {
        int r = 0;

        for (size_t i = 0; i < a->n_unix && r >= 0; i++)
                r = adopt(b, &a->unix_fds[i], ADDRESS_UNIX, NULL);
        for (size_t i = 0; i < a->n_tcp && r >= 0; i++)
                r = adopt(b, &a->tcp_fds[i], ADDRESS_TCP, a->tcp_tls[i]);
        return r;
}

void activation_done(struct activation *a) {
        for (size_t i = 0; i < a->n_unix; i++)
                if (a->unix_fds[i] >= 0)
                        (void)close(a->unix_fds[i]);
        for (size_t i = 0; i < a->n_tcp; i++) {
                if (a->tcp_fds[i] >= 0)
                        (void)close(a->tcp_fds[i]);
                tls_server_unref(a->tcp_tls[i]);
        }
        ring_store_done(&a->rings);
        *a = (struct activation){};
}
