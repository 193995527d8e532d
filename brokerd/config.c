/* SPDX-License-Identifier: MIT */
/*
 * Configuration loader (see config.h and ipc-brokerd.json(5)).
 *
 * Every JSON object the file may hold is described by a table of keys: a
 * name, a loader that checks the value's type and range, and a setter that
 * stores it. object_load() first rejects any key its table does not name,
 * then applies the present keys in *table* order rather than file order, so
 * "limits" is known before "channel_defaults" is checked against it, and
 * both before the "channels" entries that inherit from them, whatever order
 * the file lists them in.
 *
 * jansson keeps no positions once parsing is done, so semantic errors name a
 * key path ("channels."a.b".ring_bytes") instead of a line.
 */
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "address.h"
#include "channel-name.h"
#include "config-internal.h"
#include "config.h"
#include "util.h"

#define KIB UINT64_C(1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)

#define CHANNEL_SETTINGS_DEFAULT                                                                   \
        ((struct channel_settings){                                                                \
                .max_message_bytes = 1 * MIB,                                                      \
                .ring_bytes = 4 * MIB,                                                             \
                .overflow = PROTO_OVERFLOW_BLOCK,                                                  \
                .shared_memory = true,                                                             \
        })

static const char *const overflow_names[_PROTO_OVERFLOW_MAX] = {
        [PROTO_OVERFLOW_BLOCK] = "block",
        [PROTO_OVERFLOW_DROP] = "drop",
        [PROTO_OVERFLOW_DISCONNECT] = "disconnect",
};

DEFINE_CLEANUP(FILE *, fclose)

/* --- key paths and error messages --- */

/* A segment needs no quotes when it is one token of a channel name. */
static bool segment_plain(const char *s, size_t len) {
        return channel_name_valid(s, len) && !memchr(s, '.', len);
}

static void path_put(struct loader *l, const char *s, size_t len) {
        size_t room = sizeof(l->path) - 1 - l->path_len;

        len = MIN(len, room);
        memcpy(l->path + l->path_len, s, len);
        l->path_len += len;
        l->path[l->path_len] = '\0';
}

/* Appends a double-quoted segment, escaping quotes, backslashes and control bytes. */
static void path_put_quoted(struct loader *l, const char *s, size_t len) {
        path_put(l, "\"", 1);
        for (size_t i = 0; i < len; i++) {
                unsigned char ch = (unsigned char)s[i];
                char esc[8];
                int n;

                if (ch == '"' || ch == '\\')
                        n = snprintf(esc, sizeof(esc), "\\%c", ch);
                else if (ch < 0x20 || ch == 0x7f)
                        n = snprintf(esc, sizeof(esc), "\\u%04x", ch);
                else
                        n = snprintf(esc, sizeof(esc), "%c", ch);
                path_put(l, esc, (size_t)n);
        }
        path_put(l, "\"", 1);
}

/*
 * Appends ".seg" to the key path, quoting the segment unless it is made of
 * name characters only, so a channel name holding dots stays one segment.
 * Return: the previous length, for path_pop().
 */
size_t path_push(struct loader *l, const char *seg, size_t len) {
        size_t old = l->path_len;

        if (old > 0)
                path_put(l, ".", 1);
        if (segment_plain(seg, len))
                path_put(l, seg, len);
        else
                path_put_quoted(l, seg, len);
        return old;
}

size_t path_push_index(struct loader *l, size_t i) {
        size_t old = l->path_len;
        char buf[32];

        (void)snprintf(buf, sizeof(buf), "[%zu]", i);
        path_put(l, buf, strlen(buf));
        return old;
}

void path_pop(struct loader *l, size_t old) {
        l->path_len = old;
        l->path[old] = '\0';
}

/* Writes "FILE: PATH: message" (or "FILE: message" at the top level). Return: -EINVAL. */
int loader_error(struct loader *l, const char *fmt, ...) {
        char msg[CONFIG_ERROR_MAX];
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (l->path_len > 0)
                (void)snprintf(l->errbuf, l->errlen, "%s: %s: %s", l->file, l->path, msg);
        else
                (void)snprintf(l->errbuf, l->errlen, "%s: %s", l->file, msg);
        return -EINVAL;
}

int loader_oom(struct loader *l) {
        (void)snprintf(l->errbuf, l->errlen, "%s: %s", l->file, strerror(ENOMEM));
        return -ENOMEM;
}

