/* SPDX-License-Identifier: MIT */
/*
 * OPEN_RING: a peer asks for a slot in a channel's shared-memory ring and
 * gets the ring's descriptors in the REPLY (see ipc-broker(7)); CLOSE_RING
 * gives one back; RING_PAGES gives a ring publisher the pages of the
 * subscribers that came after it; a ring subscriber that holds publishers
 * back is evicted.
 *
 * Descriptors travel as SCM_RIGHTS ancillary data, which the kernel
 * attaches to the first byte of the sendmsg() that carries them; the
 * client takes them with the recvmsg() that reads that byte. So they must
 * go out with the first byte of the REPLY frame, and the bufferevent, which
 * writes its queue with plain writev, cannot carry them. We therefore
 * sendmsg() the whole frame ourselves when the output queue is empty (the
 * next byte of the stream is then ours) and queue any unsent rest through
 * the bufferevent as usual. When output is queued, the reply waits: the
 * peer's input is not processed meanwhile (so no later reply can overtake
 * it), and the write callback retries once the queue is empty, or an
 * EV_WRITE event when the socket buffer itself is full. Messages fanned out
 * to the peer meanwhile still join the queue; a subscriber whose queue never
 * empties is a slow consumer, handled by the stall and overflow rules as
 * before. This is simple and keeps the stream order exact; the alternative,
 * splitting the bufferevent's queue at the reply, is not worth it for a
 * request made once per channel.
 */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "bridge.h"
#include "channel-name.h"
#include "peer.h"
#include "ring-owner.h"
#include "ring-store.h"

_Static_assert(PROTO_RING_PAGES_MAX *PROTO_RING_PAGE_BYTES >= PROTO_RING_RETAINED_BYTES,
               "the reply record buffer holds either tail");

struct peer_fd_reply {
        bool deferred; /* input was stopped for it */
        size_t n_fds;
        int fds[PROTO_RING_FDS_MAX]; /* our duplicates */
        size_t len;
        uint8_t frame[]; /* the whole REPLY frame */
};

void peer_fd_reply_drop(struct peer *p) {
        struct peer_fd_reply *f = p->fd_reply;

        if (!f)
                return;
        for (size_t i = 0; i < f->n_fds; i++)
                (void)close(f->fds[i]);
        free(f);
        p->fd_reply = NULL;
        if (p->fd_writer)
                (void)event_del(p->fd_writer);
}

/* One sendmsg() of @len bytes with @fds attached. Return: bytes sent; -EAGAIN; negative errno. */
static ssize_t sendmsg_fds(int sock, const void *buf, size_t len, const int *fds, size_t n_fds) {
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int) * PROTO_RING_FDS_MAX)];
        } u;
        struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
        struct msghdr msg = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = u.buf,
                .msg_controllen = CMSG_SPACE(sizeof(int) * n_fds),
        };
        struct cmsghdr *c;

        memset(&u, 0, sizeof(u));
        c = CMSG_FIRSTHDR(&msg);
        if (!c) /* cannot happen: msg_controllen holds one header */
                return -EINVAL;
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
        for (;;) {
                ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);

                if (n >= 0)
                        return n;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                        return -EAGAIN;
                if (errno != EINTR)
                        return -errno;
        }
}

static void peer_fd_writer_cb(evutil_socket_t fd, short what, void *userdata) {
        peer_fd_reply_flush(userdata);
}

/* Stops input until the reply is out; arms the EV_WRITE event when the kernel is full. */
static void peer_fd_reply_defer(struct peer *p, bool socket_full) {
        p->fd_reply->deferred = true;
        (void)bufferevent_disable(p->bev, EV_READ);
        if (!socket_full)
                return;
        if (!p->fd_writer)
                p->fd_writer = event_new(p->broker->base, bufferevent_getfd(p->bev), EV_WRITE,
                                         peer_fd_writer_cb, p);
        if (!p->fd_writer || event_add(p->fd_writer, NULL) < 0) {
                peer_log(p, LOG_ERR, "out of memory waiting to send descriptors; disconnecting");
                peer_fd_reply_drop(p);
                peer_close(p);
        }
}

