#!/usr/bin/env bash
# End-to-end data-safety checks of the real `ferry` binary on the local store
# (docs/exit-codes.md, docs/store-format.md): empty or missing build output,
# repair after damage, concurrent pushes to one ref, CI ref names, restore
# into a used target, set-uid bits, a full disk, CLI reporting.
# usage: e2e_safety.sh PATH/TO/ferry. Closes with "N passed, N failed".
set -uo pipefail
FERRY=$(realpath "$1")
W=$(mktemp -d "${TMPDIR:-/tmp}/ferry-safety-XXXXXX")
cleanup() {
  mountpoint -q "$W/small-disk" 2>/dev/null && umount "$W/small-disk"
  rm -rf "$W"
}
trap cleanup EXIT
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
export FERRY_CACHE_DIR=$W/cache

SRC=$W/build
mkdir -p "$SRC/bin" "$SRC/lib"
head -c $((3 << 20)) /dev/urandom >"$SRC/bin/app"
for i in $(seq 1 20); do echo "module $i" >"$SRC/lib/m$i.js"; done
STORE=$W/dr

echo "# an empty or missing build output is a failed build, not an empty one"
mkdir -p "$W/empty/dist"
expect_exit "push of an empty directory" 3 "$FERRY" push "$W/empty/dist" --to "$W/never" --ref app/main
check "  ... names the directory and the way out" grep -q "no files to push in $W/empty/dist.*--allow-empty" "$W/err"
check "  ... and creates no store" test ! -e "$W/never"
expect_exit "push of a missing directory" 3 "$FERRY" push "$W/no/such/dist" --to "$W/never" --ref app/main
check "  ... creates no store either" test ! -e "$W/never"
expect_exit "push --allow-empty records the empty build" 0 "$FERRY" push "$W/empty/dist" --to "$W/empty-store" --ref app/empty --allow-empty --json
check "  ... with 0 files" test "$(json .files)" = 0

echo "# damage is repairable: verify moves a bad chunk aside, the next push stores it again"
expect_exit "push the build" 0 "$FERRY" push "$SRC" --to "$STORE" --ref app/main --chunk-size 64K,256K,1M --json
APP_CHUNKS=$(find "$STORE/chunks" -type f -size +100k | head -2)
FLIP=$(echo "$APP_CHUNKS" | sed -n 1p)
CUT=$(echo "$APP_CHUNKS" | sed -n 2p)
printf 'XXXX' | dd of="$FLIP" bs=1 seek=5000 conv=notrunc status=none
truncate -s 1000 "$CUT"
expect_exit "verify finds a bit flip and a truncation" 5 "$FERRY" verify --store "$STORE" --ref app/main --json
check "  ... both moved aside" test "$(json '[.chunk_problems[] | select(.moved_aside)] | length')" = 2 -a ! -e "$FLIP" -a ! -e "$CUT" -a -e "$STORE/damaged/$(basename "$FLIP")"
check "  ... and says the next push repairs them" grep -q "next push of that source stores it again" "$W/err"
expect_exit "push the same source again" 0 "$FERRY" push "$SRC" --to "$STORE" --ref app/main --chunk-size 64K,256K,1M --json
check "  ... stores the two chunks anew" test "$(json .chunks_new)" = 2
expect_exit "verify passes after the repair" 0 "$FERRY" verify --store "$STORE" --all
printf 'XXXX' | dd of="$(find "$STORE/chunks" -type f -size +100k | head -1)" bs=1 seek=7 conv=notrunc status=none
expect_exit "verify --read-only reports damage" 5 "$FERRY" verify --store "$STORE" --all --read-only --json
check "  ... and moves nothing" test "$(json '[.chunk_problems[] | select(.moved_aside)] | length')" = 0 -a -z "$(find "$STORE/damaged" -newer "$W/out" 2>/dev/null)"
"$FERRY" verify --store "$STORE" --all -q >/dev/null 2>&1
"$FERRY" push "$SRC" --to "$STORE" --ref app/main -q

