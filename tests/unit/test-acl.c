/* SPDX-License-Identifier: MIT */
/*
 * Access decisions (acl.h) on rule sets loaded from JSON text as the daemon
 * loads them: the default, first match in file order, rules that do not
 * list a right, empty lists, uids, primary and supplementary groups, remote
 * and anonymous peers, patterns; whether a wildcard subscription could be
 * allowed anything, by table and checked against acl_allows() over every
 * short name; the texts a refused peer gets; and rule set equality.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "acl.h"
#include "channel-name.h"
#include "config.h"
#include "util.h"

/* Loads @json as a config file; config_deinit() the result. */
static void load(const char *json, struct config *c) {
        char path[] = "/tmp/test-acl-XXXXXX", err[CONFIG_ERROR_MAX];
        size_t len = strlen(json);
        int fd = mkstemp(path), r;

        assert_true(fd >= 0);
        assert_int_equal(write(fd, json, len), (ssize_t)len);
        assert_int_equal(close(fd), 0);
        r = config_load(c, path, true, err, sizeof(err));
        (void)unlink(path);
        if (r < 0)
                fail_msg("%s", err);
}

static struct identity local(uid_t uid, gid_t gid, const gid_t *groups, size_t n) {
        struct identity id = {.kind = IDENTITY_LOCAL, .pid = 42, .uid = uid, .gid = gid};

        assert_true(n <= IDENTITY_GROUPS_MAX);
        for (size_t i = 0; i < n; i++)
                id.groups[i] = groups[i];
        id.n_groups = n;
        return id;
}

static struct identity remote(const char *name) {
        struct identity id;

        identity_set_remote(&id, name, strlen(name));
        return id;
}

static const struct identity anonymous = {.kind = IDENTITY_ANONYMOUS};

static bool may(const struct config *c, const struct identity *id, enum acl_right right,
                const char *name) {
        return acl_allows(&c->access, id, right, name, strlen(name));
}

static bool possible(const struct config *c, const struct identity *id, const char *pattern) {
        return acl_pattern_possible(&c->access, id, ACL_SUBSCRIBE, pattern, strlen(pattern));
}

static void test_default(void **state) {
        struct identity root = local(0, 0, NULL, 0), user = local(1000, 1000, NULL, 0);
        struct config c;

        config_init_defaults(&c);
        assert_true(may(&c, &user, ACL_PUBLISH, "any.thing"));
        assert_true(may(&c, &anonymous, ACL_SUBSCRIBE, "x"));
        config_deinit(&c);

        load("{\"access\": {\"default\": \"deny\"}}", &c);
        assert_false(may(&c, &user, ACL_PUBLISH, "any.thing"));
        assert_false(may(&c, &root, ACL_SUBSCRIBE, "x")); /* no exception for root */
        config_deinit(&c);

        /* No rule lists "subscribe": the default decides it. */
        load("{\"access\": {\"default\": \"deny\", \"rules\": ["
             "{\"channel\": \">\", \"publish\": [\"*\"]}]}}",
             &c);
        assert_true(may(&c, &user, ACL_PUBLISH, "a"));
        assert_false(may(&c, &user, ACL_SUBSCRIBE, "a"));
        config_deinit(&c);
}

static void test_first_match(void **state) {
        struct identity u1 = local(1, 1, NULL, 0), u2 = local(2, 2, NULL, 0);
        struct config c;

        load("{\"access\": {\"rules\": ["
             "{\"channel\": \"a.b\", \"subscribe\": [\"uid:1\"]},"
             "{\"channel\": \"a.>\", \"publish\": [\"uid:1\"]},"
             "{\"channel\": \"a.b\", \"publish\": [\"uid:2\"], \"subscribe\": [\"uid:2\"]},"
             "{\"channel\": \"z\", \"publish\": []}]}}",
             &c);
        /* "a.>" comes first and decides publishing on a.b: the later exact rule never does. */
        assert_true(may(&c, &u1, ACL_PUBLISH, "a.b"));
        assert_false(may(&c, &u2, ACL_PUBLISH, "a.b"));
        /* The first rule has no "publish" list, so it decides subscribing only. */
        assert_true(may(&c, &u1, ACL_SUBSCRIBE, "a.b"));
        assert_false(may(&c, &u2, ACL_SUBSCRIBE, "a.b"));
        /* Unmatched names and rights fall to the default (allow). */
        assert_true(may(&c, &u2, ACL_SUBSCRIBE, "a.c"));
        assert_true(may(&c, &u2, ACL_PUBLISH, "a"));
        assert_true(may(&c, &u2, ACL_PUBLISH, "b.a"));
        /* An empty list allows nobody, whatever the default. */
        assert_false(may(&c, &u1, ACL_PUBLISH, "z"));
        assert_true(may(&c, &u1, ACL_SUBSCRIBE, "z"));
        config_deinit(&c);
}

