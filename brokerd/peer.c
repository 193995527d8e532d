/* SPDX-License-Identifier: MIT */
/*
 * Peer lifecycle, I/O and framing (see peer.h).
 *
 * Input: libevent 2.1 reads at most 4 KiB per event (EVBUFFER_MAX_READ;
 * 2.2 makes it settable), so peer_read_more() tops each read event up with
 * one readv of up to PEER_IO_CHUNK_BYTES straight into the input buffer;
 * each frame's header is checked against proto_body_limit() as soon as its 8
 * bytes are in, before any body byte counts, and a frame is pulled up into
 * contiguous memory only once it is complete. Output: frames are appended
 * to the bufferevent's queue, which libevent writes with writev, many
 * frames per call.
 */
#include "build-config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "bridge.h"
#include "peer.h"
#include "platform.h"
#include "status.h"
#include "tls.h"

#define PEER_LOG_INTERVAL_USEC (10 * USEC_PER_SEC)
#define PEER_LOG_BURST         10

size_t peer_queued(const struct peer *p) {
        return evbuffer_get_length(bufferevent_get_output(p->bev));
}

bool peer_congested(const struct peer *p) {
        return peer_queued(p) > p->broker->config->output_queue_bytes ||
               quota_user_congested(p->user);
}

static struct timeval usec_to_timeval(uint64_t usec) {
        return (struct timeval){
                .tv_sec = (time_t)(usec / USEC_PER_SEC),
                .tv_usec = (suseconds_t)(usec % USEC_PER_SEC),
        };
}

void peer_log(struct peer *p, int prio, const char *fmt, ...) {
        char text[512];
        va_list ap;

        /* Per client, then for all clients together: reconnecting does not help a flood. */
        if (!log_enabled(prio) || !log_ratelimit_pass(&p->rl, prio))
                return;
        va_start(ap, fmt);
        (void)vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        (void)log_rl(&p->broker->rl_clients, prio, "%s: %s", p->label, text);
}

void peer_log_quota(struct peer *p, const char *limit, uint64_t value) {
        char who[QUOTA_USER_TEXT_MAX];

        peer_log(p, LOG_WARNING, "%s: refused: %s (%llu) reached",
                 identity_describe(&p->ident, who, sizeof(who)), limit, (unsigned long long)value);
}

const char *peer_user_text(const struct peer *p, char *buf, size_t len) {
        return quota_user_describe(p->user, buf, len);
}

void peer_close(struct peer *p) {
        if (p->state >= PEER_CLOSING)
                return;
        p->state = PEER_CLOSING;
        (void)bufferevent_disable(p->bev, EV_READ);
        list_append(&p->broker->closing, &p->closing_node);
        broker_schedule_reap(p->broker);
}

int peer_fail(struct peer *p, int code, const char *fmt, ...) {
        uint8_t head[PROTO_HEAD_MAX];
        struct proto_error e = {.code = (uint32_t)code};
        char text[512];
        va_list ap;
        int n;

        if (p->state >= PEER_CLOSING)
                return -PEER_E_PROTOCOL;
        va_start(ap, fmt);
        n = vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        e.text = text;
        e.text_len = MIN((size_t)MAX(n, 0), sizeof(text) - 1);
        peer_log(p, LOG_WARNING, "%s; disconnecting", text);
        peer_queue(p, head, proto_encode_error(head, &e), e.text, e.text_len);
        p->flush_on_close = true;
        peer_close(p);
        return -PEER_E_PROTOCOL;
}

void peer_queue(struct peer *p, const void *head, size_t head_len, const void *tail,
                size_t tail_len) {
        struct evbuffer *out = bufferevent_get_output(p->bev);

        if (evbuffer_add(out, head, head_len) < 0 ||
            (tail_len > 0 && evbuffer_add(out, tail, tail_len) < 0)) {
                /* A half-queued frame corrupts the stream: the connection is lost. */
                peer_log(p, LOG_ERR, "out of memory queueing output; disconnecting");
                peer_close(p);
                return;
        }
        p->queued_total += head_len + tail_len;
}

static void payload_cleanup(const void *data, size_t len, void *userdata) {
        payload_unref(userdata);
}

