/* SPDX-License-Identifier: MIT */
/*
 * Publishers: opening a channel, the publish hot path on the socket, and
 * the claim/commit API on both transports (the ring's side is pub-ring.c).
 *
 * ipc_pub_new() opens the publisher with OPEN_PUB (the broker counts it and
 * tells its id, limit and policy), then, when the client may use rings,
 * asks for a slot in the channel's ring; any refusal keeps the socket but
 * one by the access rules (-EACCES: the rules were reloaded between the
 * two requests), which closes the publisher and fails.
 *
 * ipc_publish() copies the frame into the client's output buffer and, unless
 * more messages are announced (IPC_PUBLISH_MORE), writes the whole buffer at
 * once. It allocates nothing once the buffer has grown to its working size.
 * When the broker slows us down (the "block" overflow policy stops reading
 * from a publisher whose subscribers lag), output piles up; above
 * CLIENT_WRITE_CAP_BYTES the call waits for the socket, reading input
 * meanwhile, and fails with -EAGAIN without queuing the message if the
 * socket does not take enough within the timeout.
 *
 * On the socket a claim is a buffer of the publisher's (it grows to the
 * largest claim and stays, unless huge): the wait for room happens at
 * claim time, so commit, which has no timeout, never waits.
 */
#include <errno.h>

#include "channel-name.h"
#include "client-internal.h"
#include "util.h"

#define PUB_FLAGS ((unsigned)(IPC_PUBLISH_RETAIN | IPC_PUBLISH_MORE))
/* Smallest claim buffer on the socket, so that a claim of 0 bytes has a buffer too. */
#define PUB_SCRATCH_MIN_BYTES 64u

static void pub_link(ipc_client *c, ipc_pub *pub) {
        pub->next = c->pubs;
        if (c->pubs)
                c->pubs->prev = pub;
        c->pubs = pub;
}

static void pub_unlink(ipc_client *c, ipc_pub *pub) {
        if (pub->prev)
                pub->prev->next = pub->next;
        else
                c->pubs = pub->next;
        if (pub->next)
                pub->next->prev = pub->prev;
        pub->prev = pub->next = NULL;
}

/*
 * The client is being freed while publishers are still open (a caller bug
 * the header forbids): leave them valid as empty shells, so a later
 * ipc_pub_free() frees just the shell instead of touching freed memory.
 */
void client_pubs_detach(ipc_client *c) {
        while (c->pubs) {
                ipc_pub *pub = c->pubs;

                pub_unlink(c, pub);
                pub->client = NULL;
        }
}

IPC_EXPORT int ipc_pub_new(ipc_client *client, const char *channel, uint64_t timeout_usec,
                           ipc_pub **ret) {
        uint64_t deadline = usec_add(plat_now_usec(), timeout_usec);
        struct proto_open_reply open;
        ipc_pub *pub;
        size_t len;
        int r;

        if (!client || !channel || !ret)
                return -EINVAL;
        len = strnlen(channel, IPC_CHANNEL_NAME_MAX + 1);
        if (!channel_name_valid(channel, len))
                return -EINVAL;
        if (client->dead)
                return client->dead;
        /* Allocated first: failing after the broker said yes would leak its publisher. */
        pub = calloc(1, sizeof(*pub));
        if (!pub)
                return -ENOMEM;
        r = client_open(client, PROTO_OPEN_PUB, channel, (struct client_resume){0}, timeout_usec,
                        &open);
        if (r < 0) {
                free(pub);
                return r;
        }
        pub->client = client;
        pub->id = open.id;
        pub->max_message_bytes = open.max_message_bytes;
        pub->overflow = open.overflow;
        memcpy(pub->channel, channel, len + 1);
        pub_link(client, pub);
        r = client->rings ? pub_ring_open(client, pub, client_usec_left(deadline)) : 0;
        if (r < 0 && (client->dead || r == -EACCES)) {
                r = client->dead ? client->dead : r;
                ipc_pub_free(pub);
                return r;
        }
        *ret = pub;
        return 0;
}

IPC_EXPORT ipc_pub *ipc_pub_free(ipc_pub *pub) {
        struct proto_close cl = {.request_id = 0};
        uint8_t head[PROTO_HEAD_MAX];
        ipc_client *c;

        if (!pub)
                return NULL;
        c = pub->client;
        if (pub->ring)
                pub_ring_close(c, pub);
        if (pub->next_ring && c)
                client_ring_close_slot(c, pub->next_ring->handle);
        pub->next_ring = client_ring_free(pub->next_ring);
        if (c) {
                pub_unlink(c, pub);
                if (!c->dead && pub->id != 0) {
                        /* Queued after its messages, so those are still published. */
                        cl.id = pub->id;
                        if (client_append(c, head, proto_encode_close(head, PROTO_CLOSE_PUB, &cl),
                                          NULL, 0) >= 0)
                                (void)client_write(c);
                }
        }
        free(pub->scratch);
        free(pub);
        return NULL;
}

