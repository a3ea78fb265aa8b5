#include "transport/local_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <thread>

#include "testing/test_util.h"
#include "util/posix.h"

namespace ferry {
namespace {

TEST(LocalStoreTest, PutGetSizeListDelete) {
  testing::TempDir dir;
  LocalStore s(dir.path());
  ASSERT_TRUE(s.Put("chunks/ab/abc", "data").ok());
  ASSERT_TRUE(s.Put("refs/app/main", "x").ok());
  EXPECT_EQ(*s.Get("chunks/ab/abc"), "data");
  EXPECT_EQ(*s.Size("chunks/ab/abc"), 4u);
  EXPECT_EQ(s.Get("chunks/zz/none").status().code(), Code::kNotFound);
  auto keys = s.List("refs/");
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(*keys, std::vector<std::string>{"refs/app/main"});
  ASSERT_TRUE(s.Put("chunks/ab/abc", "replaced").ok());
  EXPECT_EQ(*s.Get("chunks/ab/abc"), "replaced");
  ASSERT_TRUE(s.Delete("chunks/ab/abc").ok());
  EXPECT_EQ(s.Get("chunks/ab/abc").status().code(), Code::kNotFound);
  EXPECT_TRUE(s.Delete("chunks/ab/abc").ok());
}

TEST(LocalStoreTest, ListSkipsUnfinishedWrites) {
  testing::TempDir dir;
  LocalStore s(dir.path());
  ASSERT_TRUE(s.Put("manifests/aa", "m").ok());
  dir.Write("manifests/" + std::string(kTempPrefix) + "123", "partial");
  EXPECT_EQ(*s.List("manifests/"), std::vector<std::string>{"manifests/aa"});
}

// prune --sweep-abandoned: old temporary files go, fresh ones (a write in
// progress) and the refs lock stay.
TEST(LocalStoreTest, SweepRemovesOldTemporaryFilesOnly) {
  testing::TempDir dir;
  LocalStore s(dir.path());
  ASSERT_TRUE(s.Put("manifests/aa", "m").ok());
  const std::string tmp = std::string(kTempPrefix);
  const std::string old_tmp = dir.Write("chunks/ab/" + tmp + "1-2-x", "partial chunk");
  const std::string fresh = dir.Write("manifests/" + tmp + "3-4-y", "being written");
  const std::string lock = dir.Write(tmp + "refs.lock", "");
  const auto day_ago = std::filesystem::file_time_type::clock::now() - std::chrono::hours(25);
  std::filesystem::last_write_time(old_tmp, day_ago);
  std::filesystem::last_write_time(lock, day_ago);
  std::vector<ObjectStore::Abandoned> found;
  ASSERT_TRUE(s.SweepAbandoned(24 * 3600, /*dry_run=*/true, &found).ok());
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].what, old_tmp);
  EXPECT_EQ(found[0].bytes, 13u);
  EXPECT_TRUE(std::filesystem::exists(old_tmp));  // a dry run removes nothing
  found.clear();
  ASSERT_TRUE(s.SweepAbandoned(24 * 3600, false, &found).ok());
  EXPECT_EQ(found.size(), 1u);
  EXPECT_FALSE(std::filesystem::exists(old_tmp));
  EXPECT_TRUE(std::filesystem::exists(fresh));
  EXPECT_TRUE(std::filesystem::exists(lock));
  EXPECT_EQ(*s.Get("manifests/aa"), "m");
}

TEST(LocalStoreTest, FailedWriteLeavesNothingUnderTheFinalName) {
  testing::TempDir dir;
  // The final name is a non-empty directory, so the rename fails after the
  // data was written to the temp file.
  dir.Write("objects/victim/inside", "x");
  LocalStore s(dir.path());
  Status st = s.Put("objects/victim", "new data");
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(std::filesystem::is_directory(dir.path() + "/objects/victim"));
  for (auto& e : std::filesystem::directory_iterator(dir.path() + "/objects"))
    EXPECT_EQ(e.path().filename().string().rfind(kTempPrefix, 0), std::string::npos) << e.path();
}

TEST(LocalStoreTest, ReplaceIfIsCompareAndSwap) {
  testing::TempDir dir;
  LocalStore s(dir.path());
  EXPECT_TRUE(s.ReplaceIf("refs/r", std::nullopt, "1").ok());
  EXPECT_EQ(s.ReplaceIf("refs/r", std::nullopt, "2").code(), Code::kConflict);  // exists now
  EXPECT_EQ(s.ReplaceIf("refs/r", std::string("0"), "2").code(), Code::kConflict);
  EXPECT_EQ(*s.Get("refs/r"), "1");
  EXPECT_TRUE(s.ReplaceIf("refs/r", std::string("1"), "2").ok());
  EXPECT_EQ(*s.Get("refs/r"), "2");
}

