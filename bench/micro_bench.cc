// ferry_micro: Google Benchmark micro-benchmarks of the pieces Ferry's
// throughput is made of. bench/micro.sh runs it next to `openssl speed -evp
// sha256` and prints each result as a ratio of the machine's own SHA-256 limit.
//
//   SHA-256 (OpenSSL EVP), XXH3-128, CRC-64 (ISA-L), the FastCDC gear chunker,
//   zstd at levels 1/3/9 (on a real shared library), and reading a
//   page-cached file with pread vs io_uring at queue depths 1..64.
// Throughput is bytes_per_second; nothing is asserted.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <isa-l/crc64.h>
#include <liburing.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "crypto/hash.h"
#include "engine/chunk_codec.h"
#include "engine/chunker.h"

namespace ferry {
namespace {

std::vector<uint8_t> Random(size_t n) {
  std::vector<uint8_t> v(n);
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; i + 8 <= n; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(&v[i], &x, 8);
  }
  return v;
}

void BM_Sha256(benchmark::State& state) {
  auto buf = Random(static_cast<size_t>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(Sha256::Of(buf.data(), buf.size()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Sha256)->Arg(16 << 10)->Arg(1 << 20);

void BM_Xxh3_128(benchmark::State& state) {
  auto buf = Random(1 << 20);
  for (auto _ : state) benchmark::DoNotOptimize(Xxh3::Of(buf.data(), buf.size()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * (1 << 20));
}
BENCHMARK(BM_Xxh3_128);

// Debian 12's ISA-L (2.30) has no CRC-64/NVME (added in 2.31); crc64_ecma_refl
// is the same carry-less-multiply folding kernel with other constants.
void BM_Crc64_IsaL(benchmark::State& state) {
  auto buf = Random(1 << 20);
  for (auto _ : state) benchmark::DoNotOptimize(crc64_ecma_refl(0, buf.data(), buf.size()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * (1 << 20));
}
BENCHMARK(BM_Crc64_IsaL);

void BM_GearChunker(benchmark::State& state) {
  auto buf = Random(32 << 20);
  ChunkerParams params;
  size_t chunks = 0;
  for (auto _ : state) {
    Chunker c(params);
    size_t off = 0;
    bool cut;
    while (off < buf.size()) {
      off += c.Scan(buf.data() + off, buf.size() - off, &cut);
      chunks += cut;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * buf.size()));
  state.counters["chunks"] =
      benchmark::Counter(static_cast<double>(chunks), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_GearChunker);

// A real build artifact as input: $FERRY_MICRO_ARTIFACT, else OpenSSL's
// libcrypto (a 4+ MiB stripped shared library), repeated to 4 MiB if short.
std::string Artifact() {
  const char* env = std::getenv("FERRY_MICRO_ARTIFACT");
  std::ifstream in(env && *env ? env : "/usr/lib/x86_64-linux-gnu/libcrypto.so.3",
                   std::ios::binary);
  std::string exe((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (exe.empty()) exe = "no artifact found";
  std::string out;
  while (out.size() < (4u << 20)) out += exe;
  out.resize(4u << 20);
  return out;
}

void BM_ZstdCompress(benchmark::State& state) {
  static const std::string data = Artifact();
  ChunkEncoder enc(static_cast<int>(state.range(0)));
  std::string out;
  // One chunk at a time, 1 MiB, as the store does.
  for (auto _ : state)
    for (size_t off = 0; off < data.size(); off += 1 << 20)
      enc.Encode(reinterpret_cast<const uint8_t*>(data.data()) + off, 1 << 20, &out);
  size_t stored = 0;
  for (size_t off = 0; off < data.size(); off += 1 << 20) {
    enc.Encode(reinterpret_cast<const uint8_t*>(data.data()) + off, 1 << 20, &out);
    stored += out.size();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data.size()));
  state.counters["ratio"] = static_cast<double>(data.size()) / static_cast<double>(stored);
}
BENCHMARK(BM_ZstdCompress)->Arg(1)->Arg(3)->Arg(9);

// A 256 MiB file in the page cache (the warm-cache case the pipeline benchmark uses).
const std::string& ReadFile() {
  static const std::string path = [] {
    const char* t = std::getenv("TMPDIR");
    std::string p = std::string(t ? t : "/tmp") + "/ferry-micro-read.bin";
    auto buf = Random(1 << 20);
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    for (int i = 0; i < 256; i++) {
      buf[0] = static_cast<uint8_t>(i);
      out.write(reinterpret_cast<const char*>(buf.data()),
                static_cast<std::streamsize>(buf.size()));
    }
    return p;
  }();
  return path;
}
constexpr size_t kReadBlock = 1 << 20, kReadBlocks = 256;

void BM_ReadPread(benchmark::State& state) {
  int fd = open(ReadFile().c_str(), O_RDONLY);
  std::vector<uint8_t> buf(kReadBlock);
  for (auto _ : state)
    for (size_t b = 0; b < kReadBlocks; b++)
      if (pread(fd, buf.data(), kReadBlock, static_cast<off_t>(b * kReadBlock)) !=
          static_cast<ssize_t>(kReadBlock))
        state.SkipWithError("short read");
  close(fd);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kReadBlock * kReadBlocks));
}
BENCHMARK(BM_ReadPread)->UseRealTime();

void BM_ReadUring(benchmark::State& state) {
  const unsigned depth = static_cast<unsigned>(state.range(0));
  int fd = open(ReadFile().c_str(), O_RDONLY);
  struct io_uring ring;
  if (io_uring_queue_init(depth, &ring, 0) != 0) {
    state.SkipWithError("io_uring unavailable");
    close(fd);
    return;
  }
  std::vector<std::vector<uint8_t>> bufs(depth, std::vector<uint8_t>(kReadBlock));
  for (auto _ : state) {
    size_t next = 0, done = 0;
    unsigned inflight = 0;
    while (done < kReadBlocks) {
      while (inflight < depth && next < kReadBlocks) {
        struct io_uring_sqe* sqe = io_uring_get_sqe(&ring);
        unsigned slot = static_cast<unsigned>(next % depth);
        io_uring_prep_read(sqe, fd, bufs[slot].data(), kReadBlock, next * kReadBlock);
        next++;
        inflight++;
      }
      io_uring_submit(&ring);
      struct io_uring_cqe* cqe;
      io_uring_wait_cqe(&ring, &cqe);
      if (cqe->res != static_cast<int>(kReadBlock)) state.SkipWithError("short read");
      io_uring_cqe_seen(&ring, cqe);
      inflight--;
      done++;
    }
  }
  io_uring_queue_exit(&ring);
  close(fd);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kReadBlock * kReadBlocks));
}
BENCHMARK(BM_ReadUring)->Arg(1)->Arg(4)->Arg(16)->Arg(64)->UseRealTime();

}  // namespace
}  // namespace ferry

BENCHMARK_MAIN();