void peer_fd_reply_flush(struct peer *p) {
        struct peer_fd_reply *f = p->fd_reply;
        bool deferred;
        ssize_t n;

        if (!f || p->state != PEER_RUNNING)
                return;
        if (peer_queued(p) > 0) {
                peer_fd_reply_defer(p, false);
                return;
        }
        n = sendmsg_fds(bufferevent_getfd(p->bev), f->frame, f->len, f->fds, f->n_fds);
        if (n == -EAGAIN) {
                peer_fd_reply_defer(p, true);
                return;
        }
        if (n < 0) {
                (void)log_rl(&p->broker->rl_clients, LOG_INFO, "%s: connection error: %s", p->label,
                             strerror((int)-n));
                peer_fd_reply_drop(p);
                peer_close(p);
                return;
        }
        /* The descriptors went with the first byte; the rest is ordinary stream data. */
        if ((size_t)n < f->len)
                peer_queue(p, f->frame + n, f->len - (size_t)n, NULL, 0);
        p->queued_total += (uint64_t)n;
        deferred = f->deferred;
        peer_fd_reply_drop(p);
        if (deferred && !flow_is_blocked(p))
                peer_resume(p);
}

/*
 * Queues REPLY{@request_id, 0, @body then @tail} carrying @fds (duplicated
 * here). Return: 0; -ENOMEM; a negative errno from duplicating.
 */
static int peer_send_reply_fds(struct peer *p, uint32_t request_id, const void *body, size_t len,
                               const void *tail, size_t tail_len, const int *fds, size_t n_fds) {
        struct proto_reply m = {.request_id = request_id, .body = body, .body_len = len + tail_len};
        uint8_t head[PROTO_HEAD_MAX];
        size_t head_len = proto_encode_reply(head, &m);
        struct peer_fd_reply *f;

        f = calloc(1, sizeof(*f) + head_len + len + tail_len);
        if (!f)
                return -ENOMEM;
        memcpy(f->frame, head, head_len);
        memcpy(f->frame + head_len, body, len);
        if (tail_len > 0)
                memcpy(f->frame + head_len + len, tail, tail_len);
        f->len = head_len + len + tail_len;
        for (; f->n_fds < n_fds; f->n_fds++) {
                int fd = fcntl(fds[f->n_fds], F_DUPFD_CLOEXEC, 3);

                if (fd < 0) {
                        int r = -errno;

                        p->fd_reply = f;
                        peer_fd_reply_drop(p);
                        return r;
                }
                f->fds[f->n_fds] = fd;
        }
        p->fd_reply = f;
        peer_fd_reply_flush(p);
        return 0;
}

/* Remembers a slot handed out, charging it to the user (max_rings_per_uid). */
static void peer_ring_add(struct peer *p, const struct peer_ring *pr) {
        p->rings[p->n_rings++] = *pr;
        quota_ring_charge(p->user);
}

/* Forgets the slot @p->rings[@i] (the last one fills the gap) and gives it back. */
static struct peer_ring peer_ring_forget(struct peer *p, size_t i) {
        struct peer_ring pr = p->rings[i];

        p->rings[i] = p->rings[--p->n_rings];
        quota_ring_release(p->user);
        ring_owner_release(pr.channel->ring, pr.role, pr.slot);
        return pr;
}

void peer_drop_rings(struct peer *p) {
        while (p->n_rings > 0)
                channel_release(peer_ring_forget(p, p->n_rings - 1).channel);
}

static int peer_reserve_ring(struct peer *p) {
        size_t c = p->cap_rings ? p->cap_rings * 2 : 4;
        struct peer_ring *v;

        if (p->n_rings < p->cap_rings)
                return 0;
        v = reallocarray(p->rings, c, sizeof(*v));
        if (!v)
                return -ENOMEM;
        p->rings = v;
        p->cap_rings = c;
        return 0;
}

/*
 * Finds or creates @c's ring and its bridge. The ring continues the
 * channel's sequence numbers, and from now on carries all of its messages.
 * Return: 0; a negative errno, already answered to the client.
 */
static int peer_ring_get(struct peer *p, uint32_t request_id, struct channel *c) {
        struct bridge *br;
        char why[256];
        int r;

        if (c->ring)
                return 0;
        r = ring_owner_refusal(&c->settings, why, sizeof(why));
        if (r < 0) {
                peer_log(p, LOG_DEBUG, "no ring for channel \"%s\": %s", c->name, why);
                peer_send_reply_text(p, request_id, r, "%s", why);
                return r;
        }
        r = ring_owner_new(p->broker->base, c->name, c->name_len, &c->settings, c->seq + 1,
                           c->epoch, &c->ring);
        if (r >= 0) {
                r = bridge_new(p->broker, c, &br);
                if (r < 0)
                        c->ring = ring_owner_free(c->ring);
        }
        if (r >= 0)
                ring_store_add(c->ring); /* kept across restarts under systemd */
        if (r < 0) {
                peer_log(p, LOG_WARNING, "cannot create the ring of channel \"%s\": %s", c->name,
                         strerror(-r));
                peer_send_reply_text(p, request_id, r, "cannot create the ring: %s", strerror(-r));
        }
        return r;
}

