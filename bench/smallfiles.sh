#!/usr/bin/env bash
# Many small files into a local store, side by side in one run on the same
# tree: Ferry with packs (the default), Ferry with every chunk an object of its
# own (--pack-below 0, what format 2 did), and restic; first push and the
# no-change re-push (stat cache / restic's parent snapshot) for each. Reports
# wall, CPU-seconds, peak RSS and objects in the store.
#   bash bench/smallfiles.sh [FILES] [WORKDIR]     (default 300000 files of 1-4 KiB)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-300000}
W=${2:-/tmp/ferry-smallfiles}
command -v restic >/dev/null || { apt-get install -y -qq restic >/dev/null; }
[ -x build/ferry ] || bash tools/setup.sh
rm -rf "$W" && mkdir -p "$W/src"
python3 - "$W/src" "$N" <<'EOF'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(1)
for i in range(n):
    d = os.path.join(root, "d%03d" % (i % 500))
    if i < 500: os.makedirs(d)
    with open(os.path.join(d, "f%06d" % i), "wb") as f:
        f.write(os.urandom(rnd.randint(1024, 4096)))
EOF
BYTES=$(du -sb "$W/src" | cut -f1)
find "$W/src" -type f -exec cat {} + >/dev/null  # warm the page cache for every tool
export RESTIC_PASSWORD=bench RESTIC_CACHE_DIR=$W/restic-cache
restic -r "$W/restic" init >/dev/null 2>&1
RES=$W/results
: >"$RES"
timed() {  # timed NAME CMD...: appends "name wall cpu rss_kib"
  local name=$1 wall user sys rss; shift
  sync
  /usr/bin/time -f "%e %U %S %M" -o "$W/t" "$@" >"$W/out" 2>"$W/err" || {
    echo "bench: $name failed: $(tail -3 "$W/err")" >&2; return 1; }
  read -r wall user sys rss <"$W/t"
  echo "$name $wall $(echo "$user + $sys" | bc) $rss" >>"$RES"
}
F=(build/ferry push "$W/src" --ref b/main --no-progress --memory 256 --json)
timed ferry-packs "${F[@]}" --to "$W/ferry-packs" --cache-dir "$W/cache-packs"
timed ferry-packs-repush "${F[@]}" --to "$W/ferry-packs" --cache-dir "$W/cache-packs"
timed ferry-loose "${F[@]}" --to "$W/ferry-loose" --cache-dir "$W/cache-loose" --pack-below 0
timed ferry-loose-repush "${F[@]}" --to "$W/ferry-loose" --cache-dir "$W/cache-loose" --pack-below 0
timed restic restic -r "$W/restic" backup --quiet --host bench "$W/src"
timed restic-repush restic -r "$W/restic" backup --quiet --host bench "$W/src"
timed ferry-verify build/ferry verify --store "$W/ferry-packs" --all
timed restic-check restic -r "$W/restic" check --read-data
timed ferry-restore build/ferry restore b/main --from "$W/ferry-packs" --to "$W/r-ferry"
timed restic-restore restic -r "$W/restic" restore latest --target "$W/r-restic"
diff -r "$W/src" "$W/r-ferry" >/dev/null && echo "bench: Ferry's restore is byte-identical to the source"

echo "$N files, $BYTES bytes, $(nproc) cores"
printf "%-20s %8s %8s %8s %10s\n" run "wall s" "CPU s" "RSS MiB" "vs restic"
awk '{ w[$1]=$2; row[NR]=$0 }
  END { for (i=1;i<=NR;i++) { split(row[i],f," "); peer="restic"
    if (f[1] ~ /repush/) peer="restic-repush"; else if (f[1] ~ /verify|check/) peer="restic-check"
    else if (f[1] ~ /restore/) peer="restic-restore"
    printf "%-20s %8.2f %8.2f %8.0f %10.2f\n", f[1], f[2], f[3], f[4]/1024, (w[peer]>0 ? f[2]/w[peer] : 0) } }' "$RES"
for s in ferry-packs ferry-loose restic; do
  printf "%-12s objects %8d  bytes %12d\n" "$s" "$(find "$W/$s" -type f | wc -l)" "$(du -sb "$W/$s" | cut -f1)"
done