static void test_groups(void **state) {
        static const gid_t supp[] = {10, 20, 4242};
        struct identity primary = local(1000, 4242, NULL, 0);
        struct identity member = local(1001, 1001, supp, ARRAY_SIZE(supp));
        struct identity other = local(1002, 1002, supp, 2);
        struct identity r = remote("4242");
        struct config c;

        load("{\"access\": {\"default\": \"deny\", \"rules\": ["
             "{\"channel\": \"g\", \"publish\": [\"gid:4242\"], \"subscribe\": "
             "[\"group:root\"]}]}}",
             &c);
        assert_true(may(&c, &primary, ACL_PUBLISH, "g"));
        assert_true(may(&c, &member, ACL_PUBLISH, "g"));
        assert_false(may(&c, &other, ACL_PUBLISH, "g"));
        assert_false(may(&c, &r, ACL_PUBLISH, "g"));
        assert_false(may(&c, &anonymous, ACL_PUBLISH, "g"));
        /* "group:root" is gid 0. */
        primary.gid = 0;
        assert_true(may(&c, &primary, ACL_SUBSCRIBE, "g"));
        assert_false(may(&c, &member, ACL_SUBSCRIBE, "g"));
        config_deinit(&c);
}

static void test_users(void **state) {
        struct identity root = local(0, 100, NULL, 0), user = local(1000, 0, NULL, 0);
        struct config c;

        load("{\"access\": {\"default\": \"deny\", \"rules\": ["
             "{\"channel\": \"u\", \"publish\": [\"user:root\"], \"subscribe\": [\"uid:1000\"]}]}}",
             &c);
        assert_true(may(&c, &root, ACL_PUBLISH, "u"));
        assert_false(may(&c, &user, ACL_PUBLISH, "u")); /* gid 0 is no uid 0 */
        assert_true(may(&c, &user, ACL_SUBSCRIBE, "u"));
        assert_false(may(&c, &root, ACL_SUBSCRIBE, "u"));
        config_deinit(&c);
}

static void test_remote_and_anyone(void **state) {
        struct identity user = local(1000, 1000, NULL, 0);
        struct identity sensor = remote("sensor-1"), other = remote("sensor-2");
        struct config c;

        load("{\"access\": {\"default\": \"deny\", \"rules\": ["
             "{\"channel\": \"r.one\", \"publish\": [\"remote:sensor-1\"]},"
             "{\"channel\": \"r.any\", \"publish\": [\"remote:*\"]},"
             "{\"channel\": \"all\", \"publish\": [\"*\"]}]}}",
             &c);
        assert_true(may(&c, &sensor, ACL_PUBLISH, "r.one"));
        assert_false(may(&c, &other, ACL_PUBLISH, "r.one"));
        assert_false(may(&c, &user, ACL_PUBLISH, "r.one"));
        assert_true(may(&c, &other, ACL_PUBLISH, "r.any"));
        assert_false(may(&c, &user, ACL_PUBLISH, "r.any"));
        assert_false(may(&c, &anonymous, ACL_PUBLISH, "r.any"));
        assert_true(may(&c, &anonymous, ACL_PUBLISH, "all"));
        assert_true(may(&c, &sensor, ACL_PUBLISH, "all"));
        assert_true(may(&c, &user, ACL_PUBLISH, "all"));
        config_deinit(&c);
}

static void test_patterns(void **state) {
        struct identity u1 = local(1, 1, NULL, 0);
        struct config c;

        load("{\"access\": {\"default\": \"deny\", \"rules\": ["
             "{\"channel\": \"s.*\", \"publish\": [\"uid:1\"]},"
             "{\"channel\": \"t.>\", \"publish\": [\"uid:1\"]},"
             "{\"channel\": \"*.x.*\", \"publish\": [\"uid:1\"]}]}}",
             &c);
        assert_true(may(&c, &u1, ACL_PUBLISH, "s.a"));
        assert_false(may(&c, &u1, ACL_PUBLISH, "s"));
        assert_false(may(&c, &u1, ACL_PUBLISH, "s.a.b"));
        assert_true(may(&c, &u1, ACL_PUBLISH, "t.a.b.c"));
        assert_false(may(&c, &u1, ACL_PUBLISH, "t"));
        assert_true(may(&c, &u1, ACL_PUBLISH, "q.x.q"));
        assert_false(may(&c, &u1, ACL_PUBLISH, "q.x"));
        config_deinit(&c);
}

