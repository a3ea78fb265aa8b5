#include "engine/walk.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "testing/test_util.h"
#include "util/posix.h"

namespace ferry {
namespace {

using testing::TempDir;

// Every file's read location, stat and entry stay together through Sort and
// KeepIf: they are parallel vectors, permuted in place.
void ExpectInStep(const WalkResult& w) {
  ASSERT_EQ(w.stats.size(), w.entries.size());
  ASSERT_EQ(w.files.size(), w.file_entry.size());
  size_t files = 0;
  for (size_t i = 0; i < w.entries.size(); i++) {
    if (i > 0) {
      EXPECT_LT(w.entries[i - 1].path, w.entries[i].path);
    }
    // The tests below give each entry ino = its path's length + 1000 * its first byte.
    EXPECT_EQ(w.stats[i].ino, w.entries[i].path.size() + 1000u * uint8_t(w.entries[i].path[0]));
    if (w.entries[i].type != EntryType::kFile) continue;
    ASSERT_LT(files, w.files.size());
    EXPECT_EQ(w.file_entry[files], i);
    EXPECT_EQ(w.files[files].path, "/abs/" + w.entries[i].path);
    EXPECT_EQ(w.files[files].size, w.entries[i].size);
    files++;
  }
  EXPECT_EQ(files, w.files.size());
}

WalkResult Shuffled(size_t n, unsigned seed) {
  std::vector<std::string> paths;
  for (size_t i = 0; i < n; i++) paths.push_back(std::to_string(i * 7919 % 100003));
  std::mt19937 rng(seed);
  std::shuffle(paths.begin(), paths.end(), rng);
  WalkResult w;
  for (const auto& p : paths) {
    FileEntry e;
    e.path = p;
    e.type = p.back() % 3 == 0 ? EntryType::kDir : EntryType::kFile;
    e.size = p.size() * 10;
    FileStat st{1, p.size() + 1000u * uint8_t(p[0]), e.size, 0, 0};
    const bool file = e.type == EntryType::kFile;
    SourceFile read{"/abs/" + p, e.size, 0};
    w.Add(std::move(e), st, file ? std::move(read) : SourceFile{});
  }
  return w;
}

TEST(WalkResultTest, SortKeepsEveryFilesReadLocationAndStatWithItsEntry) {
  for (unsigned seed : {1u, 2u, 3u}) {
    WalkResult w = Shuffled(5000, seed);
    w.Sort();
    ExpectInStep(w);
    EXPECT_EQ(w.entries.size(), 5000u);
  }
}

TEST(WalkResultTest, KeepIfDropsEntriesAndTheirFilesTogether) {
  WalkResult w = Shuffled(3000, 4);
  w.Sort();
  const size_t before = w.entries.size();
  w.KeepIf([](const FileEntry& e) { return e.path.back() != '5' && e.path.back() != '6'; });
  ExpectInStep(w);
  EXPECT_LT(w.entries.size(), before);
  for (const auto& e : w.entries) EXPECT_TRUE(e.path.back() != '5' && e.path.back() != '6');
}

TEST(WalkResultTest, AWalkedTreeReadsEachFileFromItsOwnPath) {
  TempDir t;
  const std::string root = t.path() + "/src";
  ASSERT_TRUE(MkdirAll(root + "/z/y").ok());
  ASSERT_TRUE(MkdirAll(root + "/a").ok());
  for (const char* f : {"z/y/1", "z/0", "a/9", "m", "a/b"})
    ASSERT_TRUE(WriteFileAtomic(root, f, std::string(std::strlen(f), 'x'), false).ok());
  ASSERT_EQ(symlink("m", (root + "/l").c_str()), 0);
  auto w = WalkSources({root});
  ASSERT_TRUE(w.ok()) << w.status().message();
  std::vector<std::string> paths;
  for (const auto& e : w->entries) paths.push_back(e.path);
  EXPECT_EQ(paths,
            (std::vector<std::string>{"a", "a/9", "a/b", "l", "m", "z", "z/0", "z/y", "z/y/1"}));
  ASSERT_EQ(w->files.size(), 5u);
  for (size_t k = 0; k < w->files.size(); k++) {
    const size_t i = w->file_entry[k];
    EXPECT_EQ(w->files[k].path, root + "/" + w->entries[i].path);
    struct stat st;
    ASSERT_EQ(lstat(w->files[k].path.c_str(), &st), 0);
    EXPECT_EQ(w->stats[i].ino, st.st_ino);
    EXPECT_EQ(w->entries[i].size, w->entries[i].path.size());
  }
  EXPECT_EQ(w->entries[3].link_target, "m");
}

TEST(WalkResultTest, OnlyGivenPathsTheirDirectoriesAndWhatIsBelowAGivenDirectory) {
  TempDir t;
  const std::string root = t.path() + "/src";
  ASSERT_TRUE(MkdirAll(root + "/a/b").ok());
  ASSERT_TRUE(MkdirAll(root + "/d").ok());
  for (const char* f : {"a/b/1", "a/b/2", "a/x", "d/3", "top"})
    ASSERT_TRUE(WriteFileAtomic(root, f, "x", false).ok());
  const std::vector<std::string> only = {"a/b/1", "d", "gone", "d/3"};
  auto w = WalkSources({root}, {}, &only);
  ASSERT_TRUE(w.ok()) << w.status().message();
  std::vector<std::string> paths;
  for (const auto& e : w->entries) paths.push_back(e.path);
  // a/b/2, a/x and top were not asked for; "gone" does not exist; d/3 once.
  EXPECT_EQ(paths, (std::vector<std::string>{"a", "a/b", "a/b/1", "d", "d/3"}));
  ASSERT_EQ(w->files.size(), 2u);
  EXPECT_EQ(w->files[0].path, root + "/a/b/1");
  EXPECT_EQ(w->files[1].path, root + "/d/3");
  EXPECT_EQ(w->file_entry[1], 4u);
  // An unsafe path is reported, not taken; a path under what is now a file,
  // or under a symlink (which could lead out of the tree), is gone.
  ASSERT_EQ(symlink("/etc", (root + "/link").c_str()), 0);
  const std::vector<std::string> odd = {"../etc/passwd", "top/inner", "link/passwd", "a/x"};
  auto o = WalkSources({root}, {}, &odd);
  ASSERT_TRUE(o.ok()) << o.status().message();
  paths.clear();
  for (const auto& e : o->entries) paths.push_back(e.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"a", "a/x"}));
  EXPECT_EQ(o->skipped_paths, std::vector<std::string>{"../etc/passwd"});
}

}  // namespace
}  // namespace ferry