void peer_queue_shared(struct peer *p, const void *head, size_t head_len, struct payload *payload) {
        struct evbuffer *out = bufferevent_get_output(p->bev);

        if (payload->size == 0) {
                peer_queue(p, head, head_len, NULL, 0);
                return;
        }
        if (evbuffer_add(out, head, head_len) < 0 ||
            evbuffer_add_reference(out, payload->data, payload->size, payload_cleanup,
                                   payload_ref(payload)) < 0) {
                payload_unref(payload);
                peer_log(p, LOG_ERR, "out of memory queueing output; disconnecting");
                peer_close(p);
                return;
        }
        p->queued_total += head_len + payload->size;
}

void peer_send_reply(struct peer *p, uint32_t request_id, int32_t status, const void *body,
                     size_t len) {
        uint8_t head[PROTO_HEAD_MAX];
        struct proto_reply m = {
                .request_id = request_id,
                .status = status,
                .body = body,
                .body_len = len,
        };

        peer_queue(p, head, proto_encode_reply(head, &m), body, len);
}

void peer_send_reply_text(struct peer *p, uint32_t request_id, int32_t status, const char *fmt,
                          ...) {
        char text[512];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        peer_send_reply(p, request_id, status, text, MIN((size_t)MAX(n, 0), sizeof(text) - 1));
}

void peer_send_loss(struct peer *p, struct subscription *s) {
        uint8_t head[PROTO_HEAD_MAX];
        struct proto_loss m = {.sub_id = s->id, .count = s->lost};

        peer_queue(p, head, proto_encode_loss(head, &m), NULL, 0);
        s->lost = 0;
}

/*
 * How far @p got writing: its own bytes written, or while its user is
 * congested, those of all the user's connections (a connection with an
 * empty queue still waits for its user's, and a user that writes nothing
 * at all is what stalls).
 */
static uint64_t peer_progress(const struct peer *p) {
        if (quota_user_congested(p->user))
                return p->user->written;
        return p->queued_total - peer_queued(p);
}

void peer_mark_congested(struct peer *p) {
        if (p->block_congested)
                return;
        p->block_congested = true;
        p->stall_written = peer_progress(p);
        p->stall_since_usec = plat_now_usec();
        list_append(&p->broker->congested, &p->congested_node);
        broker_watch_congestion(p->broker);
}

void peer_unmark_congested(struct peer *p) {
        p->block_congested = false;
        list_unlink(&p->congested_node);
}

void peer_check_stall(struct peer *p, uint64_t now_usec) {
        const struct config *c = p->broker->config;
        uint64_t written = peer_progress(p);

        if (p->state != PEER_RUNNING ||
            (peer_queued(p) <= c->output_queue_bytes / 2 && !quota_user_congested(p->user))) {
                peer_unmark_congested(p);
                return;
        }
        if (written != p->stall_written) {
                p->stall_written = written;
                p->stall_since_usec = now_usec;
                return;
        }
        if (now_usec - p->stall_since_usec < c->stall_timeout_usec)
                return;
        peer_log(p, LOG_WARNING, "no progress for %llu ms with %zu bytes queued%s; disconnecting",
                 (unsigned long long)((now_usec - p->stall_since_usec) / USEC_PER_MSEC),
                 peer_queued(p),
                 quota_user_congested(p->user) ? " (its user's queues over "
                                                 "max_queued_bytes_per_uid)"
                                               : "");
        p->broker->slow_disconnects++;
        peer_close(p);
}

/* Only the frame types a client may send. */
static bool type_from_client(uint8_t type) {
        switch (type) {
        case PROTO_HELLO:
        case PROTO_OPEN_PUB:
        case PROTO_CLOSE_PUB:
        case PROTO_SUBSCRIBE:
        case PROTO_UNSUBSCRIBE:
        case PROTO_REQUEST:
        case PROTO_OPEN_RING:
        case PROTO_CLOSE_RING:
        case PROTO_RING_PAGES:
        case PROTO_PUBLISH:
        case PROTO_RETAINED:
                return true;
        default:
                return false;
        }
}

