/* SPDX-License-Identifier: MIT */
/*
 * Blocking requests: OPEN_PUB, SUBSCRIBE, OPEN_RING and control REQUESTs
 * (ping, channel list, stats). Each carries a fresh request id; the caller then
 * reads until the matching REPLY has been scanned (client-frame.c hands
 * every REPLY to client_handle_reply() as soon as it is complete), leaving
 * messages read meanwhile buffered for ipc_client_receive().
 *
 * A request that times out is remembered for a while: if its reply still
 * comes and opened a publisher, subscription or ring slot, that is closed
 * again so the broker does not keep feeding a subscription nobody owns.
 *
 * An OPEN_RING reply carries descriptors (SCM_RIGHTS). client-io.c queues
 * the ones that arrive while such a reply can come (client_fds_expected()),
 * and the reply takes those that came with its first byte
 * (client_in_fds_take()); a late reply closes them and gives its slot back.
 */
#include <errno.h>

#include "client-internal.h"
#include "util.h"

uint32_t client_request_id(ipc_client *c) {
        if (++c->next_request_id == 0)
                c->next_request_id = 1; /* 0 means "no reply wanted" */
        return c->next_request_id;
}

/** client_request_abandon() - a reply to request @id may still come: undo what it did then. */
void client_request_abandon(ipc_client *c, uint32_t id, uint8_t type, uint8_t role) {
        c->abandoned[c->abandoned_next] =
                (struct client_abandoned){.id = id, .type = type, .role = role};
        c->abandoned_next = (c->abandoned_next + 1) % CLIENT_ABANDONED_MAX;
}

static void request_abandon(ipc_client *c, const struct client_req *req) {
        client_request_abandon(c, req->id, req->type, req->role);
}

/**
 * client_fds_expected() - whether descriptors that arrive now may belong to
 * an OPEN_RING or RING_PAGES reply: one is in flight, or one timed out (or
 * its publisher went) and its reply may still come.
 */
bool client_fds_expected(const ipc_client *c) {
        if (c->req && !c->req->done && c->req->kind == CLIENT_REQ_RING)
                return true;
        if (pub_rings_refreshing(c))
                return true;
        for (size_t i = 0; i < CLIENT_ABANDONED_MAX; i++)
                if (c->abandoned[i].id != 0 && (c->abandoned[i].type == PROTO_OPEN_RING ||
                                                c->abandoned[i].type == PROTO_RING_PAGES))
                        return true;
        return false;
}

/** client_grant_clear() - close a grant's descriptors and free its retained copy. */
void client_grant_clear(struct client_ring_grant *g) {
        for (size_t i = 0; i < g->n_fds; i++)
                plat_fd_close(g->fds[i]);
        free(g->retained);
        *g = (struct client_ring_grant){};
}

/*
 * The late answer to a timed-out OPEN_RING: give the slot back, close its
 * descriptors. For a RING_PAGES whose publisher went, only the latter.
 */
static int request_late_ring(ipc_client *c, const struct client_abandoned *a,
                             const struct proto_reply *rep) {
        struct proto_ring_reply rr;
        int fds[PROTO_RING_FDS_MAX];
        size_t n = client_in_fds_take(c, c->frame_at, fds);

        for (size_t i = 0; i < n; i++)
                plat_fd_close(fds[i]);
        if (rep->status < 0 || a->type == PROTO_RING_PAGES)
                return 0;
        if (proto_decode_ring_reply(rep->body, rep->body_len, a->role, &rr) < 0)
                return client_fail(c, -EPROTO, "broker sent a malformed ring reply");
        client_ring_close_slot(c, rr.handle);
        return 0;
}

/* A late reply: undo what a timed-out open did, ignore anything else. */
static int request_late_reply(ipc_client *c, const struct proto_reply *rep) {
        struct proto_open_reply open;
        struct proto_close cl = {.request_id = 0};
        uint8_t head[PROTO_HEAD_MAX];
        uint8_t type;

        for (size_t i = 0; i < CLIENT_ABANDONED_MAX; i++) {
                struct client_abandoned a = c->abandoned[i];

                if (a.id == 0 || a.id != rep->request_id)
                        continue;
                type = a.type == PROTO_OPEN_PUB ? PROTO_CLOSE_PUB : PROTO_UNSUBSCRIBE;
                c->abandoned[i].id = 0;
                if (a.type == PROTO_OPEN_RING || a.type == PROTO_RING_PAGES)
                        return request_late_ring(c, &a, rep);
                if (rep->status < 0 || a.type == PROTO_REQUEST)
                        return 0;
                if (proto_decode_open_reply(rep->body, rep->body_len, &open) < 0)
                        return client_fail(c, -EPROTO, "broker sent a malformed open reply");
                cl.id = open.id;
                /* Best effort: without memory the broker keeps it until we disconnect. */
                (void)client_append(c, head, proto_encode_close(head, type, &cl), NULL, 0);
                client_update_poller(c);
                return 0;
        }
        return 0;
}

