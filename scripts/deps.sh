#!/usr/bin/env bash
# scripts/deps.sh - install the Debian packages acto needs to build and test.
#
# The one list of packages.  Only calls apt-get when something is missing
# (then `apt-get update` once, then install).  Needs root or sudo for that.
#   scripts/deps.sh [EXTRA_PACKAGE...]
set -euo pipefail

PACKAGES=(
    build-essential   # gcc, make, libc headers
    cmake
    pkg-config
    libck-dev         # Concurrency Kit: ck_pr, ck_epoch
    liburing-dev      # io_uring
    libmsgpack-dev    # msgpack-c 4.x (message bodies)
    libcmocka-dev     # unit tests
    python3           # tests/trace_tool.py parses acto-trace's JSON output
)
PACKAGES+=("$@")

missing=()
for p in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [[ "$status" == installed ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
    echo "deps: all ${#PACKAGES[@]} packages present"
    exit 0
fi

echo "deps: installing ${missing[*]}"
SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "deps: not root and no sudo; install: ${missing[*]}" >&2; exit 1; }
    SUDO=(sudo)
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Quiet on success; the whole apt output on failure.
apt_run() {
    if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive "$@" >"$log" 2>&1; then
        echo "deps: '$*' failed:" >&2
        cat "$log" >&2
        exit 1
    fi
}
apt_run apt-get update -q
apt_run apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "deps: installed ${missing[*]}"
