/* SPDX-License-Identifier: MIT */
/*
 * Taking a ring slot the broker granted (OPEN_RING): checking the
 * descriptors, mapping the regions, validating the ring, and giving the
 * slot back (CLOSE_RING) when we are done with it or cannot use it.
 *
 * What the broker sent is checked like any input: the descriptor count for
 * the role, that DATA, STATE and every page are sealed shared memory of
 * exactly the sizes expected (so a mapping can never outlive its file's
 * end), the ring header (ring_attach()), that the header names our
 * channel, and the page entries. A subscriber maps DATA and STATE
 * read-only and only its own page read-write, so what it writes can only
 * mislead others about itself; a publisher maps the pages read-only.
 */
#include <errno.h>

#include "client-internal.h"
#include "util.h"

/* The descriptor count a reply must carry: fixed for subscribers, two per page for publishers. */
static bool grant_fds_valid(const struct client_ring_grant *g, uint8_t role) {
        if (g->n_fds != g->rr.n_fds)
                return false;
        if (role == PROTO_RING_SUBSCRIBER)
                return g->n_fds == PROTO_RING_SUB_FDS;
        return g->n_fds == PROTO_RING_PUB_FDS + 2 * g->rr.n_pages;
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

static int page_map(int fd, bool writable, struct ring_sub_page **ret) {
        size_t size;
        void *p;
        int r;

        r = region_map(fd, RING_SUB_PAGE_BYTES, writable, &p, &size);
        if (r < 0)
                return r;
        *ret = p;
        return 0;
}

/* The header names the channel (a copy: the page may change under us). */
static bool ring_name_matches(const struct client_ring *cr, const char *channel) {
        struct ring_header h;
        size_t len = strlen(channel);

        memcpy(&h, cr->data, sizeof(h));
        return h.name_len == len && memcmp(h.name, channel, len) == 0;
}

static void fds_close(const int *fds, size_t n) {
        for (size_t i = 0; i < n; i++)
                plat_fd_close(fds[i]);
}

/* Entries name distinct slots of this ring, each with a generation. */
static bool pages_valid(const struct client_ring *cr, const uint8_t *pages, size_t n) {
        uint64_t seen = 0;

        for (size_t i = 0; i < n; i++) {
                struct proto_ring_page e;

                proto_decode_ring_page(pages, i, &e);
                if (e.slot >= cr->r.sub_slots || e.generation == 0 ||
                    seen & (UINT64_C(1) << e.slot))
                        return false;
                seen |= UINT64_C(1) << e.slot;
        }
        return true;
}

/* Puts @page (generation @gen) and @wake_fd in place for sub slot @slot; the old ones go. */
static void page_replace(struct client_ring *cr, uint32_t slot, uint32_t gen,
                         struct ring_sub_page *page, int wake_fd) {
        struct ring_sub_page *old = cr->r.pages[slot];

        (void)ring_page_set(&cr->r, slot, gen, page);
        plat_shm_unmap(old, RING_SUB_PAGE_BYTES);
        plat_fd_close(cr->sub_wake[slot]);
        cr->sub_wake[slot] = wake_fd;
}

/**
 * client_ring_install_pages() - a publisher's sub slot pages and wake
 * eventfds: @n entries (PROTO_RING_PAGE_BYTES each) at @pages, and @fds,
 * two per entry (wake eventfd, page). The descriptors are taken over:
 * kept (eventfds), or closed once mapped (pages) or on failure.
 *
 * Return: 0; -EBADMSG (bad entries, or a page of the wrong size); -EBADF
 * (not sealed shared memory); a negative errno from mmap. On failure the
 * pages installed before the bad one stay.
 */
int client_ring_install_pages(struct client_ring *cr, const uint8_t *pages, size_t n,
                              const int *fds) {
        if (!pages_valid(cr, pages, n)) {
                fds_close(fds, 2 * n);
                return -EBADMSG;
        }
        for (size_t i = 0; i < n; i++) {
                struct ring_sub_page *page;
                struct proto_ring_page e;
                int r;

                proto_decode_ring_page(pages, i, &e);
                r = page_map(fds[2 * i + 1], false, &page);
                plat_fd_close(fds[2 * i + 1]);
                if (r < 0) {
                        plat_fd_close(fds[2 * i]);
                        fds_close(fds + 2 * i + 2, 2 * (n - i - 1));
                        return r;
                }
                page_replace(cr, e.slot, e.generation, page, fds[2 * i]);
        }
        return 0;
}

static int ring_setup(struct client_ring *cr, const char *channel, uint8_t role,
                      const struct client_ring_grant *g) {
        bool sub = role == PROTO_RING_SUBSCRIBER;
        struct ring_sub_page *page;
        int r;

        r = region_map(cr->fds[CLIENT_RING_FD_DATA], cr->data_size, !sub, &cr->data,
                       &cr->data_size);
        if (r < 0)
                return r;
        r = region_map(cr->fds[CLIENT_RING_FD_STATE], cr->state_size, !sub, &cr->state,
                       &cr->state_size);
        if (r < 0)
                return r;
        r = ring_attach(&cr->r, cr->data, cr->data_size, cr->state, cr->state_size);
        if (r < 0)
                return r;
        if (!ring_name_matches(cr, channel))
                return -EBADMSG;
        if (!sub)
                return cr->slot < cr->r.pub_slots ? 0 : -EBADMSG;
        if (cr->slot >= cr->r.sub_slots || g->rr.generation == 0)
                return -EBADMSG;
        r = page_map(cr->fds[CLIENT_RING_FD_PAGE], true, &page);
        if (r < 0)
                return r;
        return ring_page_set(&cr->r, cr->slot, g->rr.generation, page);
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
 * Return: 0; -EBADMSG (wrong descriptor count, sizes, page entries, or a
 * ring that is not the channel's); -EBADF (a region that is not sealed
 * shared memory); as ring_attach(); -ENOMEM; a negative errno from mmap.
 */
int client_ring_attach(const char *channel, uint8_t role, struct client_ring_grant *g,
                       struct client_ring **ret) {
        bool valid = grant_fds_valid(g, role) && g->rr.data_size <= SIZE_MAX &&
                     g->rr.state_size <= SIZE_MAX;
        size_t keep = role == PROTO_RING_SUBSCRIBER ? PROTO_RING_SUB_FDS : PROTO_RING_PUB_FDS;
        struct client_ring *cr;
        int r;

        cr = valid ? calloc(1, sizeof(*cr)) : NULL;
        if (!cr) {
                fds_close(g->fds, g->n_fds);
                g->n_fds = 0;
                return valid ? -ENOMEM : -EBADMSG;
        }
        for (size_t i = 0; i < RING_SUB_SLOTS_MAX; i++)
                cr->sub_wake[i] = -1;
        cr->role = role;
        cr->slot = g->rr.slot;
        cr->handle = g->rr.handle;
        cr->n_fds = keep;
        memcpy(cr->fds, g->fds, keep * sizeof(int));
        cr->data_size = (size_t)g->rr.data_size;
        cr->state_size = (size_t)g->rr.state_size;
        r = ring_setup(cr, channel, role, g);
        if (r >= 0 && role == PROTO_RING_PUBLISHER)
                r = client_ring_install_pages(cr, g->pages, g->rr.n_pages, g->fds + keep);
        else if (role == PROTO_RING_PUBLISHER)
                fds_close(g->fds + keep, g->n_fds - keep);
        g->n_fds = 0;
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
        for (size_t i = 0; i < RING_SUB_SLOTS_MAX; i++) {
                plat_shm_unmap(cr->r.pages[i], RING_SUB_PAGE_BYTES);
                plat_fd_close(cr->sub_wake[i]);
        }
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
 * client_ring_signal() - a publisher wakes the sub slots in @mask (from
 * ring_take_sleepers()); slots it holds no eventfd for are passed over.
 *
 * Return: the number of eventfds signalled.
 */
uint64_t client_ring_signal(struct client_ring *cr, uint64_t mask) {
        uint64_t n = 0;

        for (; mask; mask &= mask - 1) {
                int fd = cr->sub_wake[__builtin_ctzll(mask)];

                if (fd >= 0 && plat_wake_signal(fd) >= 0)
                        n++;
        }
        return n;
}
