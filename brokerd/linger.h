/* SPDX-License-Identifier: MIT */
/*
 * Lingering closes for connections that end without a frame we can queue:
 * a failed TLS handshake, whose last word is the alert OpenSSL already
 * wrote. Closing a socket while the client's bytes (its HELLO, sent right
 * after its side of a TLS 1.3 handshake) sit unread makes TCP send a
 * reset, which can destroy that alert in the client's receive buffer
 * before it reads it; the client would then see "connection reset"
 * instead of why. A lingering socket is half-closed, and whatever still
 * arrives is read and dropped until the client closes or
 * LINGER_TIMEOUT_USEC passes. At most LINGER_MAX sockets linger at once;
 * beyond that they are closed at once, so a flood of failing handshakes
 * cannot tie up descriptors.
 */
#pragma once

#include "list.h"

struct broker;

#define LINGER_TIMEOUT_USEC (2 * USEC_PER_SEC)
#define LINGER_MAX          64

/*
 * linger_fd() - half-close @fd and close it once the client has (or after
 * LINGER_TIMEOUT_USEC). @fd: a connected socket, owned from here on.
 */
void linger_fd(struct broker *b, int fd);

/* Closes every lingering socket (broker shutdown). */
void linger_free_all(struct broker *b);
