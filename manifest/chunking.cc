#include "manifest/chunking.h"

#include <bit>

namespace ferry {

namespace {

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

}  // namespace ferry
