#!/bin/sh
# SPDX-License-Identifier: MIT
# The transport-independent integration tests once more with the library
# free to pick the shared-memory ring (IPC_TEST_TRANSPORT=shm, see
# tests/util/harness.h): exact-name publishers and subscribers on the UNIX
# socket take the ring, patterns and TCP clients stay on the socket, bridged
# onto the same channels.
#
# Left out by design:
#  - roundtrip test_multiple_subscriptions expects one client's messages of
#    two channels in publish order across the channels; each ring keeps only
#    its own channel's order (ipc_client_receive(3): the sources take turns
#    in batches).
#  - policy test_drop_accounts_every_message compares the broker's
#    "delivered" with what the subscribers received while they still hold
#    their last message; ring subscribers store their statistics per batch
#    and count a message as delivered when released.
exec sh "${IPC_TOP_SRCDIR:?}/tests/integration/rerun.sh" shm \
        roundtrip:test_multiple_subscriptions fanout \
        policy:test_drop_accounts_every_message payload wildcard acl
