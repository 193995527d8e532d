#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs the transport-independent integration tests a second time with every
# client on TCP 127.0.0.1 (IPC_TEST_TRANSPORT=tcp, see tests/util/harness.h),
# as one TAP stream: test numbers are rewritten, the plan comes last.
set -u
dir=${IPC_TOP_BUILDDIR:?}/tests/integration
n=0
for t in roundtrip fanout policy payload wildcard; do
        out=$(IPC_TEST_TRANSPORT=tcp "$dir/test-$t" 2>&1)
        rc=$?
        cases=$(printf '%s\n' "$out" | grep -cE '^(not )?ok [0-9]+')
        printf '%s\n' "$out" | awk -v base="$n" '
                /^1\.\.[0-9]+$/ { next }
                /^(not )?ok [0-9]+/ {
                        prefix = ($1 == "not") ? "not ok" : "ok"
                        num = ($1 == "not") ? $3 : $2
                        sub(/^(not )?ok [0-9]+/, "")
                        print prefix " " (base + num) $0 " [tcp]"
                        next
                }
                /^(not )?ok - / { print "# " $0; next }
                { print }'
        n=$((n + cases))
        if [ "$rc" -ne 0 ]; then
                # A crash before any case, or a failure after them (e.g. LeakSanitizer).
                n=$((n + 1))
                echo "not ok $n - test-$t exited with status $rc [tcp]"
        fi
done
echo "1..$n"
