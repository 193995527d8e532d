/* SPDX-License-Identifier: MIT */
/*
 * Channel names and NATS-style patterns, checked against what
 * channel-name.h documents: the charset, the 255-byte limit, empty tokens,
 * where "*" and ">" may stand, explicit lengths (wire names are not
 * NUL-terminated), a table of pattern/name matches, and whether two
 * patterns overlap or one covers the other, by table and against brute force.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "channel-name.h"
#include "util.h"

static bool name_ok(const char *s) {
        return channel_name_valid(s, strlen(s));
}

static bool pattern_ok(const char *s) {
        return channel_pattern_valid(s, strlen(s));
}

static bool match(const char *p, const char *n) {
        return channel_pattern_match(p, strlen(p), n, strlen(n));
}

/* Fills buf with len bytes of "a.a.a..." (or "aaa..." without dots), NUL-terminated. */
static void make_name(char *buf, size_t len, bool dots) {
        for (size_t i = 0; i < len; i++)
                buf[i] = dots && i % 2 == 1 ? '.' : 'a';
        buf[len] = '\0';
}

static const char *const valid_names[] = {
        "a",     "Z",         "0", "a.b",     "a.b.c", "sensors.kitchen.temp", "_",   "-",
        ":",     "/",         "@", "x_y-z:w", "a/b@c", "user@host:1/dev",      "A.9", "0.0.0",
        "a-.-b", "UPPER.low",
};

static const char *const invalid_either[] = {
        "",     ".",   "..",   ".a",    "a.",  "a..b", "a b",  " a",   "a ",  "a\t",   "a\n",
        "a#b",  "a+b", "a$b",  "a%b",   "a,b", "a;b",  "a=b",  "a?b",  "a!b", "a\"b",  "a'b",
        "a\\b", "a|b", "a~b",  "a^b",   "a&b", "a(b",  "a[b]", "a{b}", "é",   "a\xff", "a\x7f",
        "a*",   "*a",  "**",   "a>",    ">a",  ">>",   "*>",   "a.b*", ".*",  "*.",    "a..*",
        ".>",   ">.",  "a.>.", "a.>.b", ">.a", ">.>",  ">.*",
};

static void test_valid_names(void **state) {
        for (size_t i = 0; i < ARRAY_SIZE(valid_names); i++) {
                if (!name_ok(valid_names[i]))
                        fail_msg("name \"%s\" rejected", valid_names[i]);
                if (!pattern_ok(valid_names[i]))
                        fail_msg("name \"%s\" rejected as a pattern", valid_names[i]);
        }
}

static void test_invalid(void **state) {
        for (size_t i = 0; i < ARRAY_SIZE(invalid_either); i++) {
                if (name_ok(invalid_either[i]))
                        fail_msg("name \"%s\" accepted", invalid_either[i]);
                if (pattern_ok(invalid_either[i]))
                        fail_msg("pattern \"%s\" accepted", invalid_either[i]);
        }
        assert_false(channel_name_valid(NULL, 0));
        assert_false(channel_pattern_valid(NULL, 0));
        assert_false(channel_name_valid("a", 0));
}

static void test_wildcards_not_names(void **state) {
        static const char *const patterns[] = {"*", ">", "a.*", "*.a", "a.>", "*.*", "a.*.>"};

        for (size_t i = 0; i < ARRAY_SIZE(patterns); i++) {
                assert_false(name_ok(patterns[i]));
                assert_true(pattern_ok(patterns[i]));
        }
}

static void test_pattern_placement(void **state) {
        static const char *const valid[] = {
                "*",   ">",   "a.*",   "*.a",     "*.*",     "a.*.c",
                "a.>", "*.>", "a.*.>", "*.*.*.*", "a.b.c.>", "x:y.*.z@w.>",
        };

        for (size_t i = 0; i < ARRAY_SIZE(valid); i++)
                if (!pattern_ok(valid[i]))
                        fail_msg("pattern \"%s\" rejected", valid[i]);
        /* ">" only as the last token; "*" and ">" only as whole tokens. */
        assert_false(pattern_ok(">.a"));
        assert_false(pattern_ok("a.>.b"));
        assert_false(pattern_ok("a.>.>"));
        assert_false(pattern_ok("a.b>"));
        assert_false(pattern_ok("a.*b"));
        assert_false(pattern_ok("a.**"));
}

