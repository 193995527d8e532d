/* SPDX-License-Identifier: MIT */
/*
 * What the parts of the configuration loader share: config.c holds the
 * key tables, key paths and error messages; config-access.c loads the
 * "access" object with them. Not for use outside the loader.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"
#include "util.h"

/* State of one load: the config being built and the key path being checked. */
struct loader {
        struct config *c;
        const char *file;
        char path[CONFIG_ERROR_MAX]; /* truncated if ever longer; errbuf is no bigger */
        size_t path_len;
        char *errbuf;
        size_t errlen;
};

struct key;
typedef int (*key_load_fn)(struct loader *l, const struct key *k, json_t *v, void *target);

/* One key of an object: tables end with an all-zero entry. */
struct key {
        const char *name;
        key_load_fn load;                      /* the value's type */
        uint64_t min, max;                     /* its range, for integers */
        void (*set)(void *target, uint64_t v); /* stores a checked value */
        size_t offset;                         /* strings: where the char * goes in target */
};

/*
 * Appends ".seg" (quoted unless made of name characters) or "[i]" to the
 * key path. Return: the previous length, for path_pop().
 */
size_t path_push(struct loader *l, const char *seg, size_t len);
size_t path_push_index(struct loader *l, size_t i);
void path_pop(struct loader *l, size_t old);

/* Writes "FILE: PATH: message" into the error buffer. Return: -EINVAL. */
int loader_error(struct loader *l, const char *fmt, ...) _printf_(2, 3);
/* Writes "FILE: PATH: expected WHAT, got VALUE". Return: -EINVAL. */
int loader_expected(struct loader *l, json_t *v, const char *fmt, ...) _printf_(3, 4);
/* Return: -ENOMEM, with the message written. */
int loader_oom(struct loader *l);

/* Checks that @obj holds only keys of @table, then loads them in table order. */
int object_load(struct loader *l, const struct key *table, json_t *obj, void *target);

/* "comment": any string, ignored. */
int key_comment(struct loader *l, const struct key *k, json_t *v, void *target);

/* ---- config-access.c ---- */

/* The top-level "access" object, into l->c->access. */
int key_access(struct loader *l, const struct key *k, json_t *v, void *target);

/* Frees the rules and resets @acl to the built-in default (allow, no rules). */
void config_access_deinit(struct acl *acl);
