#include "engine/retention.h"

#include <gtest/gtest.h>

namespace ferry {
namespace {

constexpr int64_t kHour = 3600ll * 1000000000;
constexpr int64_t kDay = 24 * kHour;
// 2026-12-04 12:00:00 UTC (a Friday, ISO week 49).
constexpr int64_t kNoon = 1796385600ll * 1000000000;

// A chain of builds, newest first, `step` apart from kNoon backwards.
std::vector<BuildSummary> Chain(size_t n, int64_t step) {
  std::vector<BuildSummary> h(n);
  for (size_t i = 0; i < n; i++) {
    h[i].id[0] = static_cast<uint8_t>(i + 1);
    h[i].created_unix_ns = kNoon - static_cast<int64_t>(i) * step;
  }
  return h;
}

std::vector<bool> Kept(const std::vector<RetentionDecision>& d) {
  std::vector<bool> k;
  for (const auto& x : d) k.push_back(x.keep);
  return k;
}

TEST(RetentionTest, KeepLastCountsByPositionAndTheHeadIsAlwaysKept) {
  auto h = Chain(5, kHour);
  RetentionPolicy p;
  p.keep_last = 2;
  EXPECT_EQ(Kept(ApplyRetention(h, p)), (std::vector<bool>{true, true, false, false, false}));
  h[0].created_unix_ns = 0;  // a pushing host's wrong clock changes nothing
  EXPECT_EQ(Kept(ApplyRetention(h, p)), (std::vector<bool>{true, true, false, false, false}));
  RetentionPolicy none;
  none.keep_tags = {{"release", "*"}};
  auto d = ApplyRetention(h, none);
  EXPECT_EQ(Kept(d), (std::vector<bool>{true, false, false, false, false}));
  EXPECT_EQ(d[0].reasons, std::vector<std::string>{"ref head"});
}

TEST(RetentionTest, DailyKeepsTheNewestBuildOfEachOfTheLastNDaysThatHaveOne) {
  // Four builds a day (every 6 h from noon back) for three days.
  auto h = Chain(12, 6 * kHour);
  RetentionPolicy p;
  p.keep_daily = 2;
  auto d = ApplyRetention(h, p);
  // Day 2026-12-04: 12:00, 06:00, 00:00 -> the first; 2026-12-03: 18:00 first.
  EXPECT_EQ(Kept(d), (std::vector<bool>{true, false, false, true, false, false, false, false, false,
                                        false, false, false}));
  EXPECT_EQ(d[0].reasons, (std::vector<std::string>{"ref head", "daily 2026-12-04"}));
  EXPECT_EQ(d[3].reasons, std::vector<std::string>{"daily 2026-12-03"});
  RetentionPolicy w;
  w.keep_weekly = 1;
  w.keep_monthly = 1;
  auto dw = ApplyRetention(Chain(3, 7 * kDay), w);
  EXPECT_EQ(dw[0].reasons,
            (std::vector<std::string>{"ref head", "weekly 2026-W49", "monthly 2026-12"}));
  EXPECT_FALSE(dw[1].keep);  // 2026-11-27: another week and month, but the slots are taken
}

TEST(RetentionTest, WithinAndTagsKeepWhatTheyNameSupersededBuildsFillNoSlot) {
  auto h = Chain(6, kDay);
  h[4].tags = {{"release", "1.4.0"}};
  h[5].tags = {{"release", "rc-1"}};
  h[1].superseded_by = h[0].id;
  RetentionPolicy p;
  p.keep_within_ns = 2 * kDay + 1;  // days 0, 1, 2
  p.keep_tags = {{"release", "1.*"}};
  p.keep_last = 2;
  auto d = ApplyRetention(h, p);
  EXPECT_EQ(Kept(d), (std::vector<bool>{true, true, true, false, true, false}));
  // The superseded build is kept by --keep-within only; its slot in
  // --keep-last went to the next build.
  EXPECT_EQ(d[1].reasons, std::vector<std::string>{"within"});
  EXPECT_EQ(d[2].reasons, (std::vector<std::string>{"within", "last 2"}));
  EXPECT_EQ(d[4].reasons, std::vector<std::string>{"tag release=1.*"});
}

TEST(RetentionTest, AnUnreadableManifestIsKept) {
  auto h = Chain(3, kHour);
  h[2].problem = Status::CorruptManifest("damaged");
  RetentionPolicy p;
  p.keep_last = 1;
  auto d = ApplyRetention(h, p);
  EXPECT_EQ(Kept(d), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(d[2].reasons, std::vector<std::string>{"unreadable manifest"});
}

}  // namespace
}  // namespace ferry
