/* SPDX-License-Identifier: MIT */
/*
 * Daemon configuration: JSON loaded with jansson, validated against a
 * table of keys, with built-in defaults when there is no file. Documented
 * key by key in ipc-brokerd.json(5); conf/ipc-brokerd.json is a sample.
 *
 * Errors name the file and the key path, e.g.
 *   /etc/ipc-broker/ipc-brokerd.json: limits.max_connections: expected an
 *   integer from 1 to 1000000, got "lots"
 * and, for JSON syntax errors, file:line:column.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "acl.h"
#include "proto.h"

#define CONFIG_DEFAULT_PATH SYSCONFDIR "/ipc-broker/ipc-brokerd.json"
#define CONFIG_ERROR_MAX 512
#define CONFIG_TCP_MAX 16
#define CONFIG_UNIX_MODE_DEFAULT 0660

/* Settings of one channel: the defaults, or a per-channel override. */
struct channel_settings {
        uint32_t max_message_bytes;    /* default 1 MiB, 1..256 MiB */
        uint64_t ring_bytes;           /* default 4 MiB, power of two, 64 KiB..1 GiB */
        enum proto_overflow overflow;  /* default PROTO_OVERFLOW_BLOCK */
        bool shared_memory;            /* default true: local clients may map the ring */
};

/*
 * One entry of "channels": an exact name declares a channel that exists
 * from start-up; a wildcard pattern only overrides settings of matching
 * channels when they are created. Any key an entry omits comes from
 * "channel_defaults". Lookup: an exact entry first, else the first
 * matching pattern in file order.
 */
struct channel_rule {
        char *pattern; /* NUL-terminated valid name or pattern */
        bool is_pattern;
        struct channel_settings settings;
};

/* How a TLS listener authenticates its clients ("auth"). */
enum config_tls_auth {
        CONFIG_TLS_AUTH_CERTIFICATE, /* a client certificate client_ca signed; name = subject CN */
        CONFIG_TLS_AUTH_TOKEN,       /* a token in HELLO; name = the token's key in "tokens" */
        _CONFIG_TLS_AUTH_MAX,
};

#define CONFIG_TOKEN_HASH_BYTES 32 /* SHA-256 */
/* Longest token name: it becomes the remote identity (IDENTITY_NAME_MAX). */
#define CONFIG_TOKEN_NAME_MAX 255

/* One entry of "tokens": {"NAME": "sha256:HEX"}; only the hash of the token is kept. */
struct config_token {
        char *name; /* NUL-terminated, 1..CONFIG_TOKEN_NAME_MAX bytes, no control characters */
        uint8_t sha256[CONFIG_TOKEN_HASH_BYTES];
};

/* "tls" of a TCP listener. The files are only named here; brokerd/tls.c loads them. */
struct config_tls {
        char *certificate; /* absolute path: PEM, the server certificate (and chain) */
        char *key;         /* absolute path: PEM, its private key */
        char *client_ca;   /* absolute path: PEM, CAs for client certificates; "certificate" only */
        enum config_tls_auth auth;   /* default CONFIG_TLS_AUTH_CERTIFICATE */
        struct config_token *tokens; /* "token" only, at least one, distinct hashes */
        size_t n_tokens;
};

/*
 * One entry of "listen"."tcp": TLS, or plain TCP with "insecure": true on a
 * numeric loopback address (127.0.0.0/8, ::1). Nothing else loads.
 */
struct config_tcp {
        char *address;          /* "HOST:PORT", validated by address_parse("tcp:"...) */
        bool insecure;          /* plain TCP: clients are anonymous */
        struct config_tls *tls; /* NULL when insecure */
};

struct config {
        char *path;                 /* file loaded, NULL for built-in defaults */

        /* "listen": {"unix": PATH | null, "tcp": [{...}, ...], "unix_mode": "0660"} */
        char *unix_path;            /* NULL: the default path (address_default_broker_path) */
        bool unix_disabled;         /* "unix": null */
        struct config_tcp tcp[CONFIG_TCP_MAX];
        size_t n_tcp;
        /* "unix_mode": "0660" by default, "0000".."0777"; the mode of a UNIX socket node
           the daemon binds (not of one passed by the service manager) */
        uint32_t unix_mode;
        /* "unix_group": null (default: the daemon's own group, ipc-broker under systemd) or a
           group name; the group of the socket node and of a directory the daemon creates */
        bool unix_group_set;
        gid_t unix_gid;