/* Checks a header before any of its body is accepted. Return: 0 or -PEER_E_PROTOCOL. */
static int peer_read_header(struct peer *p, struct evbuffer *in) {
        uint8_t buf[PROTO_HEADER_BYTES];
        uint32_t max_message_bytes = p->broker->config->max_message_bytes;
        struct proto_header *h = &p->hdr;
        uint64_t limit;
        int r;

        if (evbuffer_copyout(in, buf, sizeof(buf)) != (ev_ssize_t)sizeof(buf))
                return peer_fail(p, EIO, "cannot read frame header");
        r = proto_header_decode(buf, h);
        if (r == -EBADMSG)
                return peer_fail(p, EBADMSG, "bad frame magic 0x%04x", le16_get(buf));
        if (r < 0)
                return peer_fail(p, EPROTO, "unknown frame type 0x%02x", buf[2]);
        if (!type_from_client(h->type))
                return peer_fail(p, EPROTO, "unexpected %s frame from a client",
                                 proto_type_name(h->type));
        if (p->state == PEER_HANDSHAKE && h->type != PROTO_HELLO)
                return peer_fail(p, EPROTO, "expected HELLO, got %s", proto_type_name(h->type));
        limit = proto_body_limit(h->type, max_message_bytes);
        if (h->length > limit && (h->type == PROTO_PUBLISH || h->type == PROTO_RETAINED))
                return peer_fail(p, EMSGSIZE, "message of %llu bytes exceeds the %u-byte limit",
                                 (unsigned long long)h->length - (limit - max_message_bytes),
                                 max_message_bytes);
        if (h->length > limit)
                return peer_fail(p, EMSGSIZE, "%s frame of %u bytes exceeds the %llu-byte limit",
                                 proto_type_name(h->type), h->length, (unsigned long long)limit);
        p->have_header = true;
        return 0;
}

static void peer_close_eof(struct peer *p) {
        struct evbuffer *in = bufferevent_get_input(p->bev);

        if (p->have_header || evbuffer_get_length(in) > 0)
                peer_log(p, LOG_NOTICE, "connection closed in the middle of a frame (%zu bytes)",
                         evbuffer_get_length(in));
        else
                (void)log_rl(&p->broker->rl_clients, LOG_INFO, "%s: disconnected", p->label);
        peer_close(p);
}

/*
 * A request is answered into the output queue, so a client that sends
 * requests and never reads would grow it without bound: while the queue
 * is over its cap (peer_congested()), the next request waits in the input
 * buffer and reading stops, until peer_drained(). PUBLISH and RETAINED
 * are answered by nothing and pass, as before; HELLO, once per connection,
 * passes so that a new connection of a congested user still gets its
 * WELCOME.
 */
static bool peer_hold_request(struct peer *p) {
        if (p->hdr.type == PROTO_PUBLISH || p->hdr.type == PROTO_RETAINED ||
            p->hdr.type == PROTO_HELLO || !peer_congested(p))
                return false;
        p->reply_wait = true;
        (void)bufferevent_disable(p->bev, EV_READ);
        return true;
}

/*
 * Handles every complete frame in the input buffer, unless back-pressure
 * stops us. A frame that must wait (PEER_E_BLOCKED, peer_hold_request())
 * stays in the buffer, header included, and is handled again when the
 * peer resumes.
 */
