#!/usr/bin/env bash
# Ferry against restic, borg, casync, rclone and aws s3 on the same data, in
# one run, one table.
#
#   bench/suite.sh [--smoke] [--no-s3] [--data DIR] [--json FILE]
#
# Data: DIR/v1 .. DIR/vN are successive builds. Default: the shared npm corpus
# (~/.cache/ferry-corpus, six releases of five packages) if cached; otherwise,
# and always with --smoke, builds made by bench/make-builds.sh (small edits
# inside binaries, byte-shifting insertions, renames, many small files).
# Scenarios:
#   1. ingest v1..vN into a local repository: wall, CPU-s/GB, stored bytes
#      (Ferry at zstd-3, the default, and at zstd-1; restic; borg zstd,3; casync; rclone)
#   2. no-change re-push of vN (Ferry with its stat cache, and with --rehash)
#   3. upload of vN into Ceph RGW on 127.0.0.1 (vs aws s3 cp --recursive, rclone copy);
#      3b. vN into a new prefix with v(N-1) in the bucket already (Ferry --meta-prefix copies)
#   4. deep verify of everything stored (local), and of the upload (vs rclone check --download)
#   5. restore of vN (local), and download from RGW (vs aws s3 cp --recursive)
#   6. scale: one large file and many small files, peak RSS against --memory 256
#      (10 GiB and 100,000 files; 256 MiB and 5,000 with --smoke)
# S3 scenarios use $S3_ENDPOINT if set (tools/test.sh), else start their own
# RGW (tests/s3/start-rgw.sh) and stop it by PID; --no-s3 skips them. Every
# peer runs on the same data in the same run; ratios are peer / Ferry. No
# assertion on time: it measures.
set -euo pipefail
cd "$(dirname "$0")/.."
SMOKE=0
NO_S3=0
DATA=""
JSON_OUT=bench-results.json
while [ $# -gt 0 ]; do
  case $1 in
    --smoke) SMOKE=1 ;;
    --no-s3) NO_S3=1 ;;
    --data) DATA=$2; shift ;;
    --json) JSON_OUT=$2; shift ;;
    *) echo "usage: bench/suite.sh [--smoke] [--no-s3] [--data DIR] [--json FILE]" >&2; exit 2 ;;
  esac
  shift
done

for p in restic borgbackup casync rclone awscli bc; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1 ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >/dev/null; }
  }
done
bash tools/setup.sh >/dev/null  # installs what is missing, builds Ferry (Release)

W=$(mktemp -d "${TMPDIR:-/tmp}/ferry-suite-XXXXXX")
trap '[ -f "$W/rgw/run/radosgw.pid" ] && bash tests/s3/stop-rgw.sh "$W/rgw" --purge >/dev/null 2>&1; rm -rf "$W"' EXIT
export FERRY_CACHE_DIR=$W/ferry-cache  # Ferry's stat cache, not the user's
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
  sync  # no tool pays for another's writeback (Ferry's restore ends with syncfs)
  if ! /usr/bin/time -f "%e %U %S %M" -o "$W/t" "$@" >"$W/out" 2>"$W/err"; then
    echo "bench: $tool failed in scenario $scen: $(tail -3 "$W/err")" >&2
    return 1
  fi
  read -r wall user sys rss <"$W/t"
  echo "$scen $tool $bytes $wall $(echo "$user + $sys" | bc) $rss" >>"$RES"
}
# summed SCENARIO TOOL FN: runs FN VERSION for each version, summing time into one row.
summed() {
  local scen=$1 tool=$2 fn=$3 wall=0 cpu=0 rss=0 w c r
  for v in $VERSIONS; do
    "$fn" "$v" || return 1
    read -r _ _ _ w c r < <(tail -1 "$RES")
    sed -i '$d' "$RES"
    wall=$(echo "$wall + $w" | bc); cpu=$(echo "$cpu + $c" | bc); [ "$r" -gt "$rss" ] && rss=$r
  done
  echo "$scen $tool $INPUT $wall $cpu $rss" >>"$RES"
}

ferry_push() { timed x ferry 0 build/ferry push "$DATA/$1" --to "$W/ferry" --ref b/main --no-progress; }
ferry_push_z1() { timed x ferry-z1 0 build/ferry push "$DATA/$1" --to "$W/ferry-z1" --ref b/main --no-progress --compression 1; }
casync_make() { timed x casync 0 casync make --compression=zstd --digest=sha256 --store="$W/casync.castr" "$W/casync/$1.caidx" "$DATA/$1"; }
casync_digest() { timed x casync 0 casync digest --store="$W/casync.castr" "$W/casync/$1.caidx"; }
restic_backup() { timed x restic 0 restic -r "$W/restic" backup --quiet --host bench "$DATA/$1"; }
borg_create() { timed x borg 0 borg create --compression zstd,3 "$W/borg::$1" "$DATA/$1"; }
rclone_copy() { timed x rclone 0 rclone copy "$DATA/$1" "$W/rclone/$1"; }

restic -r "$W/restic" init >/dev/null 2>&1
borg init --encryption=none "$W/borg" >/dev/null 2>&1

