/* SPDX-License-Identifier: MIT */
/*
 * The "access" object of the configuration (acl.h says what the rules
 * mean, ipc-brokerd.json(5) how to write them):
 *
 *   "access": {"default": "allow" | "deny",
 *              "rules": [{"channel": NAME_OR_PATTERN,
 *                         "publish": [PRINCIPAL, ...],
 *                         "subscribe": [PRINCIPAL, ...],
 *                         "comment": "..."}, ...]}
 *
 * "user:NAME" and "group:NAME" are looked up here (getpwnam_r and
 * getgrnam_r, so through NSS, maybe a network directory), at start-up and
 * at each SIGHUP reload, and never when a client opens a channel: a slow
 * directory cannot stall the broker's loop, and a misspelt name is an
 * error the administrator sees at once rather than a rule that silently
 * matches nobody.
 */
#include "build-config.h"

#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "channel-name.h"
#include "config-internal.h"

#define PRINCIPAL_FORMS                                                                            \
        "\"*\", \"uid:N\", \"gid:N\", \"user:NAME\", \"group:NAME\", \"remote:NAME\" or "          \
        "\"remote:*\""
/* (uid_t)-1 and (gid_t)-1 mean "no change" to the kernel and are nobody's ids. */
#define ACCESS_ID_MAX UINT32_C(4294967294)
/* Growth limit of the lookup buffer: a group with a huge member list. */
#define ACCESS_LOOKUP_BUF_MAX (1024 * 1024)

/* --- numeric ids --- */

static bool id_parse(const char *s, uint32_t *ret) {
        size_t len = strlen(s);
        uint64_t v = 0;

        /* Digits only: strtoul() would take signs, blanks and "0x". */
        if (len == 0 || len > 10 || strspn(s, "0123456789") != len)
                return false;
        for (size_t i = 0; i < len; i++)
                v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > ACCESS_ID_MAX)
                return false;
        *ret = (uint32_t)v;
        return true;
}

static int principal_uid(struct loader *l, json_t *v, const char *arg, struct acl_principal *p) {
        p->kind = ACL_UID;
        if (!id_parse(arg, &p->id))
                return loader_expected(l, v, "\"uid:N\" with N from 0 to %" PRIu32, ACCESS_ID_MAX);
        return 0;
}

static int principal_gid(struct loader *l, json_t *v, const char *arg, struct acl_principal *p) {
        p->kind = ACL_GID;
        if (!id_parse(arg, &p->id))
                return loader_expected(l, v, "\"gid:N\" with N from 0 to %" PRIu32, ACCESS_ID_MAX);
        return 0;
}

/* --- names --- */

/* One getpwnam_r() or getgrnam_r() call. Return: 0 (*found says whether); a positive errno. */
typedef int (*lookup_fn)(const char *name, char *buf, size_t size, uint32_t *ret_id, bool *found);

static int lookup_user(const char *name, char *buf, size_t size, uint32_t *ret_id, bool *found) {
        struct passwd pw, *res = NULL;
        int r = getpwnam_r(name, &pw, buf, size, &res);

        *found = r == 0 && res;
        if (*found)
                *ret_id = pw.pw_uid;
        return r;
}

static int lookup_group(const char *name, char *buf, size_t size, uint32_t *ret_id, bool *found) {
        struct group gr, *res = NULL;
        int r = getgrnam_r(name, &gr, buf, size, &res);

        *found = r == 0 && res;
        if (*found)
                *ret_id = gr.gr_gid;
        return r;
}

/*
 * Runs @fn with a buffer that grows while it is too small (ERANGE).
 * Return: 1 found; 0 unknown; negative errno.
 */
static int lookup_name(lookup_fn fn, const char *name, uint32_t *ret_id) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 1024;

        for (;;) {
                char *b = realloc(buf, size);
                bool found = false;
                int r;

                if (!b)
                        return -ENOMEM;
                buf = b;
                r = fn(name, buf, size, ret_id, &found);
                if (r == ERANGE && size < ACCESS_LOOKUP_BUF_MAX) {
                        size *= 2;
                        continue;
                }
                /* "Not found" comes as 0 and NULL, but some NSS modules say ENOENT or ESRCH. */
                if (r == 0 || r == ENOENT || r == ESRCH)
                        return found ? 1 : 0;
                return -r;
        }
}

static int principal_lookup(struct loader *l, lookup_fn fn, const char *what, const char *name,
                            uint32_t *ret_id) {
        int r;

        if (!*name)
                return loader_error(l, "expected \"%s:NAME\", got an empty name", what);
        r = lookup_name(fn, name, ret_id);
        if (r == -ENOMEM)
                return loader_oom(l);
        if (r < 0)
                return loader_error(l, "cannot look up %s \"%s\": %s", what, name, strerror(-r));
        if (r == 0)
                return loader_error(l, "unknown %s \"%s\"", what, name);
        return 0;
}

static int principal_user(struct loader *l, json_t *v, const char *arg, struct acl_principal *p) {
        p->kind = ACL_UID;
        return principal_lookup(l, lookup_user, "user", arg, &p->id);
}

static int principal_group(struct loader *l, json_t *v, const char *arg, struct acl_principal *p) {
        p->kind = ACL_GID;
        return principal_lookup(l, lookup_group, "group", arg, &p->id);
}

