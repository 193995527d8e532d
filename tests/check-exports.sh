#!/bin/sh
# SPDX-License-Identifier: MIT
# The shared library exports exactly the symbols of libipcclient.sym, and the
# public header declares exactly those: nothing internal leaks, nothing public
# is missing. TAP output.
set -u
top_srcdir=${IPC_TOP_SRCDIR:-.}
top_builddir=${IPC_TOP_BUILDDIR:-.}
so=$top_builddir/libclient/.libs/libipcclient.so
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT

echo "1..2"
sed -n 's/^[[:space:]]*\(ipc_[a-z0-9_]*\);.*/\1/p' "$top_srcdir/libclient/libipcclient.sym" | sort >"$tmp/sym"
sed -n 's/^IPC_EXPORT .*[ *]\(ipc_[a-z0-9_]*\)(.*/\1/p' "$top_srcdir/libclient/ipcclient.h" | sort >"$tmp/hdr"

if [ ! -f "$so" ]; then
        echo "ok 1 # SKIP no shared library built ($so)"
else
        nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRW]$/ { print $3 }' |
                grep -v '^LIBIPCCLIENT_' | sed 's/@.*//' | sort >"$tmp/so"
        if diff -u "$tmp/sym" "$tmp/so" >"$tmp/diff1"; then
                echo "ok 1 - exported symbols match libipcclient.sym ($(wc -l <"$tmp/so") symbols)"
        else
                echo "not ok 1 - exported symbols differ from libipcclient.sym"
                sed 's/^/# /' "$tmp/diff1"
        fi
fi
if [ -s "$tmp/hdr" ] && diff -u "$tmp/sym" "$tmp/hdr" >"$tmp/diff2"; then
        echo "ok 2 - ipcclient.h declares exactly the symbols of libipcclient.sym"
else
        echo "not ok 2 - ipcclient.h and libipcclient.sym differ"
        sed 's/^/# /' "$tmp/diff2"
fi
