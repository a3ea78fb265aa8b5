#!/usr/bin/env bash
# Installs Ferry's dependencies from Debian's apt (only what is missing) and
# builds build/ferry. Safe to run again. docs/dependencies.md says why each
# package is here.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(
  g++ cmake ninja-build pkg-config        # toolchain
  liburing-dev                            # io_uring reads
  libssl-dev                              # SHA-256 (OpenSSL EVP)
  libxxhash-dev                           # XXH3-128
  libzstd-dev                             # chunk compression
  libcurl4-openssl-dev                    # S3 transport (HTTP)
  libpugixml-dev                          # S3 XML responses
  libcli11-dev                            # command-line parsing
  nlohmann-json3-dev                      # JSON reports
  libgtest-dev libgmock-dev               # unit tests
  libbenchmark-dev                        # micro-benchmarks (Google Benchmark)
  libisal-dev                             # CRC-64 in the micro-benchmarks (ISA-L)
  libsqlite3-dev                          # the daemon's journal
  libcpp-httplib-dev                      # the daemon's /health and /metrics
  prometheus-cpp-dev                      # the daemon's metrics (registry, text format)
  libtomlplusplus-dev                     # the daemon's configuration file
  librabbitmq-dev                         # the daemon's bucket notifications (RabbitMQ, AMQP 0-9-1)
  jq time util-linux                      # end-to-end tests: JSON checks, peak RSS, setpriv
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

BUILD_TYPE=${FERRY_BUILD_TYPE:-Release}
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" >/dev/null
cmake --build build
echo "setup: built $(pwd)/build/ferry" >&2
