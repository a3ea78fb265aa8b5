#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test:
#   1. unit + end-to-end tests (ctest, Release build)
#   2. the unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer
#   3. the unit tests under ThreadSanitizer, and a 30 s libFuzzer run on the manifest decoder
#   4. the benchmarks in smoke mode (ferry_bench, micro.sh, suite.sh; so they never rot; no timing is asserted)
#   5. with a real S3 server (Ceph RGW, started here, stopped by PID): the S3 end-to-end tests
set -euo pipefail
cd "$(dirname "$0")/.."
T_START=$(date +%s)
# phase TITLE: a section of the run, with the seconds since the start.
phase() { echo "== $* [$(($(date +%s) - T_START)) s]"; }
bash tools/setup.sh
JOBS=$(nproc)
# Test-only packages: installed here, with an apt update if the lists are stale.
apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  }
}

phase "sanitizers: unit tests under ASan + UBSan"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFERRY_SANITIZE=ON -DFERRY_BENCH=OFF >/dev/null
# Only what its ctest runs (the unit tests; the end-to-end tests use the Release build).
cmake --build build-asan --target ferry_unit_tests
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j "$JOBS"

phase "ThreadSanitizer: unit tests (the pipeline is multi-threaded)"
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFERRY_BENCH=OFF \
  -DCMAKE_CXX_FLAGS=-fsanitize=thread -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread >/dev/null
cmake --build build-tsan --target ferry_unit_tests
TSAN_OPTIONS=halt_on_error=1 build-tsan/ferry_unit_tests --gtest_brief=1

phase "fuzzing the manifest decoder (libFuzzer + ASan + UBSan, 30 s)"
apt_install clang-14 libclang-rt-14-dev
bash tests/fuzz/run.sh 30

phase "benchmark smoke runs (no timing is asserted)"
build/ferry_bench --smoke
bash bench/micro.sh --smoke --json "$(mktemp -d)/micro-smoke.json"

phase "S3 test server: Ceph RADOS Gateway on 127.0.0.1 (stopped by PID on exit)"
apt_install awscli ceph-mon ceph-osd radosgw ceph-common uuid-runtime curl python3 openssl
RGW_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ferry-rgw-XXXXXX")
RGW_PORT=$((20000 + RANDOM % 20000))
RMQ_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ferry-rabbitmq-XXXXXX")
trap 'bash tests/broker/stop-rabbitmq.sh "$RMQ_DIR" >/dev/null 2>&1; bash tests/s3/stop-rgw.sh "$RGW_DIR" --purge >/dev/null' EXIT
bash tests/s3/start-rgw.sh "$RGW_PORT" "$RGW_DIR" >/dev/null
# shellcheck disable=SC1091
. "$RGW_DIR/s3.env"
export S3_ENDPOINT AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_DEFAULT_REGION
export RGW_CONF=$RGW_DIR/ceph.conf  # for tests that administer the server (quotas)

phase "RabbitMQ on 127.0.0.1 (stopped by PID on exit), fed by RGW bucket notifications"
apt_install rabbitmq-server amqp-tools
RMQ_PORT=$((20000 + RANDOM % 20000))
# Not in the ports the gateway's cluster may bind (PORT .. PORT+40).
[ "$RMQ_PORT" -ge "$RGW_PORT" ] && [ "$RMQ_PORT" -le $((RGW_PORT + 40)) ] && RMQ_PORT=$((RGW_PORT + 41))
bash tests/broker/start-rabbitmq.sh "$RMQ_PORT" "$RMQ_DIR" >/dev/null
# shellcheck disable=SC1091
. "$RMQ_DIR/amqp.env"
export AMQP_URL RMQ_DIR

# RGW 16.2.15 segfaults now and then under parallel load (seen in a
# msgr-worker thread, in rgw::amqp::Manager::run and in beast's HTTP parsing:
# ../shared/s3-servers.md, docs/performance.md). A gateway that died is named,
# with its last words, and restarted on the same data; what was running when
# it died runs once more. A failure with the gateway alive is Ferry's.
rgw_alive() { kill -0 "$(cat "$RGW_DIR/run/rgw.pid" 2>/dev/null)" 2>/dev/null; }
rgw_restart() {
  echo "!! the S3 test server (radosgw) died during $1: $(grep -A1 'Caught signal' "$RGW_DIR/log/rgw.stdout" 2>/dev/null | tail -2 | tr -s ' \n' ' ')"
  echo "!! restarting it on the same data; running $1 once more"
  bash tests/s3/stop-rgw.sh "$RGW_DIR" >/dev/null 2>&1 || true
  bash tests/s3/start-rgw.sh "$RGW_PORT" "$RGW_DIR" >/dev/null
}
# with_rgw NAME CMD...: CMD, and once more if it failed because the gateway died.
with_rgw() {
  local name=$1 rc=0
  shift
  "$@" || rc=$?
  [ "$rc" = 0 ] && return 0
  sleep 2  # a gateway that crashed takes a moment to write its backtrace and exit
  rgw_alive && return "$rc"
  rgw_restart "$name"
  "$@"
}

phase "benchmark suite smoke run (peers on the same data, S3 scenarios on this RGW; no timing is asserted)"
with_rgw "the benchmark suite" bash bench/suite.sh --smoke --json "$(mktemp -d)/bench-smoke.json"
phase "daemon RPO bench, smoke run (ferry daemon vs an aws s3 sync loop on RGW; no timing is asserted)"
with_rgw "the RPO bench" bash bench/daemon_rpo.sh --smoke --json "$(mktemp -d)/rpo-smoke.json"
with_rgw "the bucket RPO bench" bash bench/daemon_rpo.sh --smoke --source bucket --json "$(mktemp -d)/rpo-bucket-smoke.json"

phase "unit + end-to-end tests (local store and S3)"
# Two at a time: the end-to-end tests mostly wait on RGW, RabbitMQ and their
# own sleeps (serial: about 11 minutes here; -j2: under 5); each uses its own
# buckets, queues, ports and directories.
# RGW 16.2.15 segfaults now and then under the broker test (thread
# msgr-worker-2, docs/performance.md); a failure is a test's only if RGW is
# still alive. It died twice in one run once (2026-12-04): up to two reruns.
if ! ctest --test-dir build --output-on-failure -j "$JOBS"; then
  for rerun in 1 2; do
    sleep 2
    rgw_alive && exit 1
    rgw_restart "the tests that failed"
    ctest --test-dir build --output-on-failure --rerun-failed && break
    [ "$rerun" = 2 ] && exit 1
  done
fi
phase "every test passed"
