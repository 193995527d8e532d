#!/bin/sh
# SPDX-License-Identifier: MIT
# ipc-brokerd under a real systemd: boots a Debian container with
# systemd-nspawn --boot, installs the build into it and drives it with
# systemctl and ipcctl (see ../shared notes TESTING.md for the recipe):
# readiness, the sandbox's user and socket mode, the journal and STATUS=,
# systemctl reload with a valid and an invalid config, socket activation
# by ipc-brokerd.socket, systemctl stop, a watchdog-triggered restart, and
# a ring channel kept in the fd store across `systemctl restart` and a
# SIGKILL restarted by Restart=on-failure.
# The `systemd-analyze security` exposure of the unit is printed as a TAP
# comment.
#
# Usage: test-systemd.sh DESTDIR
#   DESTDIR  a `make install DESTDIR=...` tree of a build configured with a
#            prefix systemd searches (/usr or /usr/local), not sanitized.
# Environment: IPC_ROOTFS (default ${XDG_CACHE_HOME:-$HOME/.cache}/ipc-broker/
#   rootfs-bookworm): the container root, built with debootstrap on first
#   use and reused after (the container runs on a volatile overlay, so the
#   cache is never modified). IPC_DEBIAN_MIRROR overrides the mirror.
#
# Output: TAP. Exit 77 (skip) where it cannot run: not root, no
# systemd-nspawn or debootstrap, no mirror to build the root from.
set -u

inst=${1:?usage: test-systemd.sh DESTDIR}
# What the daemon links at run time comes from Debian inside the container.
# The cached root is named after this list, so a new library builds a new one.
packages=systemd,systemd-sysv,dbus,libsystemd0,libevent-core-2.1-7,libevent-openssl-2.1-7,libssl3,libjansson4
rootfs=${IPC_ROOTFS:-${XDG_CACHE_HOME:-$HOME/.cache}/ipc-broker/rootfs-bookworm-$(printf %s "$packages" | cksum | cut -d' ' -f1)}
machine=ipcbt$$
n=0
failed=0
nspawn_pid=
leader=

skip() {
        echo "1..0 # SKIP $*"
        exit 77
}

ok() {
        n=$((n + 1))
        echo "ok $n - $*"
}

not_ok() {
        n=$((n + 1))
        failed=$((failed + 1))
        echo "not ok $n - $*"
}

# check DESCRIPTION COMMAND...: one test case from a command's status.
check() {
        desc=$1
        shift
        if out=$("$@" 2>&1); then
                ok "$desc"
        else
                not_ok "$desc"
                printf '%s\n' "$out" | sed 's/^/# /'
        fi
}

# in COMMAND...: run inside the container.
inside() {
        nsenter -t "$leader" -a "$@"
}

# wait_for TENTHS COMMAND...: poll COMMAND (inside the container) every
# 0.1 s until it succeeds, at most TENTHS times; for states systemd
# reaches asynchronously (after a reload, a watchdog restart).
wait_for() {
        tries=$1
        shift
        until inside "$@" >/dev/null 2>&1; do
                tries=$((tries - 1))
                [ "$tries" -gt 0 ] || return 1
                sleep 0.1
        done
}

cleanup() {
        if [ -n "$nspawn_pid" ]; then
                kill -TERM "$nspawn_pid" 2>/dev/null
                # A clean power-off takes well under a second; then insist.
                i=0
                while kill -0 "$nspawn_pid" 2>/dev/null && [ $i -lt 50 ]; do
                        sleep 0.1
                        i=$((i + 1))
                done
                kill -KILL "$nspawn_pid" 2>/dev/null
        fi
}
trap cleanup EXIT INT TERM

[ "$(id -u)" = 0 ] || skip "needs root"
command -v systemd-nspawn >/dev/null || skip "systemd-nspawn missing (apt-get install systemd-container)"
[ -x "$inst/usr/local/sbin/ipc-brokerd" ] || [ -x "$inst/usr/sbin/ipc-brokerd" ] ||
        skip "no installed ipc-brokerd under $inst"

mirror() {
        if [ -n "${IPC_DEBIAN_MIRROR:-}" ]; then
                echo "$IPC_DEBIAN_MIRROR"
                return
        fi
        sed -n 's/^URIs: *\([^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null |
                head -n 1 | grep . || echo http://deb.debian.org/debian
}

if [ ! -x "$rootfs/lib/systemd/systemd" ]; then
        command -v debootstrap >/dev/null || skip "debootstrap missing (apt-get install debootstrap)"
        echo "# building the container root in $rootfs (once)"
        rm -rf "$rootfs.tmp"
        mkdir -p "$(dirname "$rootfs")"
        if ! debootstrap --variant=minbase \
                --include="$packages" \
                bookworm "$rootfs.tmp" "$(mirror)" >"$rootfs.log" 2>&1; then
                rm -rf "$rootfs.tmp"
                skip "debootstrap failed (see $rootfs.log)"
        fi
        mv "$rootfs.tmp" "$rootfs"
