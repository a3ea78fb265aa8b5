#!/usr/bin/env bash
# start-rgw.sh [PORT] [DATA_DIR]: Ferry's test S3 server (after the team's tested
# recipe in shared/s3-servers.md).
#
# Brings up a single-node Ceph Pacific (Debian 16.2.x) cluster -- 1 mon, 1 OSD
# (BlueStore on a sparse file, or MemStore), optional mgr -- plus a RADOS
# Gateway (beast frontend) on 127.0.0.1:PORT, creates an S3 user, waits until
# S3 answers, and prints endpoint + credentials.  No systemd needed: every
# daemon runs in the foreground (-f) in the background of this shell, and its
# PID goes to DATA_DIR/run/<daemon>.pid for stop-rgw.sh.
#
# Re-running against an existing DATA_DIR (BlueStore) restarts the daemons on
# the existing cluster (objects persist).  MemStore always starts fresh.
#
# Environment knobs (all optional):
#   ACCESS_KEY / SECRET_KEY  S3 credentials to create (defaults below)
#   OSD_BACKEND              bluestore (default) | memstore
#   OSD_SIZE_GB              size of the sparse BlueStore file / memstore cap (default 20)
#   OSD_MEMORY_TARGET        bytes, BlueStore cache budget (default 1 GiB)
#   WITH_MGR                 1 to also run ceph-mgr (default 0; not needed for S3)
#   MON_PORT                 msgr2 port of the monitor (default PORT+1)
#   PORT_RANGE_MIN/MAX       ports the OSD/mgr may bind (default PORT+2 .. PORT+40)
#   START_TIMEOUT            seconds to wait for each stage (default 120)
set -euo pipefail

PORT=${1:-${PORT:-7480}}
DATA=${2:-${DATA_DIR:-${TMPDIR:-/tmp}/ceph-rgw-data}}
ACCESS_KEY=${ACCESS_KEY:-CEPHTESTACCESSKEY001}
SECRET_KEY=${SECRET_KEY:-cephTestSecretKey0000000000000000000000001}
OSD_BACKEND=${OSD_BACKEND:-bluestore}
OSD_SIZE_GB=${OSD_SIZE_GB:-20}
OSD_MEMORY_TARGET=${OSD_MEMORY_TARGET:-1073741824}
WITH_MGR=${WITH_MGR:-0}
MON_PORT=${MON_PORT:-$((PORT + 1))}
PORT_RANGE_MIN=${PORT_RANGE_MIN:-$((PORT + 2))}
PORT_RANGE_MAX=${PORT_RANGE_MAX:-$((PORT + 40))}
START_TIMEOUT=${START_TIMEOUT:-120}
S3_USER=${S3_USER:-testuser}

