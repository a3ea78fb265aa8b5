#!/usr/bin/env bash
# The main job on the embedded default store (a local directory, no server):
# install + build, push a sample build tree to a DR store, verify it, restore
# it and compare byte for byte, then print the summary. Run it twice to see
# deduplication. FERRY_DEMO_DIR chooses where (default: $TMPDIR/ferry-demo).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh

DEMO=${FERRY_DEMO_DIR:-${TMPDIR:-/tmp}/ferry-demo}
SRC=$DEMO/build-output
STORE=$DEMO/dr-store
mkdir -p "$SRC/bin" "$SRC/docs"
# A small, realistic artifact set: the binary we just built, its docs, a source tarball.
cp build/ferry "$SRC/bin/ferry"
cp README.md docs/*.md "$SRC/docs/"
tar --sort=name --mtime=@0 --owner=0 --group=0 -czf "$SRC/ferry-src.tar.gz" engine manifest transport tools util
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)

echo "== ferry push $SRC --to $STORE --ref demo/main"
build/ferry push "$SRC" --to "$STORE" --ref demo/main --tag commit="$COMMIT" --tag pipeline=demo --json >"$DEMO/push.json"
echo "== ferry verify --store $STORE --ref demo/main"
build/ferry verify --store "$STORE" --ref demo/main --json >"$DEMO/verify.json"
echo "== ferry restore demo/main --from $STORE --to $DEMO/restored"
rm -rf "$DEMO/restored"
build/ferry restore demo/main --from "$STORE" --to "$DEMO/restored"
diff -r "$SRC" "$DEMO/restored"
echo
echo "Summary"
jq -r '"  manifest      \(.manifest)\n  files         \(.files)\n  bytes read    \(.bytes_read)\n  bytes new     \(.bytes_new)\n  deduplicated  \(.bytes_deduplicated)\n  stored        \(.bytes_stored) (zstd)"' "$DEMO/push.json"
jq -r '"  verified      \(.chunks_checked) chunks, \(.bytes_checked) bytes rehashed: \(.status)"' "$DEMO/verify.json"
echo "  restored      byte-identical to the source (diff -r)"
