#!/bin/bash
# SPDX-License-Identifier: MIT
# Soak test, run on demand (not in make check), from the build directory
# after `make soak`:
#   tests/soak/run-soak.sh [--quick] [--faults] [--seconds N] [--rate N] [--keep]
# Starts a real ipc-brokerd (temp dir, config, waits for READY=1), 4
# subscribers then 4 publishers as separate processes (ids 0-1 on the ring,
# 2-3 on the socket), on soak.block, soak.drop and soak.disconnect, for
# 10 minutes (--quick: 60 s). --faults kill -9s a random publisher or
# subscriber every few seconds and restarts it with the next epoch, and
# once, in the middle, kill -9s the broker and starts it again on the same
# socket and config (the clients reconnect by themselves). At the
# end the publishers stop, the subscribers drain, and `soak report` prints
# the table and decides (see tests/soak/soak-report.c for the checks).
set -u

builddir=${IPC_TOP_BUILDDIR:-$(pwd)}
soak="$builddir/tests/soak/soak"
broker="${IPC_BROKERD:-$builddir/brokerd/ipc-brokerd}"
seconds=600 faults=0 rate=1000 keep=0
while [ $# -gt 0 ]; do
        case $1 in
        --quick) seconds=60 ;;
        --faults) faults=1 ;;
        --seconds) seconds=$2; shift ;;
        --rate) rate=$2; shift ;;
        --keep) keep=1 ;;
        *) echo "usage: $0 [--quick] [--faults] [--seconds N] [--rate N] [--keep]" >&2; exit 2 ;;
        esac
        shift
done
[ -x "$soak" ] || { echo "$soak missing: run 'make soak' first" >&2; exit 2; }
[ -x "$broker" ] || { echo "$broker missing" >&2; exit 2; }

dir=$(mktemp -d /tmp/ipc-soak.XXXXXX)
address="unix:$dir/broker.sock"
# ASan's quarantine would be what RSS measures; no effect without ASan.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0"
# The ring clients choose the ring themselves.
unset IPC_TRANSPORT IPC_BROKER_ADDRESS
cat >"$dir/config.json" <<'JSON'
{
  "limits": {"output_queue_bytes": 65536},
  "channels": {
    "soak.block": {"overflow": "block", "ring_bytes": 262144, "max_message_bytes": 4096},
    "soak.drop": {"overflow": "drop", "ring_bytes": 65536, "max_message_bytes": 4096},
    "soak.disconnect": {"overflow": "disconnect", "ring_bytes": 65536, "max_message_bytes": 4096}
  }
}
JSON

declare -A pid epoch
kills_pub=0 kills_ring_pub=0 kills_sub=0 broker_restarts=0 broker_pid=

run() { echo "$1 $2" >>"$dir/run.txt"; }
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$broker_pid/status"; }
fds() { ls "/proc/$broker_pid/fd" | wc -l; }
# A killed broker is gone once it is a zombie (its fds are closed): the
# pid reaping it may take its time.
alive() { local st; st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [ "$st" != Z ]; }
transport() { [ "$1" -lt 2 ] && echo ring || echo socket; }

start_broker() {
        broker_pid=$("$soak" start-broker "$dir" "$broker" -c "$dir/config.json" \
                --socket "$dir/broker.sock") || { cat "$dir/broker.log" >&2; exit 1; }
}

# Fault mode restarts the broker once, in the middle of the run: kill -9,
# then the same command line (socket path, config) until READY=1. The
# clients stay up: libipcclient reconnects them (subscribers see -ENOTCONN,
# then IPC_MSG_RESUMED on the first message after; publishers retry).
restart_broker() {
        local t=$(($(date +%s) - t0)) down=$(date +%s%N)
        echo "script: kill -9 broker at $t s" >>"$dir/events.txt"
        kill -9 "$broker_pid"
        while alive "$broker_pid"; do sleep 0.01; done
        start_broker
        down=$((($(date +%s%N) - down) / 1000000))
        echo "script: broker restarted, READY=1 $down ms after the kill" >>"$dir/events.txt"
        broker_restarts=$((broker_restarts + 1))
        run restart_at "$t"
        run restart_down_ms "$down"
}

