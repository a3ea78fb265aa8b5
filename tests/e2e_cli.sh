#!/usr/bin/env bash
# End-to-end tests of the real `ferry` binary on the local-filesystem store.
# usage: e2e_cli.sh PATH/TO/ferry PATH/TO/no_io_uring
# Prints one line per check and closes with "N passed, N failed".
set -uo pipefail
FERRY=$(realpath "$1")
NO_URING=$(realpath "$2")
W=$(mktemp -d "${TMPDIR:-/tmp}/ferry-e2e-XXXXXX")
trap 'chmod -R u+w "$W" 2>/dev/null; rm -rf "$W"' EXIT
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
export FERRY_CACHE_DIR=$W/cache  # the stat cache (docs/stat-cache.md), not the user's

# A build-like tree: binaries, a tarball, text, a symlink, an empty file and dir, modes.
SRC=$W/build
mkdir -p "$SRC/bin" "$SRC/lib" "$SRC/share/doc" "$SRC/empty-dir"
head -c $((12 << 20)) /dev/urandom >"$SRC/bin/app"
chmod 755 "$SRC/bin/app"
cp "$FERRY" "$SRC/bin/ferry-copy"
for i in $(seq 1 200); do echo "module $i $(date +%N)" >"$SRC/lib/mod$i.js"; done
seq 1 200000 >"$SRC/share/doc/numbers.txt"
tar -C "$SRC/lib" -czf "$SRC/share/lib.tgz" .
: >"$SRC/share/empty"
echo secret >"$SRC/share/private.key"
chmod 600 "$SRC/share/private.key"
ln -s app "$SRC/bin/current"
STORE=$W/dr
OUT=$W/restore

echo "# push, verify, restore, compare"
expect_exit "push a build tree" 0 "$FERRY" push "$SRC" --to "$STORE" --ref app/main --tag commit=abc123 --tag pipeline=77 --json
check "push reports every file and what it stored" test "$(json .files)" = "$(find "$SRC" -type f | wc -l)" -a "$(json .bytes_new)" = "$(json .bytes_read)" -a "$(json .bytes_stored)" -gt 0
check "push JSON has the manifest ID and the ref" test "$(json .manifest | wc -c)" = 65 -a "$(json .ref)" = app/main
M1=$(json .manifest)
check "manifest ID is the SHA-256 of its stored bytes" test "$(sha256sum "$STORE/manifests/$M1" | cut -d' ' -f1)" = "$M1"
check "the ref points at the manifest" test "$(cat "$STORE/refs/app%2Fmain")" = "$M1"
check "push writes a human summary to stderr" grep -q "manifest $M1 -> ref app/main" "$W/err"
expect_exit "verify the ref" 0 "$FERRY" verify --store "$STORE" --ref app/main --json
check "verify rehashed every byte" test "$(json .status)" = verified -a "$(json .bytes_checked)" -gt $((12 << 20))
expect_exit "restore the ref" 0 "$FERRY" restore app/main --from "$STORE" --to "$OUT"
check "restored tree is byte-identical" diff -r --no-dereference "$SRC" "$OUT"
check "restored modes match" test "$(stat -c %a "$OUT/bin/app") $(stat -c %a "$OUT/share/private.key")" = "755 600"
check "restored symlink is a symlink" test "$(readlink "$OUT/bin/current")" = app
check "empty directory restored" test -d "$OUT/empty-dir"
expect_exit "restore by manifest ID" 0 "$FERRY" restore "$M1" --from "file://$STORE" --to "$W/restore2" --json
check "restore by ID is byte-identical" diff -r --no-dereference "$SRC" "$W/restore2"
expect_exit "restore again over an identical tree" 0 "$FERRY" restore app/main --from "$STORE" --to "$OUT" --json
check "identical files are left alone" test "$(json .files_unchanged)" = "$(find "$SRC" -type f | wc -l)" -a "$(json .files_written)" = 0