static void test_pattern_possible(void **state) {
        struct identity root = local(0, 0, NULL, 0), user = local(1000, 1000, NULL, 0);
        struct config c;

        load("{\"access\": {\"rules\": ["
             "{\"channel\": \"audit.>\", \"subscribe\": [\"uid:0\"]},"
             "{\"channel\": \"ops.public\", \"subscribe\": [\"*\"]},"
             "{\"channel\": \"ops.>\", \"subscribe\": []}]}}",
             &c);
        /* A denying rule covering the whole pattern. */
        assert_false(possible(&c, &user, "audit.>"));
        assert_false(possible(&c, &user, "audit.*"));
        assert_false(possible(&c, &user, "audit.log"));
        assert_true(possible(&c, &root, "audit.>"));
        /* Part of the pattern is denied, the rest falls to "allow". */
        assert_true(possible(&c, &user, ">"));
        assert_true(possible(&c, &user, "*.log"));
        /* ops.public is allowed before ops.> denies the rest. */
        assert_true(possible(&c, &user, "ops.>"));
        assert_true(possible(&c, &user, "ops.*"));
        assert_false(possible(&c, &user, "ops.private.>"));
        config_deinit(&c);

        load("{\"access\": {\"default\": \"deny\", \"rules\": ["
             "{\"channel\": \"pub.>\", \"subscribe\": [\"*\"]},"
             "{\"channel\": \"grp.*\", \"subscribe\": [\"gid:1000\"]}]}}",
             &c);
        assert_true(possible(&c, &user, ">"));
        assert_true(possible(&c, &user, "*.x"));
        assert_false(possible(&c, &user, "priv.>"));
        assert_true(possible(&c, &user, "grp.*"));
        assert_false(possible(&c, &root, "grp.*"));
        assert_false(possible(&c, &root, "grp.a.>")); /* grp.* overlaps no name of it */
        config_deinit(&c);
}

/*
 * acl_pattern_possible() may say "maybe" too often but never "no" when
 * some channel the pattern matches is allowed: checked for every pattern
 * of up to 3 tokens of {a, b, *, >} against every name of up to 3 tokens
 * of {a, b, c}, under rule sets that mix both kinds of rule and default.
 */
static void check_possible_sound(const struct config *c, const struct identity *id) {
        static const char alpha_p[] = "ab*>", alpha_n[] = "abc";
        char pattern[16], name[16];

        for (unsigned pt = 1, pcount = 4; pt <= 3; pt++, pcount *= 4) {
                for (unsigned pv = 0; pv < pcount; pv++) {
                        bool any = false;
                        size_t plen = 0;

                        for (unsigned i = 0, v = pv; i < pt; i++, v /= 4) {
                                if (i)
                                        pattern[plen++] = '.';
                                pattern[plen++] = alpha_p[v % 4];
                        }
                        pattern[plen] = '\0';
                        if (!channel_pattern_valid(pattern, plen))
                                continue;
                        for (unsigned nt = 1, ncount = 3; nt <= 3 && !any; nt++, ncount *= 3) {
                                for (unsigned nv = 0; nv < ncount && !any; nv++) {
                                        size_t nlen = 0;

                                        for (unsigned i = 0, v = nv; i < nt; i++, v /= 3) {
                                                if (i)
                                                        name[nlen++] = '.';
                                                name[nlen++] = alpha_n[v % 3];
                                        }
                                        name[nlen] = '\0';
                                        any = channel_pattern_match(pattern, plen, name, nlen) &&
                                              may(c, id, ACL_SUBSCRIBE, name);
                                }
                        }
                        if (any && !possible(c, id, pattern))
                                fail_msg("\"%s\" said impossible, but a name is allowed", pattern);
                }
        }
}

static void test_pattern_possible_sound(void **state) {
        struct identity u1 = local(1, 1, NULL, 0), u2 = local(2, 2, NULL, 0);
        static const char *const sets[] = {
                "{\"access\": {\"rules\": ["
                "{\"channel\": \"a.>\", \"subscribe\": [\"uid:1\"]},"
                "{\"channel\": \"*.b\", \"subscribe\": [\"uid:2\"]},"
                "{\"channel\": \"c\", \"subscribe\": []}]}}",
                "{\"access\": {\"default\": \"deny\", \"rules\": ["
                "{\"channel\": \"a.b\", \"subscribe\": [\"uid:2\"]},"
                "{\"channel\": \"a.*\", \"subscribe\": [\"uid:1\"]},"
                "{\"channel\": \"b.>\", \"subscribe\": [\"*\"]},"
                "{\"channel\": \">\", \"subscribe\": []}]}}",
                "{\"access\": {\"default\": \"deny\", \"rules\": ["
                "{\"channel\": \"*.*.c\", \"subscribe\": [\"uid:1\"]},"
                "{\"channel\": \"c.>\", \"publish\": [\"*\"]}]}}",
        };
        struct config c;

        for (size_t i = 0; i < ARRAY_SIZE(sets); i++) {
                load(sets[i], &c);
                check_possible_sound(&c, &u1);
                check_possible_sound(&c, &u2);
                check_possible_sound(&c, &anonymous);
                config_deinit(&c);
        }
}