fi

systemd-nspawn -D "$rootfs" --volatile=overlay --boot --register=no --keep-unit \
        --private-network --console=pipe -M "$machine" --bind-ro="$inst:/mnt/inst" \
        >"${TMPDIR:-/tmp}/$machine.log" 2>&1 &
nspawn_pid=$!

# The container's init is the child of systemd-nspawn called systemd.
i=0
while [ -z "$leader" ] && [ $i -lt 100 ]; do
        leader=$(pgrep -P "$nspawn_pid" -x systemd)
        [ -n "$leader" ] || sleep 0.1
        i=$((i + 1))
done
[ -n "$leader" ] || { cat "${TMPDIR:-/tmp}/$machine.log"; skip "the container did not boot"; }
# Until systemd's private bus exists, systemctl fails at once: retry until booted.
i=0
until state=$(inside timeout 30 systemctl is-system-running --wait 2>/dev/null) ||
        [ "$state" = degraded ]; do
        i=$((i + 1))
        [ $i -lt 100 ] || { echo "# boot state: $state"; break; }
        sleep 0.1
done

# tar, not cp -a: with a merged /usr, /lib and /sbin are symlinks that a
# DESTDIR's real lib/ and sbin/ (units of a /usr/local build go to /lib)
# must go through, and existing directories keep their modes.
check "install the build into the container" inside sh -c '
        tar -C /mnt/inst -cf - . |
                tar -C / --keep-directory-symlink --no-overwrite-dir -xf - &&
        ldconfig && systemd-sysusers && systemd-tmpfiles --create && systemctl daemon-reload'

# Readiness: when `systemctl start` returns, the broker must already answer.
check "systemctl start returns with the service active" \
        inside sh -c 'timeout 30 systemctl start ipc-brokerd &&
                  test "$(systemctl is-active ipc-brokerd)" = active'
check "ipcctl ping answers at once after start" inside ipcctl ping
check "the service runs as the ipc-broker user" \
        inside sh -c 'test "$(stat -c %U "/proc/$(systemctl show -P MainPID ipc-brokerd)")" = ipc-broker'
check "the socket node is srw-rw---- ipc-broker:ipc-broker" \
        inside sh -c 'stat -c "%A %U %G" /run/ipc-broker/ipc-brokerd.sock &&
                  test "$(stat -c "%A %U %G" /run/ipc-broker/ipc-brokerd.sock)" = \
                  "srw-rw---- ipc-broker ipc-broker"'
check "the socket directory is drwxr-x--- ipc-broker:ipc-broker" \
        inside sh -c 'test "$(stat -c "%A %U %G" /run/ipc-broker)" = \
                  "drwxr-x--- ipc-broker ipc-broker"'
# The group decides who reaches the broker: nobody is refused until given the group.
check "a user outside the ipc-broker group cannot connect" \
        inside sh -c '! setpriv --reuid=65534 --regid=65534 --clear-groups ipcctl ping'
check "a member of the ipc-broker group can connect" \
        inside sh -c 'setpriv --reuid=65534 --regid=65534 \
                  --groups="$(getent group ipc-broker | cut -d: -f3)" ipcctl ping'
check "publish and subscribe round trip" inside sh -c '
        ipcctl subscribe -n 1 -W 10 test.systemd >/tmp/got 2>&1 </dev/null & sub=$!
        i=0
        until ipcctl channels --json | grep -q "\"subscribers\": *1"; do
                i=$((i + 1)); [ $i -lt 100 ] || exit 1; sleep 0.05
        done
        ipcctl publish test.systemd hello-from-systemd && wait $sub &&
        grep -qx hello-from-systemd /tmp/got'

check "the shared-memory ring works inside the service's sandbox" inside sh -c '
        ipcctl publish --retain test.ring kept && ipcctl subscribe -n 1 -W 10 test.ring &&
        ipcctl stats --json | tr -d " " | grep -q "\"name\":\"test.ring\".*\"transport\":\"ring\""'

check "the journal has the log at its priorities and systemctl shows STATUS=" \
        inside sh -c 'journalctl -u ipc-brokerd -p info..info -o cat | grep -q "^ready (" &&
                  ! journalctl -u ipc-brokerd -o cat | grep -q "^<[0-7]>" &&
                  systemctl show -P StatusText ipc-brokerd | grep -q "clients*, [0-9]* channels*;"'

