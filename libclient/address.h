/* SPDX-License-Identifier: MIT */
/*
 * Broker addresses: "unix:/path", "tcp:HOST:PORT" (HOST may be "[v6addr]"),
 * "tls:HOST:PORT" (TCP with TLS: the library's side only, a broker's TLS
 * listeners are configured), or a bare path (starting with '/' or '.')
 * meaning a UNIX socket.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/un.h>

enum address_kind {
        ADDRESS_UNIX,
        ADDRESS_TCP,
};

#define ADDRESS_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path))
#define ADDRESS_HOST_MAX 256
#define ADDRESS_PORT_MAX 8
/* Longest formatted address, "tcp:[host]:port" or "unix:path", with NUL. */
#define ADDRESS_STRING_MAX (ADDRESS_HOST_MAX + ADDRESS_PATH_MAX + 16)

struct address {
        enum address_kind kind;
        char path[ADDRESS_PATH_MAX]; /* ADDRESS_UNIX */
        char host[ADDRESS_HOST_MAX]; /* ADDRESS_TCP, without brackets */
        char port[ADDRESS_PORT_MAX]; /* ADDRESS_TCP, decimal 1..65535, or "0" (listeners: any free port) */
        bool tls;                    /* ADDRESS_TCP: spelled "tls:", TLS over the connection */
};

/*
 * Parses an address string.
 * Return: 0; -EINVAL for an unknown scheme, empty path, missing or bad port;
 * -ENAMETOOLONG for a path or host that does not fit.
 */
int address_parse(const char *s, struct address *ret);

/* Formats as "unix:PATH", "tcp:HOST:PORT" or "tls:HOST:PORT" ("tcp:[HOST]:PORT" for IPv6). */
void address_format(const struct address *a, char *buf, size_t size);

/*
 * Whether a TCP address's host is a numeric loopback address: 127.0.0.0/8
 * or ::1. A name ("localhost") is not: what it resolves to can change.
 */
bool address_is_loopback(const struct address *a);

/*
 * The broker's default UNIX socket path: $RUNTIME_DIRECTORY/ipc-brokerd.sock
 * when systemd gave the service a runtime directory, else
 * /run/ipc-broker/ipc-brokerd.sock for root and
 * $XDG_RUNTIME_DIR/ipc-broker/ipc-brokerd.sock otherwise.
 * Return: 0; -ENXIO when not root and neither variable is set;
 * -ENAMETOOLONG.
 */
int address_default_broker_path(char *buf, size_t size);

/*
 * The address a client uses when given none: $IPC_BROKER_ADDRESS if set;
 * else the per-user socket if it exists (non-root); else the system socket
 * /run/ipc-broker/ipc-brokerd.sock.
 */
int address_default_client(struct address *ret);

#define ADDRESS_SYSTEM_SOCKET "/run/ipc-broker/ipc-brokerd.sock"
#define ADDRESS_ENV "IPC_BROKER_ADDRESS"