static unsigned peer_process_frames(struct peer *p) {
        struct evbuffer *in = bufferevent_get_input(p->bev);
        unsigned done = 0;
        uint8_t *frame;
        size_t len;
        int r;

        for (;;) {
                /* A pending descriptor reply (peer-ring.c) must not be overtaken. */
                if (p->state >= PEER_CLOSING || flow_is_blocked(p) || p->fd_reply)
                        return done;
                if (!p->have_header) {
                        if (evbuffer_get_length(in) < PROTO_HEADER_BYTES)
                                break;
                        if (peer_read_header(p, in) < 0)
                                return done;
                }
                len = PROTO_HEADER_BYTES + (size_t)p->hdr.length;
                if (evbuffer_get_length(in) < len)
                        break;
                frame = evbuffer_pullup(in, (ev_ssize_t)len);
                if (!frame) {
                        peer_log(p, LOG_ERR, "out of memory reading a frame; disconnecting");
                        peer_close(p);
                        return done;
                }
                /* Ring messages we wrote reach socket subscribers before any other answer. */
                if (p->hdr.type != PROTO_PUBLISH && !list_is_empty(&p->broker->dirty_bridges)) {
                        bridge_flush(p->broker);
                        if (p->state >= PEER_CLOSING) /* it was one of them, over its cap */
                                return done;
                }
                if (peer_hold_request(p))
                        return done;
                p->have_header = false;
                r = peer_dispatch(p, &p->hdr, frame + PROTO_HEADER_BYTES, p->hdr.length);
                if (r == -PEER_E_BLOCKED) {
                        p->have_header = true;
                        return done;
                }
                (void)evbuffer_drain(in, len);
                done++;
                if (r < 0) {
                        if (r != -PEER_E_PROTOCOL) {
                                peer_log(p, LOG_ERR, "cannot handle %s: %s; disconnecting",
                                         proto_type_name(p->hdr.type), strerror(-r));
                                peer_close(p);
                        }
                        return done;
                }
        }
        if (p->eof)
                peer_close_eof(p);
        return done;
}

/*
 * After the handshake a frame must be whole within frame_timeout_ms of
 * the end of the one before (or of its own first byte): a client that
 * starts a frame and stops would hold its connection, and what it sent,
 * forever. A batch that ends inside a frame while frames go through is
 * normal (a busy publisher's reads end anywhere), so each completed frame
 * starts the deadline afresh. Waits of our making (back-pressure, a
 * descriptor reply, held requests) stop it.
 */
static void peer_frame_deadline(struct peer *p, unsigned frames_done) {
        size_t have = evbuffer_get_length(bufferevent_get_input(p->bev));
        size_t want = p->have_header ? PROTO_HEADER_BYTES + (size_t)p->hdr.length
                                     : PROTO_HEADER_BYTES;
        bool ours = flow_is_blocked(p) || p->fd_reply || p->eof;
        struct timeval tv = usec_to_timeval(p->broker->config->frame_timeout_usec);

        if (p->state != PEER_RUNNING)
                return;
        if (have == 0 || have >= want || ours) {
                if (p->frame_timed)
                        (void)evtimer_del(p->timer);
                p->frame_timed = false;
                return;
        }
        if (p->frame_timed && frames_done == 0)
                return;
        p->frame_timed = evtimer_add(p->timer, &tv) == 0;
}

static void peer_process_input(struct peer *p) {
        peer_frame_deadline(p, peer_process_frames(p));
        /* The batch is done: wake ring subscribers once, feed socket subscribers. */
        if (!list_is_empty(&p->broker->dirty_bridges))
                bridge_flush(p->broker);
}

/*
 * Reads what the socket holds, up to PEER_IO_CHUNK_BYTES, in one readv into
 * the input buffer: many frames per syscall instead of libevent 2.1's 4 KiB.
 * The bufferevent keeps the input buffer's end frozen against writers other
 * than itself, so it is thawed around the append. EOF and errors are left
 * for the bufferevent's next read to report, so there is one path for them.
 */
static void peer_read_more(struct peer *p) {
        struct evbuffer *in = bufferevent_get_input(p->bev);
        struct evbuffer_iovec v[2];
        struct iovec iov[2];
        ssize_t got;
        int n;

        if (evbuffer_unfreeze(in, 0) < 0)
                return;
        n = evbuffer_reserve_space(in, PEER_IO_CHUNK_BYTES, v, 2);
        if (n > 0) {
                for (int i = 0; i < n; i++)
                        iov[i] = (struct iovec){.iov_base = v[i].iov_base, .iov_len = v[i].iov_len};
                got = readv(bufferevent_getfd(p->bev), iov, n);
                for (int i = 0; i < n; i++) {
                        size_t avail = got > 0 ? (size_t)got : 0;
                        size_t take = avail < v[i].iov_len ? avail : v[i].iov_len;

                        v[i].iov_len = take;
                        got -= (ssize_t)take;
                }
                (void)evbuffer_commit_space(in, v, n);
        }
        (void)evbuffer_freeze(in, 0);
}

