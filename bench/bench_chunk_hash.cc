// ferry_bench: chunk+hash throughput of Ferry's pipeline next to the
// machine's own limits, measured in the same run.
//
//   ferry_bench [DIR] [--json FILE] [--smoke] [--io auto|uring|pread]
//
// Without DIR it writes a synthetic file of random bytes (1 GiB; 64 MiB with
// --smoke) under $TMPDIR. Reports: SHA-256 (OpenSSL EVP, 16 KiB blocks like
// `openssl speed`) on 1 and on all cores, the gear chunker and XXH3-128 on
// one core, and the pipeline (read + chunk + SHA-256 per chunk and per file
// + XXH3, no store) in MB/s, CPU seconds per GB and peak RSS. No assertion:
// it measures.
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "crypto/hash.h"
#include "engine/chunker.h"
#include "engine/pipeline.h"

namespace ferry {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double CpuSeconds() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

long PeakRssKiB() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

// Bytes per second of `fn(buf)` run repeatedly for about `secs` on `threads` threads.
template <typename Fn>
double Throughput(unsigned threads, double secs, size_t bufsize, Fn fn) {
  std::vector<std::thread> ts;
  std::vector<uint64_t> bytes(threads, 0);
  double t0 = Now();
  for (unsigned i = 0; i < threads; i++) {
    ts.emplace_back([&, i] {
      std::vector<uint8_t> buf(bufsize);
      for (size_t j = 0; j < bufsize; j++) buf[j] = static_cast<uint8_t>(j * 131 + i);
      while (Now() - t0 < secs) {
        for (int k = 0; k < 16; k++) fn(buf.data(), bufsize);
        bytes[i] += 16 * bufsize;
      }
    });
  }
  for (auto& t : ts) t.join();
  double elapsed = Now() - t0;
  uint64_t total = 0;
  for (auto b : bytes) total += b;
  return total / elapsed;
}

class NullSink final : public ChunkSink {
 public:
  bool Want(const Digest&, uint32_t) override { return false; }
  Status Put(const Digest&, const uint8_t*, size_t) override { return Status::OK(); }
};

int Main(int argc, char** argv) {
  std::string dir, json_path, io = "auto";
  bool smoke = false;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--smoke")
      smoke = true;
    else if (a == "--json" && i + 1 < argc)
      json_path = argv[++i];
    else if (a == "--io" && i + 1 < argc)
      io = argv[++i];
    else if (a[0] != '-')
      dir = a;
    else {
      std::fprintf(stderr,
                   "usage: ferry_bench [DIR] [--json FILE] [--smoke] [--io auto|uring|pread]\n");
      return 2;
    }
  }
  const double secs = smoke ? 0.2 : 2.0;
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());

  std::string tmpfile;
  if (dir.empty()) {
    const char* t = std::getenv("TMPDIR");
    dir = std::string(t ? t : "/tmp") + "/ferry-bench-data";
    std::filesystem::create_directories(dir);
    tmpfile = dir + "/random.bin";
    size_t size = smoke ? (64u << 20) : (1u << 30);
    if (!std::filesystem::exists(tmpfile) || std::filesystem::file_size(tmpfile) != size) {
      std::ofstream out(tmpfile, std::ios::binary | std::ios::trunc);
      std::vector<char> buf(1 << 20);
      uint64_t x = 12345;
      for (size_t done = 0; done < size; done += buf.size()) {
        for (size_t j = 0; j < buf.size(); j += 8) {
          x ^= x << 13;
          x ^= x >> 7;
          x ^= x << 17;
          std::memcpy(&buf[j], &x, 8);
        }
        out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
      }
    }
  }

  std::vector<SourceFile> files;
  uint64_t total = 0;
  for (auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file() || e.is_symlink()) continue;
    files.push_back({e.path().string(), e.file_size(), 0});
    total += e.file_size();
  }

  // Machine limits, this run.
  double sha1 =
      Throughput(1, secs, 16384, [](const uint8_t* p, size_t n) { (void)Sha256::Of(p, n); });
  double shaN =
      Throughput(cores, secs, 16384, [](const uint8_t* p, size_t n) { (void)Sha256::Of(p, n); });
  ChunkerParams params;
  double gear = Throughput(1, secs, 8 << 20, [&](const uint8_t* p, size_t n) {
    Chunker c(params);
    size_t off = 0;
    bool cut;
    while (off < n) off += c.Scan(p + off, n - off, &cut);
  });
  double xxh =
      Throughput(1, secs, 1 << 20, [](const uint8_t* p, size_t n) { (void)Xxh3::Of(p, n); });

  // The pipeline: one warm-up pass (page cache), then the measured pass.
  PipelineOptions opts;
  opts.io = io == "pread"   ? IoBackend::kPread
            : io == "uring" ? IoBackend::kUring
                            : IoBackend::kAuto;
  NullSink sink;
  std::vector<FileDigest> results;
  PipelineStats stats;
  Status st = RunPipeline(files, opts, &sink, &results, &stats);
  if (!st.ok()) {
    std::fprintf(stderr, "ferry_bench: %s\n", st.ToString().c_str());
    return 1;
  }
  double c0 = CpuSeconds(), t0 = Now();
  st = RunPipeline(files, opts, &sink, &results, &stats);
  double wall = Now() - t0, cpu = CpuSeconds() - c0;
  if (!st.ok()) return 1;
  double pipe = total / wall;
  // Per byte, a multi-chunk file costs two SHA-256 passes (chunk + whole file),
  // one gear pass and one XXH3 pass: the best `cores` cores can do.
  double cap = cores / (2.0 / sha1 + 1.0 / gear + 1.0 / xxh);

  std::printf("ferry_bench: %zu files, %.1f MiB in %s (%s, %u cores)\n", files.size(),
              total / 1048576.0, dir.c_str(), stats.io_backend.c_str(), cores);
  std::printf("  %-44s %10s\n", "measure", "MB/s");
  std::printf("  %-44s %10.0f\n", "SHA-256, 1 core (OpenSSL EVP, 16 KiB)", sha1 / 1e6);
  std::printf("  %-44s %10.0f\n", ("SHA-256, " + std::to_string(cores) + " cores").c_str(),
              shaN / 1e6);
  std::printf("  %-44s %10.0f\n", "gear chunker, 1 core", gear / 1e6);
  std::printf("  %-44s %10.0f\n", "XXH3-128, 1 core", xxh / 1e6);
  std::printf("  %-44s %10.0f\n", "cap: 2x SHA + gear + XXH3 on all cores", cap / 1e6);
  std::printf("  %-44s %10.0f   (%.2f CPU-s/GB, peak RSS %ld MiB)\n",
              "Ferry read+chunk+hash pipeline", pipe / 1e6, cpu / (total / 1e9),
              PeakRssKiB() / 1024);
  std::printf("  pipeline / all-core SHA-256 limit: %.0f %%;  pipeline / two-pass cap: %.0f %%\n",
              100 * pipe / shaN, 100 * pipe / cap);
  if (!json_path.empty()) {
    FILE* f = std::fopen(json_path.c_str(), "w");
    if (f) {
      std::fprintf(
          f,
          "{\"files\":%zu,\"bytes\":%llu,\"cores\":%u,\"io_backend\":\"%s\",\"sha256_1core_Bps\":%."
          "0f,"
          "\"sha256_allcores_Bps\":%.0f,\"gear_Bps\":%.0f,\"xxh3_Bps\":%.0f,\"cap_Bps\":%.0f,"
          "\"pipeline_Bps\":%.0f,\"pipeline_cpu_s_per_GB\":%.3f,\"peak_rss_kib\":%ld,"
          "\"ratio_vs_sha_limit\":%.3f,\"ratio_vs_cap\":%.3f}\n",
          files.size(), static_cast<unsigned long long>(total), cores, stats.io_backend.c_str(),
          sha1, shaN, gear, xxh, cap, pipe, cpu / (total / 1e9), PeakRssKiB(), pipe / shaN,
          pipe / cap);
      std::fclose(f);
    }
  }
  return 0;
}

}  // namespace
}  // namespace ferry

int main(int argc, char** argv) { return ferry::Main(argc, argv); }
