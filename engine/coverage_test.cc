#include "engine/coverage.h"

#include <gtest/gtest.h>

#include <set>

namespace ferry {
namespace {

constexpr int64_t kDay = 86400LL * 1000000000;

std::vector<CoverageCandidate> Objects(int n, uint64_t size = 100) {
  std::vector<CoverageCandidate> v;
  for (int i = 0; i < n; i++) v.push_back({"f" + std::to_string(10 + i), size, "s", "d"});
  return v;
}

// One run: takes what the plan says, every check identical.
CoverageSummary RunOnce(const std::vector<CoverageCandidate>& c, CoverageCursor* cursor,
                        int64_t now, const CoveragePolicy& p,
                        std::set<std::string>* taken = nullptr) {
  CoveragePlan plan = PlanCoverage(c, *cursor, now, p);
  std::vector<CheckOutcome> out(c.size(), CheckOutcome::kNotReached);
  for (size_t i : plan.order) {
    out[i] = CheckOutcome::kIdentical;
    if (taken) taken->insert(c[i].path);
  }
  return RecordCoverage(c, out, now, p, plan, cursor);
}

TEST(CoverageTest, ByteBudgetRunsTakeTheNeverVerifiedThenTheOldest) {
  auto c = Objects(10);
  CoverageCursor cursor;
  CoveragePolicy p;
  p.budget_bytes = 300;
  std::set<std::string> seen;
  for (int run = 0; run < 4; run++) {
    std::set<std::string> taken;
    CoverageSummary s = RunOnce(c, &cursor, (run + 1) * kDay, p, &taken);
    EXPECT_EQ(taken.size(), 3u) << run;
    for (const auto& t : taken) EXPECT_EQ(run < 3 ? seen.count(t) : 0u, 0u) << t;
    seen.insert(taken.begin(), taken.end());
    if (run == 3) {  // the last never verified, then the two oldest verified (run 1's)
      EXPECT_EQ(taken, (std::set<std::string>{"f19", "f10", "f11"}));
      EXPECT_EQ(seen.size(), 10u);
      EXPECT_EQ(s.never_verified_objects, 0u);
    }
  }
  // The fifth run goes on with the oldest verified: run 1's last, then run 2's.
  std::set<std::string> taken;
  RunOnce(c, &cursor, 5 * kDay, p, &taken);
  EXPECT_EQ(taken, (std::set<std::string>{"f12", "f13", "f14"}));
}

TEST(CoverageTest, ACycleIsGuaranteedEvenBeyondTheBudget) {
  auto c = Objects(10);
  CoverageCursor cursor;
  CoveragePolicy p;
  p.budget_bytes = 1;  // one object per run, far too little for 10 in 5 days
  p.cycle_seconds = 5 * 86400;
  bool over = false;
  for (int day = 1; day <= 40; day++) {
    CoverageSummary s = RunOnce(c, &cursor, day * kDay, p);
    over |= s.cycle_over_budget;
    // No byte is ever older than the cycle, and after the first cycle every
    // byte was verified within it.
    EXPECT_LE(s.oldest_unverified_seconds, p.cycle_seconds) << day;
    if (day > 5) {
      EXPECT_DOUBLE_EQ(*s.fraction_within_cycle, 1.0) << day;
    }
  }
  EXPECT_TRUE(over);
}

TEST(CoverageTest, ACycleAloneSpreadsTheWorkEvenly) {
  auto c = Objects(30);
  CoverageCursor cursor;
  CoveragePolicy p;
  p.cycle_seconds = 30 * 86400;
  std::set<std::string> seen;
  for (int day = 1; day <= 30; day++) {
    std::set<std::string> taken;
    CoverageSummary s = RunOnce(c, &cursor, day * kDay, p, &taken);
    EXPECT_LE(taken.size(), 2u) << day;
    EXPECT_FALSE(s.cycle_over_budget);
    seen.insert(taken.begin(), taken.end());
  }
  EXPECT_EQ(seen.size(), 30u);
}

TEST(CoverageTest, AChangedObjectAndADifferentOneAreNotVerified) {
  auto c = Objects(2);
  CoverageCursor cursor;
  CoveragePolicy p;
  RunOnce(c, &cursor, kDay, p);
  ASSERT_EQ(cursor.objects["f10"].verified_ns, kDay);
  c[0].dr_version = "changed";  // rewritten in the DR copy since
  CoveragePlan plan = PlanCoverage(c, cursor, 2 * kDay, p);
  std::vector<CheckOutcome> out = {CheckOutcome::kNotReached, CheckOutcome::kDifferent};
  CoverageSummary s = RecordCoverage(c, out, 2 * kDay, p, plan, &cursor);
  EXPECT_EQ(cursor.objects["f10"].verified_ns, 0);     // its verification was of other bytes
  EXPECT_EQ(cursor.objects["f11"].verified_ns, kDay);  // found different: the old stamp stays
  EXPECT_EQ(s.objects_not_reached, 1u);
  EXPECT_EQ(s.never_verified_objects, 1u);
  EXPECT_DOUBLE_EQ(s.oldest_unverified_seconds, 86400);  // f10 first seen on day 1
}

TEST(CoverageTest, ObjectsGoneFromTheListingAreDropped) {
  auto c = Objects(3);
  CoverageCursor cursor;
  RunOnce(c, &cursor, kDay, {});
  c.pop_back();
  RunOnce(c, &cursor, 2 * kDay, {});
  EXPECT_EQ(cursor.objects.size(), 2u);
}

TEST(CoverageTest, TheCursorRoundTripsAndRefusesWhatItCannotRead) {
  CoverageCursor c;
  c.source = "s3://p/app/";
  c.against = "/dr";
  c.last_run_ns = 7;
  c.objects["a/b \"c\".js"] = {9, 5, 3, "\"etag\"", "1234"};
  auto back = DecodeCoverage(EncodeCoverage(c), "x");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->source, c.source);
  EXPECT_EQ(back->last_run_ns, 7);
  EXPECT_EQ(back->objects["a/b \"c\".js"].dr_version, "1234");
  EXPECT_EQ(DecodeCoverage("{", "x").status().code(), Code::kCorruptManifest);
  EXPECT_EQ(DecodeCoverage(R"({"version": 2})", "x").status().code(), Code::kCorruptManifest);
  EXPECT_EQ(DecodeCoverage(R"({"version": 1, "source": "a"})", "x").status().code(),
            Code::kCorruptManifest);
  EXPECT_NE(CoverageKey("a", "b", ""), CoverageKey("a", "b", "*.log"));
}

}  // namespace
}  // namespace ferry
