#!/bin/sh
# SPDX-License-Identifier: MIT
# Every man page passes mandoc -Tlint (warnings included), and every long
# option a program's --help prints is documented in its page. TAP output.
set -u
top_srcdir=${IPC_TOP_SRCDIR:-.}
pages="ipc-broker.7 ipc-brokerd.8 ipc-brokerd.json.5 ipcctl.1 libipcclient.3"
n=0
count=$(echo $pages | wc -w)
echo "1..$((count + 2))"

for page in $pages; do
        n=$((n + 1))
        if [ -z "${MANDOC:-}" ]; then
                echo "ok $n # SKIP mandoc not installed"
                continue
        fi
        out=$("$MANDOC" -Tlint -W warning "$top_srcdir/man/$page" 2>&1)
        if [ $? -eq 0 ] && [ -z "$out" ]; then
                echo "ok $n - mandoc -Tlint $page"
        else
                echo "not ok $n - mandoc -Tlint $page"
                printf '%s\n' "$out" | sed 's/^/# /'
        fi
done

# Long options from --help output ("--name") must each appear in the page as
# "Fl -name" (mdoc) or in the page text.
check_options() { # $1: test number, $2: page, $3...: command printing help
        num=$1 page=$2
        shift 2
        help=$("$@" 2>&1)
        missing=""
        for opt in $(printf '%s\n' "$help" | grep -o -- '--[a-z][a-z-]*' | sort -u); do
                name=${opt#--}
                grep -q -e "Fl -$name" -e "Fl \\\\-$name" "$top_srcdir/man/$page" ||
                        missing="$missing $opt"
        done
        if [ -z "$help" ]; then
                echo "not ok $num - $page: no --help output from $*"
        elif [ -n "$missing" ]; then
                echo "not ok $num - $page lacks options that --help prints:$missing"
        else
                echo "ok $num - every --help option of $(basename "$1") is in $page"
        fi
}

check_options $((count + 1)) ipc-brokerd.8 "${IPC_BROKERD:-brokerd/ipc-brokerd}" --help
ctl=${IPCCTL:-cli/ipcctl}
all_help() {
        "$ctl" --help
        for verb in publish subscribe channels stats ping; do "$ctl" "$verb" --help; done
}
check_options $((count + 2)) ipcctl.1 all_help
