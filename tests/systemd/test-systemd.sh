#!/bin/sh
# SPDX-License-Identifier: MIT
# ipc-brokerd under a real systemd: boots a Debian container with
# systemd-nspawn --boot, installs the build into it and drives it with
# systemctl and ipcctl (see ../shared notes TESTING.md for the recipe).
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
rootfs=${IPC_ROOTFS:-${XDG_CACHE_HOME:-$HOME/.cache}/ipc-broker/rootfs-bookworm}
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
                --include=systemd,systemd-sysv,dbus,libsystemd0,libevent-core-2.1-7,libjansson4 \
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

check "install the build into the container" inside sh -c '
        cp -a /mnt/inst/. / && ldconfig && systemd-sysusers && systemd-tmpfiles --create &&
        systemctl daemon-reload'

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
check "publish and subscribe round trip" inside sh -c '
        ipcctl subscribe -n 1 -W 5000 test.systemd >/tmp/got & sub=$!
        i=0
        until ipcctl stats --json | grep -q "\"subscriptions\": *1"; do
                i=$((i + 1)); [ $i -lt 100 ] || exit 1; sleep 0.05
        done
        ipcctl publish test.systemd hello-from-systemd && wait $sub &&
        grep -qx hello-from-systemd /tmp/got'

check "systemctl stop stops it cleanly" \
        inside sh -c 'timeout 30 systemctl stop ipc-brokerd &&
                  test "$(systemctl show -P Result ipc-brokerd)" = success'

echo "1..$n"
[ "$failed" -eq 0 ]
