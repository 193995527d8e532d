/* SPDX-License-Identifier: MIT */
/*
 * Channel names and subscription patterns (documented in ipc-broker(7)).
 *
 * A name is 1..255 bytes of tokens separated by '.'. Token bytes are ASCII
 * letters, digits and "_-:/@"; tokens are never empty (no leading, trailing
 * or doubled dot). Patterns are names whose tokens may also be the NATS-style
 * wildcards "*" (exactly one token) or, as the last token only, ">" (one or
 * more tokens). "a.*" matches "a.b" but not "a" or "a.b.c"; "a.>" matches
 * "a.b" and "a.b.c" but not "a".
 *
 * Lengths are explicit so names straight from the wire (not NUL-terminated)
 * can be checked without copying.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define CHANNEL_NAME_MAX 255

/* True when name[0..len) is a valid channel name (no wildcards). */
bool channel_name_valid(const char *name, size_t len);

/* True when pattern[0..len) is a valid name or wildcard pattern. */
bool channel_pattern_valid(const char *pattern, size_t len);

/* True when a valid pattern contains a wildcard token. */
bool channel_pattern_has_wildcard(const char *pattern, size_t len);

/* True when the valid pattern matches the valid name. */
bool channel_pattern_match(const char *pattern, size_t plen, const char *name, size_t nlen);

/*
 * True when some channel name matches both valid patterns (either may be
 * a plain name): "a.*" and "*.b" overlap in "a.b"; "a.*" and "a.b.>" do not.
 */
bool channel_pattern_overlap(const char *a, size_t alen, const char *b, size_t blen);

/*
 * True when every channel name that matches the valid pattern @inner also
 * matches the valid pattern @outer: "a.>" covers "a.*" and "a.b.>"; "a.*"
 * does not cover "a.>".
 */
bool channel_pattern_covers(const char *outer, size_t olen, const char *inner, size_t ilen);
