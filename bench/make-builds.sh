#!/usr/bin/env bash
# Writes successive synthetic builds DIR/v1 .. DIR/v4 with controlled changes,
# so benchmark results do not depend on one corpus.
#   bench/make-builds.sh DIR [SIZE_MIB]   (default 64 MiB per build)
# v1: two binaries, a tarball-like blob, 2,000 small files
# v2: v1 + 4 KiB overwritten in the middle of a binary (a small edit)
# v3: v2 + 100 bytes inserted near the start of the other binary (shifts every byte after)
# v4: v3 with a renamed file and 10% of the small files rewritten
set -euo pipefail
DIR=$1
MIB=${2:-64}
mkdir -p "$DIR/v1/bin" "$DIR/v1/lib" "$DIR/v1/small"
head -c $((MIB * 1024 * 1024 * 4 / 10)) /dev/urandom >"$DIR/v1/bin/app"
head -c $((MIB * 1024 * 1024 * 3 / 10)) /dev/urandom >"$DIR/v1/bin/tool"
# A compressible blob (text), as logs and JS bundles are.
seq 1 $((MIB * 1024 * 1024 / 10 / 7)) >"$DIR/v1/lib/bundle.js"
for i in $(seq 1 2000); do head -c $((i % 700 + 100)) /dev/urandom >"$DIR/v1/small/f$i"; done
cp -a "$DIR/v1" "$DIR/v2"
printf 'Z%.0s' $(seq 1 4096) | dd of="$DIR/v2/bin/app" bs=1 seek=$((MIB * 1024 * 1024 / 10)) conv=notrunc status=none
cp -a "$DIR/v2" "$DIR/v3"
{ head -c 1000 "$DIR/v2/bin/tool"; head -c 100 /dev/urandom; tail -c +1001 "$DIR/v2/bin/tool"; } >"$DIR/v3/bin/tool"
cp -a "$DIR/v3" "$DIR/v4"
mv "$DIR/v4/lib/bundle.js" "$DIR/v4/lib/bundle.min.js"
for i in $(seq 1 10 2000); do head -c $((i % 700 + 100)) /dev/urandom >"$DIR/v4/small/f$i"; done
du -sh "$DIR"/v*