static void test_denial_text(void **state) {
        struct identity user = local(1000, 1000, NULL, 0), r = remote("bad\"name");
        char buf[512];

        assert_string_equal(
                acl_describe_denial(&user, ACL_SUBSCRIBE, "audit.log", 9, false, buf, sizeof(buf)),
                "uid 1000 may not subscribe to \"audit.log\"");
        assert_string_equal(
                acl_describe_denial(&user, ACL_PUBLISH, "audit.log", 9, false, buf, sizeof(buf)),
                "uid 1000 may not publish on \"audit.log\"");
        assert_string_equal(
                acl_describe_denial(&user, ACL_SUBSCRIBE, "audit.>", 7, true, buf, sizeof(buf)),
                "uid 1000 may not subscribe to any channel matching \"audit.>\"");
        /* Wire names come unterminated: the length counts. */
        assert_string_equal(
                acl_describe_denial(&anonymous, ACL_PUBLISH, "a.bXXX", 3, false, buf, sizeof(buf)),
                "anonymous may not publish on \"a.b\"");
        assert_string_equal(acl_describe_denial(&r, ACL_PUBLISH, "x", 1, false, buf, sizeof(buf)),
                            "remote \"bad\\\"name\" may not publish on \"x\"");
}

static void test_equal(void **state) {
        static const char *const sets[] = {
                "{}",
                "{\"access\": {\"default\": \"deny\"}}",
                "{\"access\": {\"rules\": [{\"channel\": \"a\", \"publish\": []}]}}",
                "{\"access\": {\"rules\": [{\"channel\": \"a\", \"subscribe\": []}]}}",
                "{\"access\": {\"rules\": [{\"channel\": \"a\", \"publish\": [\"uid:1\"]}]}}",
                "{\"access\": {\"rules\": [{\"channel\": \"a\", \"publish\": [\"gid:1\"]}]}}",
                "{\"access\": {\"rules\": [{\"channel\": \"b\", \"publish\": [\"gid:1\"]}]}}",
                "{\"access\": {\"rules\": [{\"channel\": \"a\", \"publish\": [\"remote:x\"]}]}}",
                "{\"access\": {\"rules\": [{\"channel\": \"a\", \"publish\": [\"remote:y\"]}]}}",
                "{\"access\": {\"rules\": [{\"channel\": \"a\", \"publish\": [\"*\", "
                "\"uid:1\"]}]}}",
                "{\"access\": {\"rules\": [{\"channel\": \"a\", \"publish\": [\"uid:1\", "
                "\"*\"]}]}}",
        };
        struct config a, b;

        for (size_t i = 0; i < ARRAY_SIZE(sets); i++) {
                load(sets[i], &a);
                for (size_t j = 0; j < ARRAY_SIZE(sets); j++) {
                        load(sets[j], &b);
                        if (acl_equal(&a.access, &b.access) != (i == j))
                                fail_msg("acl_equal(%zu, %zu) != %d", i, j, i == j);
                        config_deinit(&b);
                }
                config_deinit(&a);
        }
        /* Names resolve to ids: the same uid written two ways is the same rule. */
        load("{\"access\": {\"rules\": [{\"channel\": \"a\", \"publish\": [\"user:root\"]}]}}", &a);
        load("{\"access\": {\"rules\": [{\"channel\": \"a\", \"publish\": [\"uid:0\"]}]}}", &b);
        assert_true(acl_equal(&a.access, &b.access));
        config_deinit(&a);
        config_deinit(&b);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_default),
                cmocka_unit_test(test_first_match),
                cmocka_unit_test(test_groups),
                cmocka_unit_test(test_users),
                cmocka_unit_test(test_remote_and_anyone),
                cmocka_unit_test(test_patterns),
                cmocka_unit_test(test_pattern_possible),
                cmocka_unit_test(test_pattern_possible_sound),
                cmocka_unit_test(test_denial_text),
                cmocka_unit_test(test_equal),
        };

        return cmocka_run_group_tests_name("acl", tests, NULL, NULL);
}