mkdir -p "$W/casync"
summed 1-ingest ferry ferry_push
summed 1-ingest ferry-z1 ferry_push_z1
summed 1-ingest restic restic_backup
summed 1-ingest borg borg_create
summed 1-ingest casync casync_make
summed 1-ingest rclone rclone_copy
STORED_ferry=$(du -sb "$W/ferry" | cut -f1)
STORED_ferry_z1=$(du -sb "$W/ferry-z1" | cut -f1)
STORED_restic=$(du -sb "$W/restic" | cut -f1)
STORED_borg=$(du -sb "$W/borg" | cut -f1)
STORED_casync=$(du -sb "$W/casync.castr" "$W/casync" | awk '{ s += $1 } END { print s }')
STORED_rclone=$(du -sb "$W/rclone" | cut -f1)
sleep 2.1  # the last build is older than Ferry's racy margin (docs/stat-cache.md), as in a real re-push

timed 2-repush ferry-rehash "$LAST_BYTES" build/ferry push "$DATA/$LAST" --to "$W/ferry" --ref b/main --no-progress --rehash
timed 2-repush ferry "$LAST_BYTES" build/ferry push "$DATA/$LAST" --to "$W/ferry" --ref b/main --no-progress
timed 2-repush restic "$LAST_BYTES" restic -r "$W/restic" backup --quiet --host bench "$DATA/$LAST"
timed 2-repush borg "$LAST_BYTES" borg create --compression zstd,3 "$W/borg::$LAST-again" "$DATA/$LAST"
timed 2-repush rclone "$LAST_BYTES" rclone copy "$DATA/$LAST" "$W/rclone/$LAST"

timed 4-verify ferry "$INPUT" build/ferry verify --store "$W/ferry" --all
timed 4-verify restic "$INPUT" restic -r "$W/restic" check --read-data
timed 4-verify borg "$INPUT" borg check --verify-data "$W/borg"
summed 4-verify casync casync_digest

timed 5-restore ferry "$LAST_BYTES" build/ferry restore b/main --from "$W/ferry" --to "$W/r-ferry"
timed 5-restore restic "$LAST_BYTES" restic -r "$W/restic" restore latest --path "$DATA/$LAST" --target "$W/r-restic"
(cd "$W" && mkdir -p r-borg && cd r-borg && timed 5-restore borg "$LAST_BYTES" borg extract "$W/borg::$LAST")
timed 5-restore casync "$LAST_BYTES" casync extract --store="$W/casync.castr" "$W/casync/$LAST.caidx" "$W/r-casync"
diff -r "$DATA/$LAST" "$W/r-ferry" >/dev/null && echo "bench: ferry's restore is byte-identical to $LAST"

if [ "$NO_S3" = 0 ]; then
  if [ -z "${S3_ENDPOINT:-}" ]; then
    bash tests/s3/start-rgw.sh $((20000 + RANDOM % 20000)) "$W/rgw" >/dev/null
    # shellcheck disable=SC1091
    . "$W/rgw/s3.env"
  fi
  export AWS_ENDPOINT_URL=$S3_ENDPOINT AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
  AWS=(/usr/bin/aws --endpoint-url "$S3_ENDPOINT")
  B=bench-$RANDOM$RANDOM
  # Smoke: only the large files (thousands of small GETs take a minute on a 2-core RGW).
  S3SRC=$DATA/$LAST
  [ "$SMOKE" = 1 ] && S3SRC=$DATA/$LAST/bin
  S3BYTES=$(du -sb "$S3SRC" | cut -f1)
  "${AWS[@]}" s3 mb "s3://$B" >/dev/null
  export RCLONE_CONFIG_RGW_TYPE=s3 RCLONE_CONFIG_RGW_PROVIDER=Ceph RCLONE_CONFIG_RGW_ENDPOINT=$S3_ENDPOINT \
    RCLONE_CONFIG_RGW_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID RCLONE_CONFIG_RGW_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
  env -u AWS_CA_BUNDLE rclone copy "$S3SRC" "rgw:$B/warmup/" >/dev/null 2>&1  # a fresh RGW is slow at first
  timed 3-upload ferry "$S3BYTES" build/ferry push "$S3SRC" --to "s3://$B/ferry/" --ref b/main --no-progress
  timed 3-upload aws "$S3BYTES" "${AWS[@]}" s3 cp --recursive --quiet "$S3SRC" "s3://$B/aws/"
  timed 3-upload rclone "$S3BYTES" env -u AWS_CA_BUNDLE rclone copy "$S3SRC" "rgw:$B/rclone/"
  # 3b. the same build into a new prefix of its own, the build before it already in the bucket:
  # Ferry copies what the earlier prefix holds (--meta-prefix), the peers send it all.
  PREV=$(echo "$VERSIONS" | tail -2 | head -1)
  PSRC=$DATA/$PREV
  [ "$SMOKE" = 1 ] && PSRC=$DATA/$PREV/bin
  build/ferry --meta-prefix rel-meta/ push "$PSRC" --to "s3://$B/rel/$PREV/" --ref rel/main --no-progress >/dev/null 2>&1
  timed 3b-newprefix ferry "$S3BYTES" build/ferry --meta-prefix rel-meta/ push "$S3SRC" --to "s3://$B/rel/$LAST/" --ref rel/main --no-progress
  timed 3b-newprefix aws "$S3BYTES" "${AWS[@]}" s3 cp --recursive --quiet "$S3SRC" "s3://$B/aws-rel/$LAST/"
  timed 3b-newprefix rclone "$S3BYTES" env -u AWS_CA_BUNDLE rclone copy "$S3SRC" "rgw:$B/rclone-rel/$LAST/"
  timed 4-s3verify ferry "$S3BYTES" build/ferry verify --store "s3://$B/ferry/" --ref b/main
  timed 4-s3verify rclone "$S3BYTES" env -u AWS_CA_BUNDLE rclone check --download "$S3SRC" "rgw:$B/rclone/"
  timed 5-s3restore ferry "$S3BYTES" build/ferry restore b/main --from "s3://$B/ferry/" --to "$W/r3-ferry"
  timed 5-s3restore aws "$S3BYTES" "${AWS[@]}" s3 cp --recursive --quiet "s3://$B/aws/" "$W/r3-aws"
  timed 5-s3restore rclone "$S3BYTES" env -u AWS_CA_BUNDLE rclone copy "rgw:$B/rclone/" "$W/r3-rclone"
  diff -r "$S3SRC" "$W/r3-ferry" >/dev/null && diff -r "$S3SRC" "$W/r3-aws" >/dev/null &&
    echo "bench: the S3 downloads of ferry and aws are byte-identical to the source"
  "${AWS[@]}" s3 rb --force "s3://$B" >/dev/null 2>&1 || true