static void test_length_limit(void **state) {
        char buf[CHANNEL_NAME_MAX + 8];

        assert_int_equal(CHANNEL_NAME_MAX, 255);
        make_name(buf, 255, false);
        assert_true(name_ok(buf));
        assert_true(pattern_ok(buf));
        make_name(buf, 256, false);
        assert_false(name_ok(buf));
        assert_false(pattern_ok(buf));
        make_name(buf, 255, true); /* odd length: ends in 'a' */
        assert_true(name_ok(buf));
        make_name(buf, 256, true);
        assert_false(name_ok(buf)); /* too long, and a trailing dot */
        make_name(buf, 253, true);
        strcat(buf, ".>");
        assert_int_equal(strlen(buf), 255);
        assert_true(pattern_ok(buf));
        make_name(buf, 255, true);
        strcat(buf, ".*"); /* 257 */
        assert_false(pattern_ok(buf));
}

/* Lengths are explicit: bytes after len are never looked at. */
static void test_explicit_length(void **state) {
        assert_true(channel_name_valid("a.b!!!", 3));
        assert_false(channel_name_valid("a.b!!!", 4));
        assert_false(channel_name_valid("a.b.", 4));
        assert_true(channel_name_valid("a.b.", 3));
        assert_false(channel_name_valid("a.b", 2)); /* "a." */
        assert_true(channel_pattern_valid("a.>.b", 3));
        assert_false(channel_name_valid("a\0b", 3)); /* NUL is not a token byte */
        assert_false(channel_pattern_valid("a\0b", 3));
        assert_true(channel_pattern_match("a.*xyz", 3, "a.bxyz", 3));
        assert_false(channel_pattern_match("a.b", 3, "a.bc", 4));
        assert_true(channel_pattern_match("a.bc", 3, "a.bd", 3));
}

static void test_has_wildcard(void **state) {
        static const struct {
                const char *p;
                bool wild;
        } t[] = {
                {"a", false},   {"a.b.c", false},   {"*", true},   {">", true},
                {"a.*", true},  {"*.a", true},      {"a.>", true}, {"a.*.c", true},
                {"x:y", false}, {"a-b.c_d", false},
        };

        for (size_t i = 0; i < ARRAY_SIZE(t); i++)
                if (channel_pattern_has_wildcard(t[i].p, strlen(t[i].p)) != t[i].wild)
                        fail_msg("has_wildcard(\"%s\") != %d", t[i].p, t[i].wild);
        assert_false(channel_pattern_has_wildcard("a.b.*", 3));
}

static const struct {
        const char *pattern, *name;
        bool match;
} match_table[] = {
        /* Exact patterns match only themselves, token by token. */
        {"a", "a", true},
        {"a", "b", false},
        {"a", "a.b", false},
        {"a.b", "a", false},
        {"a.b", "a.b", true},
        {"a.b", "a.bc", false},
        {"a.bc", "a.b", false},
        {"ab", "a.b", false},
        {"a.b", "ab", false},
        {"A", "a", false},
        /* "*" is exactly one token. */
        {"*", "a", true},
        {"*", "a.b", false},
        {"a.*", "a.b", true},
        {"a.*", "a", false},
        {"a.*", "a.b.c", false},
        {"a.*", "b.a", false},
        {"*.b", "a.b", true},
        {"*.b", "a.c", false},
        {"*.*", "a.b", true},
        {"*.*", "a", false},
        {"*.*", "a.b.c", false},
        {"a.*.c", "a.x.c", true},
        {"a.*.c", "a.x.d", false},
        {"a.*.c", "a.c", false},
        /* ">" is one or more trailing tokens. */
        {">", "a", true},
        {">", "a.b.c", true},
        {"a.>", "a", false},
        {"a.>", "a.b", true},
        {"a.>", "a.b.c", true},
        {"a.>", "b.c", false},
        {"a.>", "ab.c", false},
        {"ab.>", "a.b", false},
        {"*.>", "a", false},
        {"*.>", "a.b", true},
        {"*.>", "a.b.c.d", true},
        {"a.*.>", "a.b", false},
        {"a.*.>", "a.b.c", true},
        {"a.b.>", "a.b.c.d.e", true},
        {"a.b.>", "a.c.c", false},
};

static void test_match_table(void **state) {
        for (size_t i = 0; i < ARRAY_SIZE(match_table); i++)
                if (match(match_table[i].pattern, match_table[i].name) != match_table[i].match)
                        fail_msg("match(\"%s\", \"%s\") != %d", match_table[i].pattern,
                                 match_table[i].name, match_table[i].match);
}

static void test_match_long(void **state) {
        char name[CHANNEL_NAME_MAX + 1], pattern[CHANNEL_NAME_MAX + 1];

        make_name(name, 255, true);
        assert_true(match(name, name));
        assert_true(match(">", name));
        make_name(pattern, 253, true);
        strcat(pattern, ".>");
        assert_true(match(pattern, name));
        make_name(pattern, 253, true);
        strcat(pattern, ".*");
        assert_true(match(pattern, name));
        pattern[0] = 'b';
        assert_false(match(pattern, name));
}

