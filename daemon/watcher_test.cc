#include "daemon/watcher.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "testing/test_util.h"

namespace ferry::daemon {
namespace {

using testing::TempDir;

bool Has(const std::vector<TreeEvent>& v, const std::string& path, bool writing) {
  for (const auto& e : v)
    if (e.path == path && e.writing == writing) return true;
  return false;
}

// Polls until `pred` holds for what arrived (or a few seconds pass).
template <typename P>
TreeEvents PollUntil(TreeWatcher* w, P pred) {
  TreeEvents all;
  for (int i = 0; i < 50 && !pred(all); i++) {
    TreeEvents ev;
    EXPECT_TRUE(w->Poll(100, &ev).ok());
    all.events.insert(all.events.end(), ev.events.begin(), ev.events.end());
    all.overflow |= ev.overflow;
    all.root_missing |= ev.root_missing;
  }
  return all;
}

TEST(TreeWatcherTest, ReportsClosedFilesAndWritesInProgress) {
  TempDir dir;
  mkdir((dir.path() + "/sub").c_str(), 0755);
  auto w = TreeWatcher::Open(dir.path());
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ((*w)->watched_dirs(), 2u);
  FILE* f = std::fopen((dir.path() + "/sub/a.bin").c_str(), "w");
  std::fputs("part", f);
  std::fflush(f);
  auto ev =
      PollUntil(w->get(), [](const TreeEvents& e) { return Has(e.events, "sub/a.bin", true); });
  EXPECT_TRUE(Has(ev.events, "sub/a.bin", true));
  std::fclose(f);
  ev = PollUntil(w->get(), [](const TreeEvents& e) { return Has(e.events, "sub/a.bin", false); });
  EXPECT_TRUE(Has(ev.events, "sub/a.bin", false));  // IN_CLOSE_WRITE
}

TEST(TreeWatcherTest, ANewDirectoryIsWatchedAndWhatItAlreadyHoldsIsReported) {
  TempDir dir;
  auto w = TreeWatcher::Open(dir.path());
  ASSERT_TRUE(w.ok());
  // Made elsewhere, then moved in whole: its files predate any watch on it.
  TempDir other;
  other.Write("x/y/deep.txt", "deep");
  std::filesystem::rename(other.path() + "/x", dir.path() + "/x");
  auto ev =
      PollUntil(w->get(), [](const TreeEvents& e) { return Has(e.events, "x/y/deep.txt", false); });
  EXPECT_TRUE(Has(ev.events, "x/y/deep.txt", false));
  EXPECT_EQ((*w)->watched_dirs(), 3u);
  dir.Write("x/y/later.txt", "later");
  ev = PollUntil(w->get(),
                 [](const TreeEvents& e) { return Has(e.events, "x/y/later.txt", false); });
  EXPECT_TRUE(Has(ev.events, "x/y/later.txt", false));
}

TEST(TreeWatcherTest, TheRootGoingAwayIsReported) {
  TempDir parent;
  const std::string root = parent.path() + "/watched";
  mkdir(root.c_str(), 0755);
  auto w = TreeWatcher::Open(root);
  ASSERT_TRUE(w.ok());
  rmdir(root.c_str());
  auto ev = PollUntil(w->get(), [](const TreeEvents& e) { return e.root_missing; });
  EXPECT_TRUE(ev.root_missing);
}

TEST(TreeWatcherTest, ARootThatIsNotADirectoryIsRefused) {
  TempDir dir;
  const std::string file = dir.Write("f", "x");
  EXPECT_EQ(TreeWatcher::Open(file).status().code(), Code::kSourceUnreadable);
  EXPECT_EQ(TreeWatcher::Open(dir.path() + "/none").status().code(), Code::kSourceUnreadable);
}

}  // namespace
}  // namespace ferry::daemon
