/* SPDX-License-Identifier: MIT */
#include "build-config.h"

#include "identity.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

int identity_from_unix_socket(int fd, struct identity *ret) {
        struct ucred cred;
        socklen_t len = sizeof(cred);
        gid_t groups[IDENTITY_GROUPS_MAX];
        socklen_t glen = sizeof(groups);

        memset(ret, 0, sizeof(*ret));
        ret->kind = IDENTITY_ANONYMOUS;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return -errno;
        ret->kind = IDENTITY_LOCAL;
        ret->pid = cred.pid;
        ret->uid = cred.uid;
        ret->gid = cred.gid;
        /* ERANGE: more groups than we keep; glen then holds the size needed. */
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) == 0) {
                ret->n_groups = glen / sizeof(gid_t);
        } else if (errno == ERANGE) {
                ret->groups_truncated = true;
                ret->n_groups = 0;
        }
        memcpy(ret->groups, groups, ret->n_groups * sizeof(gid_t));
        return 0;
}

void identity_set_remote(struct identity *id, const char *name, size_t len) {
        if (len > IDENTITY_NAME_MAX)
                len = IDENTITY_NAME_MAX;
        memset(id, 0, sizeof(*id));
        id->kind = IDENTITY_REMOTE;
        memcpy(id->name, name, len);
        id->name[len] = '\0';
}

bool identity_in_group(const struct identity *id, gid_t gid) {
        if (id->kind != IDENTITY_LOCAL)
                return false;
        if (id->gid == gid)
                return true;
        for (size_t i = 0; i < id->n_groups; i++)
                if (id->groups[i] == gid)
                        return true;
        return false;
}

const char *identity_describe(const struct identity *id, char *buf, size_t len) {
        char name[LOG_ESCAPE_BYTES(IDENTITY_NAME_MAX)];

        switch (id->kind) {
        case IDENTITY_LOCAL:
                (void)snprintf(buf, len, "uid %u (pid %d)", (unsigned)id->uid, (int)id->pid);
                break;
        case IDENTITY_REMOTE:
                (void)snprintf(buf, len, "remote \"%s\"",
                               log_escape(id->name, strlen(id->name), name, sizeof(name)));
                break;
        default:
                (void)snprintf(buf, len, "anonymous");
                break;
        }
        return buf;
}