/*
 * The subscriber's part of the reply after the record: the retained value,
 * unless the slot starts after it (then the ring still holds it).
 * Return: the bytes written to @buf (0 or PROTO_RING_RETAINED_BYTES).
 */
static size_t peer_ring_retained(struct channel *c, uint32_t slot, uint8_t *buf) {
        uint64_t start = ring_owner_sub_start_seq(c->ring, slot);

        if (!c->retained || c->retained_seq >= start)
                return 0;
        proto_encode_ring_retained(buf, c->retained_seq, c->retained_timestamp_ns);
        return PROTO_RING_RETAINED_BYTES;
}

/*
 * A reconnecting subscriber's resume point: its slot starts at that
 * record while the ring holds it; otherwise it stays at the tail and the
 * client sees the gap between its resume point and the slot's start seq.
 * A resume point of another epoch names numbers this channel never gave
 * out (it was created afresh since): the slot stays at the tail, and the
 * client, which reads the new epoch in the ring header, reports a gap of
 * unknown size.
 */
static void peer_ring_resume(struct peer *p, struct channel *c, uint32_t slot, uint64_t seq,
                             uint64_t epoch) {
        int r;

        if (epoch != c->epoch) {
                peer_log(p, LOG_DEBUG,
                         "ring of channel \"%s\": resume point of another channel epoch ignored",
                         c->name);
                return;
        }
        r = ring_owner_sub_resume(c->ring, slot, seq);
        if (r < 0)
                peer_log(p, LOG_DEBUG,
                         "ring of channel \"%s\": cannot resume at seq %llu (%s); starting at %llu",
                         c->name, (unsigned long long)seq, strerror(-r),
                         (unsigned long long)ring_owner_sub_start_seq(c->ring, slot));
}

/*
 * Activates a slot, remembers it and sends the reply with the descriptors.
 * Return: 0 (answered, also with an error status); -ENOMEM.
 */
static int peer_ring_hand_out(struct peer *p, const struct proto_open_ring *m, struct channel *c) {
        uint8_t rec[PROTO_RING_REPLY_BYTES + PROTO_RING_PAGES_MAX * PROTO_RING_PAGE_BYTES];
        struct proto_ring_page pages[PROTO_RING_PAGES_MAX];
        const void *tail = NULL;
        int fds[PROTO_RING_FDS_MAX];
        struct proto_ring_reply rr;
        size_t rec_len, tail_len = 0, n_pages;
        uint32_t slot;
        int r;

        r = ring_owner_acquire(c->ring, m->role, p->ident.pid, p, &slot);
        if (r < 0) {
                peer_log(p, LOG_NOTICE, "no free %s slot in the ring of channel \"%s\"",
                         m->role == PROTO_RING_SUBSCRIBER ? "subscriber" : "publisher", c->name);
                peer_send_reply_text(p, m->request_id, r, "no free ring slot: %s", strerror(-r));
                return 0;
        }
        c->restored = false;
        if (m->resume && m->role == PROTO_RING_SUBSCRIBER)
                peer_ring_resume(p, c, slot, m->resume_seq, m->resume_epoch);
        peer_ring_add(p, &(struct peer_ring){
                                 .channel = c,
                                 .slot = slot,
                                 .handle = ++p->last_ring_handle,
                                 .role = m->role,
                         });
        rr = (struct proto_ring_reply){
                .slot = slot,
                .handle = p->last_ring_handle,
                .n_fds = (uint32_t)ring_owner_fds(c->ring, m->role, slot, fds, pages, &n_pages),
                .data_size = c->ring->data_size,
                .state_size = c->ring->state_size,
                .generation = m->role == PROTO_RING_SUBSCRIBER
                                      ? ring_owner_sub_generation(c->ring, slot)
                                      : 0,
        };
        proto_encode_ring_reply(rec, &rr);
        rec_len = PROTO_RING_REPLY_BYTES;
        for (size_t i = 0; i < n_pages; i++, rec_len += PROTO_RING_PAGE_BYTES)
                proto_encode_ring_page(rec + rec_len, &pages[i]);
        if (m->role == PROTO_RING_SUBSCRIBER) {
                /* A resuming subscriber has the retained value already, or its gap counts it. */
                if (!m->resume)
                        rec_len += peer_ring_retained(c, slot, rec + PROTO_RING_REPLY_BYTES);
                if (rec_len > PROTO_RING_REPLY_BYTES) {
                        tail = c->retained->data;
                        tail_len = c->retained->size;
                }
                /* It could come to hold publishers back: watch it (once a second). */
                if (c->settings.overflow != PROTO_OVERFLOW_DROP)
                        broker_watch_congestion(p->broker);
        }
        peer_log(p, LOG_DEBUG, "ring of channel \"%s\": %s slot %u handed out with %u fds", c->name,
                 m->role == PROTO_RING_SUBSCRIBER ? "subscriber" : "publisher", slot, rr.n_fds);
        r = peer_send_reply_fds(p, m->request_id, rec, rec_len, tail, tail_len, fds, rr.n_fds);
        if (r < 0) {
                /* The caller releases @c: forgetting the slot must not. */
                (void)peer_ring_forget(p, p->n_rings - 1);
                if (r == -ENOMEM)
                        return r;
                peer_log(p, LOG_WARNING, "cannot pass the ring's descriptors: %s", strerror(-r));
                peer_send_reply_text(p, m->request_id, r, "cannot pass descriptors: %s",
                                     strerror(-r));
        }
        return 0;
}

