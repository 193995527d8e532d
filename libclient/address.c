/* SPDX-License-Identifier: MIT */
/*
 * Broker address strings (see address.h). Parsing is strict: a typo in an
 * address should fail loudly rather than connect somewhere unexpected.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "address.h"

#define USER_SOCKET_SUFFIX "/ipc-broker/ipc-brokerd.sock"

static int copy_string(char *dst, size_t size, const char *src, size_t len) {
        if (len >= size)
                return -ENAMETOOLONG;
        memcpy(dst, src, len);
        dst[len] = '\0';
        return 0;
}

static int parse_port(const char *s, char *ret, size_t size) {
        char *end;
        long v;

        if (*s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtol(s, &end, 10);
        if (errno != 0 || *end != '\0' || v < 1 || v > 65535)
                return -EINVAL;
        (void)snprintf(ret, size, "%ld", v);
        return 0;
}

/* "HOST:PORT" or "[V6]:PORT"; port "0" is accepted (a listener binds any free port). */
static int parse_tcp(const char *s, struct address *ret) {
        const char *host = s, *colon;
        size_t host_len;
        int r;

        if (*s == '[') {
                const char *close = strchr(s, ']');

                if (!close || close[1] != ':')
                        return -EINVAL;
                host = s + 1;
                host_len = (size_t)(close - host);
                colon = close + 1;
        } else {
                colon = strrchr(s, ':');
                if (!colon)
                        return -EINVAL;
                host_len = (size_t)(colon - s);
                if (memchr(s, ':', host_len)) /* bare IPv6 needs brackets */
                        return -EINVAL;
        }
        if (host_len == 0)
                return -EINVAL;
        r = copy_string(ret->host, sizeof(ret->host), host, host_len);
        if (r < 0)
                return r;
        if (strcmp(colon + 1, "0") == 0) { /* ephemeral port, meaningful for listeners */
                (void)snprintf(ret->port, sizeof(ret->port), "0");
                return 0;
        }
        return parse_port(colon + 1, ret->port, sizeof(ret->port));
}

int address_parse(const char *s, struct address *ret) {
        struct address a = {0};
        int r;

        if (!s || !ret)
                return -EINVAL;
        if (strncmp(s, "unix:", 5) == 0 || s[0] == '/' || s[0] == '.') {
                const char *path = strncmp(s, "unix:", 5) == 0 ? s + 5 : s;

                if (*path == '\0')
                        return -EINVAL;
                a.kind = ADDRESS_UNIX;
                r = copy_string(a.path, sizeof(a.path), path, strlen(path));
        } else if (strncmp(s, "tcp:", 4) == 0 || strncmp(s, "tls:", 4) == 0) {
                a.kind = ADDRESS_TCP;
                a.tls = s[1] == 'l';
                r = parse_tcp(s + 4, &a);
        } else {
                r = -EINVAL;
        }
        if (r < 0)
                return r;
        *ret = a;
        return 0;
}

void address_format(const struct address *a, char *buf, size_t size) {
        const char *scheme = a->tls ? "tls" : "tcp";

        if (a->kind == ADDRESS_UNIX)
                (void)snprintf(buf, size, "unix:%s", a->path);
        else if (strchr(a->host, ':'))
                (void)snprintf(buf, size, "%s:[%s]:%s", scheme, a->host, a->port);
        else
                (void)snprintf(buf, size, "%s:%s:%s", scheme, a->host, a->port);
}

bool address_is_loopback(const struct address *a) {
        struct in6_addr v6;
        struct in_addr v4;

        if (a->kind != ADDRESS_TCP)
                return false;
        if (inet_pton(AF_INET, a->host, &v4) == 1)
                return (ntohl(v4.s_addr) >> 24) == 127;
        return inet_pton(AF_INET6, a->host, &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

static int user_socket_path(char *buf, size_t size) {
        const char *runtime = getenv("XDG_RUNTIME_DIR");
        int n;

        if (!runtime || runtime[0] != '/')
                return -ENXIO;
        n = snprintf(buf, size, "%s%s", runtime, USER_SOCKET_SUFFIX);
        if (n < 0 || (size_t)n >= size)
                return -ENAMETOOLONG;
        return 0;
}

/* systemd's RuntimeDirectory= (a colon-separated list: the first entry is ours). */
static int service_socket_path(char *buf, size_t size) {
        const char *dir = getenv("RUNTIME_DIRECTORY");
        size_t len;
        int n;

        if (!dir || dir[0] != '/')
                return -ENXIO;
        len = strcspn(dir, ":");
        n = snprintf(buf, size, "%.*s/ipc-brokerd.sock", (int)len, dir);
        if (n < 0 || (size_t)n >= size)
                return -ENAMETOOLONG;
        return 0;
}

int address_default_broker_path(char *buf, size_t size) {
        if (service_socket_path(buf, size) == 0)
                return 0;
        if (geteuid() == 0) {
                if (strlen(ADDRESS_SYSTEM_SOCKET) >= size)
                        return -ENAMETOOLONG;
                strcpy(buf, ADDRESS_SYSTEM_SOCKET);
                return 0;
        }
        return user_socket_path(buf, size);
}

int address_default_client(struct address *ret) {
        const char *env = getenv(ADDRESS_ENV);
        char path[ADDRESS_PATH_MAX];
        struct stat st;

        if (env && *env)
                return address_parse(env, ret);
        if (geteuid() != 0 && user_socket_path(path, sizeof(path)) == 0 &&
            stat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
                *ret = (struct address){.kind = ADDRESS_UNIX};
                strcpy(ret->path, path);
                return 0;
        }
        return address_parse("unix:" ADDRESS_SYSTEM_SOCKET, ret);
}
