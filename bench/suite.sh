#!/usr/bin/env bash
# Ferry against restic, borg and rclone on the same data, in one run, one table.
#
#   bench/suite.sh [--smoke] [--data DIR] [--json FILE]
#
# Data: DIR/v1 .. DIR/vN are successive builds. Default: the shared npm corpus
# (~/.cache/ferry-corpus, six releases of five packages) if cached; otherwise,
# and always with --smoke, builds made by bench/make-builds.sh (small edits
# inside binaries, byte-shifting insertions, renames, many small files).
# Scenarios:
#   1. ingest v1..vN into a local repository: wall, CPU-s/GB, stored bytes
#   2. no-change re-push of vN
#   4. deep verify of everything stored
#   5. restore of vN
# (3, the S3 upload, is bench/upload_bench.sh.) Every peer runs on the same
# data in the same run; ratios are peer / Ferry. No assertion: it measures.
set -euo pipefail
cd "$(dirname "$0")/.."
SMOKE=0
DATA=""
JSON_OUT=bench-results.json
while [ $# -gt 0 ]; do
  case $1 in
    --smoke) SMOKE=1 ;;
    --data) DATA=$2; shift ;;
    --json) JSON_OUT=$2; shift ;;
    *) echo "usage: bench/suite.sh [--smoke] [--data DIR] [--json FILE]" >&2; exit 2 ;;
  esac
  shift
done

for p in restic borgbackup rclone bc; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1 ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >/dev/null; }
  }
done
[ -x build/ferry ] || bash tools/setup.sh

W=$(mktemp -d "${TMPDIR:-/tmp}/ferry-suite-XXXXXX")
trap 'rm -rf "$W"' EXIT
if [ -z "$DATA" ]; then
  if [ "$SMOKE" = 0 ] && [ -d "$HOME/.cache/ferry-corpus/v6" ]; then
    DATA=$HOME/.cache/ferry-corpus
  else
    DATA=$W/builds
    bash bench/make-builds.sh "$DATA" "$([ "$SMOKE" = 1 ] && echo 4 || echo 64)"
  fi
fi
VERSIONS=$(cd "$DATA" && ls -d v[0-9]* | sort -V)
LAST=$(echo "$VERSIONS" | tail -1)
INPUT=0
for v in $VERSIONS; do INPUT=$((INPUT + $(du -sb "$DATA/$v" | cut -f1))); done
LAST_BYTES=$(du -sb "$DATA/$LAST" | cut -f1)
for v in $VERSIONS; do find "$DATA/$v" -type f -exec cat {} + >/dev/null; done  # warm cache for all

export RESTIC_PASSWORD=bench RESTIC_CACHE_DIR=$W/restic-cache
export BORG_PASSPHRASE="" BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
export BORG_BASE_DIR=$W/borg-base
RES=$W/results
: >"$RES"
# timed SCENARIO TOOL BYTES CMD...: appends "scenario tool bytes wall cpu rss_kib"
timed() {
  local scen=$1 tool=$2 bytes=$3 wall user sys rss; shift 3
  if ! /usr/bin/time -f "%e %U %S %M" -o "$W/t" "$@" >"$W/out" 2>"$W/err"; then
    echo "bench: $tool failed in scenario $scen: $(tail -3 "$W/err")" >&2
    return 1
  fi
  read -r wall user sys rss <"$W/t"
  echo "$scen $tool $bytes $wall $(echo "$user + $sys" | bc) $rss" >>"$RES"
}
# Runs the same commands for each version, summing time into one row.
ingest() {
  local tool=$1; shift
  local wall=0 cpu=0 rss=0
  for v in $VERSIONS; do
    "$@" "$v" || return 1
    read -r _ _ _ w c r < <(tail -1 "$RES")
    sed -i '$d' "$RES"
    wall=$(echo "$wall + $w" | bc); cpu=$(echo "$cpu + $c" | bc); [ "$r" -gt "$rss" ] && rss=$r
  done
  echo "1-ingest $tool $INPUT $wall $cpu $rss" >>"$RES"
}

ferry_push() { timed x ferry 0 build/ferry push "$DATA/$1" --to "$W/ferry" --ref b/main --no-progress; }
restic_backup() { timed x restic 0 restic -r "$W/restic" backup --quiet --host bench "$DATA/$1"; }
borg_create() { timed x borg 0 borg create --compression zstd,3 "$W/borg::$1" "$DATA/$1"; }
rclone_copy() { timed x rclone 0 rclone copy "$DATA/$1" "$W/rclone/$1"; }