IPC_EXPORT const char *ipc_pub_get_channel(const ipc_pub *pub) {
        return pub ? pub->channel : "";
}

IPC_EXPORT size_t ipc_pub_get_max_message_size(const ipc_pub *pub) {
        return pub ? pub->max_message_bytes : 0;
}

IPC_EXPORT int ipc_pub_get_overflow(const ipc_pub *pub) {
        if (!pub)
                return -EINVAL;
        return pub->overflow;
}

IPC_EXPORT int ipc_pub_get_transport(const ipc_pub *pub) {
        if (!pub)
                return -EINVAL;
        return pub->ring ? IPC_TRANSPORT_RING : IPC_TRANSPORT_SOCKET;
}

/* Waits until the output buffer has room for @frame_len more bytes under the cap. */
static int pub_wait_room(ipc_client *c, size_t frame_len, uint64_t timeout_usec) {
        size_t goal;
        int r;

        if (client_out_pending(c) == 0 ||
            client_out_pending(c) + frame_len <= CLIENT_WRITE_CAP_BYTES)
                return 0;
        /* A frame above the cap on its own goes out once everything before it has. */
        goal = frame_len >= CLIENT_WRITE_CAP_BYTES ? 0 : CLIENT_WRITE_CAP_BYTES - frame_len;
        r = client_flush_until(c, usec_add(plat_now_usec(), timeout_usec), goal);
        return r == -ETIMEDOUT ? -EAGAIN : r;
}

/*
 * The checks every publish makes before choosing a transport, off the hot
 * path unless something happened: a reconnect left a transport to switch
 * to, or the client is down (a ring publisher goes on through the ring).
 * Return: 0; the client's error; -ENOTCONN; -ETIMEDOUT; the broker's
 * refusal to open the publisher again after a reconnect.
 */
static int pub_ready(ipc_pub *pub, uint64_t timeout_usec) {
        ipc_client *c = pub->client;
        int r;

        if (__builtin_expect(pub->switch_pending, 0) && !pub->claimed)
                pub_switch(pub);
        if (!c->link_down)
                return pub->refused;
        if (pub->ring)
                return 0;
        r = client_link_wait(c, usec_add(plat_now_usec(), timeout_usec));
        if (r < 0)
                return r;
        return pub_ready(pub, 0);
}

IPC_EXPORT int ipc_publish(ipc_pub *pub, const void *data, size_t size, unsigned flags,
                           uint64_t timeout_usec) {
        struct proto_publish p;
        uint8_t head[PROTO_HEAD_MAX];
        ipc_client *c;
        size_t n;
        int r;

        if (!pub || !pub->client || (!data && size > 0) || (flags & ~PUB_FLAGS))
                return -EINVAL;
        c = pub->client;
        if (c->dead)
                return c->dead;
        if (size > pub->max_message_bytes)
                return -EMSGSIZE;
        if (pub->claimed)
                return -EBUSY;
        if (__builtin_expect(pub->switch_pending || c->link_down || pub->refused, 0)) {
                r = pub_ready(pub, timeout_usec);
                if (r < 0)
                        return r;
        }
        if (pub->ring)
                return pub_ring_publish(pub, data, size, flags, timeout_usec);
        p = (struct proto_publish){.pub_id = pub->id, .payload = data, .size = size};
        n = proto_encode_publish(head, (flags & IPC_PUBLISH_RETAIN) ? PROTO_FLAG_RETAIN : 0, &p);
        r = pub_wait_room(c, n + size, timeout_usec);
        if (r < 0)
                return r;
        r = client_append(c, head, n, data, size);
        if (r < 0)
                return r;
        if (flags & IPC_PUBLISH_MORE) {
                client_update_poller(c); /* the event loop must wake us to flush */
                return 0;
        }
        return client_write(c);
}

/* Queues one PUBLISH frame and writes, unless MORE holds it. */
static int pub_send(ipc_client *c, ipc_pub *pub, const void *data, size_t size, unsigned flags) {
        struct proto_publish p = {.pub_id = pub->id, .payload = data, .size = size};
        uint8_t head[PROTO_HEAD_MAX];
        size_t n;
        int r;

        n = proto_encode_publish(head, (flags & IPC_PUBLISH_RETAIN) ? PROTO_FLAG_RETAIN : 0, &p);
        r = client_append(c, head, n, data, size);
        if (r < 0)
                return r;
        if (flags & IPC_PUBLISH_MORE) {
                client_update_poller(c);
                return 0;
        }
        return client_write(c);
}

/* Socket claim: wait for room now (commit cannot wait), then lend our buffer. */
static int pub_socket_claim(ipc_pub *pub, size_t size, uint64_t timeout_usec, void **ret_buf) {
        size_t cap;
        uint8_t *p;
        int r;

        r = pub_wait_room(pub->client, PROTO_HEAD_MAX + size, timeout_usec);
        if (r < 0)
                return r;
        if (pub->scratch_cap < size || !pub->scratch) {
                cap = MAX(size, (size_t)PUB_SCRATCH_MIN_BYTES);
                p = realloc(pub->scratch, cap);
                if (!p)
                        return -ENOMEM;
                pub->scratch = p;
                pub->scratch_cap = cap;
        }
        pub->claim_size = size;
        *ret_buf = pub->scratch;
        return 0;
}