echo "# concurrent pushes to one ref: every build stays in its history"
CC=$W/cc
mkdir -p "$CC"
for i in $(seq 1 8); do mkdir -p "$CC/t$i"; echo "build $i" >"$CC/t$i/build.txt"; done
for round in 1 2 3 4; do
  a=$((2 * round - 1)) b=$((2 * round))
  "$FERRY" push "$CC/t$a" --to "$CC/store" --ref app/cc --json >"$CC/p$a.json" 2>/dev/null &
  "$FERRY" push "$CC/t$b" --to "$CC/store" --ref app/cc --json >"$CC/p$b.json" 2>/dev/null &
  wait
done
# Walk the history from the ref back through each push's recorded parent.
declare -A PARENT
for i in $(seq 1 8); do PARENT[$(jq -r .manifest "$CC/p$i.json")]=$(jq -r .parent "$CC/p$i.json"); done
at=$(cat "$CC/store/refs/app%2Fcc") n=0
while [ -n "$at" ] && [ "$at" != null ] && [ $n -lt 20 ]; do n=$((n + 1)); at=${PARENT[$at]:-}; done
check "8 pushes in 4 simultaneous pairs: all 8 builds are on the ref's chain ($n)" test "$n" = 8
check "  ... and every push reported success" test "$(cat "$CC"/p*.json | jq -r .status | sort -u)" = ok

echo "# ref names that CI systems produce"
for r in "acme/web/feature%2Flogin" "acme/web/fix+1" "acme/web/user@fix" "acme/web/main" "acme/web/main/main"; do
  expect_exit "push --ref $r" 0 "$FERRY" push "$SRC" --to "$W/refs-store" --ref "$r" --tag "branch=$r"
done
expect_exit "restore acme/web/main (a ref with a ref below it)" 0 "$FERRY" restore acme/web/main --from "$W/refs-store" --to "$W/r-main"
expect_exit "restore acme/web/main/main" 0 "$FERRY" restore acme/web/main/main --from "$W/refs-store" --to "$W/r-main-main"
expect_exit "restore acme/web/feature%2Flogin" 0 "$FERRY" restore "acme/web/feature%2Flogin" --from "$W/refs-store" --to "$W/r-feature"
check "  ... byte-identical" diff -r "$SRC" "$W/r-feature"
expect_exit "what git refuses is still refused" 2 "$FERRY" push "$SRC" --to "$W/refs-store" --ref "acme/web/bad..name"
# A store written by format 1 (refs/<name> as a path) still reads, and moves on its next push.
cp -r "$W/refs-store" "$W/v1-store"
printf 'ferry store format 1\n' >"$W/v1-store/FERRY-STORE"
mkdir -p "$W/v1-store/refs/acme/web"
mv "$W/v1-store/refs/acme%2Fweb%2Fmain" "$W/v1-store/refs/acme/web/main"
rm "$W/v1-store/refs/acme%2Fweb%2Fmain%2Fmain"
expect_exit "a format-1 store's ref restores" 0 "$FERRY" restore acme/web/main --from "$W/v1-store" --to "$W/r-v1"
expect_exit "a push to it" 0 "$FERRY" push "$SRC" --to "$W/v1-store" --ref acme/web/main --json
check "  ... chains onto the format-1 ref and raises the store to format 3, marked as holding loose small chunks" test "$(json .parent)" = "$(cat "$W/refs-store/refs/acme%2Fweb%2Fmain")" -a "$(cat "$W/v1-store/FERRY-STORE")" = "$(printf 'ferry store format 3\nloose small chunks')"

