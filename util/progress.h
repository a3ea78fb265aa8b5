// How far a long operation has come, for a progress line or log lines: the
// operation adds to `done` as it goes and sets `total` once it knows it.
#pragma once

#include <atomic>
#include <cstdint>

namespace ferry {

struct ProgressMeter {
  std::atomic<uint64_t> done{0};
  std::atomic<uint64_t> total{0};
  std::atomic<bool> bytes{true};  // false: done and total count objects, not bytes
};

inline void Advance(ProgressMeter* m, uint64_t n) {
  if (m) m->done.fetch_add(n, std::memory_order_relaxed);
}

}  // namespace ferry
