// A token bucket shared by every transfer of one S3 client (--bwlimit): each
// caller takes the bytes it is about to send or has received, and waits
// while the bucket is in debt. The S3 client's transfers all run on one loop
// thread, so waiting there holds the total rate, not each transfer's.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>

namespace ferry {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  // `bytes_per_second` > 0. A burst of up to a tenth of a second (at least
  // 64 KiB) may pass at once. `now` and `sleep` are seams for tests.
  explicit RateLimiter(double bytes_per_second, std::function<Clock::time_point()> now = Clock::now,
                       std::function<void(Clock::duration)> sleep = nullptr);
  // Accounts for `n` bytes; returns once the rate allows them.
  void Take(uint64_t n);
  double rate() const { return rate_; }

 private:
  const double rate_, burst_;
  std::function<Clock::time_point()> now_;
  std::function<void(Clock::duration)> sleep_;
  std::mutex mu_;
  double tokens_;           // guarded by mu_; negative: in debt
  Clock::time_point last_;  // guarded by mu_
};

}  // namespace ferry
