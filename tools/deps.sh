#!/bin/sh
# tools/deps.sh GROUP... — install the Debian packages a make target needs, only when absent.
# Groups: build (library + tests), bench (peer systems), ci (sanitizer and cross builds),
# deb (make deb: the Debian packages' tools and debian/control's Build-Depends), docs (make
# docs: Doxygen, and python3 for its input filter).
# Runs apt-get only if some package is missing; uses sudo when not root.
set -eu

pkgs_build="meson ninja-build gcc g++ pkg-config python3 valgrind libsqlite3-dev libhttp-parser-dev curl wrk libhiredis-dev redis-server python3-redis postgresql libpq-dev libcurl4-openssl-dev"
pkgs_bench="g++ golang-go golang-golang-x-sync-dev libboost-context-dev libck-dev libglib2.0-dev libtbb-dev libuv1-dev wrk python3-uvloop python3-gevent python3-celery python3-rq python3-requests python3-matplotlib"
pkgs_ci="clang libclang-rt-14-dev gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user cmake"
pkgs_docs="doxygen python3"
pkgs_deb="dpkg-dev debhelper lintian build-essential cmake meson ninja-build pkg-config valgrind libhiredis-dev libhttp-parser-dev libsqlite3-dev libcurl4-openssl-dev libpq-dev"

want=""
for group in "$@"; do
    case "$group" in
        build) want="$want $pkgs_build" ;;
        bench) want="$want $pkgs_bench" ;;
        ci)    want="$want $pkgs_ci" ;;
        deb)   want="$want $pkgs_deb" ;;
        docs)  want="$want $pkgs_docs" ;;
        *) echo "deps.sh: unknown group '$group'" >&2; exit 2 ;;
    esac
done

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "deps.sh: missing packages:$missing (and no apt-get: install them by hand)" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
        echo "deps.sh: missing packages:$missing; run as root or install them" >&2; exit 1
    fi
fi
echo "deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing
