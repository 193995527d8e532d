/* SPDX-License-Identifier: MIT */
/*
 * Control requests (PROTO_REQUEST): ping, the channel listing and the
 * statistics, answered with JSON documents built with jansson. This is the
 * only module that formats JSON; it reads the broker, channel and peer
 * state but changes nothing.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct broker;
struct identity;

/*
 * control_request() - answer one control request.
 * @who: the asking peer: the channel listing shows it only the channels
 *       the access rules let it publish on or subscribe to. The
 *       statistics are not filtered (see ipc-broker(7)).
 * @op: enum proto_op.
 * @ret_status: 0, or -EOPNOTSUPP for an unknown operation.
 * @ret_text: malloc'd reply tail: the JSON document, or an error text; the
 *            caller frees it.
 * @ret_len: its length.
 * Return: 0; -ENOMEM (nothing allocated).
 */
int control_request(struct broker *b, const struct identity *who, uint16_t op, int32_t *ret_status,
                    char **ret_text, size_t *ret_len);
