/* SPDX-License-Identifier: MIT */
/*
 * Channel name validation and NATS-style wildcard matching (see
 * channel-name.h). Names arrive from the wire unterminated, so everything
 * works on (pointer, length).
 */
#include <stdbool.h>
#include <string.h>

#include "channel-name.h"

static bool token_char_valid(unsigned char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-' || c == ':' || c == '/' || c == '@';
}

/* Length of the token starting at s (up to the next '.' or end). */
static size_t token_len(const char *s, size_t len) {
        const char *dot = memchr(s, '.', len);

        return dot ? (size_t)(dot - s) : len;
}

static bool token_is(const char *t, size_t tlen, char c) {
        return tlen == 1 && t[0] == c;
}

static bool token_plain(const char *t, size_t tlen) {
        for (size_t i = 0; i < tlen; i++)
                if (!token_char_valid((unsigned char)t[i]))
                        return false;
        return true;
}

/* Walks the tokens; allow_wildcards permits "*" anywhere and ">" last. */
static bool name_check(const char *s, size_t len, bool allow_wildcards) {
        size_t pos = 0;

        if (!s || len == 0 || len > CHANNEL_NAME_MAX)
                return false;
        for (;;) {
                size_t tlen = token_len(s + pos, len - pos);
                const char *t = s + pos;
                bool last = pos + tlen == len;

                if (tlen == 0)
                        return false;
                if (!token_plain(t, tlen)) {
                        if (!allow_wildcards)
                                return false;
                        if (!token_is(t, tlen, '*') && !(token_is(t, tlen, '>') && last))
                                return false;
                }
                if (last)
                        return true;
                pos += tlen + 1;
                if (pos == len) /* trailing dot */
                        return false;
        }
}

bool channel_name_valid(const char *name, size_t len) {
        return name_check(name, len, false);
}

bool channel_pattern_valid(const char *pattern, size_t len) {
        return name_check(pattern, len, true);
}

bool channel_pattern_has_wildcard(const char *pattern, size_t len) {
        size_t pos = 0;

        while (pos < len) {
                size_t tlen = token_len(pattern + pos, len - pos);

                if (token_is(pattern + pos, tlen, '*') || token_is(pattern + pos, tlen, '>'))
                        return true;
                pos += tlen + 1;
        }
        return false;
}

bool channel_pattern_match(const char *pattern, size_t plen, const char *name, size_t nlen) {
        size_t p = 0, n = 0;

        for (;;) {
                size_t pt, nt;

                if (p >= plen || n >= nlen)
                        return p >= plen && n >= nlen;
                pt = token_len(pattern + p, plen - p);
                nt = token_len(name + n, nlen - n);
                if (token_is(pattern + p, pt, '>'))
                        return true; /* at least the current name token remains */
                if (!token_is(pattern + p, pt, '*') &&
                    (pt != nt || memcmp(pattern + p, name + n, pt) != 0))
                        return false;
                p += pt + 1;
                n += nt + 1;
        }
}

bool channel_pattern_overlap(const char *a, size_t alen, const char *b, size_t blen) {
        size_t i = 0, j = 0;

        for (;;) {
                size_t at, bt;

                if (i >= alen || j >= blen)
                        return i >= alen && j >= blen;
                at = token_len(a + i, alen - i);
                bt = token_len(b + j, blen - j);
                /* ">" takes one or more tokens, and the other side has at least one left. */
                if (token_is(a + i, at, '>') || token_is(b + j, bt, '>'))
                        return true;
                if (!token_is(a + i, at, '*') && !token_is(b + j, bt, '*') &&
                    (at != bt || memcmp(a + i, b + j, at) != 0))
                        return false;
                i += at + 1;
                j += bt + 1;
        }
}

bool channel_pattern_covers(const char *outer, size_t olen, const char *inner, size_t ilen) {
        size_t i = 0, j = 0;

        for (;;) {
                size_t ot, it;

                if (i >= olen || j >= ilen)
                        return i >= olen && j >= ilen;
                ot = token_len(outer + i, olen - i);
                it = token_len(inner + j, ilen - j);
                if (token_is(outer + i, ot, '>'))
                        return true; /* inner has at least one token left, any will do */
                /* Here inner may end or go on, where outer allows only one of the two. */
                if (token_is(inner + j, it, '>'))
                        return false;
                if (!token_is(outer + i, ot, '*') && (token_is(inner + j, it, '*') || ot != it ||
                                                      memcmp(outer + i, inner + j, ot) != 0))
                        return false;
                i += ot + 1;
                j += it + 1;
        }
}
