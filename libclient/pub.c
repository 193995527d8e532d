/* SPDX-License-Identifier: MIT */
/*
 * Publishers: opening a channel and the publish hot path.
 *
 * ipc_publish() copies the frame into the client's output buffer and, unless
 * more messages are announced (IPC_PUBLISH_MORE), writes the whole buffer at
 * once. It allocates nothing once the buffer has grown to its working size.
 * When the broker slows us down (the "block" overflow policy stops reading
 * from a publisher whose subscribers lag), output piles up; above
 * CLIENT_WRITE_CAP_BYTES the call waits for the socket, reading input
 * meanwhile, and fails with -EAGAIN without queuing the message if the
 * socket does not take enough within the timeout.
 */
#include <errno.h>

#include "channel-name.h"
#include "client-internal.h"
#include "util.h"

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
        r = client_open(client, PROTO_OPEN_PUB, channel, timeout_usec, &open);
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
        if (c) {
                pub_unlink(c, pub);
                if (!c->dead) {
                        /* Queued after its messages, so those are still published. */
                        cl.id = pub->id;
                        if (client_append(c, head, proto_encode_close(head, PROTO_CLOSE_PUB, &cl),
                                          NULL, 0) >= 0)
                                (void)client_write(c);
                }
        }
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

IPC_EXPORT int ipc_publish(ipc_pub *pub, const void *data, size_t size, unsigned flags,
                           uint64_t timeout_usec) {
        struct proto_publish p;
        uint8_t head[PROTO_HEAD_MAX];
        ipc_client *c;
        size_t n;
        int r;

        if (!pub || !pub->client || (!data && size > 0) ||
            (flags & ~(unsigned)(IPC_PUBLISH_RETAIN | IPC_PUBLISH_MORE)))
                return -EINVAL;
        c = pub->client;
        if (c->dead)
                return c->dead;
        if (size > pub->max_message_bytes)
                return -EMSGSIZE;
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
