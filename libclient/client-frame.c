/* SPDX-License-Identifier: MIT */
/*
 * Incoming frames: check each one as soon as its header is buffered,
 * dispatch control frames (WELCOME, ERROR, REPLY) the moment they are
 * complete, and hand data frames (MESSAGE, LOSS) to ipc_client_receive()
 * strictly in order.
 *
 * Two cursors split the input buffer (see struct rbuf): `scan` runs ahead
 * over everything read, so a blocking request sees its REPLY even when
 * thousands of messages sit unconsumed before it; `head` trails behind for
 * the application and skips frames that were already handled.
 *
 * Everything here comes from the broker and is untrusted: a frame that
 * fails a check kills the client with -EPROTO rather than being guessed at.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "client-internal.h"
#include "util.h"

static int frame_fail(ipc_client *c, const char *what, uint8_t type) {
        char text[128];

        (void)snprintf(text, sizeof(text), "broker sent %s %s frame", what, proto_type_name(type));
        return client_fail(c, -EPROTO, text);
}

/* Frame types a broker may send, before and after the handshake. */
static bool frame_type_expected(const ipc_client *c, uint8_t type) {
        switch (type) {
        case PROTO_ERROR:
                return true;
        case PROTO_WELCOME:
                return !c->welcomed;
        case PROTO_REPLY:
        case PROTO_MESSAGE:
        case PROTO_LOSS:
                return c->welcomed;
        default:
                return false;
        }
}

/* Checks a header before any of its body is buffered. */
static int frame_check_header(ipc_client *c, const uint8_t *p, struct proto_header *ret) {
        struct proto_header h;
        char text[128];

        if (proto_header_decode(p, &h) < 0)
                return client_fail(c, -EPROTO, "broker sent a frame with a bad header");
        if (!frame_type_expected(c, h.type))
                return frame_fail(c, "an unexpected", h.type);
        if (h.length > proto_body_limit(h.type, c->max_message_bytes)) {
                (void)snprintf(text, sizeof(text), "broker sent a %s frame of %" PRIu32 " bytes",
                               proto_type_name(h.type), h.length);
                return client_fail(c, -EPROTO, text);
        }
        *ret = h;
        return 0;
}

static int frame_welcome(ipc_client *c, const uint8_t *body, size_t len) {
        struct proto_welcome w;

        if (proto_decode_welcome(body, len, &w) < 0 || w.version < PROTO_VERSION_MIN ||
            w.version > PROTO_VERSION_MAX || w.max_message_bytes == 0)
                return frame_fail(c, "a malformed", PROTO_WELCOME);
        c->max_message_bytes = MIN(w.max_message_bytes, (uint32_t)PROTO_MESSAGE_BYTES_MAX);
        memcpy(c->server, w.server, w.server_len);
        c->server[w.server_len] = '\0';
        c->welcomed = true;
        return 0;
}

/*
 * The broker's last word before it closes. During the handshake its code is
 * the answer to ipc_client_connect() (-EPROTONOSUPPORT, -ENFILE, -EDQUOT, ...);
 * afterwards it means we broke the protocol, reported as -EPROTO.
 */
static int frame_error(ipc_client *c, const uint8_t *body, size_t len) {
        struct proto_error e;
        int code = -EPROTO;

        if (proto_decode_error(body, len, &e) < 0)
                return frame_fail(c, "a malformed", PROTO_ERROR);
        if (!c->welcomed && e.code > 0 && e.code < 4096)
                code = -(int)e.code;
        client_set_error(c, e.text, e.text_len);
        return client_fail(c, code, NULL);
}

static int frame_dispatch(ipc_client *c, const struct proto_header *h, const uint8_t *body) {
        struct proto_message m;
        struct proto_loss l;

        switch (h->type) {
        case PROTO_WELCOME:
                return frame_welcome(c, body, h->length);
        case PROTO_ERROR:
                return frame_error(c, body, h->length);
        case PROTO_REPLY:
                return client_handle_reply(c, body, h->length);
        case PROTO_MESSAGE:
                /* Checked now so the receive path can trust it. */
                if (proto_decode_message(body, h->length, &m) < 0)
                        return frame_fail(c, "a malformed", h->type);
                return 0;
        case PROTO_LOSS:
                if (proto_decode_loss(body, h->length, &l) < 0)
                        return frame_fail(c, "a malformed", h->type);
                return 0;
        default:
                return frame_fail(c, "an unexpected", h->type);
        }
}