IPC_EXPORT int ipc_pub_claim(ipc_pub *pub, size_t size, uint64_t timeout_usec, void **ret_buf) {
        ipc_client *c;
        int r;

        if (!pub || !pub->client || !ret_buf)
                return -EINVAL;
        c = pub->client;
        if (c->dead)
                return c->dead;
        if (pub->claimed)
                return -EBUSY;
        if (size > pub->max_message_bytes)
                return -EMSGSIZE;
        if (__builtin_expect(pub->switch_pending || c->link_down || pub->refused, 0)) {
                r = pub_ready(pub, timeout_usec);
                if (r < 0)
                        return r;
        }
        if (pub->ring) {
                r = pub_ring_claim(pub, size, timeout_usec, &pub->claim);
                if (r >= 0)
                        *ret_buf = pub->claim.payload;
        } else {
                r = pub_socket_claim(pub, size, timeout_usec, ret_buf);
        }
        if (r < 0)
                return r;
        pub->claimed = true;
        return 0;
}

IPC_EXPORT int ipc_pub_commit(ipc_pub *pub, unsigned flags) {
        ipc_client *c;
        int r;

        if (!pub || !pub->client || !pub->claimed || (flags & ~PUB_FLAGS))
                return -EINVAL;
        c = pub->client;
        pub->claimed = false;
        if (pub->ring)
                return pub_ring_commit(pub, &pub->claim, flags);
        if (c->dead)
                return c->dead;
        r = pub_send(c, pub, pub->scratch, pub->claim_size, flags);
        if (pub->scratch_cap > CLIENT_BUF_KEEP_BYTES) {
                free(pub->scratch);
                pub->scratch = NULL;
                pub->scratch_cap = 0;
        }
        return r;
}

IPC_EXPORT int ipc_pub_abort(ipc_pub *pub) {
        if (!pub || !pub->claimed)
                return -EINVAL;
        pub->claimed = false;
        if (pub->ring)
                ring_abort(&pub->ring->r, &pub->claim);
        return 0;
}

/* ---- Reconnecting ------------------------------------------------------ */

/**
 * pub_switch() - take the transport a reconnect granted (a new ring, or
 * the socket), once no claim is open in the old one. The old ring is
 * unmapped: what we committed there stays for its readers. Its slot was
 * the old connection's, so it is not given back.
 */
void pub_switch(ipc_pub *pub) {
        if (pub->ring && pub->wake_deferred)
                pub_ring_wake(pub);
        pub->ring = client_ring_free(pub->ring);
        pub->ring = pub->next_ring;
        pub->next_ring = NULL;
        pub->switch_pending = false;
        pub->wake_deferred = false;
        pub->deferred_run = 0;
        pub->limit = 0;
}

/* As sub_reopen_failed(): a refusal is the publisher's, anything else the attempt's. */
static int pub_reopen_failed(ipc_client *c, ipc_pub *pub, int r) {
        if (c->link_down || c->dead || r == -ETIMEDOUT || r == -ENOMEM)
                return r;
        pub->id = 0;
        pub->refused = r;
        return 0;
}

static int pub_reopen(ipc_client *c, ipc_pub *pub, uint64_t deadline_usec) {
        struct proto_open_reply open;
        int r;

        r = client_open(c, PROTO_OPEN_PUB, pub->channel, (struct client_resume){0},
                        client_usec_left(deadline_usec), &open);
        if (r < 0)
                return pub_reopen_failed(c, pub, r);
        pub->id = open.id;
        pub->refused = 0;
        pub->max_message_bytes = open.max_message_bytes;
        pub->overflow = open.overflow;
        r = c->rings ? pub_ring_grant(c, pub->channel, client_usec_left(deadline_usec),
                                      &pub->next_ring)
                     : -ENOTSUP;
        if (r < 0 && (c->link_down || c->dead || r == -ETIMEDOUT))
                return r;
        /* A ring refused now (or never asked for): the socket, as for a new publisher. */
        pub->switch_pending = true;
        if (!pub->claimed)
                pub_switch(pub);
        return 0;
}

/**
 * client_pubs_reopen() - after a reconnect's handshake: open every
 * publisher again (new ids, the channel's current limit and policy) and
 * ask for its ring again.
 * Return: 0; a negative errno that ends the attempt.
 */
int client_pubs_reopen(ipc_client *c, uint64_t deadline_usec) {
        for (ipc_pub *pub = c->pubs; pub; pub = pub->next) {
                int r = pub_reopen(c, pub, deadline_usec);

                if (r < 0)
                        return r;
        }
        return 0;
}
