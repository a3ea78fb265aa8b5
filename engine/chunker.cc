#include "engine/chunker.h"

#include <algorithm>
#include <array>
#include <bit>

namespace ferry {

namespace {

// SplitMix64 from a pinned seed: the gear table is part of the storage format;
// changing it changes every boundary (and breaks dedup against old stores).
constexpr uint64_t kGearSeed = 0x46657272793a4344ULL;  // "Ferry:CD"

std::array<uint64_t, 256> MakeGear() {
  std::array<uint64_t, 256> t{};
  uint64_t x = kGearSeed;
  for (auto& v : t) {
    x += 0x9E3779B97F4A7C15ULL;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    v = z ^ (z >> 31);
  }
  return t;
}

const std::array<uint64_t, 256> kGear = MakeGear();

// A mask of `bits` one-bits at the top of the word: the gear hash shifts left,
// so the top bits depend on the last 64 bytes and the low bits on only a few.
uint64_t TopMask(uint32_t bits) { return bits == 0 ? 0 : ~0ULL << (64 - bits); }

}  // namespace

const uint64_t* GearTable() { return kGear.data(); }

Chunker::Chunker(const ChunkerParams& params) : params_(params) {
  uint32_t bits = static_cast<uint32_t>(std::countr_zero(params.avg_size));
  mask_small_ = TopMask(bits + params.normalization);
  mask_large_ = TopMask(bits - params.normalization);
}

namespace {

// Rolls the gear hash over p[i, end). Returns the index just past the first
// byte where (h & mask) == 0 (*found = true), else `end`. Inlined into both
// phases of Scan, each with its own mask.
inline size_t RollUntil(const uint64_t* gear, const uint8_t* p, size_t i, size_t end, uint64_t mask,
                        uint64_t* h, bool* found) {
  uint64_t x = *h;
  for (size_t j = i; j < end; j++) {
    x = (x << 1) + gear[p[j]];
    if ((x & mask) == 0) {
      *found = true;
      return j + 1;
    }
  }
  *h = x;
  return end;
}

}  // namespace

size_t Chunker::Scan(const uint8_t* p, size_t n, bool* cut) {
  const uint64_t* gear = kGear.data();
  size_t i = 0;
  *cut = false;
  auto cut_at = [&](size_t at) {
    pos_ = 0;
    hash_ = 0;
    *cut = true;
    return at;
  };
  // Bytes below min_size are never a boundary: skip them without hashing.
  if (pos_ < params_.min_size) {
    size_t skip = static_cast<size_t>(std::min<uint64_t>(n, params_.min_size - pos_));
    pos_ += skip;
    i = skip;
    if (pos_ < params_.min_size) return n;
  }
  uint64_t h = hash_;
  bool found = false;
  // Before avg_size: the stricter mask.
  if (pos_ < params_.avg_size) {
    size_t end = static_cast<size_t>(std::min<uint64_t>(n, i + (params_.avg_size - pos_)));
    size_t stop = RollUntil(gear, p, i, end, mask_small_, &h, &found);
    if (found) return cut_at(stop);
    pos_ += end - i;
    i = end;
  }
  // From avg_size to max_size: the looser mask, and a forced cut at max_size.
  if (pos_ >= params_.avg_size) {
    size_t end = static_cast<size_t>(std::min<uint64_t>(n, i + (params_.max_size - pos_)));
    size_t stop = RollUntil(gear, p, i, end, mask_large_, &h, &found);
    if (found) return cut_at(stop);
    pos_ += end - i;
    i = end;
    if (pos_ >= params_.max_size) return cut_at(i);
  }
  hash_ = h;
  return i;
}

}  // namespace ferry