echo "# dedup"
expect_exit "push the unchanged tree again" 0 "$FERRY" push "$SRC" --to "$STORE" --ref app/main --json
check "second push stores no chunk data" test "$(json .bytes_new)" = 0 -a "$(json .bytes_stored)" = 0 -a "$(json .bytes_deduplicated)" = "$(($(json .bytes_read) + $(json .bytes_cached)))"
check "second push records the first as parent" test "$(json .parent)" = "$M1"
python_free_patch() {  # overwrite 4 KiB in the middle of a file, in place
  printf '%4096s' | tr ' ' 'Z' | dd of="$1" bs=1 seek=$(( $(stat -c %s "$1") / 2 )) conv=notrunc status=none
}
python_free_patch "$SRC/bin/app"
expect_exit "push after a change in the middle of a 12 MiB file" 0 "$FERRY" push "$SRC" --to "$STORE" --ref app/main --json
check "only the chunks around the change are new (<= 3 chunks, <= 12 MiB read)" test "$(json .chunks_new)" -le 3 -a "$(json .chunks_new)" -ge 1 -a "$(json .bytes_new)" -le $((8 << 20))
M3=$(json .manifest)
expect_exit "push the same tree with pread" 0 "$FERRY" push "$SRC" --to "$STORE" --io pread --json
check "pread finds the same chunks (nothing new)" test "$(json .bytes_new)" = 0 -a "$(json .io_backend)" = pread
expect_exit "push where io_uring is blocked by seccomp" 0 "$NO_URING" "$FERRY" push "$SRC" --to "$STORE" --json
check "falls back to pread with one clear log line" test "$(json .io_backend)" = pread -a "$(grep -c 'io_uring is unavailable' "$W/err")" = 1
check "fallback finds the same chunks" test "$(json .bytes_new)" = 0

echo "# damage is found and named"
cp -a "$STORE" "$W/dr-damaged"
CHUNK=$(find "$W/dr-damaged/chunks" -type f | head -1)
printf '\x00garbage' | dd of="$CHUNK" bs=1 seek=3 conv=notrunc status=none
expect_exit "verify finds a corrupt chunk" 5 "$FERRY" verify --store "$W/dr-damaged" --all --json
check "verify names the corrupt chunk and its files" test "$(json '.chunk_problems[0].problem')" = corrupt -a "$(json '.chunk_problems[0].files | length')" -ge 1
check "verify prints the chunk on stderr" grep -q "$(basename "$CHUNK") is corrupt" "$W/err"
rm -f "$CHUNK"
expect_exit "verify finds a missing chunk" 5 "$FERRY" verify --store "$W/dr-damaged" --all --json
check "verify says missing" test "$(json '.chunk_problems[0].problem')" = missing
expect_exit "verify --quick finds the missing chunk without reading data" 5 "$FERRY" verify --store "$W/dr-damaged" --all --quick
expect_exit "verify --quick on the intact store" 0 "$FERRY" verify --store "$STORE" --all --quick --json
check "  ... says present, not verified" test "$(json .status)" = present
MF="$W/dr-damaged/manifests/$M3"
head -c 100 "$STORE/manifests/$M3" >"$MF"
expect_exit "a truncated manifest is a corrupt-manifest error" 8 "$FERRY" verify --store "$W/dr-damaged" --ref "$M3"
check "the error names the manifest" grep -q "manifest $M3" "$W/err"
expect_exit "restore of a truncated manifest fails cleanly" 8 "$FERRY" restore "$M3" --from "$W/dr-damaged" --to "$W/r3"
cp "$STORE/manifests/$M3" "$MF"
printf '\x09' | dd of="$MF" bs=1 seek=8 conv=notrunc status=none
expect_exit "a manifest from a newer format version" 8 "$FERRY" verify --store "$W/dr-damaged" --ref "$M3"
check "the error says to upgrade" grep -q "upgrade Ferry" "$W/err"

echo "# crash safety: kill -9 during a push"
head -c $((400 << 20)) /dev/urandom >"$W/big.bin"
mkdir -p "$W/src2" && mv "$W/big.bin" "$W/src2/"
"$FERRY" push "$W/src2" --to "$STORE" --ref app/big --compression 19 --threads 1 --no-progress >/dev/null 2>&1 &
PID=$!
# Kill it once its first chunks are published (at least every second), not after a fixed time.
published() { find "$STORE/chunks" -type f ! -name '.ferry-tmp-*' | wc -l; }
BEFORE=$(published)
for _ in $(seq 1 300); do
  [ "$(published)" -gt "$BEFORE" ] && break
  sleep 0.1
