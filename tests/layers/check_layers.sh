#!/bin/sh
# Every arrow between src/ folders points down the layer list of
# docs/architecture.md: a folder includes the public headers
# (include/xenkvm/NAME.h) of folders below it only, and no private header
# of another folder. Also: meson dependencies (NAME_dep) follow the same
# order. The list is read from the doc's "Layers" table, so the doc and
# this check cannot drift apart.
# usage: check_layers.sh SOURCE_ROOT
set -eu
root=${1:?usage: check_layers.sh SOURCE_ROOT}
doc=$root/docs/architecture.md
# Rows of the table: | n | `src/NAME` | ... ; n = 1 is the bottom.
layers=$(sed -n 's/^| *\([0-9][0-9]*\) *| *`src\/\([a-z0-9_]*\)`.*/\1 \2/p' "$doc")
[ -n "$layers" ] || { echo "no layer table in $doc"; exit 1; }
rank() { echo "$layers" | awk -v n="$1" '$2 == n { print $1 }'; }
fail=0
for dir in "$root"/src/*/; do
    mod=$(basename "$dir")
    r=$(rank "$mod")
    if [ -z "$r" ]; then
        echo "src/$mod is not in the layer list of docs/architecture.md"
        fail=1
        continue
    fi
    # Public headers of other modules.
    for inc in $(grep -ho '#include "xenkvm/[a-z0-9_]*\.h"' "$dir"*.[ch] 2>/dev/null |
                 sed 's/.*xenkvm\/\([a-z0-9_]*\)\.h"/\1/' | sort -u); do
        [ "$inc" = "$mod" ] && continue
        ir=$(rank "$inc")
        if [ -z "$ir" ]; then
            echo "src/$mod includes xenkvm/$inc.h, which belongs to no layer"
            fail=1
        elif [ "$ir" -ge "$r" ]; then
            echo "src/$mod (layer $r) includes xenkvm/$inc.h (layer $ir): the arrow points up"
            fail=1
        fi
    done
    # Private headers reached across folders.
    if grep -n '#include "\.\./' "$dir"*.[ch] 2>/dev/null; then
        echo "src/$mod reaches into another folder's private header"
        fail=1
    fi
    # meson dependencies.
    if [ -f "$dir/meson.build" ]; then
        for dep in $(grep -o '[a-z0-9]*_dep\b' "$dir/meson.build" | sed 's/_dep$//' | sort -u); do
            [ "$dep" = "$mod" ] && continue
            dr=$(rank "$dep")
            [ -z "$dr" ] && continue        # not a module (e.g. cmocka)
            if [ "$dr" -ge "$r" ]; then
                echo "src/$mod/meson.build (layer $r) depends on ${dep}_dep (layer $dr): up"
                fail=1
            fi
        done
    fi
done
[ $fail -eq 0 ] && echo "layers: every arrow between src/ folders points down"
exit $fail