restic -r "$W/restic" init >/dev/null 2>&1
borg init --encryption=none "$W/borg" >/dev/null 2>&1

ingest ferry ferry_push
ingest restic restic_backup
ingest borg borg_create
ingest rclone rclone_copy
STORED_ferry=$(du -sb "$W/ferry" | cut -f1)
STORED_restic=$(du -sb "$W/restic" | cut -f1)
STORED_borg=$(du -sb "$W/borg" | cut -f1)
STORED_rclone=$(du -sb "$W/rclone" | cut -f1)

timed 2-repush ferry "$LAST_BYTES" build/ferry push "$DATA/$LAST" --to "$W/ferry" --ref b/main --no-progress
timed 2-repush restic "$LAST_BYTES" restic -r "$W/restic" backup --quiet --host bench "$DATA/$LAST"
timed 2-repush borg "$LAST_BYTES" borg create --compression zstd,3 "$W/borg::$LAST-again" "$DATA/$LAST"
timed 2-repush rclone "$LAST_BYTES" rclone copy "$DATA/$LAST" "$W/rclone/$LAST"

timed 4-verify ferry "$INPUT" build/ferry verify --store "$W/ferry" --all
timed 4-verify restic "$INPUT" restic -r "$W/restic" check --read-data
timed 4-verify borg "$INPUT" borg check --verify-data "$W/borg"

timed 5-restore ferry "$LAST_BYTES" build/ferry restore b/main --from "$W/ferry" --to "$W/r-ferry"
timed 5-restore restic "$LAST_BYTES" restic -r "$W/restic" restore latest --path "$DATA/$LAST" --target "$W/r-restic"
(cd "$W" && mkdir -p r-borg && cd r-borg && timed 5-restore borg "$LAST_BYTES" borg extract "$W/borg::$LAST")
diff -r "$DATA/$LAST" "$W/r-ferry" >/dev/null && echo "bench: ferry's restore is byte-identical to $LAST"

echo
echo "Ferry vs peers on $DATA ($(echo "$VERSIONS" | wc -l) builds, $INPUT bytes in, $(nproc) cores); ratio = peer / Ferry"
printf "%-10s %-7s %9s %9s %10s %9s %11s %10s\n" scenario tool "wall s" "MB/s" "CPU-s/GB" "RSS MiB" "wall ratio" "CPU ratio"
awk '{ key=$1; if ($2=="ferry") { fw[key]=$4; fc[key]=$5 } row[NR]=$0 }
  END { for (i=1;i<=NR;i++) { split(row[i],f," "); mbs=(f[4]>0? f[3]/f[4]/1e6 : 0); cpg=(f[3]>0? f[5]/(f[3]/1e9) : 0);
        printf "%-10s %-7s %9.2f %9.0f %10.2f %9.0f %11.2f %10.2f\n", f[1], f[2], f[4], mbs, cpg, f[6]/1024,
               (fw[f[1]]>0? f[4]/fw[f[1]] : 0), (fc[f[1]]>0? f[5]/fc[f[1]] : 0) } }' "$RES"
printf "\n%-8s %14s %12s\n" tool "stored bytes" "input/stored"
for t in ferry restic borg rclone; do
  s=STORED_$t
  printf "%-8s %14d %12.3f\n" "$t" "${!s}" "$(echo "scale=3; $INPUT / ${!s}" | bc)"
done
{
  printf '{"data":"%s","input_bytes":%s,"results":[' "$DATA" "$INPUT"
  awk '{ printf "%s{\"scenario\":\"%s\",\"tool\":\"%s\",\"bytes\":%s,\"wall_s\":%s,\"cpu_s\":%s,\"peak_rss_kib\":%s}", (NR>1?",":""), $1,$2,$3,$4,$5,$6 }' "$RES"
  printf '],"stored_bytes":{"ferry":%s,"restic":%s,"borg":%s,"rclone":%s}}\n' "$STORED_ferry" "$STORED_restic" "$STORED_borg" "$STORED_rclone"
} >"$JSON_OUT"
echo "JSON: $JSON_OUT"