done
kill -9 $PID 2>/dev/null
wait $PID 2>/dev/null
check "the killed push moved no ref" test ! -e "$STORE/refs/app%2Fbig"
expect_exit "the store still verifies after the crash" 0 "$FERRY" verify --store "$STORE" --all
expect_exit "the re-run completes" 0 "$FERRY" push "$W/src2" --to "$STORE" --ref app/big --compression 1 --json
check "the re-run reused chunks stored before the crash" test "$(json .bytes_deduplicated)" -gt 0
expect_exit "and what it stored verifies" 0 "$FERRY" verify --store "$STORE" --ref app/big
find "$STORE" -name '.ferry-tmp-*' -delete

echo "# bad input gets a clear error and a documented exit code"
expect_exit "no arguments is a usage error" 2 "$FERRY"
expect_exit "unknown option is a usage error" 2 "$FERRY" push "$SRC" --to "$STORE" --bogus
expect_exit "bad --tag is a usage error" 2 "$FERRY" push "$SRC" --to "$STORE" --tag novalue
expect_exit "bad ref name is a usage error" 2 "$FERRY" push "$SRC" --to "$STORE" --ref ../escape
expect_exit "verify needs --ref or --all" 2 "$FERRY" verify --store "$STORE"
expect_exit "verify of a missing store" 4 "$FERRY" verify --store "$W/nowhere" --all
expect_exit "push into a non-empty directory that is not a store" 4 "$FERRY" push "$SRC" --to "$SRC/lib"
check "  ... names the fix" grep -q "choose a new or empty directory" "$W/err"
expect_exit "restore of an unknown ref" 7 "$FERRY" restore app/nothing --from "$STORE" --to "$W/r4"
expect_exit "push of a missing source" 3 "$FERRY" push "$W/no-such-build" --to "$STORE"
# An unreadable file, as an unprivileged user (root reads everything).
mkdir -p "$W/unreadable/src" "$W/unreadable/store"
echo fine >"$W/unreadable/src/ok.txt"
echo hidden >"$W/unreadable/src/locked.bin"
chmod 000 "$W/unreadable/src/locked.bin"
chmod 777 "$W/unreadable/store"
chmod 755 "$W" "$W/unreadable" "$W/unreadable/src"
expect_exit "an unreadable source file fails the push" 3 setpriv --reuid=65534 --regid=65534 --clear-groups "$FERRY" push "$W/unreadable/src" --to "$W/unreadable/store" --ref app/main
check "  ... names the file" grep -q "locked.bin" "$W/err"
check "  ... and records nothing" test -z "$(ls "$W/unreadable/store/manifests" 2>/dev/null)" -a ! -e "$W/unreadable/store/refs/app%2Fmain"

echo "# restore never writes outside its target"
mkdir -p "$W/victim" "$W/target"
ln -s "$W/victim" "$W/target/bin"
expect_exit "restore through a symlink in the target is refused" 9 "$FERRY" restore app/main --from "$STORE" --to "$W/target"
check "  ... and nothing was written through it" test -z "$(ls -A "$W/victim")"
check "  ... the error says why" grep -q "symlink" "$W/err"

