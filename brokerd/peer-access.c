/* SPDX-License-Identifier: MIT */
/*
 * The access rules (acl.h) applied to a peer: the check of each open
 * (OPEN_PUB, SUBSCRIBE, OPEN_RING), the refusal a denied peer gets, and
 * the filter that keeps a wildcard subscription off the channels its peer
 * may not subscribe to. A ring publisher slot needs both rights, since
 * its mapping shows every message of the channel.
 *
 * Every check reads the rules in force now (p->broker->config is replaced
 * in place by a SIGHUP reload), so a reload applies to the next open and
 * to the next channel a wildcard subscription attaches to; nothing already
 * open is re-checked.
 */
#include "build-config.h"

#include <errno.h>
#include <stdio.h>

#include "acl.h"
#include "channel-name.h"
#include "peer.h"

/* Room for acl_describe_denial(): an escaped remote name, a verb, a channel name. */
#define PEER_DENIAL_BYTES (LOG_ESCAPE_BYTES(IDENTITY_NAME_MAX) + CHANNEL_NAME_MAX + 64)

static void peer_refuse(struct peer *p, uint32_t request_id, const char *request,
                        enum acl_right right, const char *name, size_t len, bool pattern) {
        char text[PEER_DENIAL_BYTES];

        (void)acl_describe_denial(&p->ident, right, name, len, pattern, text, sizeof(text));
        if (p->ident.kind == IDENTITY_LOCAL)
                peer_log(p, LOG_NOTICE, "%s refused by the access rules: %s (pid %d)", request,
                         text, (int)p->ident.pid);
        else
                peer_log(p, LOG_NOTICE, "%s refused by the access rules: %s", request, text);
        peer_send_reply_text(p, request_id, -EACCES, "%s", text);
}

bool peer_access_check(struct peer *p, uint32_t request_id, const char *request,
                       enum acl_right right, const char *name, size_t len) {
        const struct acl *acl = &p->broker->config->access;
        bool pattern = channel_pattern_has_wildcard(name, len);
        bool ok = pattern ? acl_pattern_possible(acl, &p->ident, right, name, len)
                          : acl_allows(acl, &p->ident, right, name, len);

        if (!ok)
                peer_refuse(p, request_id, request, right, name, len, pattern);
        return ok;
}

/*
 * A ring publisher maps the whole ring read-write, so it can read every
 * message on it: only a client that may also subscribe gets a publisher
 * slot. One that may only publish is answered -ENOTSUP, like a channel
 * without a ring, so the library keeps publishing over the socket.
 */
bool peer_ring_access_check(struct peer *p, const struct proto_open_ring *m) {
        const struct acl *acl = &p->broker->config->access;
        char text[PEER_DENIAL_BYTES];

        if (m->role == PROTO_RING_SUBSCRIBER)
                return peer_access_check(p, m->request_id, "OPEN_RING", ACL_SUBSCRIBE, m->name,
                                         m->name_len);
        if (!peer_access_check(p, m->request_id, "OPEN_RING", ACL_PUBLISH, m->name, m->name_len))
                return false;
        if (acl_allows(acl, &p->ident, ACL_SUBSCRIBE, m->name, m->name_len))
                return true;
        (void)acl_describe_denial(&p->ident, ACL_SUBSCRIBE, m->name, m->name_len, false, text,
                                  sizeof(text));
        peer_log(p, LOG_DEBUG, "no ring publisher slot: %s", text);
        peer_send_reply_text(p, m->request_id, -ENOTSUP,
                             "a ring publisher can read the channel's messages, and %s; "
                             "publish over the socket",
                             text);
        return false;
}

bool peer_may_attach(struct subscription *s, const struct channel *c) {
        struct peer *p = s->owner;

        if (acl_allows(&p->broker->config->access, &p->ident, ACL_SUBSCRIBE, c->name, c->name_len))
                return true;
        peer_log(p, LOG_DEBUG, "subscription %u (\"%s\") leaves out channel \"%s\": access rules",
                 s->id, s->pattern, c->name);
        return false;
}