static void peer_read_cb(struct bufferevent *bev, void *userdata) {
        struct peer *p = userdata;

        /*
         * Only while frames are wanted: a blocked publisher's bytes stay in the
         * kernel. Never for TLS: the socket holds records only OpenSSL may read.
         */
        if (p->state == PEER_RUNNING && !flow_is_blocked(p) && !p->fd_reply && !p->tls)
                peer_read_more(p);
        if (p->state == PEER_DRAINING) {
                (void)evbuffer_drain(bufferevent_get_input(bev), SIZE_MAX);
                return;
        }
        peer_process_input(p);
}

static void peer_resume_cb(evutil_socket_t fd, short what, void *userdata) {
        peer_process_input(userdata);
}

void peer_resume(struct peer *p) {
        if (p->state >= PEER_CLOSING || p->fd_reply)
                return;
        if (!p->eof)
                (void)bufferevent_enable(p->bev, EV_READ);
        /* Frames may already sit in our input buffer: no read event would announce them. */
        event_active(p->resume, EV_TIMEOUT, 0);
}

/*
 * The last frame (an ERROR) is written: half-close and discard whatever the
 * client still sends until it closes or the drain timer fires. Closing with
 * unread input would make TCP send a reset, which can destroy the ERROR
 * frame in the client's receive buffer before it reads it.
 */
static void peer_linger(struct peer *p) {
        if (p->lingering)
                return;
        p->lingering = true;
        peer_tls_shutdown(p);
        (void)shutdown(bufferevent_getfd(p->bev), SHUT_WR);
        (void)evbuffer_drain(bufferevent_get_input(p->bev), SIZE_MAX);
        (void)bufferevent_enable(p->bev, EV_READ);
}

void peer_drained(struct peer *p) {
        if (p->state != PEER_RUNNING || quota_user_congested(p->user))
                return;
        if (p->block_congested)
                peer_unmark_congested(p);
        if (!list_is_empty(&p->waiters))
                flow_release_waiters(p);
        if (p->loss_pending)
                peer_flush_losses(p);
        if (p->reply_wait) {
                p->reply_wait = false;
                if (!flow_is_blocked(p))
                        peer_resume(p);
        }
}

void peer_user_drained(struct quota_user *u) {
        struct peer *p;

        /*
         * Whatever its user's quota held back goes on; a connection over its
         * own cap waits for its own write callback. Nothing here unlinks a
         * peer: closing is deferred, resuming too.
         */
        list_for_each(p, &u->peers, user_node) {
                if (!peer_congested(p))
                        peer_drained(p);
        }
}

/* Runs after every write that leaves at most half the cap queued. */
static void peer_write_cb(struct bufferevent *bev, void *userdata) {
        struct peer *p = userdata;

        if (p->state == PEER_DRAINING) {
                if (peer_queued(p) == 0)
                        peer_linger(p);
                return;
        }
        if (p->state != PEER_RUNNING)
                return;
        if (p->fd_reply) {
                peer_fd_reply_flush(p);
                if (p->state != PEER_RUNNING)
                        return;
        }
        peer_drained(p);
}

static void peer_event_cb(struct bufferevent *bev, short what, void *userdata) {
        struct peer *p = userdata;
        int err = EVUTIL_SOCKET_ERROR();

        if (p->state == PEER_DRAINING) {
                peer_free(p);
                return;
        }
        if (p->state >= PEER_CLOSING)
                return;
        if (what & BEV_EVENT_CONNECTED) {
                peer_tls_on_connected(p);
                return;
        }
        if (what & BEV_EVENT_EOF) {
                p->eof = true;
                /* Frames held back by back-pressure are still handled, then we close. */
                if (!flow_is_blocked(p) && !p->fd_reply)
                        peer_close_eof(p);
                return;
        }
        if (p->tls)
                peer_tls_failed(p);
        else
                (void)log_rl(&p->broker->rl_clients, LOG_INFO, "%s: connection error: %s", p->label,
                             err ? strerror(err) : "unknown");
        peer_close(p);
}

