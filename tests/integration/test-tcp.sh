#!/bin/sh
# SPDX-License-Identifier: MIT
# The transport-independent integration tests once more, every client on
# plain TCP 127.0.0.1 (IPC_TEST_TRANSPORT=tcp, see tests/util/harness.h).
exec sh "${IPC_TOP_SRCDIR:?}/tests/integration/rerun.sh" tcp \
        roundtrip fanout policy payload wildcard