# Reload: the config file as installed (the sample), replaced in the container.
config=$(cd "$inst" && find . -path '*/ipc-broker/ipc-brokerd.json' | sed 's|^\.||' | head -n 1)
mainpid() {
        inside systemctl show -P MainPID ipc-brokerd
}
pid=$(mainpid)
reload_with() { # $1: config text; then the log line to wait for
        inside sh -c "printf '%s\n' '$1' >$config && systemctl reload ipc-brokerd" &&
                wait_for 100 sh -c "journalctl -u ipc-brokerd -o cat | grep -qF -- '$2'" &&
                wait_for 100 sh -c 'test "$(systemctl show -P ActiveState ipc-brokerd)" = active'
}
check "systemctl reload applies a valid config ($config)" \
        reload_with '{"limits": {"max_connections": 7}}' "limits.max_connections: 1024 -> 7"
if reload_with '{"limits": {' "configuration not reloaded" &&
        inside sh -c "journalctl -u ipc-brokerd -p err -o cat | grep -q '^$config:[0-9]*:[0-9]*: '" &&
        inside ipcctl ping >/dev/null && [ "$(mainpid)" = "$pid" ]; then
        ok "systemctl reload of an invalid config logs FILE:LINE:COLUMN and keeps serving"
else
        not_ok "systemctl reload of an invalid config logs FILE:LINE:COLUMN and keeps serving"
        inside journalctl -u ipc-brokerd -o cat | tail -n 5 | sed 's/^/# /'
fi
inside cp -a "/mnt/inst$config" "$config"

# Channels with a ring survive restarts through the fd store (ipc-brokerd(8),
# "Restarts and the fd store"): the ring's messages, the next sequence
# number and the retained value come back, and the numbers run on.
# ipcctl has no resume point; the retained value is read back by seq.
# field CHANNEL KEY: a number of CHANNEL's entry in `ipcctl channels --json`.
field() {
        inside ipcctl channels --json | tr -d ' \n' |
                grep -o "\"name\":\"$1\",[^}]*" | sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p"
}
# retained_is CHANNEL SEQ PAYLOAD: a new subscriber gets the retained value.
retained_is() {
        inside sh -c "ipcctl subscribe --json -n 1 -W 10 $1 </dev/null" | tr -d ' ' |
                grep -qx "{\"channel\":\"$1\",\"seq\":$2,.*\"retained\":true,\"payload\":\"$3\"}"
}
# survived CHANNEL SEQ PAYLOAD: after a restart, the channel is back as it was.
survived() {
        seq=$(field "$1" next_seq)
        if [ "$seq" != "$(( $2 + 1 ))" ]; then
                echo "next_seq ${seq:-none}, expected $(( $2 + 1 ))"
                inside ipcctl channels --json
                return 1
        fi
        retained_is "$1" "$2" "$3" || { echo "retained value not restored"; return 1; }
        inside sh -c "journalctl -u ipc-brokerd -o cat |
                grep -q 'channel \"$1\" restored from the service manager.s fd store: next seq $(( $2 + 1 ))'"
}
# next_seq_is CHANNEL N
next_seq_is() {
        seq=$(field "$1" next_seq)
        [ "$seq" = "$2" ] || { echo "next_seq ${seq:-none}, expected $2"; return 1; }
}
# active_again OLDPID: a new main process, active.
active_again() {
        wait_for 150 sh -c "p=\$(systemctl show -P MainPID ipc-brokerd) &&
                test \"\$p\" != 0 && test \"\$p\" != $1 &&
                test \"\$(systemctl show -P ActiveState ipc-brokerd)\" = active"
}
kept=test.kept
check "messages published on a ring channel stay in its ring" inside sh -c "
        printf 'one\ntwo\nthree\nfour\nfive\n' | ipcctl publish --retain $kept &&
        ipcctl stats --json | tr -d ' \n' |
                grep -q '\"name\":\"$kept\"[^{]*\"transport\":\"ring\"'"
seq0=$(field $kept next_seq)
if [ -n "$seq0" ] && [ "$seq0" -ge 6 ] && retained_is $kept $((seq0 - 1)) five; then
        ok "ipcctl channels shows next_seq $seq0 and the retained value"
else
        not_ok "ipcctl channels shows next_seq and the retained value (next_seq ${seq0:-none})"
        seq0=6
fi
check "the ring's two memfds are in the service's fd store" \
        inside sh -c 'test "$(systemctl show -P NFileDescriptorStore ipc-brokerd)" -ge 2'
pid=$(mainpid)
check "systemctl restart ipc-brokerd" inside sh -c 'timeout 30 systemctl restart ipc-brokerd'
check "a new process after the restart" test "$(mainpid)" != "$pid"
check "after systemctl restart: $kept has next_seq $seq0 and its retained value" \
        survived $kept $((seq0 - 1)) five