/* The offending value as the user wrote it: JSON text for scalars, a word for containers. */
static void value_describe(json_t *v, char *buf, size_t size) {
        char *s;

        if (json_is_object(v) || json_is_array(v)) {
                (void)snprintf(buf, size, "%s", json_is_object(v) ? "an object" : "an array");
                return;
        }
        s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        (void)snprintf(buf, size, "%s", s ? s : "a value");
        free(s);
}

/* Writes "expected WHAT, got VALUE". Return: -EINVAL. */
int loader_expected(struct loader *l, json_t *v, const char *fmt, ...) {
        char what[CONFIG_ERROR_MAX / 2], got[CONFIG_ERROR_MAX / 2];
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        value_describe(v, got, sizeof(got));
        return loader_error(l, "expected %s, got %s", what, got);
}

/* --- scalar key types --- */

static bool value_in_range(json_t *v, uint64_t min, uint64_t max, uint64_t *ret) {
        json_int_t i;

        if (!json_is_integer(v))
                return false;
        i = json_integer_value(v);
        if (i < 0 || (uint64_t)i < min || (uint64_t)i > max)
                return false;
        *ret = (uint64_t)i;
        return true;
}

static int key_uint(struct loader *l, const struct key *k, json_t *v, void *target) {
        uint64_t x;

        if (!value_in_range(v, k->min, k->max, &x))
                return loader_expected(l, v, "an integer from %" PRIu64 " to %" PRIu64, k->min,
                                       k->max);
        k->set(target, x);
        return 0;
}

static int key_pow2(struct loader *l, const struct key *k, json_t *v, void *target) {
        uint64_t x;

        if (!value_in_range(v, k->min, k->max, &x) || (x & (x - 1)) != 0)
                return loader_expected(l, v, "a power of two from %" PRIu64 " to %" PRIu64, k->min,
                                       k->max);
        k->set(target, x);
        return 0;
}

/* Not above the broker-wide limit ("limits" loads first); a failed load is discarded whole. */
static int key_channel_max(struct loader *l, const struct key *k, json_t *v, void *target) {
        int r = key_uint(l, k, v, target);

        if (r >= 0 && (uint64_t)json_integer_value(v) > l->c->max_message_bytes)
                return loader_error(l,
                                    "%" JSON_INTEGER_FORMAT
                                    " exceeds limits.max_message_bytes (%" PRIu32 ")",
                                    json_integer_value(v), l->c->max_message_bytes);
        return r;
}

static int key_overflow(struct loader *l, const struct key *k, json_t *v, void *target) {
        const char *s = json_string_value(v);

        for (size_t i = 0; s && i < ARRAY_SIZE(overflow_names); i++) {
                if (strcmp(s, overflow_names[i]) == 0) {
                        k->set(target, i);
                        return 0;
                }
        }
        return loader_expected(l, v, "one of \"block\", \"drop\", \"disconnect\"");
}

static int key_bool(struct loader *l, const struct key *k, json_t *v, void *target) {
        if (!json_is_boolean(v))
                return loader_expected(l, v, "true or false");
        k->set(target, json_is_true(v) ? 1 : 0);
        return 0;
}

/* "comment": any string, ignored, so a file can document itself. */
int key_comment(struct loader *l, const struct key *k, json_t *v, void *target) {
        if (!json_is_string(v))
                return loader_expected(l, v, "a string");
        return 0;
}

#define DEFINE_SETTER(fn, type, field, scale)                                                      \
        static void fn(void *target, uint64_t v) {                                                 \
                ((type *)target)->field = v * (scale);                                             \
        }

