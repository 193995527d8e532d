#!/bin/sh
# SPDX-License-Identifier: MIT
# The transport-independent integration tests once more, every client on
# TLS over TCP 127.0.0.1 with a client certificate of a throwaway CA
# (IPC_TEST_TRANSPORT=tls, see tests/util/harness.h). Skips without the
# openssl command, which makes the certificates.
command -v openssl >/dev/null 2>&1 || { echo "1..0 # SKIP openssl not installed"; exit 77; }
exec sh "${IPC_TOP_SRCDIR:?}/tests/integration/rerun.sh" tls \
        roundtrip fanout policy payload wildcard reconnect
