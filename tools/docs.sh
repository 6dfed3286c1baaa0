#!/bin/sh
# tools/docs.sh [OUT] — the API reference (make docs): Doxygen over the public headers'
# comments (docs/api/Doxyfile; docs/api/filter.py makes Doxygen read their plain /* */
# comments), the HTML in OUT/html (OUT: build-docs). Fails if Doxygen or the filter
# reports anything: an undocumented public name, a broken reference, a header in no layer.
set -eu
cd "$(dirname "$0")/.."
out=${1:-build-docs}
version=$(sed -n 's/^#define WEFT_VERSION_STRING "\(.*\)"$/\1/p' include/weft/core.h)
# Debian's python3 starts faster than a version manager's shim (the filter runs per file).
python=/usr/bin/python3
[ -x "$python" ] || python=python3

rm -rf "$out/html"
mkdir -p "$out"
log="$out/doxygen.log"
status=0
WEFT_VERSION=$version WEFT_DOCS_OUT=$out WEFT_DOCS_PYTHON=$python \
    doxygen docs/api/Doxyfile >"$log" 2>&1 || status=$?
# Doxygen writes its warnings to $out/warnings.log (WARN_LOGFILE); the filter's go to the
# log of its standard error, as would any other complaint.
if [ "$status" != 0 ] || [ -s "$out/warnings.log" ] || [ -s "$log" ]; then
    cat "$log" "$out/warnings.log" >&2 2>/dev/null || true
    echo "docs: doxygen failed (status $status) or warned: see above" >&2
    exit 1
fi
echo "docs: $out/html/index.html ($(ls "$out"/html/*.html | wc -l) pages), no warnings"