/*
 * A granted ring slot: the record, the descriptors that came with the
 * reply's first byte (their count is checked when attaching), and copies of
 * the page entries and the retained value (the input buffer moves on).
 */
static int request_ring_granted(ipc_client *c, struct client_req *req,
                                const struct proto_reply *rep) {
        struct client_ring_grant *g = &req->grant;

        g->n_fds = client_in_fds_take(c, c->frame_at, g->fds);
        if (proto_decode_ring_reply(rep->body, rep->body_len, req->role, &g->rr) < 0) {
                client_grant_clear(g);
                return client_fail(c, -EPROTO, "broker sent a malformed ring reply");
        }
        g->granted = true;
        if (g->rr.n_pages > 0)
                memcpy(g->pages, g->rr.pages, g->rr.n_pages * PROTO_RING_PAGE_BYTES);
        g->rr.pages = NULL; /* the grant is copied around: use g->pages */
        if (g->rr.has_retained) {
                g->retained = malloc(g->rr.retained_size);
                if (!g->retained)
                        req->status = -ENOMEM;
                else
                        memcpy(g->retained, g->rr.retained, g->rr.retained_size);
        }
        g->rr.retained = NULL;
        return 0;
}

/**
 * client_handle_reply() - a REPLY frame was read: complete the request in
 * flight if it is its answer.
 *
 * Return: 0; -EPROTO for a malformed reply (the client is dead).
 */
int client_handle_reply(ipc_client *c, const uint8_t *body, size_t len) {
        struct client_req *req = c->req;
        struct proto_reply rep;

        if (proto_decode_reply(body, len, &rep) < 0)
                return client_fail(c, -EPROTO, "broker sent a malformed REPLY frame");
        if (!req || req->done || req->id != rep.request_id) {
                int r = pub_ring_refresh_reply(c, &rep);

                return r != 0 ? MIN(r, 0) : request_late_reply(c, &rep);
        }
        req->done = true;
        req->status = rep.status;
        if (rep.status < 0) {
                /* A refused ring is no failure: the caller falls back to the socket. */
                if (req->kind != CLIENT_REQ_RING || rep.status == -EACCES)
                        client_set_error(c, rep.body, rep.body_len);
                return 0;
        }
        if (req->kind == CLIENT_REQ_RING)
                return request_ring_granted(c, req, &rep);
        if (req->kind == CLIENT_REQ_OPEN) {
                if (proto_decode_open_reply(rep.body, rep.body_len, &req->open) < 0)
                        return client_fail(c, -EPROTO, "broker sent a malformed open reply");
                return 0;
        }
        req->json = malloc(rep.body_len + 1);
        if (!req->json) {
                req->status = -ENOMEM;
                return 0;
        }
        memcpy(req->json, rep.body, rep.body_len);
        req->json[rep.body_len] = '\0';
        return 0;
}

/**
 * client_request_run() - send a request frame and wait for its reply.
 * @req: id, type and kind set; receives the outcome.
 * @frame: header and head from an encoder, @tail its tail.
 *
 * Return: the reply status (0 or the broker's negative errno); -ETIMEDOUT;
 * the client's error when it is dead; -ENOMEM.
 */
int client_request_run(ipc_client *c, struct client_req *req, const uint8_t *frame,
                       size_t frame_len, const void *tail, size_t tail_len, uint64_t timeout_usec) {
        uint64_t deadline = usec_add(plat_now_usec(), timeout_usec);
        int r;

        if (c->dead)
                return c->dead;
        if (client_request_fails_fast(c))
                return -ENOTCONN;
        r = client_append(c, frame, frame_len, tail, tail_len);
        if (r < 0)
                return r;
        c->req = req;
        r = client_write(c);
        while (r >= 0 && !req->done) {
                r = client_wait(c, deadline);
                if (r > 0 && !req->done)
                        r = -ETIMEDOUT;
        }
        c->req = NULL;
        client_skip_control(c);
        /* Descriptors nobody can claim any more. */
        if (c->n_fd_batches > 0 && !client_fds_expected(c))
                client_in_fds_close(c);
        if (req->done)
                return req->status;
        if (r == -ETIMEDOUT)
                request_abandon(c, req);
        return r;
}

