/* SPDX-License-Identifier: MIT */
/*
 * The socket transport of libipcclient: the output buffer and its writes,
 * the input buffer and its reads, and the wait step every blocking call
 * loops on. Frames themselves are checked and dispatched in
 * client-frame.c; this file only moves bytes.
 *
 * Output is written whole (one send() of everything pending, repeated until
 * the kernel stops taking it) and input is read in chunks of at least
 * CLIENT_READ_MIN_BYTES, so a burst of small messages costs few syscalls.
 *
 * The transport seam: io_send() and io_recv() are the socket calls, or
 * their TLS counterparts (client-tls.c) on a "tls:" connection; one branch
 * on c->ssl is all a UNIX or plain TCP connection pays for it.
 */
#include <errno.h>
#include <sys/socket.h>

#include "client-internal.h"
#include "util.h"

/* ---- Output ----------------------------------------------------------- */

static int wbuf_reserve(struct wbuf *b, size_t size) {
        size_t pending = b->end - b->start, cap;
        uint8_t *p;

        if (b->cap - b->end >= size)
                return 0;
        if (b->start > 0) {
                memmove(b->data, b->data + b->start, pending);
                b->start = 0;
                b->end = pending;
                if (b->cap - b->end >= size)
                        return 0;
        }
        if (size > SIZE_MAX / 4 - pending)
                return -ENOMEM;
        cap = MAX(MAX(b->cap * 2, pending + size), (size_t)4096);
        p = realloc(b->data, cap);
        if (!p)
                return -ENOMEM;
        b->data = p;
        b->cap = cap;
        return 0;
}

/* Everything was written: start over at offset 0, and drop a huge buffer. */
static void wbuf_reset(struct wbuf *b) {
        b->start = b->end = 0;
        if (b->cap > CLIENT_BUF_KEEP_BYTES) {
                free(b->data);
                b->data = NULL;
                b->cap = 0;
        }
}

/*
 * Write interest makes the application's fd wake us while output is pending.
 * A failure (epoll_ctl out of memory) is not reported: the bytes are queued
 * or written either way, and the next write attempt retries it. The poller
 * caches the interest, so only a change costs an epoll_ctl.
 */
void client_update_poller(ipc_client *c) {
        (void)plat_poller_set_write(c->poller, client_out_pending(c) > 0);
}

/**
 * client_append() - queue one frame for sending.
 * @head: header and head bytes from a proto_encode_*() call.
 * @tail: the frame's tail (payload, name, JSON), copied after @head; may be
 *        NULL when @tail_len is 0.
 *
 * Nothing is written here, so callers batch frames and choose when to send.
 * Write interest is not touched either: a caller that returns with output
 * still queued and without calling client_write() calls
 * client_update_poller(), so a publish that is written at once costs one
 * send() and no epoll_ctl.
 *
 * Return: 0; -ENOMEM (the frame was not queued); -ENOTCONN (the client is
 * down, reconnecting: nothing is queued for a connection that is gone).
 */
int client_append(ipc_client *c, const uint8_t *head, size_t head_len, const void *tail,
                  size_t tail_len) {
        struct wbuf *b = &c->out;
        int r;

        if (c->link_down)
                return -ENOTCONN;
        if (tail_len > SIZE_MAX / 4 - head_len)
                return -ENOMEM;
        r = wbuf_reserve(b, head_len + tail_len);
        if (r < 0)
                return r;
        memcpy(b->data + b->end, head, head_len);
        b->end += head_len;
        if (tail_len > 0) {
                memcpy(b->data + b->end, tail, tail_len);
                b->end += tail_len;
        }
        return 0;
}

/* One write: bytes taken, or a negative errno (-EAGAIN when the socket is full). */
static ssize_t io_send(ipc_client *c, const void *buf, size_t len) {
        ssize_t n;

        if (c->ssl)
                return client_tls_send(c, buf, len);
        n = send(c->sock, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0)
                return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        return n;
}

/**
 * client_write() - write as much pending output as the socket takes now.
 *
 * Return: 0 (some output may remain: write interest is then set on the
 * poller); -EPIPE or -ECONNRESET when the broker is gone (the client is
 * dead); the client's earlier error if it is dead already; -ENOTCONN when
 * it is (or goes) down, reconnecting.
 */
