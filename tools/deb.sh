#!/bin/sh
# tools/deb.sh [OUTDIR] — make deb: builds the Debian packages (debian/: libweft0,
# libweft-dist0, libweft-hook0, libweft-dev) with dpkg-buildpackage -us -uc -b in a temporary
# copy of the tree, so that nothing is left in the tree or beside it; keeps the .debs,
# .buildinfo, .changes and the build's log in OUTDIR (build-deb); checks that no package holds
# a program (tests, examples); builds tests/outside/hello.c against the unpacked libweft-dev
# with pkg-config and with CMake and runs it; then lintian. Exit status 0 only if all of it
# worked and lintian reported no error and no warning.
set -eu
cd "$(dirname "$0")/.."
out=${1:-build-deb}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rm -rf "$out"
mkdir -p "$out"
log="$out/dpkg-buildpackage.log"

# The tree as it is (uncommitted changes too), without .git and the build directories.
mkdir "$tmp/weft"
tar -cf - --exclude=./.git --exclude='./build*' --exclude='./obj-*' . | tar -C "$tmp/weft" -xf -
echo "deb.sh: dpkg-buildpackage -us -uc -b (log: $log)"
if ! (cd "$tmp/weft" && dpkg-buildpackage -us -uc -b -Jauto) >"$log" 2>&1; then
    tail -n 100 "$log"
    echo "deb.sh: dpkg-buildpackage failed (the whole log: $log)" >&2
    exit 1
fi
# Worth a look even when the build passed: compiler warnings (-Dwerror=false in
# debian/rules), the smoke tests' count, symbols new to debian/*.symbols (dpkg-gensymbols'
# diff, to paste there).
grep -E 'warning:|^Ok:|^Fail:' "$log" || true
sed -n '/dpkg-gensymbols: warning/,/^ *dh_/p' "$log"
cp "$tmp"/*.deb "$tmp"/*.buildinfo "$tmp"/*.changes "$out"/

# No program in any package: the tests, examples and weft-dist-info stay out.
for deb in "$out"/*.deb; do
    echo "--- $(basename "$deb")"
    dpkg-deb -c "$deb" | awk '{print $6}' | grep -v '/$'
    if dpkg-deb -c "$deb" | awk '{print $6}' | grep -E '/(s?bin|libexec)/|/test_|/examples?/'; then
        echo "deb.sh: $(basename "$deb") holds a program" >&2
        exit 1
    fi
done

# An outside build against the unpacked packages (as tools/outside_build.sh does against
# make install): the pkg-config files and the CMake package must point at what they hold.
root="$tmp/root"
for deb in "$out"/*.deb; do dpkg-deb -x "$deb" "$root"; done
libdir="$root/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)"
pc() { PKG_CONFIG_SYSROOT_DIR="$root" PKG_CONFIG_LIBDIR="$libdir/pkgconfig" pkg-config "$@"; }
pc --exists --print-errors weft weft-hook
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror tests/outside/hello.c $(pc --cflags --libs weft) \
   -o "$tmp/hello-pkgconfig"
LD_LIBRARY_PATH="$libdir" "$tmp/hello-pkgconfig"
cmake -S tests/outside -B "$tmp/cmake" -DCMAKE_PREFIX_PATH="$root/usr" >/dev/null
cmake --build "$tmp/cmake" >/dev/null
LD_LIBRARY_PATH="$libdir" "$tmp/cmake/hello"
echo "deb.sh: tests/outside/hello built against the packages with pkg-config and CMake, and ran"

# -I: the informational tags too (shown, not failing). TMPDIR: lintian leaves files there.
TMPDIR="$tmp" lintian -I --fail-on error,warning "$out"/*.changes
set -- "$out"/*.deb
echo "deb.sh: $# packages in $out, lintian: no error, no warning"
