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

uint64_t ParseSize(const std::string& s, bool* ok) {
  *ok = false;
  if (s.empty()) return 0;
  size_t i = 0;
  uint64_t v = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    v = v * 10 + static_cast<uint64_t>(s[i] - '0');
    if (v > (1ULL << 40)) return 0;
    i++;
  }
  if (i == 0) return 0;
  std::string suffix = s.substr(i);
  if (suffix == "K" || suffix == "k" || suffix == "KiB")
    v <<= 10;
  else if (suffix == "M" || suffix == "m" || suffix == "MiB")
    v <<= 20;
  else if (!suffix.empty())
    return 0;
  *ok = true;
  return v;
}

}  // namespace

const uint64_t* GearTable() { return kGear.data(); }

Status ChunkerParams::Validate() const {
  if (!std::has_single_bit(avg_size) || avg_size < 256)
    return Status::Usage("chunk average size " + std::to_string(avg_size) +
                         " must be a power of two of at least 256");
  if (min_size == 0 || min_size > avg_size)
    return Status::Usage("chunk minimum size must be between 1 and the average size");
  if (max_size < avg_size || max_size > (64u << 20))
    return Status::Usage("chunk maximum size must be between the average size and 64 MiB");
  uint32_t bits = static_cast<uint32_t>(std::countr_zero(avg_size));
  if (normalization > 3 || normalization >= bits)
    return Status::Usage("chunk normalization level must be 0..3");
  return Status::OK();
}

Result<ChunkerParams> ParseChunkerParams(const std::string& spec) {
  ChunkerParams p;
  size_t a = spec.find(','), b = spec.rfind(',');
  if (a == std::string::npos || a == b)
    return Status::Usage("--chunk-size takes MIN,AVG,MAX, e.g. 256K,1M,4M (got '" + spec + "')");
  bool ok1, ok2, ok3;
  p.min_size = static_cast<uint32_t>(ParseSize(spec.substr(0, a), &ok1));
  p.avg_size = static_cast<uint32_t>(ParseSize(spec.substr(a + 1, b - a - 1), &ok2));
  p.max_size = static_cast<uint32_t>(ParseSize(spec.substr(b + 1), &ok3));
  if (!ok1 || !ok2 || !ok3)
    return Status::Usage("--chunk-size: cannot parse '" + spec + "' (use e.g. 256K,1M,4M)");
  RETURN_IF_ERROR(p.Validate());
  return p;
}

Chunker::Chunker(const ChunkerParams& params) : params_(params) {
  uint32_t bits = static_cast<uint32_t>(std::countr_zero(params.avg_size));
  mask_small_ = TopMask(bits + params.normalization);
  mask_large_ = TopMask(bits - params.normalization);
}

size_t Chunker::Scan(const uint8_t* p, size_t n, bool* cut) {
  const uint64_t* gear = kGear.data();
  size_t i = 0;
  *cut = false;
  // Bytes below min_size are never a boundary: skip them without hashing.
  if (pos_ < params_.min_size) {
    size_t skip = static_cast<size_t>(std::min<uint64_t>(n, params_.min_size - pos_));
    pos_ += skip;
    i = skip;
    if (pos_ < params_.min_size) return n;
  }
  uint64_t h = hash_;
  // Before avg_size: the stricter mask.
  if (pos_ < params_.avg_size) {
    size_t end = static_cast<size_t>(std::min<uint64_t>(n, i + (params_.avg_size - pos_)));
    const uint64_t mask = mask_small_;
    for (size_t j = i; j < end; j++) {
      h = (h << 1) + gear[p[j]];
      if ((h & mask) == 0) {
        pos_ = 0;
        hash_ = 0;
        *cut = true;
        return j + 1;
      }
    }
    pos_ += end - i;
    i = end;
  }
  // From avg_size to max_size: the looser mask, and a forced cut at max_size.
  if (pos_ >= params_.avg_size) {
    size_t end = static_cast<size_t>(std::min<uint64_t>(n, i + (params_.max_size - pos_)));
    const uint64_t mask = mask_large_;
    for (size_t j = i; j < end; j++) {
      h = (h << 1) + gear[p[j]];
      if ((h & mask) == 0) {
        pos_ = 0;
        hash_ = 0;
        *cut = true;
        return j + 1;
      }
    }
    pos_ += end - i;
    i = end;
    if (pos_ >= params_.max_size) {
      pos_ = 0;
      hash_ = 0;
      *cut = true;
      return i;
    }
  }
  hash_ = h;
  return i;
}

}  // namespace ferry