check "a message published after the restart gets seq $seq0" inside sh -c "
        ipcctl publish --retain $kept six"
check "...and the channel's next_seq is $((seq0 + 1))" next_seq_is $kept $((seq0 + 1))
check "...and is the retained value with that seq" retained_is $kept $seq0 six
pid=$(mainpid)
check "systemctl kill -s KILL ipc-brokerd" inside systemctl kill -s KILL ipc-brokerd
if active_again "$pid" && inside ipcctl ping >/dev/null; then
        ok "after SIGKILL the service is active again with a new process"
else
        not_ok "after SIGKILL the service is active again with a new process"
        inside systemctl status ipc-brokerd | sed 's/^/# /'
fi
check "after SIGKILL: $kept has next_seq $((seq0 + 1)) and its retained value" \
        survived $kept $seq0 six
check "a message published after the SIGKILL restart continues the sequence" inside sh -c "
        ipcctl publish --retain $kept seven"
check "...with next_seq $((seq0 + 2)) after it" next_seq_is $kept $((seq0 + 2))
check "...and is the retained value" retained_is $kept $((seq0 + 1)) seven

check "systemctl stop stops it cleanly" \
        inside sh -c 'timeout 30 systemctl stop ipc-brokerd &&
                  test "$(systemctl show -P Result ipc-brokerd)" = success'

# Socket activation: the socket unit binds, the first client starts the service.
check "ipc-brokerd.socket listens with the service stopped" \
        inside sh -c 'systemctl start ipc-brokerd.socket &&
                  test "$(systemctl is-active ipc-brokerd)" = inactive &&
                  test "$(stat -c "%A %U %G" /run/ipc-broker/ipc-brokerd.sock)" = \
                  "srw-rw---- ipc-broker ipc-broker"'
check "the first ipcctl ping starts the service through the socket" \
        inside sh -c 'ipcctl ping && test "$(systemctl is-active ipc-brokerd)" = active &&
                  journalctl -u ipc-brokerd -o cat |
                  grep -q "listening on unix:/run/ipc-broker/ipc-brokerd.sock (socket-activated)"'
check "stopping the service leaves the socket unit's node listening" \
        inside sh -c 'systemctl stop ipc-brokerd && test -S /run/ipc-broker/ipc-brokerd.sock &&
                  test "$(systemctl is-active ipc-brokerd.socket)" = active &&
                  ipcctl ping && systemctl stop ipc-brokerd ipc-brokerd.socket &&
                  test ! -e /run/ipc-broker/ipc-brokerd.sock'

# Watchdog: a stopped loop sends no WATCHDOG=1; systemd must kill and restart it.
inside sh -c 'mkdir -p /run/systemd/system/ipc-brokerd.service.d &&
        printf "[Service]\nWatchdogSec=2s\nLimitCORE=0\n" \
                >/run/systemd/system/ipc-brokerd.service.d/watchdog.conf &&
        systemctl daemon-reload && systemctl start ipc-brokerd'
pid=$(mainpid)
check "WatchdogSec=2s: the daemon pings every second" \
        inside sh -c 'journalctl -u ipc-brokerd -o cat | grep -q "pinging every 1000 ms"'
restarted() {
        # Never "kill -STOP 0": that would stop this very shell's process group.
        [ "${pid:-0}" -gt 0 ] 2>/dev/null || return 1
        inside sh -c "kill -STOP $pid" || return 1 # the shell's kill: minbase has no procps
        wait_for 150 sh -c "p=\$(systemctl show -P MainPID ipc-brokerd) &&
                test \"\$p\" != 0 && test \"\$p\" != $pid &&
                test \"\$(systemctl show -P ActiveState ipc-brokerd)\" = active" &&
                inside sh -c 'journalctl -u ipc-brokerd | grep -q "Watchdog timeout" &&
                        test "$(systemctl show -P NRestarts ipc-brokerd)" -ge 1 && ipcctl ping'
}
check "a SIGSTOPped daemon is killed by the watchdog and restarted" restarted
inside sh -c 'rm -rf /run/systemd/system/ipc-brokerd.service.d && systemctl daemon-reload &&
        systemctl stop ipc-brokerd'

# The sandbox, as systemd rates it: reported, not judged.
exposure=$(inside systemd-analyze security --no-pager ipc-brokerd.service 2>/dev/null |
        sed -n 's/.*Overall exposure level for [^:]*: *//p')
echo "# systemd-analyze security ipc-brokerd.service: exposure ${exposure:-unknown}"

echo "1..$n"
[ "$failed" -eq 0 ]