DEFINE_SETTER(set_unix_mode, struct config, unix_mode, 1)
DEFINE_SETTER(set_max_connections, struct config, max_connections, 1)
DEFINE_SETTER(set_max_message_bytes, struct config, max_message_bytes, 1)
DEFINE_SETTER(set_output_queue_bytes, struct config, output_queue_bytes, 1)
DEFINE_SETTER(set_stall_timeout, struct config, stall_timeout_usec, USEC_PER_MSEC)
DEFINE_SETTER(set_handshake_timeout, struct config, handshake_timeout_usec, USEC_PER_MSEC)
DEFINE_SETTER(set_frame_timeout, struct config, frame_timeout_usec, USEC_PER_MSEC)
DEFINE_SETTER(set_max_subscriptions, struct config, max_subscriptions, 1)
DEFINE_SETTER(set_max_connections_per_uid, struct config, max_connections_per_uid, 1)
DEFINE_SETTER(set_max_channels, struct config, max_channels, 1)
DEFINE_SETTER(set_max_queued_bytes_per_uid, struct config, max_queued_bytes_per_uid, 1)
DEFINE_SETTER(set_max_rings_per_uid, struct config, max_rings_per_uid, 1)
DEFINE_SETTER(set_channel_max, struct channel_settings, max_message_bytes, 1)
DEFINE_SETTER(set_ring_bytes, struct channel_settings, ring_bytes, 1)
DEFINE_SETTER(set_overflow, struct channel_settings, overflow, 1)
DEFINE_SETTER(set_shared_memory, struct channel_settings, shared_memory, 1)

/* --- objects --- */

static const struct key *key_find(const struct key *table, const char *name, size_t len) {
        for (; table->name; table++)
                if (strlen(table->name) == len && memcmp(table->name, name, len) == 0)
                        return table;
        return NULL;
}

static int object_check_keys(struct loader *l, const struct key *table, json_t *obj) {
        const char *name;
        size_t len;
        json_t *v;

        json_object_keylen_foreach(obj, name, len, v) {
                (void)v;
                if (!key_find(table, name, len)) {
                        (void)path_push(l, name, len);
                        return loader_error(l, "unknown key");
                }
        }
        return 0;
}

