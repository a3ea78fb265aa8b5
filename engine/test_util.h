// Helpers shared by the unit tests.
#pragma once

#include <cstdint>
#include <string>

#include "engine/ops.h"
#include "engine/pipeline.h"

namespace ferry::testing {

// Deterministic pseudo-random bytes (SplitMix64): the same everywhere, forever.
inline std::string RandomBytes(size_t n, uint64_t seed) {
  std::string out(n, '\0');
  uint64_t x = seed;
  for (size_t i = 0; i < n; i += 8) {
    x += 0x9E3779B97F4A7C15ULL;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    for (size_t j = 0; j < 8 && i + j < n; j++) out[i + j] = static_cast<char>(z >> (8 * j));
  }
  return out;
}

// 16K/64K/256K chunks, 64 KiB blocks, a 32 MiB budget: many chunks from small test files.
inline void UseSmallChunks(PipelineOptions* p) {
  p->chunking.min_size = 16 << 10;
  p->chunking.avg_size = 64 << 10;
  p->chunking.max_size = 256 << 10;
  p->block_size = 64 << 10;
  p->memory_budget = 32 << 20;
}

// A push of `src` to `ref` with small chunks (UseSmallChunks).
inline PushOptions SmallPush(const std::string& src, const std::string& ref = "app/main") {
  PushOptions o;
  o.sources = {src};
  o.ref = ref;
  UseSmallChunks(&o.pipeline);
  return o;
}

// A fresh empty directory under $TMPDIR, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string Write(const std::string& rel, const std::string& data, int mode = 0644) const;

 private:
  std::string path_;
};

}  // namespace ferry::testing