echo "# stat cache: files untouched since the last push are not read"
SC=$W/sc
mkdir -p "$SC/src"
head -c $((3 << 20)) /dev/urandom >"$SC/src/a.bin"
head -c $((2 << 20)) /dev/urandom >"$SC/src/b.bin"
echo config >"$SC/src/c.txt"
expect_exit "push a fresh tree" 0 "$FERRY" push "$SC/src" --to "$SC/store" --ref sc/main --json
check "  ... files written just now are read (racily clean)" test "$(json .files_cached)" = 0
sleep 2.2  # older than the 2 s racy margin now
expect_exit "push it again" 0 "$FERRY" push "$SC/src" --to "$SC/store" --ref sc/main --json
check "  ... reads every file once more (the first push could not trust them)" test "$(json .files_cached)" = 0 -a "$(json .bytes_read)" -gt $((5 << 20))
expect_exit "push it a third time" 0 "$FERRY" push "$SC/src" --to "$SC/store" --ref sc/main --json
check "  ... reads nothing: 3 files from the stat cache" test "$(json .files_cached)" = 3 -a "$(json .bytes_read)" = 0 -a "$(json .bytes_cached)" -gt $((5 << 20))
check "  ... says so" grep -q "not read: 3 files" "$W/err"
# Other bytes with the old size and mtime, as a CI cache restore or touch -r leaves them.
cp -p "$SC/src/a.bin" "$SC/a.orig"
printf 'XXXX' | dd of="$SC/src/a.bin" bs=1 seek=1000 conv=notrunc status=none
touch -r "$SC/a.orig" "$SC/src/a.bin"
expect_exit "push after an edit that kept size and mtime" 0 "$FERRY" push "$SC/src" --to "$SC/store" --ref sc/main --json
check "  ... the edited file is read (its ctime changed)" test "$(json .files_cached)" = 2 -a "$(json .bytes_read)" = $((3 << 20))
expect_exit "  ... and restores with the new bytes" 0 "$FERRY" restore sc/main --from "$SC/store" --to "$SC/out"
check "  ... byte-identical" cmp -s "$SC/src/a.bin" "$SC/out/a.bin"
expect_exit "push --rehash" 0 "$FERRY" push "$SC/src" --to "$SC/store" --ref sc/main --rehash --json
check "  ... reads every file" test "$(json .files_cached)" = 0 -a "$(json .bytes_read)" -gt $((5 << 20))
# c.txt (and a tail under 256 KiB) are small chunks: they live in one pack.
PACK=$(find "$SC/store/packs" -type f ! -name '.ferry-tmp-*')
check "  ... the small chunks are in one pack" test "$(echo "$PACK" | wc -l)" = 1
rm "$PACK"
expect_exit "push after a pack was lost from the store" 0 "$FERRY" push "$SC/src" --to "$SC/store" --ref sc/main --json
check "  ... the files that need it are read, their chunks packed again" test "$(json .files_cached)" -lt 3 -a "$(json .chunks_new)" -ge 1 -a "$(json .packs_written)" = 1
expect_exit "  ... and the store verifies" 0 "$FERRY" verify --store "$SC/store" --all

echo "# many small files go into packs"
PK=$W/pk
mkdir -p "$PK/src"
for i in $(seq 1 2000); do printf 'artifact %d %s\n' "$i" "$(head -c 600 /dev/urandom | base64 -w0)" >"$PK/src/f$i.txt"; done
expect_exit "push 2,000 small files" 0 "$FERRY" push "$PK/src" --to "$PK/store" --ref pk/main --json
check "  ... into one pack and its index, not 2,000 objects" test "$(json .packs_written)" = 1 -a "$(json .chunks_new)" = 2000 -a "$(find "$PK/store/packs" "$PK/store/index" -type f | wc -l)" = 2 -a ! -e "$PK/store/chunks"
check "  ... the store is marked format 3" test "$(cat "$PK/store/FERRY-STORE")" = "ferry store format 3"
expect_exit "  ... restore" 0 "$FERRY" restore pk/main --from "$PK/store" --to "$PK/out"
check "  ... byte-identical" diff -r "$PK/src" "$PK/out"
expect_exit "verify --quick" 0 "$FERRY" verify --store "$PK/store" --all --quick
PACK=$(find "$PK/store/packs" -type f)
printf 'XX' | dd of="$PACK" bs=1 seek=10 conv=notrunc status=none  # inside the first blob
expect_exit "verify finds a damaged blob in the pack" 5 "$FERRY" verify --store "$PK/store" --all --json
check "  ... one chunk, of one file, set aside; the pack is kept" test "$(json '.chunk_problems | length')" = 1 -a "$(json '.chunk_problems[0].files | length')" = 1 -a "$(json '.chunk_problems[0].moved_aside')" = true -a -e "$PACK" -a "$(find "$PK/store/damaged" -type f | wc -l)" = 1
expect_exit "push repairs it" 0 "$FERRY" push "$PK/src" --to "$PK/store" --ref pk/main --json
check "  ... storing that chunk again, in a new pack" test "$(json .chunks_new)" = 1 -a "$(json .packs_written)" = 1
expect_exit "  ... and the store verifies" 0 "$FERRY" verify --store "$PK/store" --all
expect_exit "a --pack-size that is not a size" 2 "$FERRY" push "$PK/src" --to "$PK/store" --pack-size lots
check "  ... names the option" grep -q -- "--pack-size" "$W/err"

