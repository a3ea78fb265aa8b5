// One worker pool for I/O-bound loops (verify's fetches, restore's files,
// push's chunk probes): fn(i) for every i in [0, n) on up to `threads`
// threads, each taking the next index as it finishes one.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

#include "util/cancel.h"

namespace ferry {

// Returns once every started fn has returned. Once `cancel` (may be null) is
// cancelled no further index is started; returns false then, true if every
// index ran.
template <typename Fn>
bool ParallelFor(size_t n, unsigned threads, Fn&& fn, const CancelToken* cancel = nullptr) {
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i; !Cancelled(cancel) && (i = next++) < n;) fn(i);
  };
  unsigned count = static_cast<unsigned>(std::min<size_t>(std::max(1u, threads), n));
  if (count <= 1) {
    if (n > 0) worker();
  } else {
    std::vector<std::thread> pool;
    pool.reserve(count);
    for (unsigned t = 0; t < count; t++) pool.emplace_back(worker);
    for (auto& t : pool) t.join();
  }
  return next.load() >= n && !Cancelled(cancel);
}

}  // namespace ferry