fi

# 6. scale: memory stays within --memory, whatever the shape of the input.
BIG=$([ "$SMOKE" = 1 ] && echo $((256 << 20)) || echo $((10 << 30)))
SMALL=$([ "$SMOKE" = 1 ] && echo 5000 || echo 100000)
mkdir -p "$W/scale-big" "$W/scale-small"
head -c "$BIG" /dev/urandom >"$W/scale-big/big.bin"
timed 6-bigfile ferry "$BIG" build/ferry push "$W/scale-big" --to "$W/scale-store" --no-progress --memory 256
rm -rf "$W/scale-big" "$W/scale-store"
head -c $((SMALL * 1000)) /dev/urandom | (cd "$W/scale-small" && split -b 1000 -a 6 - f)
timed 6-smallfiles ferry $((SMALL * 1000)) build/ferry push "$W/scale-small" --to "$W/scale-store" --no-progress --memory 256
rm -rf "$W/scale-small" "$W/scale-store"

echo
echo "Ferry vs peers on $DATA ($(echo "$VERSIONS" | wc -l) builds, $INPUT bytes in, $(nproc) cores); ratio = peer / Ferry"
printf "%-12s %-12s %9s %9s %10s %9s %11s %10s\n" scenario tool "wall s" "MB/s" "CPU-s/GB" "RSS MiB" "wall ratio" "CPU ratio"
awk '{ key=$1; if ($2=="ferry") { fw[key]=$4; fc[key]=$5 } row[NR]=$0 }
  END { for (i=1;i<=NR;i++) { split(row[i],f," "); mbs=(f[4]>0? f[3]/f[4]/1e6 : 0); cpg=(f[3]>0? f[5]/(f[3]/1e9) : 0);
        printf "%-12s %-12s %9.2f %9.0f %10.2f %9.0f %11.2f %10.2f\n", f[1], f[2], f[4], mbs, cpg, f[6]/1024,
               (fw[f[1]]>0? f[4]/fw[f[1]] : 0), (fc[f[1]]>0? f[5]/fc[f[1]] : 0) } }' "$RES"
printf "\n%-8s %14s %12s\n" tool "stored bytes" "input/stored"
for t in ferry ferry_z1 restic borg casync rclone; do
  s=STORED_$t
  printf "%-8s %14d %12.3f\n" "${t/_/-}" "${!s}" "$(echo "scale=3; $INPUT / ${!s}" | bc)"
done
awk '$1 ~ /^6-/ { printf "scale %-12s %s bytes: peak RSS %d MiB with --memory 256\n", $1, $3, $6 / 1024 }' "$RES"
{
  printf '{"data":"%s","input_bytes":%s,"results":[' "$DATA" "$INPUT"
  awk '{ printf "%s{\"scenario\":\"%s\",\"tool\":\"%s\",\"bytes\":%s,\"wall_s\":%s,\"cpu_s\":%s,\"peak_rss_kib\":%s}", (NR>1?",":""), $1,$2,$3,$4,$5,$6 }' "$RES"
  printf '],"stored_bytes":{"ferry":%s,"ferry-z1":%s,"restic":%s,"borg":%s,"casync":%s,"rclone":%s}}\n' \
    "$STORED_ferry" "$STORED_ferry_z1" "$STORED_restic" "$STORED_borg" "$STORED_casync" "$STORED_rclone"
} >"$JSON_OUT"
echo "JSON: $JSON_OUT"