echo "# memory stays within the budget"
mkdir -p "$W/small"
for d in $(seq 1 20); do mkdir -p "$W/small/d$d"; for f in $(seq 1 250); do echo "$d/$f" >"$W/small/d$d/f$f"; done; done
expect_exit "5000 small files with a 64 MiB budget" 0 /usr/bin/time -f "%M" -o "$W/rss" "$FERRY" push "$W/small" --to "$W/dr-small" --memory 64 --json
check "  ... every file recorded" test "$(json .files)" = 5000
check "  ... peak RSS under 64 MiB + 24 MiB for the program ($(tail -1 "$W/rss") KiB)" test "$(tail -1 "$W/rss")" -lt $(((64 + 24) * 1024))
expect_exit "a 400 MiB file with a 32 MiB budget" 0 /usr/bin/time -f "%M" -o "$W/rss" "$FERRY" push "$W/src2" --to "$W/dr-small" --memory 32 --compression 0 --json
check "  ... peak RSS under 32 MiB + 24 MiB ($(tail -1 "$W/rss") KiB)" test "$(tail -1 "$W/rss")" -lt $(((32 + 24) * 1024))

echo "# progress in a CI log (stderr not a terminal): a line every --progress-every seconds"
mkdir -p "$W/prog"
head -c $((24 << 20)) /dev/urandom >"$W/prog/a.bin"
expect_exit "push --progress lines" 0 "$FERRY" push "$W/prog" --to "$W/prog-store" --ref p/q --compression 19 --progress lines --progress-every 0.2
check "  ... prints lines with done, total, percent and rate" grep -Eq "push: [0-9.]+ [KMG]?i?B of 24.0 MiB \([0-9]+%\), .*/s" "$W/err"
expect_exit "push -q prints no progress" 0 "$FERRY" -q push "$W/prog" --to "$W/prog-store" --ref p/q --rehash --compression 19 --progress lines --progress-every 0.2
check "  ... none" test ! -s "$W/err"
expect_exit "--progress with a bad mode is a usage error" 2 "$FERRY" --progress sometimes verify --store "$W/prog-store" --all

echo "# --exclude / --include / --exclude-from (docs/filters.md)"
mkdir -p "$W/flt/dist/js" "$W/flt/node_modules/pad" "$W/flt/debug"
for f in dist/app.tar.gz dist/js/app.js dist/js/app.js.map node_modules/pad/index.js debug/app.tar.gz README; do echo "$f" >"$W/flt/$f"; done
printf '# comments and blank lines are skipped\n\n*.map\n' >"$W/flt-excludes"
expect_exit "push with filters" 0 "$FERRY" push "$W/flt" --to "$W/flt-store" --ref f/main --exclude node_modules/ --exclude-from "$W/flt-excludes" --exclude '/debug' --include 'debug/*.tar.gz' --json
check "  ... counts what was filtered out" test "$(json .filtered)" -ge 3
expect_exit "  ... restore" 0 "$FERRY" restore f/main --from "$W/flt-store" --to "$W/flt-r"
check "  ... holds what the rules keep" test -e "$W/flt-r/dist/js/app.js" -a -e "$W/flt-r/dist/app.tar.gz" -a -e "$W/flt-r/README" -a -e "$W/flt-r/debug/app.tar.gz"
check "  ... and not what they leave out" test ! -e "$W/flt-r/dist/js/app.js.map" -a ! -e "$W/flt-r/node_modules"
expect_exit "filters that leave nothing are refused" 3 "$FERRY" push "$W/flt" --to "$W/flt-store" --ref f/main --exclude '*'
check "  ... saying so" grep -q "left no file to push" "$W/err"
expect_exit "an unreadable --exclude-from is a usage error" 2 "$FERRY" push "$W/flt" --to "$W/flt-store" --exclude-from "$W/no-such-file"