int client_write(ipc_client *c) {
        struct wbuf *b = &c->out;

        if (c->dead)
                return c->dead;
        if (c->link_down)
                return -ENOTCONN;
        while (b->start < b->end) {
                ssize_t n = io_send(c, b->data + b->start, b->end - b->start);

                if (n == -EINTR)
                        continue;
                if (n == -EAGAIN)
                        break;
                if (n == -EPIPE)
                        return client_fail(c, -EPIPE, "connection to the broker broken");
                if (n < 0)
                        return client_fail(c, (int)n, NULL);
                b->start += (size_t)n;
        }
        if (b->start == b->end)
                wbuf_reset(b);
        client_update_poller(c);
        return 0;
}

/* ---- Input ------------------------------------------------------------ */

/*
 * Makes room for @want more bytes after `len`. Consumed bytes before `head`
 * are reclaimed unless the message view still points into this buffer; then
 * the live bytes move to a fresh buffer and the old one stays allocated
 * until the view is released (client_release_view()).
 */
static int rbuf_reserve(struct rbuf *b, size_t want) {
        size_t live = b->len - b->head, cap;
        uint8_t *p;

        if (b->cap - b->len >= want)
                return 0;
        if (want > SIZE_MAX / 4 - live)
                return -ENOMEM;
        if (!b->view || b->view != b->data) {
                if (b->head > 0) {
                        memmove(b->data, b->data + b->head, live);
                        b->scan -= b->head;
                        b->len = live;
                        b->head = 0;
                        if (b->cap - b->len >= want)
                                return 0;
                }
                cap = MAX(b->cap * 2, live + want);
                p = realloc(b->data, cap);
                if (!p)
                        return -ENOMEM;
                b->data = p;
                b->cap = cap;
                return 0;
        }
        cap = MAX(b->cap, live + want);
        p = malloc(cap);
        if (!p)
                return -ENOMEM;
        memcpy(p, b->data + b->head, live);
        free(b->retired); /* never set while the view is in `data`; defensive */
        b->retired = b->data;
        b->data = p;
        b->cap = cap;
        b->scan -= b->head;
        b->len = live;
        b->head = 0;
        return 0;
}

/* Bytes still missing from the partial frame at `scan` (its header was checked). */
static size_t rbuf_missing(const struct rbuf *b) {
        size_t have = b->len - b->scan;

        if (have < PROTO_HEADER_BYTES)
                return PROTO_HEADER_BYTES - have;
        return PROTO_HEADER_BYTES + (size_t)le32_get(b->data + b->scan + 4) - have;
}

/**
 * client_release_view() - the socket message last returned is no longer
 * used: its memory may move again (client_msg_release()).
 */
void client_release_view(ipc_client *c) {
        struct rbuf *b = &c->in;

        b->view = NULL;
        free(b->retired);
        b->retired = NULL;
        if (b->head < b->len)
                return;
        b->head = b->scan = b->len = 0;
        if (b->cap > CLIENT_BUF_KEEP_BYTES) {
                free(b->data);
                b->data = NULL;
                b->cap = 0;
        }
}

/* ---- Descriptors ------------------------------------------------------ */

static void fd_batch_close(struct client_fd_batch *fb) {
        for (size_t i = 0; i < fb->n; i++)
                plat_fd_close(fb->fds[i]);
        fb->n = 0;
}

/** client_in_fds_close() - close descriptors received but not claimed by a reply. */
void client_in_fds_close(ipc_client *c) {
        for (size_t i = 0; i < c->n_fd_batches; i++)
                fd_batch_close(&c->in_fds[i]);
        c->n_fd_batches = 0;
}

/**
 * client_in_fds_take() - the descriptors of the REPLY starting at stream
 * offset @at, moved to @fds (PROTO_RING_FDS_MAX entries). Batches that came
 * with earlier bytes belong to no frame any more and are closed.
 *
 * Return: the number moved (0 when none came with this frame).
 */