TEST(LocalStoreTest, ConcurrentReplaceIfLosesNoUpdate) {
  // Eight writers, each adding 25 increments by read + compare-and-swap (as
  // pushes move a ref): every increment must survive.
  testing::TempDir dir;
  LocalStore s(dir.path());
  ASSERT_TRUE(s.Put("counter", "0").ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; t++)
    threads.emplace_back([&] {
      for (int i = 0; i < 25; i++) {
        for (;;) {
          std::string cur = *s.Get("counter");
          Status st = s.ReplaceIf("counter", cur, std::to_string(std::stoi(cur) + 1));
          if (st.ok()) break;
          ASSERT_EQ(st.code(), Code::kConflict);
        }
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(*s.Get("counter"), "200");
}

TEST(LocalStoreTest, FullDiskIsNoSpace) {
  EXPECT_EQ(PosixError("writing x", ENOSPC).code(), Code::kNoSpace);
  EXPECT_EQ(PosixError("writing x", EDQUOT).code(), Code::kNoSpace);
}

TEST(OpenStoreTest, CreatesMarksAndReopens) {
  testing::TempDir dir;
  std::string root = dir.path() + "/dr";
  EXPECT_EQ(OpenStore(root, OpenMode::kExisting).status().code(), Code::kStoreUnavailable);
  ASSERT_TRUE(OpenStore(root, OpenMode::kCreate).ok());
  EXPECT_TRUE(std::filesystem::exists(root + "/FERRY-STORE"));
  ASSERT_TRUE(OpenStore("file://" + root, OpenMode::kExisting).ok());
}

TEST(OpenStoreTest, RefusesANonEmptyDirectoryThatIsNotAStore) {
  testing::TempDir dir;
  dir.Write("home/notes.txt", "mine");
  auto s = OpenStore(dir.path() + "/home", OpenMode::kCreate);
  EXPECT_EQ(s.status().code(), Code::kStoreUnavailable);
  EXPECT_NE(s.status().message().find("not a Ferry store"), std::string::npos);
  EXPECT_EQ(std::filesystem::directory_iterator(dir.path() + "/home")->path().filename(),
            "notes.txt");
}

TEST(OpenStoreTest, ADryRunCreatesNothingAndRefusesWrites) {
  testing::TempDir dir;
  const std::string root = dir.path() + "/dr";
  // Missing: opened empty, not created.
  auto missing = OpenStore(root, OpenMode::kDryRun);
  ASSERT_TRUE(missing.ok()) << missing.status().message();
  EXPECT_FALSE(std::filesystem::exists(root));
  EXPECT_EQ((*missing)->Describe(), "file://" + root);
  EXPECT_EQ((*missing)->Get("FERRY-STORE").status().code(), Code::kNotFound);
  EXPECT_EQ((*missing)->Put("refs/x", "y").code(), Code::kInternal);
  EXPECT_FALSE(std::filesystem::exists(root));
  // An existing store: read through, every kind of write refused.
  ASSERT_TRUE(OpenStore(root, OpenMode::kCreate).ok());
  auto existing = OpenStore(root, OpenMode::kDryRun);
  ASSERT_TRUE(existing.ok());
  EXPECT_TRUE((*existing)->Get("FERRY-STORE").ok());
  EXPECT_EQ((*existing)->PutLazy("chunks/ab", "z").code(), Code::kInternal);
  EXPECT_EQ((*existing)->ReplaceIf("refs/x", std::nullopt, "y").code(), Code::kInternal);
  EXPECT_EQ((*existing)->Delete("FERRY-STORE").code(), Code::kInternal);
  EXPECT_TRUE(std::filesystem::exists(root + "/FERRY-STORE"));
  EXPECT_FALSE(std::filesystem::exists(root + "/chunks"));
  // A directory that a push would refuse, a dry run refuses too.
  dir.Write("home/notes.txt", "mine");
  EXPECT_EQ(OpenStore(dir.path() + "/home", OpenMode::kDryRun).status().code(),
            Code::kStoreUnavailable);
}

TEST(OpenStoreTest, UnknownSchemeIsAUsageError) {
  EXPECT_EQ(OpenStore("ftp://x/y", OpenMode::kCreate).status().code(), Code::kUsage);
}

TEST(LocalStoreTest, LazyPutsAppearOnlyAfterSync) {
  testing::TempDir dir;
  {
    LocalStore s(dir.path());
    ASSERT_TRUE(s.PutLazy("chunks/aa/aa1", "one").ok());
    EXPECT_EQ(s.Get("chunks/aa/aa1").status().code(), Code::kNotFound);
    EXPECT_TRUE(s.List("chunks/")->empty());  // the temp file is not an object
    ASSERT_TRUE(s.Sync().ok());
    EXPECT_EQ(*s.Get("chunks/aa/aa1"), "one");
    ASSERT_TRUE(s.PutLazy("chunks/aa/aa2", "two").ok());
  }  // destroyed before Sync: the unpublished write is discarded, not left half-named
  LocalStore s(dir.path());
  EXPECT_EQ(s.Get("chunks/aa/aa2").status().code(), Code::kNotFound);
  size_t files = 0;
  for (auto& e : std::filesystem::recursive_directory_iterator(dir.path()))
    if (e.is_regular_file()) files++;
  EXPECT_EQ(files, 1u);
}

}  // namespace
}  // namespace ferry
