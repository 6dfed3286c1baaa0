#!/usr/bin/env bash
# make test-install: installs weft into a temporary prefix (meson install, with DESTDIR
# respected as well), then builds tests/outside/hello.c against the installed copy as an
# outside project would — once with pkg-config, once with CMake's find_package(weft) — and
# runs both. Exit status 0 only if all of it worked.
set -eu
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"
meson setup "$tmp/build" --prefix="$prefix" --buildtype=release -Db_ndebug=true >/dev/null
ninja -C "$tmp/build" >/dev/null
meson install -C "$tmp/build" --quiet
# DESTDIR: the same tree under a staging root.
DESTDIR="$tmp/stage" meson install -C "$tmp/build" --quiet
test -f "$tmp/stage$prefix/include/weft.h"
libdir=$(dirname "$(find "$prefix" -name libweft.so.0 | head -n 1)")
test -L "$libdir/libweft.so" && test -L "$libdir/libweft.so.0"
objdump -p "$libdir/libweft.so.0" | grep -q 'SONAME *libweft.so.0'

export PKG_CONFIG_PATH="$libdir/pkgconfig"
pkg-config --modversion weft
cc -std=c11 -Wall -Wextra -Werror tests/outside/hello.c $(pkg-config --cflags --libs weft) \
   -o "$tmp/hello-pkgconfig"
LD_LIBRARY_PATH="$libdir" "$tmp/hello-pkgconfig"

cmake -S tests/outside -B "$tmp/cmake" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$tmp/cmake" >/dev/null
LD_LIBRARY_PATH="$libdir" "$tmp/cmake/hello"
echo "outside build: pkg-config and CMake both built and ran against the installed weft"