/*
 * max_subscriptions counts a ring subscription like a socket one. A ring
 * publisher also holds an OPEN_PUB, counted there; its ring slots are capped
 * at the same number.
 */
size_t peer_ring_count(const struct peer *p, uint8_t role) {
        size_t n = 0;

        for (size_t i = 0; i < p->n_rings; i++)
                n += p->rings[i].role == role;
        return n;
}

static bool peer_ring_over_limit(const struct peer *p, uint8_t role) {
        size_t n = peer_ring_count(p, role);

        if (role == PROTO_RING_SUBSCRIBER)
                n += p->n_subs;
        return n >= p->broker->config->max_subscriptions;
}

/*
 * The per-connection limit (-EMFILE), then the user's (-EDQUOT), before
 * any channel or ring is made for the request.
 * Return: 0 (room); the refusal, already answered and logged.
 */
static int peer_ring_check_quotas(struct peer *p, const struct proto_open_ring *m) {
        const struct config *cfg = p->broker->config;
        char user[QUOTA_USER_TEXT_MAX];

        if (peer_ring_over_limit(p, m->role)) {
                peer_log_quota(p, "max_subscriptions", cfg->max_subscriptions);
                peer_send_reply_text(p, m->request_id, -EMFILE,
                                     "too many %s on this connection (max_subscriptions %u)",
                                     m->role == PROTO_RING_SUBSCRIBER ? "subscriptions"
                                                                      : "ring publishers",
                                     cfg->max_subscriptions);
                return -EMFILE;
        }
        if (quota_rings_full(p->user, cfg->max_rings_per_uid)) {
                peer_log_quota(p, "max_rings_per_uid", cfg->max_rings_per_uid);
                peer_send_reply_text(p, m->request_id, -EDQUOT,
                                     "%s: too many ring slots (max_rings_per_uid %u)",
                                     peer_user_text(p, user, sizeof(user)), cfg->max_rings_per_uid);
                return -EDQUOT;
        }
        return 0;
}

int peer_on_open_ring(struct peer *p, uint8_t flags, const uint8_t *body, size_t len) {
        char esc[LOG_ESCAPE_BYTES(PROTO_NAME_MAX)];
        struct proto_open_ring m;
        struct channel *c;
        int r;

        if (proto_decode_open_ring(body, len, flags, &m) < 0)
                return peer_fail(p, EBADMSG, "malformed OPEN_RING frame");
        if (!channel_name_valid(m.name, m.name_len))
                return peer_fail(p, EINVAL, "invalid channel name \"%s\"",
                                 log_escape(m.name, m.name_len, esc, sizeof(esc)));
        /* Shared memory needs a local peer, and SO_PEERCRED tells us it is one. */
        if (p->transport != PEER_TRANSPORT_UNIX || p->ident.kind != IDENTITY_LOCAL) {
                peer_send_reply_text(p, m.request_id, -EOPNOTSUPP,
                                     "shared-memory rings need a local UNIX connection");
                return 0;
        }
        if (m.role >= _PROTO_RING_ROLE_MAX) {
                peer_send_reply_text(p, m.request_id, -EINVAL, "unknown ring role %u", m.role);
                return 0;
        }
        if (m.resume && m.role != PROTO_RING_SUBSCRIBER) {
                peer_send_reply_text(p, m.request_id, -EINVAL,
                                     "a resume point is for subscribers only");
                return 0;
        }
        /* Before anything is created: a refused peer gets no channel, no ring, no descriptor. */
        if (!peer_ring_access_check(p, &m) || peer_ring_check_quotas(p, &m) < 0)
                return 0;
        r = peer_reserve_ring(p);
        if (r < 0)
                return r;
        r = channel_registry_acquire(&p->broker->registry, m.name, m.name_len, &c);
        if (r < 0)
                return peer_refuse_channel(p, m.request_id, r);
        r = peer_ring_get(p, m.request_id, c);
        r = r < 0 ? 0 : peer_ring_hand_out(p, &m, c);
        /* A channel created for nothing (no ring, no slot) goes again. */
        channel_release(c);
        return r;
}

int peer_on_close_ring(struct peer *p, const uint8_t *body, size_t len) {
        struct proto_close_ring m;
        size_t i;

        if (proto_decode_close_ring(body, len, &m) < 0)
                return peer_fail(p, EBADMSG, "malformed CLOSE_RING frame");
        for (i = 0; i < p->n_rings; i++)
                if (p->rings[i].handle == m.handle)
                        break;
        if (i == p->n_rings) {
                if (m.request_id != 0)
                        peer_send_reply_text(p, m.request_id, -ENOENT, "no ring grant %u",
                                             m.handle);
                return 0;
        }
        /* Careful: may free the channel. */
        channel_release(peer_ring_forget(p, i).channel);
        if (m.request_id != 0)
                peer_send_reply(p, m.request_id, 0, NULL, 0);
        return 0;
}

/* The grant of handle @handle, or NULL. */
static const struct peer_ring *peer_find_ring(const struct peer *p, uint32_t handle) {
        for (size_t i = 0; i < p->n_rings; i++)
                if (p->rings[i].handle == handle)
                        return &p->rings[i];
        return NULL;
}

int peer_on_ring_pages(struct peer *p, const uint8_t *body, size_t len) {
        uint8_t tail[PROTO_RING_PAGES_MAX * PROTO_RING_PAGE_BYTES];
        struct proto_ring_page pages[PROTO_RING_PAGES_MAX];
        int fds[PROTO_RING_FDS_MAX];
        const struct peer_ring *pr;
        struct proto_ring_pages m;
        size_t n;
        int r;

        if (proto_decode_ring_pages(body, len, &m) < 0)
                return peer_fail(p, EBADMSG, "malformed RING_PAGES frame");
        pr = peer_find_ring(p, m.handle);
        if (!pr) {
                peer_send_reply_text(p, m.request_id, -ENOENT, "no ring grant %u", m.handle);
                return 0;
        }
        if (pr->role != PROTO_RING_PUBLISHER) {
                peer_send_reply_text(p, m.request_id, -EINVAL, "ring grant %u is not a publisher's",
                                     m.handle);
                return 0;
        }
        n = ring_owner_page_fds(pr->channel->ring, fds, pages);
        for (size_t i = 0; i < n; i++)
                proto_encode_ring_page(tail + i * PROTO_RING_PAGE_BYTES, &pages[i]);
        r = peer_send_reply_fds(p, m.request_id, tail, n * PROTO_RING_PAGE_BYTES, NULL, 0, fds,
                                2 * n);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                peer_log(p, LOG_WARNING, "cannot pass the ring's descriptors: %s", strerror(-r));
                peer_send_reply_text(p, m.request_id, r, "cannot pass descriptors: %s",
                                     strerror(-r));
        }
        return 0;
}

void peer_ring_evict(struct peer *p, struct channel *c, uint64_t stalled_usec) {
        bool block = c->settings.overflow == PROTO_OVERFLOW_BLOCK;

        if (p->state != PEER_RUNNING)
                return;
        p->broker->slow_disconnects++;
        (void)peer_fail(p, block ? ETIMEDOUT : ENOBUFS,
                        "ring subscriber of channel \"%s\" made no progress for %llu ms while "
                        "publishers waited for space (policy %s)",
                        c->name, (unsigned long long)(stalled_usec / USEC_PER_MSEC),
                        config_overflow_name(c->settings.overflow));
}
