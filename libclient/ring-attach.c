/* SPDX-License-Identifier: MIT */
/*
 * Taking a ring slot the broker granted (OPEN_RING): checking the
 * descriptors, mapping the two regions, validating the ring, and giving the
 * slot back (CLOSE_RING) when we are done with it or cannot use it.
 *
 * What the broker sent is checked like any input: the descriptor count for
 * the role, that DATA and STATE are sealed shared memory of exactly the
 * sizes the reply names (so a mapping can never outlive its file's end),
 * the ring header (ring_attach()), and that the header names our channel.
 * A subscriber maps DATA read-only, so nothing it does can corrupt the
 * stream for others.
 */
#include <errno.h>

#include "client-internal.h"
#include "util.h"

/* The descriptor count a reply must carry: fixed for subscribers, per sub slot for publishers. */
static bool grant_fds_valid(const struct client_ring_grant *g, uint8_t role) {
        if (g->n_fds != g->rr.n_fds)
                return false;
        if (role == PROTO_RING_SUBSCRIBER)
                return g->n_fds == PROTO_RING_SUB_FDS;
        return g->n_fds > CLIENT_RING_FD_WAKE;
}

static int region_map(int fd, uint64_t want, bool writable, void **ret, size_t *ret_size) {
        size_t size;
        int r;

        r = plat_shm_check(fd, &size);
        if (r < 0)
                return r;
        if (want != size || want == 0)
                return -EBADMSG;
        r = plat_shm_map(fd, size, writable, ret);
        if (r < 0)
                return r;
        *ret_size = size;
        return 0;
}

/* The header names the channel (a copy: the page may change under us). */
static bool ring_name_matches(const struct client_ring *cr, const char *channel) {
        struct ring_header h;
        size_t len = strlen(channel);

        memcpy(&h, cr->data, sizeof(h));
        return h.name_len == len && memcmp(h.name, channel, len) == 0;
}

static int ring_setup(struct client_ring *cr, const char *channel, uint8_t role) {
        bool sub = role == PROTO_RING_SUBSCRIBER;
        int r;

        r = region_map(cr->fds[CLIENT_RING_FD_DATA], cr->data_size, !sub, &cr->data,
                       &cr->data_size);
        if (r < 0)
                return r;
        r = region_map(cr->fds[CLIENT_RING_FD_STATE], cr->state_size, true, &cr->state,
                       &cr->state_size);
        if (r < 0)
                return r;
        r = ring_attach(&cr->r, cr->data, cr->data_size, cr->state, cr->state_size);
        if (r < 0)
                return r;
        if (!ring_name_matches(cr, channel))
                return -EBADMSG;
        if (sub)
                return cr->slot < cr->r.sub_slots ? 0 : -EBADMSG;
        /* A publisher wakes sub slot i through descriptor CLIENT_RING_FD_WAKE + i. */
        if (cr->slot >= cr->r.pub_slots || cr->n_fds != CLIENT_RING_FD_WAKE + cr->r.sub_slots)
                return -EBADMSG;
        return 0;
}

/**
 * client_ring_attach() - map and check a granted slot.
 * @channel: the exact channel name asked for.
 * @role: PROTO_RING_PUBLISHER or PROTO_RING_SUBSCRIBER.
 * @g: the grant; its descriptors are taken over (closed on failure), its
 *     retained copy is left to the caller.
 * @ret: the attached ring; free with client_ring_free().
 *
 * The caller still owns the slot on failure: it gives it back with
 * client_ring_close_slot() and uses the socket.
 *
 * Return: 0; -EBADMSG (wrong descriptor count, sizes, or a ring that is not
 * the channel's); -EBADF (a region that is not sealed shared memory); as
 * ring_attach(); -ENOMEM; a negative errno from mmap.
 */
int client_ring_attach(const char *channel, uint8_t role, struct client_ring_grant *g,
                       struct client_ring **ret) {
        bool valid = grant_fds_valid(g, role) && g->rr.data_size <= SIZE_MAX &&
                     g->rr.state_size <= SIZE_MAX;
        struct client_ring *cr;
        int r;

        cr = valid ? calloc(1, sizeof(*cr)) : NULL;
        if (!cr) {
                for (size_t i = 0; i < g->n_fds; i++)
                        plat_fd_close(g->fds[i]);
                g->n_fds = 0;
                return valid ? -ENOMEM : -EBADMSG;
        }
        cr->role = role;
        cr->slot = g->rr.slot;
        cr->handle = g->rr.handle;
        cr->n_fds = g->n_fds;
        memcpy(cr->fds, g->fds, g->n_fds * sizeof(int));
        g->n_fds = 0;
        cr->data_size = (size_t)g->rr.data_size;
        cr->state_size = (size_t)g->rr.state_size;
        r = ring_setup(cr, channel, role);
        if (r < 0) {
                client_ring_free(cr);
                return r;
        }
        *ret = cr;
        return 0;
}

/** client_ring_free() - unmap and close everything; the slot is given back separately. */
struct client_ring *client_ring_free(struct client_ring *cr) {
        if (!cr)
                return NULL;
        /* Sizes are only set from the reply: unmap what was mapped, with the size mapped. */
        plat_shm_unmap(cr->data, cr->data_size);
        plat_shm_unmap(cr->state, cr->state_size);
        for (size_t i = 0; i < cr->n_fds; i++)
                plat_fd_close(cr->fds[i]);
        free(cr);
        return NULL;
}

/**
 * client_ring_close_slot() - queue CLOSE_RING for the grant @handle (no reply wanted)
 * and send it. The broker frees the slot; a publisher's records stay.
 * Best effort: without memory or connection the broker frees the slot when
 * the connection closes.
 */
void client_ring_close_slot(ipc_client *c, uint32_t handle) {
        struct proto_close_ring m = {.request_id = 0, .handle = handle};
        uint8_t head[PROTO_HEAD_MAX];

        if (c->dead)
                return;
        if (client_append(c, head, proto_encode_close_ring(head, &m), NULL, 0) >= 0)
                (void)client_write(c);
}

/**
 * client_ring_signal() - a publisher wakes the sub slots in @mask (taken
 * with ring_take_sleepers()). Bits beyond the ring's slots (a corrupt
 * mask) are ignored.
 *
 * Return: the number of eventfds signalled.
 */
uint64_t client_ring_signal(struct client_ring *cr, uint64_t mask) {
        uint64_t n = 0;

        if (cr->r.sub_slots < 64)
                mask &= (UINT64_C(1) << cr->r.sub_slots) - 1;
        for (; mask; mask &= mask - 1) {
                size_t i = CLIENT_RING_FD_WAKE + (size_t)__builtin_ctzll(mask);

                if (i < cr->n_fds && plat_wake_signal(cr->fds[i]) >= 0)
                        n++;
        }
        return n;
}
