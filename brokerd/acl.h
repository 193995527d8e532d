/* SPDX-License-Identifier: MIT */
/*
 * Access rules: who may publish on and subscribe to which channel
 * ("access" in ipc-brokerd.json(5), loaded by config-access.c). This
 * module only decides; it does no I/O: user and group names were resolved
 * to ids when the configuration was loaded.
 *
 * For right R on channel C, the first rule in file order whose "channel"
 * (a name or a wildcard pattern) matches C and that lists principals for R
 * decides: R is allowed when one of them matches the peer, and denied
 * otherwise (an empty list allows nobody). A rule without a list for R
 * does not decide R, so rules for publishers and rules for subscribers can
 * be written separately. When no rule decides, "default" does.
 *
 * There is no exception for uid 0: a rule that should let root in says so.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "identity.h"

enum acl_right {
        ACL_PUBLISH,   /* OPEN_PUB, and OPEN_RING as a publisher */
        ACL_SUBSCRIBE, /* SUBSCRIBE, and OPEN_RING as a subscriber */
        _ACL_RIGHT_MAX,
};

enum acl_principal_kind {
        ACL_ANYONE,     /* "*": every peer, anonymous ones included */
        ACL_UID,        /* "uid:N", "user:NAME": a local peer with that uid */
        ACL_GID,        /* "gid:N", "group:NAME": a local peer in that group */
        ACL_REMOTE,     /* "remote:NAME": a remote peer authenticated as NAME */
        ACL_REMOTE_ANY, /* "remote:*": any authenticated remote peer */
        _ACL_PRINCIPAL_KIND_MAX,
};

struct acl_principal {
        enum acl_principal_kind kind;
        uint32_t id; /* ACL_UID, ACL_GID */
        char *name;  /* ACL_REMOTE: NUL-terminated */
};

/* The principals one rule lists for one right. */
struct acl_list {
        bool present; /* the rule has this key; an absent list decides nothing */
        struct acl_principal *items;
        size_t n;
};

struct acl_rule {
        char *channel; /* NUL-terminated valid name or pattern */
        size_t channel_len;
        bool is_pattern;
        struct acl_list rights[_ACL_RIGHT_MAX];
};

struct acl {
        bool default_allow; /* "default": "allow" (the built-in default) or "deny" */
        struct acl_rule *rules;
        size_t n_rules;
};

/*
 * acl_allows() - may @id use @right on the channel @name (a valid name,
 * not a pattern)?
 */
bool acl_allows(const struct acl *acl, const struct identity *id, enum acl_right right,
                const char *name, size_t len);

/*
 * acl_pattern_possible() - could @id be allowed @right on at least one of
 * the channels the wildcard @pattern matches? False when every such
 * channel is denied: a rule whose channel covers the whole pattern
 * decides before any rule that would allow part of it, or the default is
 * "deny" and no allowing rule overlaps the pattern. True errs on the side
 * of "maybe": each channel is then checked with acl_allows() on its own.
 */
bool acl_pattern_possible(const struct acl *acl, const struct identity *id, enum acl_right right,
                          const char *pattern, size_t len);

/* Whether two rule sets decide alike because they are the same (for reload logs). */
bool acl_equal(const struct acl *a, const struct acl *b);

/* "publish on" or "subscribe to", for messages. */
const char *acl_right_verb(enum acl_right right);

/*
 * acl_describe_denial() - the text a refused peer gets and the log shows:
 * `uid 1000 may not subscribe to "audit.log"`, or for a pattern
 * `uid 1000 may not subscribe to any channel matching "audit.>"`.
 * @name: a valid name or pattern (so printable as it is).
 * Return: @buf.
 */
const char *acl_describe_denial(const struct identity *id, enum acl_right right, const char *name,
                                size_t len, bool pattern, char *buf, size_t size);