size_t client_in_fds_take(ipc_client *c, uint64_t at, int *fds) {
        size_t n = 0, kept = 0;

        for (size_t i = 0; i < c->n_fd_batches; i++) {
                struct client_fd_batch *fb = &c->in_fds[i];

                if (fb->from <= at && at < fb->to) {
                        memcpy(fds, fb->fds, fb->n * sizeof(int));
                        n = fb->n;
                        fb->n = 0;
                        continue;
                }
                if (fb->to <= at) {
                        fd_batch_close(fb);
                        continue;
                }
                c->in_fds[kept++] = *fb;
        }
        c->n_fd_batches = kept;
        return n;
}

/*
 * Descriptors came with the bytes [from, to) of the stream. They are kept
 * only while an OPEN_RING reply can come (the request in flight, or one
 * that timed out); any others are closed at once, so a broker cannot make
 * us run out of descriptors. The kernel already capped their number.
 */
static void client_in_fds_add(ipc_client *c, uint64_t from, uint64_t to, const int *fds, size_t n) {
        struct client_fd_batch *fb;

        if (!client_fds_expected(c)) {
                for (size_t i = 0; i < n; i++)
                        plat_fd_close(fds[i]);
                return;
        }
        if (c->n_fd_batches == CLIENT_FD_BATCHES) {
                /* The oldest can only be a reply's that never completed properly. */
                fd_batch_close(&c->in_fds[0]);
                memmove(c->in_fds, c->in_fds + 1, sizeof(c->in_fds[0]) * (CLIENT_FD_BATCHES - 1));
                c->n_fd_batches--;
        }
        fb = &c->in_fds[c->n_fd_batches++];
        fb->from = from;
        fb->to = to;
        fb->n = n;
        memcpy(fb->fds, fds, n * sizeof(int));
}

/* One read, with the descriptors that came with it (never any over TLS). */
static ssize_t io_recv(ipc_client *c, void *buf, size_t len, int *fds, size_t *ret_n_fds) {
        if (!c->ssl)
                return plat_sock_recv(c->sock, buf, len, fds, PROTO_RING_FDS_MAX, ret_n_fds);
        *ret_n_fds = 0;
        return client_tls_recv(c, buf, len);
}

/**
 * client_read() - read what the socket has, up to @max_reads chunks, and
 * check and dispatch every complete frame (client_scan()).
 *
 * Every read is a recvmsg() that accepts descriptors (see
 * client_in_fds_add()): the kernel attaches them to a byte of the stream,
 * so whichever read takes that byte must be ready for them.
 *
 * Return: 0; -ECONNRESET on EOF or reset, -EPROTO on a bad frame (the
 * client is dead); -ENOTCONN (down, reconnecting); -ENOMEM (not fatal:
 * nothing was read).
 */
int client_read(ipc_client *c, unsigned max_reads) {
        struct rbuf *b = &c->in;
        int r;

        if (c->dead)
                return c->dead;
        if (c->link_down)
                return -ENOTCONN;
        for (unsigned i = 0; i < max_reads; i++) {
                int fds[PROTO_RING_FDS_MAX];
                size_t space, n_fds;
                ssize_t n;

                r = rbuf_reserve(b, MAX((size_t)CLIENT_READ_MIN_BYTES, rbuf_missing(b)));
                if (r < 0)
                        return r;
                space = b->cap - b->len;
                n = io_recv(c, b->data + b->len, space, fds, &n_fds);
                if (n_fds > 0)
                        client_in_fds_add(c, c->in_total, c->in_total + (uint64_t)MAX(n, 0), fds,
                                          n_fds);
                if (n < 0) {
                        if (n == -EAGAIN)
                                return 0;
                        if (n == -ECONNRESET)
                                return client_fail(c, -ECONNRESET, "connection reset by broker");
                        return client_fail(c, (int)n, NULL);
                }
                if (n == 0)
                        return client_fail(c, -ECONNRESET, "connection closed by broker");
                b->len += (size_t)n;
                c->in_total += (uint64_t)n;
                r = client_scan(c);
                if (r < 0)
                        return r;
                if ((size_t)n < space)
                        break;
        }
        return 0;
}

