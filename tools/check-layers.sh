#!/usr/bin/env bash
# Fails on an #include that points from a lower layer to a higher one.
# Layers, lowest first (docs/design.md): util crypto transport manifest engine
# daemon tools. testing/ (test support) may include any layer, and only tests
# (*_test.cc, tests/, bench/) may include testing/. The build enforces the
# same with per-layer include roots (CMakeLists.txt); this says it in words.
#   usage: tools/check-layers.sh [SOURCE_DIR]
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"
rank() {
  case $1 in
    util) echo 0 ;; crypto) echo 1 ;; transport) echo 2 ;; manifest) echo 3 ;;
    engine) echo 4 ;; daemon) echo 5 ;; tools) echo 6 ;; testing) echo 7 ;;
    *) echo -1 ;;
  esac
}
bad=0
while IFS= read -r file; do
  from=${file%%/*}
  from_rank=$(rank "$from")
  [ "$from_rank" -ge 0 ] || continue
  while IFS= read -r inc; do
    to=${inc%%/*}
    to_rank=$(rank "$to")
    [ "$to_rank" -ge 0 ] || continue
    if [ "$to" = testing ]; then
      case $file in *_test.cc | testing/*) continue ;; esac
      echo "$file includes $inc: test support is for tests only" >&2
      bad=1
    elif [ "$to_rank" -gt "$from_rank" ]; then
      echo "$file includes $inc: $from/ is below $to/ and may not include it" >&2
      bad=1
    fi
  done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$file")
done < <(git ls-files --cached --others --exclude-standard '*.h' '*.cc' 2>/dev/null || find . -name '*.h' -o -name '*.cc' | sed 's|^\./||')
if [ "$bad" = 0 ]; then echo "layers: no include points upward"; fi
exit "$bad"
