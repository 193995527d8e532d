/* SPDX-License-Identifier: MIT */
/*
 * Raw clients for misbehaviour tests: a plain UNIX stream socket to the
 * harness's broker and frames crafted by hand (header fields, lengths and
 * bodies the library would never send), with reads that assert what the
 * broker answers. Every read has a deadline (5 s, scaled by
 * harness_timeout()), so a broker that neither answers nor closes fails the
 * test instead of hanging it.
 *
 * Like harness_connect(), these assert (cmocka) instead of returning
 * errors, so call them from the test's main thread only.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "harness.h"

/* Largest body raw_frame_read() accepts: every reply the tests provoke fits. */
#define RAW_FRAME_BODY_MAX 65536u

/* One frame as read back from the broker. */
struct raw_frame {
        uint8_t type;
        uint8_t flags;
        uint32_t length;
        uint8_t body[RAW_FRAME_BODY_MAX + 1]; /* + 1: room for a NUL after an ERROR text */
};

/** raw_connect() - a connected socket to @b's UNIX socket, nothing sent yet. */
int raw_connect(const struct harness_broker *b);

/**
 * raw_send() - send all @n bytes. The broker may have closed meanwhile:
 * EPIPE and ECONNRESET end the send quietly (the rest is lost, which is
 * what a test of a dropped client expects); other errors fail the test.
 */
void raw_send(int fd, const void *p, size_t n);

/** raw_header() - write a header with any @magic, @type, @flags and @len. Return: 8. */
size_t raw_header(uint8_t *buf, uint16_t magic, uint8_t type, uint8_t flags, uint32_t len);

/** raw_frame_send() - send one well-formed frame of @type with @body. */
void raw_frame_send(int fd, uint8_t type, const void *body, size_t len);

/** raw_hello_send() - send a HELLO offering versions @vmin..@vmax, client name @name. */
void raw_hello_send(int fd, uint16_t vmin, uint16_t vmax, const char *name);

/**
 * raw_read() - read exactly @n bytes before the CLOCK_MONOTONIC @deadline.
 * Return: 1 done; 0 EOF or reset; -ETIMEDOUT.
 */
int raw_read(int fd, void *p, size_t n, uint64_t deadline);

/**
 * raw_frame_read() - read one frame into @fr (asserting a good magic and a
 * body of at most RAW_FRAME_BODY_MAX).
 * Return: 1 a frame; 0 the broker closed. Fails the test on a timeout.
 */
int raw_frame_read(int fd, struct raw_frame *fr);

/** raw_expect_closed() - assert that the broker closes @fd without sending another frame. */
void raw_expect_closed(int fd);

/**
 * raw_read_error_and_close() - read the ERROR frame the broker sends before
 * closing, then the close, and close @fd.
 * @fr: receives the frame; its text is NUL-terminated for printing.
 * Return: the ERROR code (a positive errno); *@ret_text points into @fr.
 */
uint32_t raw_read_error_and_close(int fd, struct raw_frame *fr, const char **ret_text);

/** raw_expect_error_and_close() - as above, asserting the code is @code. */
void raw_expect_error_and_close(int fd, uint32_t code);

/** raw_expect_reply() - assert the next frame is a REPLY to @request_id with @status. */
void raw_expect_reply(int fd, uint32_t request_id, int32_t status);

/**
 * raw_ready() - a raw connection past the handshake: HELLO with name
 * @name, WELCOME (protocol version 1) checked.
 */
int raw_ready(const struct harness_broker *b, const char *name);

/** raw_ping() - a PING request and its successful REPLY. */
void raw_ping(int fd, uint32_t request_id);

/** raw_open() - send an OPEN_PUB or SUBSCRIBE (@type) for @name, no reply read. */
void raw_open(int fd, uint8_t type, uint32_t request_id, const char *name);