start() { # start pub|sub ID
        local key=$1$2 seed=$RANDOM
        epoch[$key]=${epoch[$key]:--1}
        epoch[$key]=$((epoch[$key] + 1))
        if [ "$1" = pub ]; then
                "$soak" pub "$address" "$dir" "$2" "${epoch[$key]}" "$(transport "$2")" "$rate" "$seed" &
        else
                "$soak" sub "$address" "$dir" "$2" "${epoch[$key]}" "$(transport "$2")" "$seed" &
        fi
        pid[$key]=$!
}

wait_subscribed() { # every channel of every subscriber's current epoch has a snapshot
        for _ in $(seq 200); do
                local n=0
                for i in 0 1 2 3; do
                        n=$((n + $(ls "$dir"/sub-$i-${epoch[sub$i]}-*.txt 2>/dev/null | wc -l)))
                done
                [ "$n" -ge 12 ] && return 0
                sleep 0.1
        done
        echo "soak: subscribers did not subscribe" >&2
        return 1
}

fault() { # kill -9 one random party and start its next epoch
        local i=$((RANDOM % 4)) who
        if [ $((RANDOM % 2)) -eq 0 ]; then who=pub; else who=sub; fi
        kill -9 "${pid[$who$i]}" 2>/dev/null
        wait "${pid[$who$i]}" 2>/dev/null
        if [ $who = pub ]; then
                kills_pub=$((kills_pub + 1))
                [ "$i" -lt 2 ] && kills_ring_pub=$((kills_ring_pub + 1))
        else
                kills_sub=$((kills_sub + 1))
        fi
        echo "script: kill -9 $who $i epoch ${epoch[$who$i]}" >>"$dir/events.txt"
        start $who "$i"
}

start_broker
run faults $faults
run fd_start "$(fds)"
for i in 0 1 2 3; do start sub $i; done
wait_subscribed || exit 1
for i in 0 1 2 3; do start pub $i; done

t0=$(date +%s)
warm=$((seconds / 10 > 5 ? seconds / 10 : 5))
sleep "$warm"
run rss_warm "$(rss)"
run fd_warm "$(fds)"
# The restart falls in the middle 30-60 % of the run, so the restarted
# broker has its warm-up and then a while to show growth; RSS and fds after
# its warm-up replace the first broker's as the baseline (run.txt keeps
# both; the report says which it compared).
restart_at=$((seconds * 3 / 10 + RANDOM % (seconds * 3 / 10 + 1)))
rewarm_at=
while [ $(($(date +%s) - t0)) -lt "$seconds" ]; do
        sleep $((2 + RANDOM % 4))
        now=$(($(date +%s) - t0))
        if [ "$faults" = 1 ] && [ "$broker_restarts" = 0 ] && [ "$now" -ge "$restart_at" ]; then
                restart_broker
                rewarm_at=$(($(date +%s) - t0 + warm))
        elif [ -n "$rewarm_at" ] && [ "$now" -ge "$rewarm_at" ]; then
                run rss_warm "$(rss)"
                run fd_warm "$(fds)"
                run rewarm_at "$now"
                rewarm_at=
        elif [ "$faults" = 1 ] && [ "$now" -lt $((seconds - 5)) ]; then
                fault
        fi
done
run rss_end "$(rss)"
run fd_end "$(fds)"
run seconds $(($(date +%s) - t0))

for i in 0 1 2 3; do kill -TERM "${pid[pub$i]}"; done
for i in 0 1 2 3; do wait "${pid[pub$i]}"; done
for i in 0 1 2 3; do kill -TERM "${pid[sub$i]}"; done
for i in 0 1 2 3; do wait "${pid[sub$i]}"; done
# The broker notices closed connections at once; give it a moment, bounded.
for _ in $(seq 50); do [ "$(fds)" -le "$(awk '/^fd_start/ {print $2}' "$dir/run.txt")" ] && break; sleep 0.1; done
run fd_after "$(fds)"
run kills_pub $kills_pub
run kills_ring_pub $kills_ring_pub
run kills_sub $kills_sub
run broker_restarts $broker_restarts

"$soak" report "$dir"
status=$?
kill -TERM "$broker_pid"
while alive "$broker_pid"; do sleep 0.05; done
if [ "$status" -ne 0 ] || [ "$keep" = 1 ]; then
        echo "soak: results kept in $dir"
else
        rm -rf "$dir"
fi
exit $status
