#!/bin/sh
# Fails if a function that STYLE.md bans appears in the C sources of lib/,
# server/, agent/ or cli/. Prints file:line: text for each hit.
# Usage: scripts/check-banned.sh [SOURCE_ROOT]   (default: the current directory)
set -u
root=${1:-.}
cd "$root" || { echo "check-banned: cannot enter '$root'" >&2; exit 2; }

pattern='\bstrcpy\(|\bstrcat\(|\bsprintf\(|\bvsprintf\(|\bgets\(|\batoi\(|\batol\(|\bstrtok\(|\bsystem\(|\balloca\('

dirs=""
for d in lib server agent cli; do
    [ -d "$d" ] && dirs="$dirs $d"
done
if [ -z "$dirs" ]; then
    echo "check-banned: no lib/, server/, agent/ or cli/ under '$root'" >&2
    exit 2
fi

# grep exits 0 on a hit, 1 on none, 2 on trouble
# shellcheck disable=SC2086
grep -rnE --include='*.c' --include='*.h' "$pattern" $dirs
case $? in
0) echo "check-banned: banned functions found (see STYLE.md)" >&2; exit 1 ;;
1) exit 0 ;;
*) echo "check-banned: grep failed" >&2; exit 2 ;;
esac