log() { printf '[start-rgw %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
T0=$(date +%s.%N)

# ---------------------------------------------------------------- install ---
need_pkgs=()
command -v ceph-mon  >/dev/null || need_pkgs+=(ceph-mon)
command -v ceph-osd  >/dev/null || need_pkgs+=(ceph-osd)
command -v radosgw   >/dev/null || need_pkgs+=(radosgw)
command -v ceph      >/dev/null || need_pkgs+=(ceph-common)
command -v curl      >/dev/null || need_pkgs+=(curl)
command -v uuidgen   >/dev/null || need_pkgs+=(uuid-runtime)
[ "$WITH_MGR" = 1 ] && { command -v ceph-mgr >/dev/null || need_pkgs+=(ceph-mgr); }
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing ${need_pkgs[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${need_pkgs[@]}" >/dev/null 2>&1 || {
    apt-get update >/dev/null
    apt-get install -y --no-install-recommends "${need_pkgs[@]}" >/dev/null
  }
fi

mkdir -p "$DATA"
DATA=$(cd "$DATA" && pwd)
CONF=$DATA/ceph.conf
RUN=$DATA/run
export CEPH_CONF=$CONF
CEPH="ceph -c $CONF --connect-timeout 10"

# refuse to double-start
for d in mon.a osd.0 mgr.x rgw; do
  if [ -f "$RUN/$d.pid" ] && kill -0 "$(cat "$RUN/$d.pid")" 2>/dev/null; then
    die "$d already running (pid $(cat "$RUN/$d.pid")); run stop-rgw.sh $DATA first"
  fi
done

if [ "$OSD_BACKEND" = memstore ] && [ -f "$CONF" ]; then
  log "memstore backend: wiping previous cluster in $DATA"
  rm -rf "${DATA:?}"/{mon,osd,mgr,keys,log,run,crash,ceph.conf,env}
fi

wait_for() {  # wait_for <desc> <cmd...>  -- bounded by START_TIMEOUT
  local desc=$1; shift
  local deadline=$(( $(date +%s) + START_TIMEOUT ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || die "timed out waiting for $desc (see $DATA/log)"
    sleep 0.5
  done
}

start_daemon() {  # start_daemon <pidname> <cmd...>
  local name=$1; shift
  setsid "$@" </dev/null >>"$DATA/log/$name.stdout" 2>&1 &
  echo $! >"$RUN/$name.pid"
  log "started $name pid $!"
}

FRESH=0
if [ ! -f "$CONF" ]; then
  FRESH=1
  mkdir -p "$DATA"/{mon,osd,mgr,keys,log,run,crash}
  FSID=$(uuidgen)
  OSD_UUID=$(uuidgen)
  echo "FSID=$FSID" >"$DATA/env"; echo "OSD_UUID=$OSD_UUID" >>"$DATA/env"
  if [ "$OSD_BACKEND" = memstore ]; then
    OSD_STORE_CONF="osd objectstore = memstore
memstore device bytes = $((OSD_SIZE_GB * 1024 * 1024 * 1024))"
  else
    OSD_STORE_CONF="osd objectstore = bluestore
bluestore block create = true
bluestore block size = $((OSD_SIZE_GB * 1024 * 1024 * 1024))
osd memory target = $OSD_MEMORY_TARGET
bluestore cache autotune = true"
  fi
  cat >"$CONF" <<EOF
[global]
fsid = $FSID
mon host = [v2:127.0.0.1:$MON_PORT]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms bind ipv6 = false
ms bind port min = $PORT_RANGE_MIN
ms bind port max = $PORT_RANGE_MAX
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
run dir = $DATA/run
admin socket = $DATA/run/\$name.asok
log file = $DATA/log/\$name.log
log to stderr = false
err to stderr = true
mon cluster log file = $DATA/log/cluster.log
crash dir = $DATA/crash
keyring = $DATA/keys/\$name.keyring
# single OSD: replicate once, small PG counts, place replicas per-OSD
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon allow pool delete = true
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
osd crush chooseleaf type = 0
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
mon warn on insecure global id reclaim = false

[mon]
mon data = $DATA/mon/\$cluster-\$id
keyring = $DATA/mon/\$cluster-\$id/keyring
mon data avail warn = 2
mon data avail crit = 1

[mgr]
mgr data = $DATA/mgr/\$cluster-\$id

[osd]
osd data = $DATA/osd/\$cluster-\$id
$OSD_STORE_CONF

[client.rgw.gw]
rgw frontends = beast endpoint=127.0.0.1:$PORT
rgw thread pool size = 128
rgw enable usage log = false
# reclaim space of deleted objects after 60 s instead of 2 h
rgw gc obj min wait = 60
rgw gc processor period = 60
# RGW as an STS endpoint (AssumeRoleWithWebIdentity), for the credential tests
rgw s3 auth use sts = true
rgw sts key = ferrytestststkey
# SSE-C over plain HTTP on 127.0.0.1: an object only its customer key reads
# (the daemon tests' "poisoned object": listed, never readable)
rgw crypt require ssl = false
EOF

  # ---- keys + mon bootstrap
  ceph-authtool --create-keyring "$DATA/keys/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool --create-keyring "$DATA/keys/client.admin.keyring" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
  ceph-authtool "$DATA/keys/mon.keyring" --import-keyring "$DATA/keys/client.admin.keyring" >/dev/null
  monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT]" "$DATA/keys/monmap" >/dev/null
  ceph-mon -c "$CONF" --mkfs -i a --monmap "$DATA/keys/monmap" --keyring "$DATA/keys/mon.keyring"
fi
# shellcheck disable=SC1091
. "$DATA/env"

# ------------------------------------------------------------------- mon ---
start_daemon mon.a ceph-mon -f -c "$CONF" -i a
wait_for "monitor quorum" $CEPH mon stat
log "monitor up"

if [ "$FRESH" = 1 ]; then
  $CEPH config set mon auth_allow_insecure_global_id_reclaim false >/dev/null 2>&1 || true
  OSD_ID=$($CEPH osd new "$OSD_UUID")
  [ "$OSD_ID" = 0 ] || die "unexpected osd id $OSD_ID"
  $CEPH auth get-or-create osd.0 mon 'allow profile osd' mgr 'allow profile osd' osd 'allow *' \
    -o "$DATA/keys/osd.0.keyring"
  $CEPH auth get-or-create client.rgw.gw mon 'allow rw' osd 'allow rwx' mgr 'allow rw' \
    -o "$DATA/keys/client.rgw.gw.keyring"
  if [ "$WITH_MGR" = 1 ]; then
    $CEPH auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' mds 'allow *' \
      -o "$DATA/keys/mgr.x.keyring"
  fi
  mkdir -p "$DATA/osd/ceph-0"
  log "ceph-osd --mkfs ($OSD_BACKEND)"
  ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$OSD_UUID" >>"$DATA/log/osd-mkfs.log" 2>&1 \
    || die "osd mkfs failed, see $DATA/log/osd-mkfs.log"
fi

# ------------------------------------------------------------- mgr / osd ---
if [ "$WITH_MGR" = 1 ]; then
  [ -f "$DATA/keys/mgr.x.keyring" ] || $CEPH auth get-or-create mgr.x mon 'allow profile mgr' \
    osd 'allow *' mds 'allow *' -o "$DATA/keys/mgr.x.keyring"
  mkdir -p "$DATA/mgr/ceph-x"
  start_daemon mgr.x ceph-mgr -f -c "$CONF" -i x
fi
start_daemon osd.0 ceph-osd -f -c "$CONF" -i 0
osd_up() { $CEPH osd dump 2>/dev/null | grep -qE '^osd\.0 up +in'; }
wait_for "osd.0 up" osd_up
log "osd.0 up+in"

# ------------------------------------------------------------------- rgw ---
start_daemon rgw radosgw -f -c "$CONF" -n client.rgw.gw
wait_for "radosgw on 127.0.0.1:$PORT" curl -sf -o /dev/null "http://127.0.0.1:$PORT/"
log "radosgw answering"

if ! radosgw-admin -c "$CONF" -n client.admin user info --uid="$S3_USER" >/dev/null 2>&1; then
  radosgw-admin -c "$CONF" -n client.admin user create --uid="$S3_USER" --display-name="S3 test user" \
    --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >/dev/null
  log "created S3 user $S3_USER"
fi
# credentials actually stored (if the user pre-existed they may differ from env)
read -r ACCESS_KEY SECRET_KEY < <(radosgw-admin -c "$CONF" -n client.admin user info --uid="$S3_USER" \
  | python3 -c 'import json,sys; k=json.load(sys.stdin)["keys"][0]; print(k["access_key"], k["secret_key"])')

# authenticated probe: ListBuckets must return 200 with these keys
# (curl 7.88's --aws-sigv4 does not add x-amz-content-sha256 itself; S3 servers need it)
probe() { curl -sf -o /dev/null --aws-sigv4 "aws:amz:us-east-1:s3" --user "$ACCESS_KEY:$SECRET_KEY" \
  -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
  "http://127.0.0.1:$PORT/"; }
wait_for "authenticated S3 ListBuckets" probe

T1=$(date +%s.%N)
cat >"$DATA/s3.env" <<EOF
export S3_ENDPOINT=http://127.0.0.1:$PORT
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
export AWS_DEFAULT_REGION=us-east-1
EOF
log "ready in $(python3 -c "print(round($T1-$T0,1))") s"
cat "$DATA/s3.env"
