#!/bin/sh
# SPDX-License-Identifier: MIT
# The daemon under valgrind (memcheck) with zero errors and zero leaks: a
# few real integration suites run again with IPC_BROKERD_WRAPPER (see
# tests/util/harness.h) starting every ipc-brokerd under valgrind. The
# suites cover the data path on the socket (roundtrip), the shared-memory
# ring (ring-transport, ring-crash), the overflow policies (policy) and bad
# and hostile clients (misbehave, hostile).
#
# A finding fails twice over: --error-exitcode makes it the daemon's exit
# status, which the harness's teardown requires to be 0, and the valgrind
# log of every daemon is read here too: each must exist, end with an
# "ERROR SUMMARY" of 0 errors (a daemon that did not exit normally has
# none), and report no definitely or indirectly lost bytes. Possibly lost
# and still reachable memory is not counted: the daemon frees everything
# on SIGTERM, and libraries may keep caches.
#
# Skips in a build with AddressSanitizer, which valgrind cannot run
# (IPC_SAN_LDFLAGS comes from configure; the daemon binary is checked too,
# for runs outside make), and where valgrind is not installed. The skip is
# the TAP plan "1..0 # SKIP reason" with exit status 0: automake's TAP
# driver takes the skip from the plan and counts any non-zero status,
# 77 included, as an error.
# Output: TAP, each suite's cases tagged [valgrind] and renumbered (as in
# rerun.sh), then one case per suite for its logs. Takes about 45 s.
set -u
suites="roundtrip ring-transport ring-crash policy misbehave hostile"
dir=${IPC_TOP_BUILDDIR:?}/tests/integration
brokerd=${IPC_BROKERD:?}

skip() {
        echo "1..0 # SKIP $*"
        exit 0
}

case " ${IPC_SAN_LDFLAGS-} " in
*-fsanitize=address*) skip "AddressSanitizer build: valgrind cannot run it" ;;
esac
grep -q __asan_init "$brokerd" 2>/dev/null && skip "$brokerd is built with AddressSanitizer"
command -v valgrind >/dev/null 2>&1 || skip "valgrind not installed"

# The wrapper is split at spaces: keep the log directory free of them.
logroot=$(mktemp -d /tmp/ipc-valgrind.XXXXXX) || exit 99
trap 'rm -rf "$logroot"' EXIT

# Prints each log's findings as TAP diagnostics. Return: 0 clean, 1 not.
check_logs() {
        logs=$(ls "$1"/*.log 2>/dev/null)
        if [ -z "$logs" ]; then
                echo "# no valgrind log: the daemon never ran under valgrind"
                return 1
        fi
        bad=0
        for log in $logs; do
                if ! grep -q "ERROR SUMMARY: 0 errors" "$log" ||
                        grep -qE "(definitely|indirectly) lost: [1-9]" "$log"; then
                        bad=1
                        sed 's/^/# /' "$log" | head -200
                fi
        done
        return $bad
}

n=0
for t in $suites; do
        logdir=$logroot/$t
        mkdir -p "$logdir" || exit 99
        IPC_BROKERD_WRAPPER="valgrind --leak-check=full --show-leak-kinds=definite,indirect"
        IPC_BROKERD_WRAPPER="$IPC_BROKERD_WRAPPER --errors-for-leak-kinds=definite,indirect"
        IPC_BROKERD_WRAPPER="$IPC_BROKERD_WRAPPER --error-exitcode=99 --log-file=$logdir/%p.log"
        export IPC_BROKERD_WRAPPER
        out=$("$dir/test-$t" 2>&1)
        rc=$?
        cases=$(printf '%s\n' "$out" | grep -cE '^(not )?ok [0-9]+')
        printf '%s\n' "$out" | awk -v base="$n" '
                /^1\.\.[0-9]+$/ { next }
                /^(not )?ok [0-9]+/ {
                        prefix = ($1 == "not") ? "not ok" : "ok"
                        num = ($1 == "not") ? $3 : $2
                        sub(/^(not )?ok [0-9]+/, "")
                        print prefix " " (base + num) $0 " [valgrind]"
                        next
                }
                /^(not )?ok - / { print "# " $0; next }
                { print "# " $0 }'
        n=$((n + cases))
        if [ "$rc" -ne 0 ]; then
                n=$((n + 1))
                echo "not ok $n - test-$t exited with status $rc [valgrind]"
        fi
        daemons=$(ls "$logdir" | wc -l)
        n=$((n + 1))
        if check_logs "$logdir"; then
                echo "ok $n - test-$t: $daemons daemons without valgrind errors or leaks"
        else
                echo "not ok $n - test-$t: valgrind found errors or leaks in a daemon"
        fi
done
echo "1..$n"
