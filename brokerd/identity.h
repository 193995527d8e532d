/* SPDX-License-Identifier: MIT */
/*
 * Who a peer is, for access rules and quotas. A local (UNIX) peer is known
 * by the kernel: SO_PEERCRED gives its pid, uid and primary gid at connect
 * time and SO_PEERGROUPS its supplementary groups, so nothing the client
 * sends can change it. A remote (TCP) peer is known only by what TLS
 * authenticated: the subject CN of its client certificate or the name of
 * the token it presented. A peer on an insecure plain-TCP listener is
 * anonymous.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "proto.h"

/* Supplementary groups kept per peer; more are ignored (logged once). */
#define IDENTITY_GROUPS_MAX 64
/* Longest remote identity (certificate CN or token name). */
#define IDENTITY_NAME_MAX 255

enum identity_kind {
        IDENTITY_ANONYMOUS, /* plain TCP ("insecure"), or credentials unavailable */
        IDENTITY_LOCAL,     /* UNIX socket: pid, uid, gid and groups from the kernel */
        IDENTITY_REMOTE,    /* TCP over TLS: name authenticated by certificate or token */
        _IDENTITY_KIND_MAX,
};

struct identity {
        enum identity_kind kind;
        pid_t pid; /* LOCAL only */
        uid_t uid; /* LOCAL only */
        gid_t gid; /* LOCAL only: primary group */
        gid_t groups[IDENTITY_GROUPS_MAX]; /* LOCAL only: supplementary groups */
        size_t n_groups;
        bool groups_truncated;
        char name[IDENTITY_NAME_MAX + 1]; /* REMOTE only: NUL-terminated */
};

/*
 * identity_from_unix_socket() - read a UNIX peer's credentials.
 * @fd: a connected AF_UNIX socket.
 * Return: 0 (ret is LOCAL); negative errno from getsockopt (ret is ANONYMOUS).
 */
int identity_from_unix_socket(int fd, struct identity *ret);

/* Sets a REMOTE identity; @name is truncated to IDENTITY_NAME_MAX bytes. */
void identity_set_remote(struct identity *id, const char *name, size_t len);

/* Whether @id is LOCAL and has @gid as its primary or a supplementary group. */
bool identity_in_group(const struct identity *id, gid_t gid);

/*
 * identity_describe() - "uid 1000 (pid 42)", "remote \"sensor-1\"" or
 * "anonymous", for log lines and error texts. Control characters in a
 * remote name are escaped.
 */
const char *identity_describe(const struct identity *id, char *buf, size_t len);
