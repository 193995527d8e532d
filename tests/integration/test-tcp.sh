#!/bin/sh
# SPDX-License-Identifier: MIT
# The transport-independent integration tests once more, every client on
# plain TCP 127.0.0.1 (IPC_TEST_TRANSPORT=tcp, see tests/util/harness.h).
#
# Left out by design:
#  - acl test_local_* run clients of other users, which must be local to be
#    known by uid and groups: they connect over the UNIX socket whatever the
#    transport, so the TCP run would repeat the UNIX one. The acl run adds
#    test_tcp_anonymous, an unauthenticated TCP client that only "*" admits.
exec sh "${IPC_TOP_SRCDIR:?}/tests/integration/rerun.sh" tcp \
        roundtrip fanout policy payload wildcard acl:test_local_*