echo "# push --dry-run: what would be stored, and nothing written"
mkdir -p "$W/dry/lib"
head -c $((3 << 20)) /dev/urandom >"$W/dry/app.bin"
echo v1 >"$W/dry/lib/conf.txt"
expect_exit "dry run into a store that does not exist" 0 "$FERRY" push "$W/dry" --to "$W/dry-store" --ref d/main --dry-run --json
check "  ... says every file would be stored" test "$(json '[.destinations[0].planned[] | select(.action == "store")] | length')" = 2 -a "$(json .bytes_new)" = $(((3 << 20) + 3)) -a "$(json .dry_run)" = true -a "$(json .manifest)" = null
check "  ... and creates no store" test ! -e "$W/dry-store"
expect_exit "push for real" 0 "$FERRY" push "$W/dry" --to "$W/dry-store" --ref d/main
cp "$W/dry/app.bin" "$W/dry/app-copy.bin"
echo v2 >"$W/dry/lib/conf.txt"
snapshot() { (cd "$W" && find dry-store cache -type f -print0 | sort -z | xargs -0 md5sum); }
snapshot >"$W/dry-before"
expect_exit "dry run after changes" 0 "$FERRY" push "$W/dry" --to "$W/dry-store" --ref d/main -n
check "  ... lists the changed file, not the copy (its chunks are stored)" test "$(grep -c '^(dry run) store: ' "$W/out")" = 1 -a "$(grep -c 'lib/conf.txt' "$W/out")" = 1
check "  ... and says nothing was written" grep -q "nothing was written" "$W/out"
expect_exit "  ... --json" 0 "$FERRY" push "$W/dry" --to "$W/dry-store" --ref d/main -n --json
check "  ... the copy needs no new chunk" test "$(json '.destinations[0].planned[] | select(.path == "app-copy.bin") | .action')" = deduplicated -a "$(json .bytes_new)" = 3
dry_new=$(json .chunks_new)
snapshot >"$W/dry-after"
check "  ... the store and the stat cache are as they were (no chunk, manifest, ref or cache)" cmp -s "$W/dry-before" "$W/dry-after"
expect_exit "the real push" 0 "$FERRY" push "$W/dry" --to "$W/dry-store" --ref d/main --json
check "  ... stores what the dry run said" test "$(json .chunks_new)" = "$dry_new" -a "$(json .bytes_new)" = 3
expect_exit "a dry run into a non-empty directory that is not a store is refused like a push" 4 "$FERRY" push "$W/dry" --to "$W/dry" -n

echo "# prune --dry-run: what a retention policy keeps and drops (dropping is not built yet)"
PT=$W/prune-src
mkdir -p "$PT"
for i in 1 2 3 4 5; do
  echo "build $i" >"$PT/app.txt"
  tag=()
  [ "$i" = 2 ] && tag=(--tag release=1.0.0)
  "$FERRY" push "$PT" --to "$W/prune-store" --ref app/nightly "${tag[@]}" -q || echo "push $i failed"
done
expect_exit "prune --dry-run --keep-last 2 --keep-tag release" 0 \
  "$FERRY" prune --store "$W/prune-store" --keep-last 2 --keep-tag release --dry-run --json
check "  ... keeps 3 of 5 (the 2 newest, the release), drops 2" test "$(json '"\(.kept) \(.dropped)"')" = "3 2"
check "  ... says why each is kept" test "$(json '[.refs[0].builds[] | .reasons | join("+")] | join(",")')" = "ref head+last 1,last 2,,tag release=*,"
check "  ... and drops the oldest" test "$(json '.refs[0].builds[4].action')" = drop
"$FERRY" log app/nightly --store "$W/prune-store" --json >"$W/log-after.json"
check "  ... and changes nothing (5 builds still in the log)" test "$(jq '.builds | length' "$W/log-after.json")" = 5
expect_exit "prune without --dry-run is refused: it cannot drop builds yet" 2 \
  "$FERRY" prune --store "$W/prune-store" --keep-last 2
check "  ... saying so and naming the design" grep -q "prune deletes nothing yet.*docs/gc.md.*--dry-run" "$W/err"
expect_exit "prune without a policy is refused" 2 "$FERRY" prune --store "$W/prune-store" --dry-run
check "  ... naming the options" grep -q -- "prune needs a policy: --keep-last" "$W/err"
expect_exit "a bad --keep-within is a usage error" 2 "$FERRY" prune --store "$W/prune-store" --keep-within soon --dry-run
expect_exit "an unknown ref" 7 "$FERRY" prune --store "$W/prune-store" --ref no/such --keep-last 1 --dry-run

