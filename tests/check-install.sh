#!/bin/sh
# SPDX-License-Identifier: MIT
# A program built against the installed tree, as a user would build one:
# `pkg-config --cflags --libs libipcclient` finds the header and library
# that `make install` put into tests/systemd/inst (see tests/systemd/local.mk),
# and the program makes a publish/subscribe round trip through the installed
# ipc-brokerd. The broker is started by systemd-socket-activate, whose socket
# accepts before the broker runs: the test waits only for it to be bound.
# TAP output; exit 77 (skip) without pkg-config or systemd-socket-activate.
set -u
inst=${IPC_TOP_BUILDDIR:?}/tests/systemd/inst
cc=${IPC_CC:-cc}

for tool in pkg-config systemd-socket-activate; do
        if ! command -v $tool >/dev/null 2>&1; then
                echo "1..0 # SKIP $tool not installed"
                exit 77
        fi
done
pc=$(find "$inst" -name libipcclient.pc | head -n 1)
brokerd=$(find "$inst" -type f -name ipc-brokerd | head -n 1)
tmp=$(mktemp -d) || exit 99
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
echo "1..3"

if [ -n "$pc" ] && flags=$(PKG_CONFIG_SYSROOT_DIR=$inst PKG_CONFIG_PATH=$(dirname "$pc") \
        PKG_CONFIG_LIBDIR= pkg-config --cflags --libs libipcclient); then
        echo "ok 1 - pkg-config --cflags --libs libipcclient: $flags"
else
        echo "not ok 1 - no usable libipcclient.pc under $inst"
        exit 0
fi

cat >"$tmp/roundtrip.c" <<'PROG'
#include <stdio.h>
#include <string.h>
#include <ipcclient.h>

int main(int argc, char **argv) {
        const ipc_msg *msg;
        ipc_client *c;
        ipc_pub *pub;
        ipc_sub *sub;
        size_t size;
        const char *data;
        int r;

        if ((r = ipc_client_connect(argv[1], NULL, &c)) < 0 ||
            (r = ipc_sub_new(c, "installed.check", 5000000, &sub)) < 0 ||
            (r = ipc_pub_new(c, "installed.check", 5000000, &pub)) < 0 ||
            (r = ipc_publish(pub, "it works", 8, 0, 5000000)) < 0 ||
            (r = ipc_client_receive(c, 5000000, &msg)) < 0) {
                fprintf(stderr, "round trip failed: %s\n", ipc_strerror(r));
                return 1;
        }
        data = ipc_msg_get_data(msg, &size);
        printf("%.*s via %s\n", (int)size, data,
               ipc_sub_get_transport(sub) == IPC_TRANSPORT_RING ? "ring" : "socket");
        r = size == 8 && memcmp(data, "it works", 8) == 0 ? 0 : 1;
        ipc_pub_free(pub);
        ipc_sub_free(sub);
        ipc_client_free(c);
        return r;
}
PROG
# shellcheck disable=SC2086 # $flags is a list of compiler flags
if out=$($cc -o "$tmp/roundtrip" "$tmp/roundtrip.c" $flags ${IPC_SAN_LDFLAGS:-} 2>&1); then
        echo "ok 2 - a program compiles and links against the installed header and library"
else
        echo "not ok 2 - compiling against the installed tree"
        printf '%s\n' "$out" | sed 's/^/# /'
        exit 0
fi

echo '{}' >"$tmp/config.json"
# Its first line ("Listening on PATH as 3.") says the socket accepts: wait for it.
mkfifo "$tmp/log.fifo" || exit 99
systemd-socket-activate -l "$tmp/broker.sock" "$brokerd" -c "$tmp/config.json" \
        >"$tmp/log.fifo" 2>&1 &
pid=$!
exec 3<"$tmp/log.fifo"
IFS= read -r first <&3 || first="(no output)"
printf '%s\n' "$first" >"$tmp/broker.log"
cat <&3 >>"$tmp/broker.log" &
libdir=$(PKG_CONFIG_SYSROOT_DIR= PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_LIBDIR= \
        pkg-config --variable=libdir libipcclient)
if out=$(LD_LIBRARY_PATH="$inst$libdir" IPC_TRANSPORT= "$tmp/roundtrip" "unix:$tmp/broker.sock" 2>&1) &&
        [ "$out" = "it works via ring" ]; then
        echo "ok 3 - round trip through the installed library and daemon: $out"
else
        echo "not ok 3 - round trip through the installed library and daemon"
        printf '%s\n' "$out" | sed 's/^/# /'
        sed 's/^/# broker: /' "$tmp/broker.log"
fi