static void peer_timer_cb(evutil_socket_t fd, short what, void *userdata) {
        struct peer *p = userdata;

        if (p->state == PEER_HANDSHAKE) {
                peer_log(p, LOG_NOTICE, "no %s within %llu ms; disconnecting",
                         p->tls && !p->tls_ready ? "TLS handshake" : "HELLO",
                         (unsigned long long)(p->broker->config->handshake_timeout_usec /
                                              USEC_PER_MSEC));
                peer_close(p);
        } else if (p->state == PEER_RUNNING && p->frame_timed) {
                p->frame_timed = false;
                (void)peer_fail(p, ETIMEDOUT, "a frame was begun and not completed within %llu ms",
                                (unsigned long long)(p->broker->config->frame_timeout_usec /
                                                     USEC_PER_MSEC));
        } else if (p->state == PEER_DRAINING) {
                peer_free(p);
        }
}

void peer_reap(struct peer *p) {
        struct timeval tv = usec_to_timeval(PEER_DRAIN_TIMEOUT_USEC);

        peer_fd_reply_drop(p);
        bridge_cancel_space_wait(p);
        peer_drop_endpoints(p);
        flow_cancel_waits(p);
        flow_release_waiters(p);
        peer_unmark_congested(p);
        (void)evtimer_del(p->timer);
        if (p->flush_on_close) {
                p->state = PEER_DRAINING;
                (void)evtimer_add(p->timer, &tv);
                if (peer_queued(p) == 0)
                        peer_linger(p);
                return;
        }
        peer_free(p);
}

/*
 * Counts every change of the output queue into the user's: bytes queued,
 * written or discarded, whoever changed it (frames, the bufferevent's
 * writes). The user's congestion starts and ends here; waking its
 * connections must wait for the loop (we may be inside a fan-out).
 */
static void peer_output_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
                           void *userdata) {
        struct peer *p = userdata;
        uint64_t max = p->broker->config->max_queued_bytes_per_uid;
        char who[QUOTA_USER_TEXT_MAX];

        switch (quota_queue(p->user, info->n_added, info->n_deleted, max)) {
        case QUOTA_CONGESTED:
                peer_log(p, LOG_WARNING,
                         "%s: max_queued_bytes_per_uid (%llu) reached; every connection of the "
                         "user counts as congested until half of it is written",
                         identity_describe(&p->ident, who, sizeof(who)), (unsigned long long)max);
                break;
        case QUOTA_DRAINED:
                broker_schedule_users_drained(p->broker);
                break;
        default:
                break;
        }
}

/* Charges the connection to its user and counts its queue there from now on. */
static int peer_charge_user(struct peer *p) {
        int r = quota_connect(&p->broker->quota, &p->ident, &p->user);

        if (r < 0)
                return r;
        list_append(&p->user->peers, &p->user_node);
        p->output_cb = evbuffer_add_cb(bufferevent_get_output(p->bev), peer_output_cb, p);
        return p->output_cb ? 0 : -ENOMEM;
}

/*
 * Gives the user back what the connection held: its queue (which may end
 * the user's congestion: its other connections are woken), then the
 * connection.
 */
static void peer_release_user(struct peer *p) {
        if (p->output_cb) {
                (void)evbuffer_remove_cb_entry(bufferevent_get_output(p->bev), p->output_cb);
                if (quota_queue(p->user, 0, peer_queued(p),
                                p->broker->config->max_queued_bytes_per_uid) == QUOTA_DRAINED)
                        broker_schedule_users_drained(p->broker);
                p->output_cb = NULL;
        }
        list_unlink(&p->user_node);
        p->user = quota_disconnect(p->user);
}

/*
 * A TLS peer starts as the anonymous user and authenticates later (client
 * certificate, or token in HELLO): its connection and queue move to the
 * user it proved to be, whose connection quota is checked now.
 */
int peer_set_identity(struct peer *p, const struct identity *id) {
        const struct config *c = p->broker->config;
        char user[QUOTA_USER_TEXT_MAX];
        int r;

        /*
         * Moved even when refused: the anonymous user's slot is free at once
         * for the next handshake, and this connection counts as @id's while it
         * drains its ERROR.
         */
        peer_release_user(p);
        p->ident = *id;
        r = peer_charge_user(p);
        if (r < 0)
                return r;
        /* What is queued already was counted for the old user, and will be written for this one. */
        (void)quota_queue(p->user, peer_queued(p), 0, c->max_queued_bytes_per_uid);
        if (quota_connections(&p->broker->quota, id) <= c->max_connections_per_uid)
                return 0;
        peer_log_quota(p, "max_connections_per_uid", c->max_connections_per_uid);
        return peer_fail(p, EDQUOT, "%s: too many connections (max_connections_per_uid %u)",
                         quota_user_describe(p->user, user, sizeof(user)),
                         c->max_connections_per_uid);
}

