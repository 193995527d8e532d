/* SPDX-License-Identifier: MIT */
/*
 * The daemon's STATUS= line for the service manager (`systemctl status`
 * shows it): "N clients, N channels; listening on ADDRESS...".
 *
 * Counts change with every connection, so updates are rate-limited: a
 * change arms a one-shot timer that fires at once if nothing was sent for a
 * second, else when that second is over, and then sends the counts of that
 * moment, so a burst of changes costs one datagram. No timer is armed while
 * nothing changes, and none at all without $NOTIFY_SOCKET.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct broker;
struct status;

#define STATUS_INTERVAL_USEC USEC_PER_SEC
#define STATUS_TEXT_MAX      400

/*
 * status_new() - set up the rate-limited updates on @b's loop.
 * Return: 0; -ENOMEM.
 */
int status_new(struct broker *b, struct status **ret);

/* Accepts NULL. Return: NULL. */
struct status *status_free(struct status *s);

/*
 * status_changed() - a count in the status line may have changed; schedule
 * an update (see above). Accepts NULL (unit tests build registries without
 * a broker).
 */
void status_changed(struct status *s);

/*
 * status_send_ready() - send READY=1 with the current status line, at
 * start-up and at the end of each reload.
 * Return: the status text, owned by @s, valid until the next update.
 */
const char *status_send_ready(struct status *s);

/* status_format() - the status line of @b into @buf (truncated to @size). */
void status_format(const struct broker *b, char *buf, size_t size);
