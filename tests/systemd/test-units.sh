#!/bin/sh
# SPDX-License-Identifier: MIT
# systemd-analyze verify on the units as `make install` puts them
# (tests/systemd/local.mk installs the build into tests/systemd/inst first),
# with their Documentation= pages looked up among the installed man pages.
# ExecStart= names the daemon's final path, which verify checks exists: the
# copy verified here points it into the DESTDIR and changes nothing else.
# TAP output; exit 77 (skip) without systemd-analyze.
set -u
inst=${IPC_TOP_BUILDDIR:?}/tests/systemd/inst

if ! command -v systemd-analyze >/dev/null 2>&1; then
        echo "1..0 # SKIP systemd-analyze not installed"
        exit 77
fi
units=$(find "$inst" -path '*/systemd/system/*' \( -name '*.service' -o -name '*.socket' \) |
        sort)
if [ -z "$units" ]; then
        echo "1..1"
        echo "not ok 1 - no units installed under $inst"
        exit 0
fi
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT

man=--man=no
manpath=$(find "$inst" -type d -path '*/share/man' | head -n 1)
if command -v man >/dev/null 2>&1 && [ -n "$manpath" ]; then
        man=--man=yes
fi

n=0
for unit in $units; do
        sed "s|^ExecStart=/|ExecStart=$inst/|" "$unit" >"$tmp/$(basename "$unit")"
done
echo "1..$(($(echo "$units" | wc -l) + 1))"
for unit in $units; do
        n=$((n + 1))
        name=$(basename "$unit")
        # Any output is a finding (verify exits 0 on some warnings).
        if out=$(cd "$tmp" && MANPATH=$manpath systemd-analyze verify "$man" "$tmp/$name" 2>&1) &&
                [ -z "$out" ]; then
                echo "ok $n - systemd-analyze verify $name"
        else
                echo "not ok $n - systemd-analyze verify $name"
                printf '%s\n' "$out" | sed 's/^/# /'
        fi
done

# The service starts the daemon the build installed, not some other one.
n=$((n + 1))
service=$(echo "$units" | grep '/ipc-brokerd\.service$')
exec_start=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$service")
if [ -n "$exec_start" ] && [ -x "$inst$exec_start" ]; then
        echo "ok $n - ExecStart=$exec_start is the installed daemon"
else
        echo "not ok $n - ExecStart=$exec_start is not under $inst"
fi
