#include "util/rate_limiter.h"

#include <algorithm>
#include <thread>

namespace ferry {

RateLimiter::RateLimiter(double bytes_per_second, std::function<Clock::time_point()> now,
                         std::function<void(Clock::duration)> sleep)
    : rate_(bytes_per_second),
      burst_(std::max(64.0 * 1024, bytes_per_second / 10)),
      now_(std::move(now)),
      sleep_(sleep ? std::move(sleep) : [](Clock::duration d) { std::this_thread::sleep_for(d); }),
      tokens_(burst_),
      last_(now_()) {}

void RateLimiter::Take(uint64_t n) {
  Clock::duration wait{};
  {
    std::lock_guard<std::mutex> l(mu_);
    const Clock::time_point t = now_();
    tokens_ = std::min(burst_, tokens_ + std::chrono::duration<double>(t - last_).count() * rate_);
    last_ = t;
    tokens_ -= static_cast<double>(n);
    if (tokens_ < 0)
      wait = std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(-tokens_ / rate_));
  }
  if (wait > Clock::duration::zero()) sleep_(wait);
}

}  // namespace ferry
