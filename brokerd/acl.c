/* SPDX-License-Identifier: MIT */
/*
 * Access decisions (see acl.h). Rule sets are short lists written by an
 * administrator and each open checks them once, so a linear walk in file
 * order is both the semantics and fast enough; nothing here runs per
 * message.
 */
#include "build-config.h"

#include <stdio.h>
#include <string.h>

#include "acl.h"
#include "channel-name.h"

static bool principal_matches(const struct acl_principal *pr, const struct identity *id) {
        switch (pr->kind) {
        case ACL_ANYONE:
                return true;
        case ACL_UID:
                return id->kind == IDENTITY_LOCAL && id->uid == (uid_t)pr->id;
        case ACL_GID:
                return identity_in_group(id, (gid_t)pr->id);
        case ACL_REMOTE:
                return id->kind == IDENTITY_REMOTE && strcmp(id->name, pr->name) == 0;
        case ACL_REMOTE_ANY:
                return id->kind == IDENTITY_REMOTE;
        default:
                return false;
        }
}

static bool list_matches(const struct acl_list *l, const struct identity *id) {
        for (size_t i = 0; i < l->n; i++)
                if (principal_matches(&l->items[i], id))
                        return true;
        return false;
}

static bool rule_matches_name(const struct acl_rule *r, const char *name, size_t len) {
        if (!r->is_pattern)
                return r->channel_len == len && memcmp(r->channel, name, len) == 0;
        return channel_pattern_match(r->channel, r->channel_len, name, len);
}

bool acl_allows(const struct acl *acl, const struct identity *id, enum acl_right right,
                const char *name, size_t len) {
        for (size_t i = 0; i < acl->n_rules; i++) {
                const struct acl_rule *r = &acl->rules[i];

                if (r->rights[right].present && rule_matches_name(r, name, len))
                        return list_matches(&r->rights[right], id);
        }
        return acl->default_allow;
}

/*
 * Walks the rules as acl_allows() would for the names the pattern matches,
 * all at once: a rule that allows and overlaps the pattern may decide some
 * name in favour; a rule that denies and covers the whole pattern decides
 * every name not decided before, against.
 */
bool acl_pattern_possible(const struct acl *acl, const struct identity *id, enum acl_right right,
                          const char *pattern, size_t len) {
        for (size_t i = 0; i < acl->n_rules; i++) {
                const struct acl_rule *r = &acl->rules[i];

                if (!r->rights[right].present ||
                    !channel_pattern_overlap(r->channel, r->channel_len, pattern, len))
                        continue;
                if (list_matches(&r->rights[right], id))
                        return true;
                if (channel_pattern_covers(r->channel, r->channel_len, pattern, len))
                        return false;
        }
        return acl->default_allow;
}

static bool principal_equal(const struct acl_principal *a, const struct acl_principal *b) {
        if (a->kind != b->kind || a->id != b->id)
                return false;
        return a->kind != ACL_REMOTE || strcmp(a->name, b->name) == 0;
}

static bool list_equal(const struct acl_list *a, const struct acl_list *b) {
        if (a->present != b->present || a->n != b->n)
                return false;
        for (size_t i = 0; i < a->n; i++)
                if (!principal_equal(&a->items[i], &b->items[i]))
                        return false;
        return true;
}

static bool rule_equal(const struct acl_rule *a, const struct acl_rule *b) {
        if (strcmp(a->channel, b->channel) != 0)
                return false;
        for (size_t r = 0; r < _ACL_RIGHT_MAX; r++)
                if (!list_equal(&a->rights[r], &b->rights[r]))
                        return false;
        return true;
}

bool acl_equal(const struct acl *a, const struct acl *b) {
        if (a->default_allow != b->default_allow || a->n_rules != b->n_rules)
                return false;
        for (size_t i = 0; i < a->n_rules; i++)
                if (!rule_equal(&a->rules[i], &b->rules[i]))
                        return false;
        return true;
}

const char *acl_right_verb(enum acl_right right) {
        return right == ACL_PUBLISH ? "publish on" : "subscribe to";
}

const char *acl_describe_denial(const struct identity *id, enum acl_right right, const char *name,
                                size_t len, bool pattern, char *buf, size_t size) {
        char who[IDENTITY_NAME_MAX * 4 + 32];

        /* The pid is the peer's own business and changes; the rules speak of uids. */
        if (id->kind == IDENTITY_LOCAL)
                (void)snprintf(who, sizeof(who), "uid %u", (unsigned)id->uid);
        else
                (void)identity_describe(id, who, sizeof(who));
        (void)snprintf(buf, size, "%s may not %s %s\"%.*s\"", who, acl_right_verb(right),
                       pattern ? "any channel matching " : "", (int)len, name);
        return buf;
}