echo "# restore into a target that is not empty"
T=$W/deploy
"$FERRY" restore app/main --from "$STORE" --to "$T" -q
head -c 100000 /dev/urandom >"$T/lib/.ferry-tmp-999-1-killed"  # a killed restore's leftover
echo "local edit" >"$T/lib/m3.js"
mkdir -p "$T/old/cache" && echo stale >"$T/old/cache/x" && echo notes >"$T/NOTES"
expect_exit "restore over it" 0 "$FERRY" restore app/main --from "$STORE" --to "$T" --json
check "  ... removes the killed run's temp file" test "$(json .temp_files_removed)" = 1 -a ! -e "$T/lib/.ferry-tmp-999-1-killed"
check "  ... says it replaced the local edit" test "$(json .files_replaced)" = 1 -a "$(cat "$T/lib/m3.js")" = "module 3"
check "  ... lists the extras it kept" test "$(json '.extras | join(",")')" = "NOTES,old" -a -e "$T/NOTES"
check "  ... and says so on stderr" grep -q "2 entries in $T are not part of the build and were kept" "$W/err"
expect_exit "restore --delete" 0 "$FERRY" restore app/main --from "$STORE" --to "$T" --delete --json
check "  ... leaves exactly the build" diff -r "$SRC" "$T"

echo "# set-uid bits are not restored unless asked for"
mkdir -p "$W/suid/bin" && cp /bin/true "$W/suid/bin/tool" && chmod 4755 "$W/suid/bin/tool"
"$FERRY" push "$W/suid" --to "$W/suid-store" --ref app/suid -q
expect_exit "restore of a set-uid file" 0 "$FERRY" restore app/suid --from "$W/suid-store" --to "$W/suid-out" --json
check "  ... drops the bit" test "$(stat -c %a "$W/suid-out/bin/tool")" = 755 -a "$(json .setuid_dropped)" = 1
expect_exit "restore --keep-setuid" 0 "$FERRY" restore app/suid --from "$W/suid-store" --to "$W/suid-keep" --keep-setuid
check "  ... keeps it" test "$(stat -c %a "$W/suid-keep/bin/tool")" = 4755

echo "# a full disk"
mkdir -p "$W/small-disk"
if mount -t tmpfs -o size=2m tmpfs "$W/small-disk" 2>/dev/null; then
  expect_exit "restore of a 3 MiB build onto a 2 MiB disk" 10 "$FERRY" restore app/main --from "$STORE" --to "$W/small-disk/app"
  check "  ... says how much it needs and writes nothing" test -z "$(ls -A "$W/small-disk/app" 2>/dev/null)" -a -n "$(grep 'needs [0-9]* bytes' "$W/err")"
  umount "$W/small-disk"
else
  bad "cannot mount a small tmpfs for the full-disk check (not root?)"
fi

echo "# reports and errors"
expect_exit "push -q" 0 "$FERRY" -q push "$SRC" --to "$STORE" --ref app/main
check "  ... prints nothing" test ! -s "$W/err" -a ! -s "$W/out"
expect_exit "an unknown command" 2 "$FERRY" pusj "$SRC"
check "  ... is named" grep -q "unknown command 'pusj'" "$W/err"
expect_exit "a usage error with --json" 2 "$FERRY" push "$SRC" --to "$STORE" --memory 1 --json
check "  ... is a JSON report" test "$(json .status)/$(json .error.code)/$(json .error.exit_code)" = error/usage/2
expect_exit "a tag value with a newline" 2 "$FERRY" push "$SRC" --to "$STORE" --tag "msg=line one
line two"
check "  ... names the tag" grep -q -- "--tag msg" "$W/err"
expect_exit "push --json with one destination" 0 "$FERRY" push "$SRC" --to "$STORE" --ref app/main --tag commit= --tag pipeline=77 --json
check "  ... has the build at the top, the destination in destinations[], and the tags" test "$(json '.destinations | length')/$(json '.destinations[0].layout')/$(json .tags.pipeline)/$(json '.tags.commit | length')" = "1/store/77/0"

finish e2e-safety