        /* "limits" */
        uint32_t max_connections;     /* default 1024, 1..1000000 */
        uint32_t max_message_bytes;   /* broker-wide ceiling, default 1 MiB, 1..256 MiB;
                                         a channel limit the file sets above it is an
                                         error; the built-in channel default follows
                                         it down */
        uint64_t output_queue_bytes;  /* per-client queue cap, default 8 MiB, 64 KiB..4 GiB */
        uint64_t stall_timeout_usec;  /* "stall_timeout_ms": block-policy subscriber making no
                                         progress this long is disconnected; default 30000 ms,
                                         100..3600000 */
        uint64_t handshake_timeout_usec; /* "handshake_timeout_ms", default 10000, 100..600000 */
        uint64_t frame_timeout_usec; /* "frame_timeout_ms": a started frame must be complete
                                        within it; default 30000, 100..3600000 */
        uint32_t max_subscriptions;   /* per connection, default 1024, 1..1000000 */
        /* Per-user quotas (quota.h); a user is a local uid, a remote name, or "anonymous". */
        uint32_t max_connections_per_uid;  /* default 128, 1..1000000 */
        uint32_t max_channels;             /* channels at once, declared ones included; default
                                              4096, 1..1000000 */
        uint64_t max_queued_bytes_per_uid; /* output queued to one user's connections together;
                                              default 128 MiB, output_queue_bytes..1 TiB */
        uint32_t max_rings_per_uid;        /* ring slots one user's connections hold; default
                                              64, 0..1000000 */

        /* "channel_defaults" */
        struct channel_settings channel_defaults;

        /* "channels": {NAME_OR_PATTERN: {settings...}, ...} in file order */
        struct channel_rule *rules;
        size_t n_rules;

        /* "access": {"default": "allow" | "deny", "rules": [...]}; see acl.h. Names in
           "user:" and "group:" principals are resolved when the file is loaded. */
        struct acl access;
};

/* Fills *c with the built-in defaults (no file). */
void config_init_defaults(struct config *c);

/*
 * Loads and validates a config file on top of the defaults.
 * @c: written only on success, so a failed load leaves it as it was. It is
 *     overwritten, not freed: pass a fresh struct (or one after
 *     config_deinit()). For a SIGHUP reload, load into a scratch struct and,
 *     on success, config_deinit() the running one and copy the scratch over.
 * @path: the file. Keys are applied in a fixed order (listen, limits,
 *        channel_defaults, channels, access), not file order, so channel
 *        entries inherit channel_defaults and are checked against limits
 *        wherever they appear. Any object may hold a "comment" string,
 *        ignored; in "channels" a "comment" key with an object value is a
 *        channel. Names in "access" are looked up in the user and group
 *        databases (NSS) here.
 * @required: when false, a missing file (ENOENT) yields the defaults with
 *            path NULL, and errbuf is set to "".
 * @errbuf: receives the message on failure, no trailing newline:
 *          "FILE:LINE:COLUMN: jansson text" for syntax errors, else
 *          "FILE: KEY.PATH: problem" (a path segment is double-quoted when
 *          it is not a plain name token, e.g. channels."a.b".overflow), or
 *          "FILE: cannot read: strerror".
 * Return: 0; -EINVAL on an invalid file; -ENOENT (required file missing);
 * -EISDIR, -EACCES or another negative errno from opening; -ENOMEM. errbuf
 * is filled in every failure case.
 */
int config_load(struct config *c, const char *path, bool required, char *errbuf, size_t errlen);

/* Frees what config_load() allocated and resets *c to the defaults; it may be loaded again. */
void config_deinit(struct config *c);

/*
 * Settings a new channel of this name gets: the exact rule, else the first
 * matching pattern rule in file order, else channel_defaults. The pointer
 * lives as long as *c.
 */
const struct channel_settings *config_channel_settings(const struct config *c, const char *name);

/* Whether two "listen"."tcp" entries are the same, TLS settings and tokens included. */
bool config_tcp_equal(const struct config_tcp *a, const struct config_tcp *b);

/* "certificate", "token" ("unknown" for an out-of-range value). */
const char *config_tls_auth_name(enum config_tls_auth a);

/* "block", "drop", "disconnect" ("unknown" for an out-of-range value). */
const char *config_overflow_name(enum proto_overflow o);