/**
 * client_open() - OPEN_PUB or SUBSCRIBE, waiting for the open record.
 * @name: a valid name or pattern (the caller checked it).
 * @resume: SUBSCRIBE to an exact name only: the resume point (the seq
 *          after the last one received and its channel epoch,
 *          PROTO_FLAG_RESUME), or seq 0 for none.
 *
 * Return: 0 and *ret; the broker's error (-EMFILE, -ENFILE, -EACCES, ...) with its
 * text in ipc_client_get_error(); as client_request_run().
 */
int client_open(ipc_client *c, uint8_t type, const char *name, struct client_resume resume,
                uint64_t timeout_usec, struct proto_open_reply *ret) {
        struct client_req req = {.type = type, .kind = CLIENT_REQ_OPEN};
        struct proto_open open;
        uint8_t head[PROTO_HEAD_MAX];
        size_t n;
        int r;

        req.id = client_request_id(c);
        open = (struct proto_open){.request_id = req.id,
                                   .name = name,
                                   .name_len = strlen(name),
                                   .resume = resume.seq != 0,
                                   .resume_seq = resume.seq,
                                   .resume_epoch = resume.epoch};
        n = proto_encode_open(head, type, &open);
        r = client_request_run(c, &req, head, n, NULL, 0, timeout_usec);
        if (r < 0)
                return r;
        req.open.max_message_bytes = MIN(req.open.max_message_bytes, c->max_message_bytes);
        *ret = req.open;
        return 0;
}

/**
 * client_open_ring() - OPEN_RING for @role on channel @name.
 * @resume: subscribers only: the resume point (as for client_open()), or
 *          seq 0.
 * @ret: the grant (slot, sizes, descriptors, retained copy), now the
 *       caller's: attach it (client_ring_attach()) or give it back.
 *
 * A slot granted but not usable here (out of memory for the retained copy)
 * is given back at once.
 *
 * Return: 0; the broker's refusal (-ENOTSUP, -EOPNOTSUPP, -ENOSPC, ...;
 * -EACCES from the access rules, with its text in ipc_client_get_error());
 * as client_request_run().
 */
int client_open_ring(ipc_client *c, uint8_t role, const char *name, struct client_resume resume,
                     uint64_t timeout_usec, struct client_ring_grant *ret) {
        struct client_req req = {.type = PROTO_OPEN_RING, .kind = CLIENT_REQ_RING, .role = role};
        struct proto_open_ring m;
        uint8_t head[PROTO_HEAD_MAX];
        size_t n;
        int r;

        req.id = client_request_id(c);
        m = (struct proto_open_ring){.request_id = req.id,
                                     .role = role,
                                     .name = name,
                                     .name_len = strlen(name),
                                     .resume = resume.seq != 0,
                                     .resume_seq = resume.seq,
                                     .resume_epoch = resume.epoch};
        n = proto_encode_open_ring(head, &m);
        r = client_request_run(c, &req, head, n, NULL, 0, timeout_usec);
        if (r < 0) {
                if (req.grant.granted)
                        client_ring_close_slot(c, req.grant.rr.handle);
                client_grant_clear(&req.grant);
                return r;
        }
        *ret = req.grant;
        return 0;
}

/* A control REQUEST answered with JSON. */
static int client_query(ipc_client *c, uint16_t op, uint64_t timeout_usec, char **ret_json) {
        struct client_req req = {.type = PROTO_REQUEST, .kind = CLIENT_REQ_JSON};
        struct proto_request rq = {.op = op};
        uint8_t head[PROTO_HEAD_MAX];
        size_t n;
        int r;

        req.id = rq.request_id = client_request_id(c);
        n = proto_encode_request(head, &rq);
        r = client_request_run(c, &req, head, n, NULL, 0, timeout_usec);
        if (r < 0) {
                free(req.json);
                return r;
        }
        *ret_json = req.json;
        return 0;
}

IPC_EXPORT int ipc_client_ping(ipc_client *client, uint64_t timeout_usec, uint64_t *ret_rtt_usec) {
        uint64_t start;
        char *json = NULL;
        int r;

        if (!client)
                return -EINVAL;
        start = plat_now_usec();
        r = client_query(client, PROTO_OP_PING, timeout_usec, &json);
        if (r < 0)
                return r;
        free(json);
        if (ret_rtt_usec)
                *ret_rtt_usec = plat_now_usec() - start;
        return 0;
}

IPC_EXPORT int ipc_client_list_channels(ipc_client *client, uint64_t timeout_usec,
                                        char **ret_json) {
        if (!client || !ret_json)
                return -EINVAL;
        return client_query(client, PROTO_OP_LIST_CHANNELS, timeout_usec, ret_json);
}

IPC_EXPORT int ipc_client_stats(ipc_client *client, uint64_t timeout_usec, char **ret_json) {
        if (!client || !ret_json)
                return -EINVAL;
        return client_query(client, PROTO_OP_STATS, timeout_usec, ret_json);
}