/**
 * client_scan() - check and dispatch every complete frame after `scan`.
 *
 * Stops at a partial frame (whose header is already checked, so the reader
 * knows how much to expect) and after a fatal ERROR.
 *
 * Return: 0; the client's error once it is dead.
 */
int client_scan(ipc_client *c) {
        struct rbuf *b = &c->in;
        int r;

        while (!c->dead && b->len - b->scan >= PROTO_HEADER_BYTES) {
                const uint8_t *p = b->data + b->scan;
                struct proto_header h = {};

                r = frame_check_header(c, p, &h);
                if (r < 0)
                        return r;
                if (b->len - b->scan - PROTO_HEADER_BYTES < h.length)
                        break;
                /* Where the frame started in the stream: descriptors are matched by it. */
                c->frame_at = c->in_total - (b->len - b->scan);
                r = frame_dispatch(c, &h, p + PROTO_HEADER_BYTES);
                if (r < 0)
                        return r;
                b->scan += PROTO_HEADER_BYTES + (size_t)h.length;
        }
        return c->dead;
}

static void loss_account(ipc_client *c, const uint8_t *body, size_t len) {
        struct proto_loss l;
        ipc_sub *sub;

        if (proto_decode_loss(body, len, &l) < 0)
                return;
        sub = client_sub_lookup(c, l.sub_id);
        if (!sub)
                return;
        sub->lost += l.count;
        sub->pending_lost += l.count;
}

/**
 * client_peek_message() - advance `head` to the next message the
 * application should see: skips control frames already handled and
 * messages of freed subscriptions, and books LOSS frames on the way.
 *
 * Return: true when a deliverable MESSAGE is at `head`.
 */
bool client_peek_message(ipc_client *c) {
        struct rbuf *b = &c->in;

        while (b->head < b->scan) {
                const uint8_t *p = b->data + b->head;
                size_t len = le32_get(p + 4);

                if (p[2] == PROTO_MESSAGE) {
                        /* sub_id is the first field of the body. */
                        if (client_sub_lookup(c, le32_get(p + PROTO_HEADER_BYTES)))
                                return true;
                } else if (p[2] == PROTO_LOSS) {
                        loss_account(c, p + PROTO_HEADER_BYTES, len);
                }
                b->head += PROTO_HEADER_BYTES + len;
        }
        return false;
}

/**
 * client_skip_control() - advance `head` over control frames that were
 * already handled (WELCOME, REPLY), so ipc_client_get_timeout() does not
 * wake the event loop for them. Unlike client_peek_message() it stops at
 * any data frame: right after a SUBSCRIBE reply, the new subscription's
 * first messages may be buffered before the subscription is registered.
 */
void client_skip_control(ipc_client *c) {
        struct rbuf *b = &c->in;

        while (b->head < b->scan) {
                const uint8_t *p = b->data + b->head;

                if (p[2] == PROTO_MESSAGE || p[2] == PROTO_LOSS)
                        return;
                b->head += PROTO_HEADER_BYTES + (size_t)le32_get(p + 4);
        }
}

/**
 * client_take_message() - fill the embedded message view from the MESSAGE
 * at `head` (client_peek_message() returned true) and consume it. The view
 * borrows the payload from the input buffer, which then stays put until
 * client_release_view().
 */
void client_take_message(ipc_client *c) {
        struct rbuf *b = &c->in;
        const uint8_t *p = b->data + b->head;
        size_t len = le32_get(p + 4);
        struct proto_message m;
        ipc_msg *msg = &c->msg;

        (void)proto_decode_message(p + PROTO_HEADER_BYTES, len, &m); /* checked by the scan */
        msg->sub = client_sub_lookup(c, m.sub_id);
        msg->ring_sub = NULL;
        msg->data = m.payload;
        msg->size = m.size;
        msg->seq = m.seq;
        msg->timestamp_ns = m.timestamp_ns;
        msg->flags = (p[3] & PROTO_FLAG_RETAIN) ? IPC_MSG_RETAINED : 0;
        msg->lost = msg->sub->pending_lost;
        msg->sub->pending_lost = 0;
        sub_note_seq(msg->sub, msg);
        memcpy(msg->channel_buf, m.channel, m.channel_len);
        msg->channel_buf[m.channel_len] = '\0';
        msg->channel = msg->channel_buf;
        b->head += PROTO_HEADER_BYTES + len;
        b->view = b->data;
}
