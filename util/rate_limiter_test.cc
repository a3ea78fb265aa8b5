#include "util/rate_limiter.h"

#include <gtest/gtest.h>

namespace ferry {
namespace {

using Clock = RateLimiter::Clock;

// A fake clock that only moves when the limiter sleeps: the total time slept
// for N bytes is what the rate demands, with no real waiting.
TEST(RateLimiterTest, HoldsTheRateOverManyTakes) {
  Clock::time_point t{};
  auto now = [&] { return t; };
  auto sleep = [&](Clock::duration d) { t += d; };
  RateLimiter lim(1e6, now, sleep);                 // 1 MB/s, burst 100 kB
  for (int i = 0; i < 100; i++) lim.Take(100'000);  // 10 MB
  const double seconds = std::chrono::duration<double>(t - Clock::time_point{}).count();
  EXPECT_NEAR(seconds, 9.9, 0.01);  // 10 MB at 1 MB/s, less the first burst
}

TEST(RateLimiterTest, IdleTimeRefillsOnlyUpToTheBurst) {
  Clock::time_point t{};
  auto now = [&] { return t; };
  Clock::duration slept{};
  auto sleep = [&](Clock::duration d) {
    slept += d;
    t += d;
  };
  RateLimiter lim(1e6, now, sleep);
  t += std::chrono::seconds(60);  // a long idle spell saves no more than 100 kB
  lim.Take(100'000);
  EXPECT_EQ(slept, Clock::duration::zero());
  lim.Take(500'000);
  EXPECT_NEAR(std::chrono::duration<double>(slept).count(), 0.5, 0.001);
}

}  // namespace
}  // namespace ferry