/* Checks that obj holds only keys of table, then loads them in table order. */
int object_load(struct loader *l, const struct key *table, json_t *obj, void *target) {
        int r;

        if (!json_is_object(obj))
                return loader_expected(l, obj, "an object");
        r = object_check_keys(l, table, obj);
        if (r < 0)
                return r;
        for (const struct key *k = table; k->name; k++) {
                json_t *v = json_object_get(obj, k->name);
                size_t old;

                if (!v)
                        continue;
                old = path_push(l, k->name, strlen(k->name));
                r = k->load(l, k, v, target);
                path_pop(l, old);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* --- "listen" --- */

/* address_parse() decides what a listener may be; both forms fit in ADDRESS_STRING_MAX. */
static bool address_valid(const char *scheme, const char *s) {
        char full[ADDRESS_STRING_MAX];
        struct address a;
        int n;

        n = snprintf(full, sizeof(full), "%s%s", scheme, s);
        if (n < 0 || (size_t)n >= sizeof(full))
                return false;
        return address_parse(full, &a) == 0;
}

static int key_unix(struct loader *l, const struct key *k, json_t *v, void *target) {
        struct config *c = target;
        char *p;

        if (json_is_null(v)) {
                c->unix_disabled = true;
                return 0;
        }
        if (!json_is_string(v) || !address_valid("unix:", json_string_value(v)))
                return loader_expected(l, v, "null or a socket path of 1 to %zu bytes",
                                       ADDRESS_PATH_MAX - 1);
        p = strdup(json_string_value(v));
        if (!p)
                return loader_oom(l);
        c->unix_path = p;
        return 0;
}

/* --- "listen"."tcp" entries: TLS, or "insecure" plain TCP on loopback --- */

static int key_tcp_address(struct loader *l, const struct key *k, json_t *v, void *target) {
        struct config_tcp *t = target;

        if (!json_is_string(v) || !address_valid("tcp:", json_string_value(v)))
                return loader_expected(l, v, "\"HOST:PORT\" or \"[IPV6]:PORT\"");
        t->address = strdup(json_string_value(v));
        return t->address ? 0 : loader_oom(l);
}

/* A file the daemon reads at start-up: absolute, so it does not depend on the working directory. */
static int key_path(struct loader *l, const struct key *k, json_t *v, void *target) {
        char **field = (char **)(void *)((char *)target + k->offset); /* offsetof a char * */
        const char *s = json_string_value(v);

        if (!s || s[0] != '/' || strlen(s) != json_string_length(v))
                return loader_expected(l, v, "an absolute file path");
        *field = strdup(s);
        return *field ? 0 : loader_oom(l);
}

static const char *const tls_auth_names[_CONFIG_TLS_AUTH_MAX] = {
        [CONFIG_TLS_AUTH_CERTIFICATE] = "certificate",
        [CONFIG_TLS_AUTH_TOKEN] = "token",
};

static int key_tls_auth(struct loader *l, const struct key *k, json_t *v, void *target) {
        struct config_tls *t = target;
        const char *s = json_string_value(v);

        for (size_t i = 0; s && i < ARRAY_SIZE(tls_auth_names); i++) {
                if (strcmp(s, tls_auth_names[i]) == 0) {
                        t->auth = (enum config_tls_auth)i;
                        return 0;
                }
        }
        return loader_expected(l, v, "\"certificate\" or \"token\"");
}

static int hex_digit(char ch) {
        if (ch >= '0' && ch <= '9')
                return ch - '0';
        if (ch >= 'a' && ch <= 'f')
                return ch - 'a' + 10;
        if (ch >= 'A' && ch <= 'F')
                return ch - 'A' + 10;
        return -1;
}

/* "sha256:" and 64 hex digits. Return: 0; -EINVAL. */
static int token_hash_parse(const char *s, uint8_t *ret) {
        size_t len = strlen("sha256:");

        if (strncmp(s, "sha256:", len) != 0 || strlen(s) != len + 2 * CONFIG_TOKEN_HASH_BYTES)
                return -EINVAL;
        for (size_t i = 0; i < CONFIG_TOKEN_HASH_BYTES; i++) {
                int hi = hex_digit(s[len + 2 * i]), lo = hex_digit(s[len + 2 * i + 1]);

                if (hi < 0 || lo < 0)
                        return -EINVAL;
                ret[i] = (uint8_t)(hi << 4 | lo);
        }
        return 0;
}

static bool token_name_valid(const char *s, size_t len) {
        if (len == 0 || len > CONFIG_TOKEN_NAME_MAX)
                return false;
        for (size_t i = 0; i < len; i++)
                if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                        return false;
        return true;
}

/*
 * One token. The value is never echoed in an error: someone may have put
 * the token itself there instead of its hash, and errors end up in logs.
 */
static int token_load(struct loader *l, struct config_tls *t, const char *name, size_t len,
                      json_t *v) {
        struct config_token *tok = &t->tokens[t->n_tokens];

        if (!token_name_valid(name, len))
                return loader_error(l, "a token name is 1 to %d bytes without control characters",
                                    CONFIG_TOKEN_NAME_MAX);
        if (!json_is_string(v) || token_hash_parse(json_string_value(v), tok->sha256) < 0)
                return loader_error(l, "expected \"sha256:\" and the 64 hex digits of the "
                                       "token's SHA-256 (printf %%s TOKEN | sha256sum), not the "
                                       "token itself");
        for (size_t i = 0; i < t->n_tokens; i++)
                if (memcmp(t->tokens[i].sha256, tok->sha256, CONFIG_TOKEN_HASH_BYTES) == 0)
                        return loader_error(l, "the same token as tokens.%s", t->tokens[i].name);
        tok->name = strndup(name, len);
        if (!tok->name)
                return loader_oom(l);
        t->n_tokens++;
        return 0;
}

static int key_tokens(struct loader *l, const struct key *k, json_t *v, void *target) {
        struct config_tls *t = target;
        const char *name;
        json_t *entry;
        size_t len;

        if (!json_is_object(v) || json_object_size(v) == 0)
                return loader_expected(l, v, "an object {\"NAME\": \"sha256:HEX\", ...}");
        t->tokens = calloc(json_object_size(v), sizeof(*t->tokens));
        if (!t->tokens)
                return loader_oom(l);
        json_object_keylen_foreach(v, name, len, entry) {
                size_t old = path_push(l, name, len);
                int r = token_load(l, t, name, len, entry);

                path_pop(l, old);
                if (r < 0)
                        return r;
        }
        return 0;
}

static const struct key tls_keys[] = {
        {"comment", key_comment},
        {"certificate", key_path, .offset = offsetof(struct config_tls, certificate)},
        {"key", key_path, .offset = offsetof(struct config_tls, key)},
        {"client_ca", key_path, .offset = offsetof(struct config_tls, client_ca)},
        {"auth", key_tls_auth},
        {"tokens", key_tokens},
        {},
};

/* What "auth" needs and excludes, checked once all of "tls" is loaded. */
static int tls_check(struct loader *l, const struct config_tls *t) {
        if (!t->certificate)
                return loader_error(l, "\"certificate\" is required");
        if (!t->key)
                return loader_error(l, "\"key\" is required");
        if (t->auth == CONFIG_TLS_AUTH_CERTIFICATE && !t->client_ca)
                return loader_error(l, "\"client_ca\" is required with \"auth\": \"certificate\"");
        if (t->auth == CONFIG_TLS_AUTH_CERTIFICATE && t->tokens)
                return loader_error(l, "\"tokens\" needs \"auth\": \"token\"");
        if (t->auth == CONFIG_TLS_AUTH_TOKEN && !t->tokens)
                return loader_error(l, "\"tokens\" is required with \"auth\": \"token\"");
        if (t->auth == CONFIG_TLS_AUTH_TOKEN && t->client_ca)
                return loader_error(l, "\"client_ca\" needs \"auth\": \"certificate\"");
        return 0;
}

static int key_tcp_tls(struct loader *l, const struct key *k, json_t *v, void *target) {
        struct config_tcp *t = target;
        int r;

        t->tls = calloc(1, sizeof(*t->tls));
        if (!t->tls)
                return loader_oom(l);
        r = object_load(l, tls_keys, v, t->tls);
        return r < 0 ? r : tls_check(l, t->tls);
}

DEFINE_SETTER(set_tcp_insecure, struct config_tcp, insecure, 1)

static const struct key tcp_keys[] = {
        {"comment", key_comment},
        {"address", key_tcp_address},
        {"insecure", key_bool, 0, 1, set_tcp_insecure},
        {"tls", key_tcp_tls},
        {},
};

static bool tcp_on_loopback(const struct config_tcp *t) {
        char full[ADDRESS_STRING_MAX];
        struct address a;

        (void)snprintf(full, sizeof(full), "tcp:%s", t->address);
        return address_parse(full, &a) == 0 && address_is_loopback(&a);
}

/* TLS, or plain TCP that says so and stays on this machine. */
static int tcp_check(struct loader *l, const struct config_tcp *t) {
        if (!t->address)
                return loader_error(l, "\"address\" is required");
        if (t->tls && t->insecure)
                return loader_error(l, "\"tls\" and \"insecure\": true exclude each other");
        if (t->tls)
                return 0;
        if (!tcp_on_loopback(t))
                return loader_error(l,
                                    "plain TCP is allowed only on a loopback address with "
                                    "\"insecure\": true; use \"tls\" for %s",
                                    t->address);
        if (!t->insecure)
                return loader_error(l,
                                    "plain TCP does not authenticate clients: add \"insecure\": "
                                    "true to allow it on %s, or use \"tls\"",
                                    t->address);
        return 0;
}

/* The form before TLS, a bare "HOST:PORT", gets a hint instead of a type error. */
static int tcp_bare_string(struct loader *l, json_t *v) {
        char got[CONFIG_ERROR_MAX / 2];

        value_describe(v, got, sizeof(got));
        return loader_error(l,
                            "expected an object, got %s; write {\"address\": %s, \"tls\": {...}}, "
                            "or {\"address\": %s, \"insecure\": true} for plain TCP on a "
                            "loopback address",
                            got, got, got);
}

static int tcp_add(struct loader *l, struct config *c, json_t *v) {
        struct config_tcp *t = &c->tcp[c->n_tcp];
        int r;

        if (json_is_string(v))
                return tcp_bare_string(l, v);
        if (!json_is_object(v))
                return loader_expected(l, v, "an object {\"address\": \"HOST:PORT\", ...}");
        c->n_tcp++; /* owned from here on, even if a key fails */
        r = object_load(l, tcp_keys, v, t);
        return r < 0 ? r : tcp_check(l, t);
}

static int key_tcp(struct loader *l, const struct key *k, json_t *v, void *target) {
        struct config *c = target;
        json_t *item;
        size_t i;

        if (!json_is_array(v))
                return loader_expected(l, v, "an array of listener objects");
        if (json_array_size(v) > CONFIG_TCP_MAX)
                return loader_error(l, "expected at most %d listeners, got %zu", CONFIG_TCP_MAX,
                                    json_array_size(v));
        json_array_foreach(v, i, item) {
                size_t old = path_push_index(l, i);
                int r = tcp_add(l, c, item);

                path_pop(l, old);
                if (r < 0)
                        return r;
        }
        return 0;
}

/*
 * An octal string ("0660" or "660"): JSON has no octal numbers, and the
 * decimal 660 someone would write instead is a different, wrong mode.
 */
static int key_mode(struct loader *l, const struct key *k, json_t *v, void *target) {
        const char *s = json_string_value(v);
        size_t len = s ? strlen(s) : 0;
        uint64_t x = 0;

        if (len < 3 || len > 4 || strspn(s, "01234567") != len || (len == 4 && s[0] != '0'))
                return loader_expected(l, v, "an octal mode string from \"0000\" to \"0777\"");
        for (size_t i = 0; i < len; i++)
                x = x * 8 + (uint64_t)(s[i] - '0');
        k->set(target, x);
        return 0;
}

/* A group name, resolved now so a typo stops the start, not the first bind. */
static int key_unix_group(struct loader *l, const struct key *k, json_t *v, void *target) {
        struct config *c = target;
        const char *s = json_string_value(v);
        struct group *g;

        if (json_is_null(v)) {
                c->unix_group_set = false;
                return 0;
        }
        if (!s || !*s)
                return loader_expected(l, v, "null or a group name");
        errno = 0;
        g = getgrnam(s);
        if (!g)
                return loader_error(l, "unknown group \"%s\"", s);
        c->unix_group_set = true;
        c->unix_gid = g->gr_gid;
        return 0;
}

static const struct key listen_keys[] = {
        {"comment", key_comment},
        {"unix", key_unix},
        {"tcp", key_tcp},
        {"unix_mode", key_mode, 0, 0777, set_unix_mode},
        {"unix_group", key_unix_group},
        {},
};

static int key_listen(struct loader *l, const struct key *k, json_t *v, void *target) {
        return object_load(l, listen_keys, v, target);
}

/* --- "limits" and channel settings --- */

static const struct key limits_keys[] = {
        {"comment", key_comment},
        {"max_connections", key_uint, 1, 1000000, set_max_connections},
        {"max_message_bytes", key_uint, 1, PROTO_MESSAGE_BYTES_MAX, set_max_message_bytes},
        {"output_queue_bytes", key_uint, 64 * KIB, 4 * GIB, set_output_queue_bytes},
        {"stall_timeout_ms", key_uint, 100, 3600000, set_stall_timeout},
        {"handshake_timeout_ms", key_uint, 100, 600000, set_handshake_timeout},
        {"frame_timeout_ms", key_uint, 100, 3600000, set_frame_timeout},
        {"max_subscriptions", key_uint, 1, 1000000, set_max_subscriptions},
        {"max_connections_per_uid", key_uint, 1, 1000000, set_max_connections_per_uid},
        {"max_channels", key_uint, 1, 1000000, set_max_channels},
        {"max_queued_bytes_per_uid", key_uint, 64 * KIB, 1024 * GIB, set_max_queued_bytes_per_uid},
        {"max_rings_per_uid", key_uint, 0, 1000000, set_max_rings_per_uid},
        {},
};

static const struct key channel_keys[] = {
        {"comment", key_comment},
        {"max_message_bytes", key_channel_max, 1, PROTO_MESSAGE_BYTES_MAX, set_channel_max},
        {"ring_bytes", key_pow2, 64 * KIB, GIB, set_ring_bytes},
        {"overflow", key_overflow, 0, 0, set_overflow},
        {"shared_memory", key_bool, 0, 1, set_shared_memory},
        {},
};

/*
 * One user's connections together may queue at least what one of them may:
 * otherwise a single connection would count as congested before its own
 * cap. A stated value below output_queue_bytes is an error; the built-in
 * default follows a larger output_queue_bytes up.
 */
static int limits_check_queues(struct loader *l, struct config *c, json_t *limits) {
        const char *name = "max_queued_bytes_per_uid";
        size_t old;
        int r;

        if (c->max_queued_bytes_per_uid >= c->output_queue_bytes)
                return 0;
        if (!json_object_get(limits, name)) {
                c->max_queued_bytes_per_uid = c->output_queue_bytes;
                return 0;
        }
        old = path_push(l, name, strlen(name));
        r = loader_error(l, "%" PRIu64 " is less than limits.output_queue_bytes (%" PRIu64 ")",
                         c->max_queued_bytes_per_uid, c->output_queue_bytes);
        path_pop(l, old);
        return r;
}

/*
 * A lower broker-wide limit lowers the built-in channel default with it; only
 * a channel limit the file states is an error when above it.
 */
static int key_limits(struct loader *l, const struct key *k, json_t *v, void *target) {
        struct config *c = target;
        int r;

        r = object_load(l, limits_keys, v, c);
        if (r >= 0)
                r = limits_check_queues(l, c, v);
        if (r < 0)
                return r;
        c->channel_defaults.max_message_bytes =
                MIN(c->channel_defaults.max_message_bytes, c->max_message_bytes);
        return 0;
}

static int key_channel_defaults(struct loader *l, const struct key *k, json_t *v, void *target) {
        struct config *c = target;

        return object_load(l, channel_keys, v, &c->channel_defaults);
}

/* --- "channels" --- */

/* One entry: the rule starts as channel_defaults and the entry overrides keys. */
static int channel_rule_load(struct loader *l, const char *key, size_t len, json_t *v) {
        struct config *c = l->c;
        struct channel_rule *rule = &c->rules[c->n_rules];

        if (!channel_pattern_valid(key, len))
                return loader_error(l, "invalid channel name or pattern");
        rule->pattern = strndup(key, len);
        if (!rule->pattern)
                return loader_oom(l);
        c->n_rules++; /* owned from here on, even if the settings fail */
        rule->is_pattern = channel_pattern_has_wildcard(key, len);
        rule->settings = c->channel_defaults;
        return object_load(l, channel_keys, v, &rule->settings);
}

/* "comment" is also a channel name: a string makes it a comment, an object a channel. */
static int key_channels(struct loader *l, const struct key *k, json_t *v, void *target) {
        struct config *c = target;
        const char *key;
        json_t *entry;
        size_t len;

        if (!json_is_object(v))
                return loader_expected(l, v, "an object");
        if (json_object_size(v) == 0)
                return 0;
        c->rules = calloc(json_object_size(v), sizeof(*c->rules));
        if (!c->rules)
                return loader_oom(l);
        json_object_keylen_foreach(v, key, len, entry) {
                size_t old;
                int r;

                if (len == strlen("comment") && memcmp(key, "comment", len) == 0 &&
                    json_is_string(entry))
                        continue;
                old = path_push(l, key, len);
                r = channel_rule_load(l, key, len, entry);
                path_pop(l, old);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Order matters: each entry may depend on those above it. */
static const struct key top_keys[] = {
        {"comment", key_comment},
        {"listen", key_listen},
        {"limits", key_limits},                     /* clamps channel_defaults */
        {"channel_defaults", key_channel_defaults}, /* checked against limits */
        {"channels", key_channels},                 /* inherit channel_defaults */
        {"access", key_access},                     /* config-access.c */
        {},
};

/* --- files --- */

static int read_error(const char *path, int r, char *errbuf, size_t errlen) {
        (void)snprintf(errbuf, errlen, "%s: cannot read: %s", path, strerror(-r));
        return r;
}

/*
 * Parses the file. fopen() + json_loadf() rather than json_load_file(), so
 * the errno of a failed open is ours to report (jansson only folds it into
 * its message text) and a directory is refused instead of parsed as empty.
 */
static int config_read(const char *path, json_t **ret, char *errbuf, size_t errlen) {
        _cleanup_(fclosep) FILE *f = NULL;
        json_error_t err;
        struct stat st;
        json_t *root;

        f = fopen(path, "re");
        if (!f)
                return read_error(path, -errno, errbuf, errlen);
        if (fstat(fileno(f), &st) < 0)
                return read_error(path, -errno, errbuf, errlen);
        if (S_ISDIR(st.st_mode))
                return read_error(path, -EISDIR, errbuf, errlen);
        root = json_loadf(f, JSON_REJECT_DUPLICATES, &err);
        if (!root) {
                if (err.line > 0)
                        (void)snprintf(errbuf, errlen, "%s:%d:%d: %s", path, err.line, err.column,
                                       err.text);
                else
                        (void)snprintf(errbuf, errlen, "%s: %s", path, err.text);
                return -EINVAL;
        }
        *ret = root;
        return 0;
}

static int config_apply(struct config *c, const char *path, json_t *root, char *errbuf,
                        size_t errlen) {
        struct loader l = {.c = c, .file = path, .errbuf = errbuf, .errlen = errlen};

        c->path = strdup(path);
        if (!c->path)
                return loader_oom(&l);
        return object_load(&l, top_keys, root, c);
}

void config_init_defaults(struct config *c) {
        *c = (struct config){
                .unix_mode = CONFIG_UNIX_MODE_DEFAULT,
                .max_connections = 1024,
                .max_message_bytes = 1 * MIB,
                .output_queue_bytes = 8 * MIB,
                .stall_timeout_usec = 30000 * USEC_PER_MSEC,
                .handshake_timeout_usec = 10000 * USEC_PER_MSEC,
                .frame_timeout_usec = 30000 * USEC_PER_MSEC,
                .max_subscriptions = 1024,
                .max_connections_per_uid = 128,
                .max_channels = 4096,
                .max_queued_bytes_per_uid = 128 * MIB,
                .max_rings_per_uid = 64,
                .channel_defaults = CHANNEL_SETTINGS_DEFAULT,
                .access = {.default_allow = true},
        };
}

int config_load(struct config *c, const char *path, bool required, char *errbuf, size_t errlen) {
        struct config n;
        json_t *root = NULL;
        int r;

        config_init_defaults(&n);
        r = config_read(path, &root, errbuf, errlen);
        if (r == -ENOENT && !required) {
                if (errlen > 0)
                        errbuf[0] = '\0';
                *c = n;
                return 0;
        }
        if (r < 0)
                return r;
        r = config_apply(&n, path, root, errbuf, errlen);
        json_decref(root);
        if (r < 0) {
                config_deinit(&n);
                return r;
        }
        *c = n;
        return 0;
}

static void tls_free(struct config_tls *t) {
        if (!t)
                return;
        free(t->certificate);
        free(t->key);
        free(t->client_ca);
        for (size_t i = 0; i < t->n_tokens; i++)
                free(t->tokens[i].name);
        free(t->tokens);
        free(t);
}

void config_deinit(struct config *c) {
        free(c->path);
        free(c->unix_path);
        for (size_t i = 0; i < c->n_tcp; i++) {
                free(c->tcp[i].address);
                tls_free(c->tcp[i].tls);
        }
        for (size_t i = 0; i < c->n_rules; i++)
                free(c->rules[i].pattern);
        free(c->rules);
        config_access_deinit(&c->access);
        config_init_defaults(c);
}

const struct channel_settings *config_channel_settings(const struct config *c, const char *name) {
        size_t len = strlen(name);

        for (size_t i = 0; i < c->n_rules; i++)
                if (!c->rules[i].is_pattern && strcmp(c->rules[i].pattern, name) == 0)
                        return &c->rules[i].settings;
        for (size_t i = 0; i < c->n_rules; i++)
                if (c->rules[i].is_pattern &&
                    channel_pattern_match(c->rules[i].pattern, strlen(c->rules[i].pattern), name,
                                          len))
                        return &c->rules[i].settings;
        return &c->channel_defaults;
}

static bool str_equal(const char *a, const char *b) {
        return a == b || (a && b && strcmp(a, b) == 0);
}

static bool tls_equal(const struct config_tls *a, const struct config_tls *b) {
        if (!a || !b)
                return a == b;
        if (!str_equal(a->certificate, b->certificate) || !str_equal(a->key, b->key) ||
            !str_equal(a->client_ca, b->client_ca) || a->auth != b->auth ||
            a->n_tokens != b->n_tokens)
                return false;
        for (size_t i = 0; i < a->n_tokens; i++)
                if (strcmp(a->tokens[i].name, b->tokens[i].name) != 0 ||
                    memcmp(a->tokens[i].sha256, b->tokens[i].sha256, CONFIG_TOKEN_HASH_BYTES) != 0)
                        return false;
        return true;
}

bool config_tcp_equal(const struct config_tcp *a, const struct config_tcp *b) {
        return str_equal(a->address, b->address) && a->insecure == b->insecure &&
               tls_equal(a->tls, b->tls);
}

const char *config_tls_auth_name(enum config_tls_auth a) {
        if ((unsigned)a >= ARRAY_SIZE(tls_auth_names))
                return "unknown";
        return tls_auth_names[a];
}

const char *config_overflow_name(enum proto_overflow o) {
        if ((unsigned)o >= ARRAY_SIZE(overflow_names))
                return "unknown";
        return overflow_names[o];
}