static int principal_remote(struct loader *l, json_t *v, const char *arg, struct acl_principal *p) {
        size_t len = strlen(arg);

        if (strcmp(arg, "*") == 0) {
                p->kind = ACL_REMOTE_ANY;
                return 0;
        }
        if (len == 0 || len > IDENTITY_NAME_MAX)
                return loader_expected(l, v, "\"remote:NAME\" with a NAME of 1 to %d bytes",
                                       IDENTITY_NAME_MAX);
        p->kind = ACL_REMOTE;
        p->name = strdup(arg);
        return p->name ? 0 : loader_oom(l);
}

/* --- principals, rules --- */

static const struct principal_form {
        const char *prefix;
        int (*parse)(struct loader *l, json_t *v, const char *arg, struct acl_principal *ret);
} principal_forms[] = {
        {"uid:", principal_uid},     {"gid:", principal_gid},       {"user:", principal_user},
        {"group:", principal_group}, {"remote:", principal_remote},
};

static int principal_load(struct loader *l, json_t *v, struct acl_principal *ret) {
        const char *s = json_string_value(v);

        /* No NUL inside: jansson refuses "\u0000" without JSON_ALLOW_NUL. */
        if (s) {
                if (strcmp(s, "*") == 0) {
                        ret->kind = ACL_ANYONE;
                        return 0;
                }
                for (size_t i = 0; i < ARRAY_SIZE(principal_forms); i++) {
                        size_t n = strlen(principal_forms[i].prefix);

                        if (strncmp(s, principal_forms[i].prefix, n) == 0)
                                return principal_forms[i].parse(l, v, s + n, ret);
                }
        }
        return loader_expected(l, v, PRINCIPAL_FORMS);
}

static int list_load(struct loader *l, json_t *v, struct acl_list *list) {
        json_t *item;
        size_t i;

        if (!json_is_array(v))
                return loader_expected(l, v, "an array of principals");
        list->present = true;
        if (json_array_size(v) == 0)
                return 0; /* nobody */
        list->items = calloc(json_array_size(v), sizeof(*list->items));
        if (!list->items)
                return loader_oom(l);
        json_array_foreach(v, i, item) {
                size_t old = path_push_index(l, i);
                int r = principal_load(l, item, &list->items[list->n]);

                path_pop(l, old);
                if (r < 0)
                        return r;
                list->n++;
        }
        return 0;
}

static int key_rule_channel(struct loader *l, const struct key *k, json_t *v, void *target) {
        struct acl_rule *rule = target;
        const char *s = json_string_value(v);
        size_t len = s ? json_string_length(v) : 0;

        if (!s || !channel_pattern_valid(s, len))
                return loader_expected(l, v, "a channel name or pattern (see ipc-broker(7))");
        rule->channel = strndup(s, len);
        if (!rule->channel)
                return loader_oom(l);
        rule->channel_len = len;
        rule->is_pattern = channel_pattern_has_wildcard(s, len);
        return 0;
}

static int key_rule_list(struct loader *l, const struct key *k, json_t *v, void *target) {
        struct acl_rule *rule = target;

        return list_load(l, v, &rule->rights[k->min]);
}

static const struct key rule_keys[] = {
        {"comment", key_comment},
        {"channel", key_rule_channel},
        /* min: the right the list is for */
        {"publish", key_rule_list, ACL_PUBLISH},
        {"subscribe", key_rule_list, ACL_SUBSCRIBE},
        {},
};

static int rule_load(struct loader *l, json_t *v, struct acl_rule *rule) {
        int r = object_load(l, rule_keys, v, rule);

        if (r < 0)
                return r;
        if (!rule->channel)
                return loader_error(l, "missing \"channel\"");
        if (!rule->rights[ACL_PUBLISH].present && !rule->rights[ACL_SUBSCRIBE].present)
                return loader_error(l, "a rule needs \"publish\" or \"subscribe\"");
        return 0;
}

static int key_rules(struct loader *l, const struct key *k, json_t *v, void *target) {
        struct acl *acl = target;
        json_t *item;
        size_t i;

        if (!json_is_array(v))
                return loader_expected(l, v, "an array of rules");
        if (json_array_size(v) == 0)
                return 0;
        acl->rules = calloc(json_array_size(v), sizeof(*acl->rules));
        if (!acl->rules)
                return loader_oom(l);
        json_array_foreach(v, i, item) {
                size_t old = path_push_index(l, i);
                int r;

                acl->n_rules++; /* owned from here on, even if it fails half-way */
                r = rule_load(l, item, &acl->rules[i]);
                path_pop(l, old);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int key_default(struct loader *l, const struct key *k, json_t *v, void *target) {
        struct acl *acl = target;
        const char *s = json_string_value(v);

        if (s && strcmp(s, "allow") == 0)
                acl->default_allow = true;
        else if (s && strcmp(s, "deny") == 0)
                acl->default_allow = false;
        else
                return loader_expected(l, v, "\"allow\" or \"deny\"");
        return 0;
}

static const struct key access_keys[] = {
        {"comment", key_comment},
        {"default", key_default},
        {"rules", key_rules},
        {},
};

int key_access(struct loader *l, const struct key *k, json_t *v, void *target) {
        return object_load(l, access_keys, v, &l->c->access);
}

static void list_free(struct acl_list *list) {
        for (size_t i = 0; i < list->n; i++)
                free(list->items[i].name);
        free(list->items);
}

void config_access_deinit(struct acl *acl) {
        for (size_t i = 0; i < acl->n_rules; i++) {
                free(acl->rules[i].channel);
                for (size_t r = 0; r < _ACL_RIGHT_MAX; r++)
                        list_free(&acl->rules[i].rights[r]);
        }
        free(acl->rules);
        *acl = (struct acl){.default_allow = true};
}