static int peer_setup_events(struct peer *p, int fd) {
        struct event_base *base = p->broker->base;
        const struct config *c = p->broker->config;
        struct timeval tv = usec_to_timeval(c->handshake_timeout_usec);

        if (p->tls) {
                if (peer_tls_bev_new(p, fd, &p->bev) < 0)
                        return -ENOMEM;
        } else {
                p->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
                if (!p->bev) {
                        (void)close(fd);
                        return -ENOMEM;
                }
        }
        p->timer = evtimer_new(base, peer_timer_cb, p);
        p->resume = event_new(base, -1, 0, peer_resume_cb, p);
        if (!p->timer || !p->resume)
                return -ENOMEM;
        (void)bufferevent_set_max_single_read(p->bev, PEER_IO_CHUNK_BYTES);
        (void)bufferevent_set_max_single_write(p->bev, PEER_IO_CHUNK_BYTES);
        bufferevent_setwatermark(p->bev, EV_WRITE, (size_t)(c->output_queue_bytes / 2), 0);
        bufferevent_setcb(p->bev, peer_read_cb, peer_write_cb, peer_event_cb, p);
        if (evtimer_add(p->timer, &tv) < 0 || bufferevent_enable(p->bev, EV_READ | EV_WRITE) < 0)
                return -ENOMEM;
        return 0;
}

int peer_new(struct broker *b, int fd, enum peer_transport transport, const struct identity *id,
             struct tls_server *tls,
             struct peer **ret) {
        struct peer *p;
        int one = 1;
        int r;

        p = calloc(1, sizeof(*p));
        if (!p) {
                (void)close(fd);
                return -ENOMEM;
        }
        p->broker = b;
        p->id = ++b->next_peer_id;
        p->transport = transport;
        p->tls = tls ? tls_server_ref(tls) : NULL;
        p->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(PEER_LOG_INTERVAL_USEC, PEER_LOG_BURST);
        list_init(&p->node);
        list_init(&p->closing_node);
        list_init(&p->congested_node);
        list_init(&p->waiters);
        list_init(&p->waits);
        list_init(&p->space_node);
        list_init(&p->user_node);
        (void)snprintf(p->label, sizeof(p->label), "client %llu", (unsigned long long)p->id);
        p->ident = *id;
        if (transport == PEER_TRANSPORT_TCP)
                (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        r = peer_setup_events(p, fd);
        if (r >= 0)
                r = peer_charge_user(p);
        if (r < 0) {
                peer_free(p);
                return r;
        }
        list_append(&b->peers, &p->node);
        b->n_peers++;
        status_changed(b->status);
        *ret = p;
        return 0;
}

struct peer *peer_free(struct peer *p) {
        if (!p)
                return NULL;
        if (p->rl.suppressed > 0)
                log_notice("%s: %u more messages about this client were suppressed", p->label,
                           p->rl.suppressed);
        peer_fd_reply_drop(p);
        bridge_cancel_space_wait(p);
        peer_drop_endpoints(p);
        flow_cancel_waits(p);
        flow_release_waiters(p);
        peer_unmark_congested(p);
        list_unlink(&p->closing_node);
        if (list_is_linked(&p->node)) {
                list_unlink(&p->node);
                p->broker->n_peers--;
                status_changed(p->broker->status);
        }
        if (p->timer)
                event_free(p->timer);
        if (p->resume)
                event_free(p->resume);
        if (p->fd_writer)
                event_free(p->fd_writer);
        peer_release_user(p);
        if (p->bev)
                bufferevent_free(p->bev);
        tls_server_unref(p->tls);
        free(p->pubs);
        free(p->subs);
        free(p->rings);
        free(p);
        return NULL;
}
