#!/bin/sh
# Source rules that the compiler cannot enforce (STYLE.md sections 2 and 4):
#  1. raw malloc/calloc/realloc/free/strdup only in src/base/alloc.c;
#  2. a module includes another module's <mod>.h, never its *_int.h;
#  3. no absolute paths of a developer machine in tracked sources.
set -eu
root=${CN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root"
status=0
raw=$(grep -rnE '(^|[^_a-zA-Z0-9.>])(malloc|calloc|realloc|free|strdup|strndup)[[:space:]]*\(' \
        --include='*.c' --include='*.h' src include | grep -v '^src/base/alloc\.c:' \
        | grep -vE ':[0-9]+:[[:space:]]*(/\*|\*|//)' || true)
if [ -n "$raw" ]; then
    echo "raw allocation outside src/base/alloc.c (use cn_malloc/cn_free):"
    echo "$raw"
    status=1
fi
for f in $(find src -name '*.c' -o -name '*.h'); do
    mod=$(dirname "$f")
    grep -nE '#include[[:space:]]+"[^"]*_int\.h"' "$f" | while IFS= read -r line; do
        inc=$(echo "$line" | sed -E 's/.*"([^"]*)".*/\1/')
        case "$inc" in
        */*) incdir="src/$(dirname "$inc")" ;;
        *) incdir="$mod" ;;
        esac
        if [ "$incdir" != "$mod" ]; then
            echo "$f: includes another module's private header $inc"
            exit 1
        fi
    done || status=1
done
if grep -rnE '/(work|home|root)/[A-Za-z]' --include='*.c' --include='*.h' --include='*.py' \
        --include='*.sh' --include='*.txt' --include='*.cmake' src include tests api scripts examples bench 2>/dev/null \
        | grep -v 'tests/lint/check_sources.sh'; then
    echo "machine-specific absolute paths found above"
    status=1
fi
[ $status -eq 0 ] && echo "lint: ok"
exit $status