echo "# push --merge: matrix jobs into one build (local store)"
mkdir -p "$W/mx/linux/bin" "$W/mx/mac/bin"
echo linux >"$W/mx/linux/bin/app"
echo mac >"$W/mx/mac/bin/app-mac"
echo "v1" >"$W/mx/linux/VERSION"
expect_exit "the linux job, --merge onto a new ref" 0 "$FERRY" push "$W/mx/linux" --to "$W/mx-store" --ref rel/1 --merge --json
check "  ... merged onto nothing, the build holds its 2 files" test "$(json .merged_onto)" = null -a "$(json .build_files)" = 2
LINUX_BUILD=$(json .manifest)
expect_exit "the mac job, --merge" 0 "$FERRY" push "$W/mx/mac" --to "$W/mx-store" --ref rel/1 --merge --json
check "  ... merged onto the linux build, which is its parent" test "$(json .merged_onto)" = "$LINUX_BUILD" -a "$(json .parent)" = "$LINUX_BUILD"
check "  ... the build holds 3 files; this push read 1" test "$(json .build_files)" = 3 -a "$(json .files)" = 1
expect_exit "  ... the ref restores both jobs' files" 0 "$FERRY" restore rel/1 --from "$W/mx-store" --to "$W/mx-out"
check "  ... byte-identical" bash -c "cmp -s $W/mx/linux/bin/app $W/mx-out/bin/app && cmp -s $W/mx/mac/bin/app-mac $W/mx-out/bin/app-mac && cmp -s $W/mx/linux/VERSION $W/mx-out/VERSION"
echo "v2" >"$W/mx/mac/VERSION"
expect_exit "a later job's file replaces the one at its path" 0 "$FERRY" push "$W/mx/mac" --to "$W/mx-store" --ref rel/1 --merge
expect_exit "  ... restore" 0 "$FERRY" restore rel/1 --from "$W/mx-store" --to "$W/mx-out2"
check "  ... VERSION is v2, bin/app still there" bash -c "test \"\$(cat $W/mx-out2/VERSION)\" = v2 && test -f $W/mx-out2/bin/app"
expect_exit "  ... and verifies" 0 "$FERRY" verify --store "$W/mx-store" --ref rel/1
expect_exit "--merge without --ref" 2 "$FERRY" push "$W/mx/mac" --to "$W/mx-store" --merge
check "  ... says to give --ref" grep -q "give --ref" "$W/err"
expect_exit "--merge --delete" 2 "$FERRY" push "$W/mx/mac" --to "$W/mx-store" --ref rel/1 --merge --delete

echo "# CI reports: GitHub step summary and JUnit XML"
export GITHUB_STEP_SUMMARY=$W/step-summary.md
expect_exit "push --junit with a step summary" 0 "$FERRY" push "$W/flt" --to "$W/ci-store" --ref ci/main --junit "$W/push.xml"
check "  ... the summary names the command, its status and the ref" grep -q "### ferry push: ok" "$GITHUB_STEP_SUMMARY"
check "  ... the JUnit file has one passing case" python3 -c "import sys, xml.dom.minidom as m; d = m.parse(sys.argv[1]); t = d.getElementsByTagName('testsuite')[0]; sys.exit(not (t.getAttribute('tests') == '1' and t.getAttribute('failures') == '0'))" "$W/push.xml"
chunk=$(find "$W/ci-store/packs" -type f | head -1)
printf 'x' | dd of="$chunk" bs=1 seek=5 conv=notrunc status=none  # inside a blob
expect_exit "verify of a damaged store --junit" 5 "$FERRY" verify --store "$W/ci-store" --all --junit "$W/verify.xml"
check "  ... the JUnit case fails, naming the chunk" python3 -c "import sys, xml.dom.minidom as m; d = m.parse(sys.argv[1]); f = d.getElementsByTagName('failure'); sys.exit(not (f and 'corrupt' in f[0].firstChild.data))" "$W/verify.xml"
check "  ... the summary lists the problem" grep -q "is corrupt" "$GITHUB_STEP_SUMMARY"
unset GITHUB_STEP_SUMMARY

finish e2e