static const struct {
        const char *a, *b;
        bool overlap, a_covers_b;
} pair_table[] = {
        {"a", "a", true, true},         {"a", "b", false, false},
        {"a.*", "a.b", true, true},     {"a.b", "a.*", true, false},
        {"a.*", "*.b", true, false},    {"a.*", "a.b.>", false, false},
        {"a.>", "a.*", true, true},     {"a.>", "a.b.>", true, true},
        {"a.*", "a.>", true, false},    {"a.*.>", "a.>", true, false},
        {">", "a.*.c", true, true},     {"*", "a.b", false, false},
        {"*.>", ">", true, false},      {"a.*.c", "a.b.*", true, false},
        {"a.*.*", "a.*.c", true, true},
};

static bool overlap(const char *a, const char *b) {
        return channel_pattern_overlap(a, strlen(a), b, strlen(b));
}

static bool covers(const char *a, const char *b) {
        return channel_pattern_covers(a, strlen(a), b, strlen(b));
}

static void test_pair_table(void **state) {
        for (size_t i = 0; i < ARRAY_SIZE(pair_table); i++) {
                const char *a = pair_table[i].a, *b = pair_table[i].b;

                if (overlap(a, b) != pair_table[i].overlap ||
                    overlap(b, a) != pair_table[i].overlap)
                        fail_msg("overlap(\"%s\", \"%s\") != %d", a, b, pair_table[i].overlap);
                if (covers(a, b) != pair_table[i].a_covers_b)
                        fail_msg("covers(\"%s\", \"%s\") != %d", a, b, pair_table[i].a_covers_b);
        }
}

/*
 * Every pattern of up to 3 tokens from {a, b, *, >} against every other,
 * checked by brute force over every name of up to 4 tokens from {a, b, c}:
 * a name matching both, or one matching the inner and not the outer
 * pattern, is that short whenever there is one.
 */
#define BRUTE_NAMES    (3 + 9 + 27 + 81)
#define BRUTE_PATTERNS (4 + 16 + 64)

static size_t make_tokens(char *buf, unsigned n, unsigned v, const char *alphabet, unsigned k) {
        size_t len = 0;

        for (unsigned i = 0; i < n; i++, v /= k) {
                if (i > 0)
                        buf[len++] = '.';
                buf[len++] = alphabet[v % k];
        }
        buf[len] = '\0';
        return len;
}

/* Fills v with every string of 1..3 (4 for names) tokens; invalid patterns are left out. */
static size_t make_all(char (*v)[16], unsigned max_tokens, const char *alphabet, unsigned k) {
        size_t n = 0;

        for (unsigned t = 1, count = k; t <= max_tokens; t++, count *= k)
                for (unsigned x = 0; x < count; x++) {
                        size_t len = make_tokens(v[n], t, x, alphabet, k);

                        if (channel_pattern_valid(v[n], len))
                                n++;
                }
        return n;
}

static void brute_pair(const char *a, const char *b, char (*names)[16], size_t n_names) {
        bool both = false, b_not_a = false;

        for (size_t i = 0; i < n_names; i++) {
                bool ma = match(a, names[i]), mb = match(b, names[i]);

                both |= ma && mb;
                b_not_a |= mb && !ma;
        }
        if (overlap(a, b) != both)
                fail_msg("overlap(\"%s\", \"%s\") != %d", a, b, both);
        if (covers(a, b) != !b_not_a)
                fail_msg("covers(\"%s\", \"%s\") != %d", a, b, !b_not_a);
}

static void test_pair_brute_force(void **state) {
        static char names[BRUTE_NAMES][16], patterns[BRUTE_PATTERNS][16];
        size_t n_names = make_all(names, 4, "abc", 3);
        size_t n_patterns = make_all(patterns, 3, "ab*>", 4);

        assert_int_equal(n_names, BRUTE_NAMES);
        assert_true(n_patterns > 40);
        for (size_t i = 0; i < n_patterns; i++)
                for (size_t j = 0; j < n_patterns; j++)
                        brute_pair(patterns[i], patterns[j], names, n_names);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid_names),
                cmocka_unit_test(test_invalid),
                cmocka_unit_test(test_wildcards_not_names),
                cmocka_unit_test(test_pattern_placement),
                cmocka_unit_test(test_length_limit),
                cmocka_unit_test(test_explicit_length),
                cmocka_unit_test(test_has_wildcard),
                cmocka_unit_test(test_match_table),
                cmocka_unit_test(test_match_long),
                cmocka_unit_test(test_pair_table),
                cmocka_unit_test(test_pair_brute_force),
        };

        return cmocka_run_group_tests_name("channel-name", tests, NULL, NULL);
}
