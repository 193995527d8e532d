#!/bin/sh
# SPDX-License-Identifier: MIT
# Usage: rerun.sh TRANSPORT NAME[:SKIP]...
# Runs the integration tests tests/integration/test-NAME once more with
# IPC_TEST_TRANSPORT=TRANSPORT (see tests/util/harness.h), as one TAP
# stream: test numbers are rewritten, each case is tagged [TRANSPORT], the
# plan comes last. SKIP, a glob, leaves out that program's cases whose names
# match it (IPC_TEST_SKIP), for an expectation that does not hold on
# TRANSPORT by design. Run by the thin wrappers test-tcp.sh and test-shm.sh,
# because automake's TESTS cannot pass arguments.
set -u
transport=${1:?transport}
shift
dir=${IPC_TOP_BUILDDIR:?}/tests/integration
n=0
for arg in "$@"; do
        t=${arg%%:*}
        skip=
        [ "$t" = "$arg" ] || skip=${arg#*:}
        out=$(IPC_TEST_TRANSPORT=$transport IPC_TEST_SKIP=$skip "$dir/test-$t" 2>&1)
        rc=$?
        cases=$(printf '%s\n' "$out" | grep -cE '^(not )?ok [0-9]+')
        printf '%s\n' "$out" | awk -v base="$n" -v tag="[$transport]" '
                /^1\.\.[0-9]+$/ { next }
                /^(not )?ok [0-9]+/ {
                        prefix = ($1 == "not") ? "not ok" : "ok"
                        num = ($1 == "not") ? $3 : $2
                        sub(/^(not )?ok [0-9]+/, "")
                        print prefix " " (base + num) $0 " " tag
                        next
                }
                /^(not )?ok - / { print "# " $0; next }
                { print }'
        n=$((n + cases))
        if [ "$rc" -ne 0 ]; then
                # A crash before any case, or a failure after them (e.g. LeakSanitizer).
                n=$((n + 1))
                echo "not ok $n - test-$t exited with status $rc [$transport]"
        fi
        [ -z "$skip" ] || echo "# test-$t: cases matching \"$skip\" left out on $transport"
done
echo "1..$n"
