// Helpers shared by the unit tests of every layer (linked only into tests).
#pragma once

#include <cstdint>
#include <string>

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
