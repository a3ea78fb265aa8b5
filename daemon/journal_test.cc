#include "daemon/journal.h"

#include <gtest/gtest.h>

#include "testing/test_util.h"

namespace ferry::daemon {
namespace {

using testing::TempDir;

TEST(JournalTest, PendingChangesSurviveAReopen) {
  TempDir dir;
  const std::string path = dir.path() + "/journal.db";
  {
    auto j = Journal::Open(path);
    ASSERT_TRUE(j.ok()) << j.status().ToString();
    ASSERT_TRUE((*j)->AddPending({{"a", {10, 11, false}}, {"b/c", {12, 12, true}}}).ok());
    ASSERT_TRUE(
        (*j)->AddPending({{"a", {20, 21, false}}}).ok());  // a later event: keeps first_seen
    ASSERT_TRUE((*j)->AddCycle({100, 101, "ab12", 3, 2, 4096, ""}).ok());
  }
  auto j = Journal::Open(path);
  ASSERT_TRUE(j.ok());
  auto p = (*j)->LoadPending();
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->size(), 2u);
  EXPECT_EQ(p->at("a").first_seen, 10);
  EXPECT_EQ(p->at("a").last_event, 21);
  EXPECT_TRUE(p->at("b/c").writing);
  ASSERT_TRUE((*j)->RemovePending({"a"}).ok());
  EXPECT_EQ((*j)->LoadPending()->size(), 1u);
  auto cycles = (*j)->RecentCycles(10);
  ASSERT_TRUE(cycles.ok());
  ASSERT_EQ(cycles->size(), 1u);
  EXPECT_EQ((*cycles)[0].manifest, "ab12");
  EXPECT_EQ((*cycles)[0].bytes, 4096u);
}

TEST(JournalTest, AJournalThatCannotBeCreatedIsAClearError) {
  TempDir dir;
  const std::string file = dir.Write("not-a-dir", "x");  // as root too: no directory there
  auto j = Journal::Open(file + "/journal.db");
  EXPECT_EQ(j.status().code(), Code::kTargetUnwritable) << j.status().ToString();
  EXPECT_NE(j.status().message().find("not-a-dir/journal.db"), std::string::npos);
}

TEST(JournalTest, AJournalThatIsNotADatabaseIsRefusedNotOverwritten) {
  TempDir dir;
  const std::string path = dir.Write("journal.db", std::string(4096, 'x'));
  auto j = Journal::Open(path);
  EXPECT_FALSE(j.ok());
  EXPECT_NE(j.status().message().find("journal.db"), std::string::npos) << j.status().ToString();
}

}  // namespace
}  // namespace ferry::daemon
