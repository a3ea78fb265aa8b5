#include "daemon/scheduler.h"

#include <gtest/gtest.h>

namespace ferry::daemon {
namespace {

SchedulerOptions Opts() {
  SchedulerOptions o;
  o.settle = 2;
  o.interval = 5;
  o.rpo = 60;
  o.stall_after = 120;
  return o;
}

TEST(SchedulerTest, NothingPendingIsNeverDueAndHasNoLag) {
  Scheduler s(Opts());
  EXPECT_FALSE(s.Due(100));
  EXPECT_EQ(s.Lag(100), 0);
  EXPECT_TRUE(s.Evaluate(100).ok);
}

TEST(SchedulerTest, AChangeIsDueOnceItSettled) {
  Scheduler s(Opts());
  s.Changed("a.bin", 100);
  EXPECT_FALSE(s.Due(101));  // 1 s quiet: not settled
  EXPECT_TRUE(s.Due(102));
  EXPECT_EQ(s.Lag(105), 5);
}

TEST(SchedulerTest, AFileStillBeingWrittenIsHeldBackAndDoesNotTriggerABuild) {
  Scheduler s(Opts());
  s.Writing("big.iso", 100);
  EXPECT_FALSE(s.Due(150));  // open for writing: not settled
  s.Changed("small.txt", 100);
  EXPECT_TRUE(s.Due(103));
  auto held = s.Begin(103);
  EXPECT_EQ(held, std::set<std::string>{"big.iso"});
  auto done = s.Succeeded(103, held, 104);
  EXPECT_EQ(done, std::vector<std::string>{"small.txt"});
  EXPECT_EQ(s.pending(), 1u);  // big.iso waits for its close
  s.Changed("big.iso", 110);   // IN_CLOSE_WRITE
  EXPECT_FALSE(s.Due(111));
  EXPECT_TRUE(s.Due(112));
  EXPECT_TRUE(s.Begin(112).empty());
}

TEST(SchedulerTest, AFileLeftOpenWithoutWritesIsTakenAfterOpenQuiet) {
  Scheduler s(Opts());
  s.Writing("held-open.log", 100);
  EXPECT_FALSE(s.Due(159));
  EXPECT_TRUE(s.Due(161));
  EXPECT_TRUE(s.Begin(161).empty());
}

TEST(SchedulerTest, ChangesThatKeepFlowingGetOneBuildPerInterval) {
  Scheduler s(Opts());
  for (int t = 100; t < 103; t++) s.Changed("f" + std::to_string(t), t);
  // Never quiet, but f100 has settled by 102: a build, holding back the rest.
  ASSERT_TRUE(s.Due(102.5));
  auto held = s.Begin(102.5);
  EXPECT_TRUE(held.count("f102"));   // changed 0.5 s ago
  EXPECT_TRUE(held.count("f101"));   // 1.5 s ago
  EXPECT_FALSE(held.count("f100"));  // 2.5 s ago: settled
  s.Succeeded(102.5, held, 103);
  for (int t = 103; t < 110; t++) s.Changed("f" + std::to_string(t), t);
  EXPECT_FALSE(s.Due(107));  // settled changes wait for the interval (5 s since 102.5)
  EXPECT_TRUE(s.Due(107.6));
}

// daemon --merge: a cycle pushes one batch; its success clears that batch
// alone, says when each was first seen, and a full batch lets the next cycle
// start at once (a backlog is not drained one batch per interval).
TEST(SchedulerTest, ABatchClearsOnlyItsPathsAndAFullOneRunsTheNextSoon) {
  Scheduler s(Opts());
  s.Changed("a", 100);
  s.Changed("b", 101);
  s.Changed("c", 100.5);
  ASSERT_TRUE(s.Due(104));
  auto held = s.Begin(104);
  const std::vector<std::string> batch = {"a", "c"};
  std::vector<double> first_seen;
  auto done = s.Succeeded(104, held, 105, &batch, &first_seen);
  EXPECT_EQ(done, batch);
  EXPECT_EQ(first_seen, (std::vector<double>{100, 100.5}));
  EXPECT_EQ(s.pending(), 1u);  // b: the next batch's
  EXPECT_TRUE(s.IsPending("b"));
  EXPECT_FALSE(s.Due(106));  // the interval (5 s since 104)
  s.RunNextSoon();
  EXPECT_TRUE(s.Due(106));
}

TEST(SchedulerTest, AChangeDuringTheCycleStaysPending) {
  Scheduler s(Opts());
  s.Changed("a", 100);
  auto held = s.Begin(103);
  s.Changed("a", 104);  // written again while the push ran
  auto done = s.Succeeded(103, held, 105);
  EXPECT_TRUE(done.empty());
  EXPECT_EQ(s.pending(), 1u);
  EXPECT_EQ(s.Lag(105), 5);  // still from its first event
}

TEST(SchedulerTest, FailuresBackOffAndShowInHealthUntilASuccess) {
  Scheduler s(Opts());
  s.Changed("a", 100);
  ASSERT_TRUE(s.Due(103));
  s.Failed("s3://dr/: connection refused", 103, 0.0);
  EXPECT_FALSE(s.Due(103.5));  // backoff: 2 s * (0.5 + 0.5 * 0)
  EXPECT_TRUE(s.Due(104.1));
  Health h = s.Evaluate(104);
  EXPECT_FALSE(h.ok);
  ASSERT_EQ(h.reasons.size(), 1u);
  EXPECT_NE(h.reasons[0].find("connection refused"), std::string::npos);
  for (int i = 0; i < 10; i++) s.Failed("down", 110, 0.999);
  EXPECT_FALSE(s.Due(150));  // capped at 60 s, never beyond
  EXPECT_TRUE(s.Due(170.1));
  s.Succeeded(171, {}, 172);
  EXPECT_TRUE(s.Evaluate(172).ok);
}

TEST(SchedulerTest, LagOverTheRpoAndAStallFailHealthWithTheirReasons) {
  Scheduler s(Opts());
  s.Changed("a", 100);
  EXPECT_TRUE(s.Evaluate(150).ok);
  Health h = s.Evaluate(161);
  EXPECT_FALSE(h.ok);
  ASSERT_EQ(h.reasons.size(), 1u);
  EXPECT_NE(h.reasons[0].find("over the RPO target of 60 s"), std::string::npos) << h.reasons[0];
  h = s.Evaluate(221);
  ASSERT_EQ(h.reasons.size(), 2u);
  EXPECT_NE(h.reasons[1].find("stalled: 1 change(s) pending"), std::string::npos) << h.reasons[1];
}

TEST(SchedulerTest, AMissingSourceIsReportedAndNothingIsDue) {
  Scheduler s(Opts());
  s.Changed("a", 100);
  s.SetSourceMissing(true);
  EXPECT_FALSE(s.Due(200));
  Health h = s.Evaluate(101);
  EXPECT_FALSE(h.ok);
  EXPECT_NE(h.reasons[0].find("nothing is deleted in DR"), std::string::npos);
}

TEST(SchedulerTest, ARestoredChangeKeepsItsAge) {
  Scheduler s(Opts());
  s.Restore("a", Pending{50, 60, false});
  s.Changed("a", 100);
  EXPECT_EQ(s.Lag(100), 50);
}

}  // namespace
}  // namespace ferry::daemon