/**
 * client_wait() - one step of a blocking loop: wait until the socket is
 * readable (or writable, while output is pending) or @deadline_usec
 * passes, then write and read what is possible.
 *
 * Callers re-check their condition after every step, and give up only after
 * a step that returned 1, so I/O done in the last step is never ignored.
 *
 * Return: 0; 1 when the deadline has passed; the client's error when it
 * is (or becomes) dead; -ENOTCONN (down); -ENOMEM; another negative
 * errno from poll.
 */
int client_wait(ipc_client *c, uint64_t deadline_usec) {
        int events = PLAT_EV_READ, ready, r;

        if (c->dead)
                return c->dead;
        if (c->link_down)
                return -ENOTCONN;
        if (client_out_pending(c) > 0)
                events |= PLAT_EV_WRITE;
        /* Input OpenSSL already holds would not make the socket readable. */
        ready = client_tls_pending(c) ? PLAT_EV_READ : plat_wait(c->sock, events, deadline_usec);
        if (ready < 0)
                return ready;
        if (ready & PLAT_EV_WRITE) {
                r = client_write(c);
                if (r < 0)
                        return r;
        }
        if (ready & PLAT_EV_READ) {
                r = client_read(c, CLIENT_PROCESS_READS_MAX);
                if (r < 0)
                        return r;
        }
        return deadline_usec != USEC_INFINITY && plat_now_usec() >= deadline_usec;
}

static bool fds_contain(const int *v, size_t n, int x) {
        for (size_t i = 0; i < n; i++)
                if (v[i] == x)
                        return true;
        return false;
}

/**
 * client_wait_all() - client_wait() that also wakes for the client's ring
 * subscriptions: it waits on the pollable handle, which holds the socket
 * and their wake eventfds, and consumes the wake-ups that came. While the
 * client is down it waits for the rings until the next reconnect attempt
 * is due at the latest.
 *
 * Return: as client_wait(), but 0 rather than -ENOTCONN while down.
 */
int client_wait_all(ipc_client *c, uint64_t deadline_usec) {
        int fds[CLIENT_READY_MAX];
        int n, r;

        if (c->dead)
                return c->dead;
        if (c->n_ring_subs == 0 && !c->link_down)
                return client_wait(c, deadline_usec);
        if (!c->link_down)
                client_update_poller(c);
        /* Down: the rings go on; wake for the next reconnect attempt too. */
        n = plat_poller_wait(c->poller,
                             c->link_down ? MIN(deadline_usec, c->retry_usec) : deadline_usec, fds,
                             ARRAY_SIZE(fds));
        if (n < 0)
                return n;
        client_rings_drain_ready(c, fds, (size_t)n);
        /* Only eventfds: no socket I/O to do (a socket left off a full list stays ready). */
        if (!c->link_down && fds_contain(fds, (size_t)n, c->sock)) {
                r = client_write(c);
                if (r >= 0)
                        r = client_read(c, CLIENT_PROCESS_READS_MAX);
                if (r < 0)
                        return r;
        }
        return deadline_usec != USEC_INFINITY && plat_now_usec() >= deadline_usec;
}

/**
 * client_flush_until() - write until at most @goal bytes of output remain
 * pending, reading input meanwhile so a broker that waits for us to read
 * (its "block" policy) can never deadlock against us.
 *
 * Return: 0; -ETIMEDOUT; the client's error when it is dead; -ENOMEM.
 */
int client_flush_until(ipc_client *c, uint64_t deadline_usec, size_t goal) {
        int r;

        r = client_write(c);
        if (r < 0)
                return r;
        for (;;) {
                if (client_out_pending(c) <= goal)
                        return 0;
                r = client_wait(c, deadline_usec);
                if (r < 0)
                        return r;
                if (r > 0 && client_out_pending(c) > goal)
                        return -ETIMEDOUT;
        }
}

void client_buffers_free(ipc_client *c) {
        client_in_fds_close(c);
        free(c->out.data);
        free(c->in.data);
        free(c->in.retired);
        c->out = (struct wbuf){};
        c->in = (struct rbuf){};
}
