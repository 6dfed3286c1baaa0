#!/bin/sh
# tools/demo.sh BUILD_DIR — runs the seed examples (BUILD_DIR/examples), one after another,
# each under a one-line heading; stops at the first that fails. `make demo` calls it.
#
# The examples are those listed in examples/meson.build, in that order.
set -u

if [ $# -ne 1 ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
build=$1
here=$(cd "$(dirname "$0")/.." && pwd)
# The names between the brackets of `examples = [...]`, one per line: 'name',  # comment
names=$(sed -n "/^examples = \[/,/^\]/s/^ *'\([A-Za-z0-9_]*\)'.*/\1/p" "$here/examples/meson.build")
if [ -z "$names" ]; then
    echo "demo: no examples found in $here/examples/meson.build" >&2
    exit 1
fi

count=0
for name in $names; do
    exe="$build/examples/$name"
    printf '\n=== %s ===\n' "$name"
    if [ ! -x "$exe" ]; then
        echo "demo: $exe is not built (run ninja -C $build)" >&2
        exit 1
    fi
    "$exe"
    rc=$?
    if [ $rc -ne 0 ]; then
        echo "demo: $name FAILED (exit status $rc)" >&2
        exit 1
    fi
    count=$((count + 1))
done
printf '\n=== demo: all %d examples ran and checked their results ===\n' "$count"
