#include "engine/copy_plan.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "testing/test_util.h"

namespace ferry {
namespace {

// A file as a list of chunks, each with its bytes (an ID is the SHA-256).
struct File {
  std::vector<std::string> chunks;
  std::string Bytes() const {
    std::string s;
    for (const auto& c : chunks) s += c;
    return s;
  }
  std::vector<ChunkInfo> Infos() const {
    std::vector<ChunkInfo> v;
    for (const auto& c : chunks) v.push_back({Sha256::Of(c), static_cast<uint32_t>(c.size())});
    return v;
  }
};

struct Part {
  bool copy;
  uint64_t offset, length, old_offset;
};

// Runs the planner over `now` against `old` the way MirrorUploader does, and
// checks every step against the bytes: parts tile the file in order, a copy
// part's old bytes are the new bytes it stands for, sizes keep S3's rules.
std::vector<Part> PlanAndCheck(const File& old, const File& now, uint64_t part_size,
                               uint64_t min_part, uint64_t max_copy) {
  const std::string a = old.Bytes(), b = now.Bytes();
  CopyPlanner planner(old.Infos(), part_size, min_part, max_copy);
  std::vector<CopyPlanStep> steps;
  uint64_t at = 0;
  for (const auto& c : now.Infos()) {
    planner.Add(at, c, &steps);
    at += c.size;
  }
  planner.Finish(&steps);
  std::vector<Part> parts;
  uint64_t decided = 0, copy_start = 0;
  std::string copying;
  for (const auto& s : steps) {
    switch (s.kind) {
      case CopyPlanStep::Kind::kUpload:
        EXPECT_TRUE(copying.empty()) << "an upload inside a copy part";
        EXPECT_GT(s.end, decided);
        parts.push_back({false, decided, s.end - decided, 0});
        decided = s.end;
        break;
      case CopyPlanStep::Kind::kCopyBytes:
        if (copying.empty()) copy_start = decided;
        copying += b.substr(decided, s.length);
        decided += s.length;
        break;
      case CopyPlanStep::Kind::kCopyPart:
        EXPECT_EQ(s.length, copying.size());
        EXPECT_EQ(a.substr(s.old_offset, s.length), copying) << "copied the wrong old bytes";
        EXPECT_LE(s.length, max_copy);
        parts.push_back({true, copy_start, s.length, s.old_offset});
        copying.clear();
        break;
    }
  }
  EXPECT_TRUE(copying.empty()) << "a copy part never completed";
  EXPECT_EQ(decided, b.size());
  uint64_t next = 0;
  for (size_t i = 0; i < parts.size(); i++) {
    EXPECT_EQ(parts[i].offset, next);
    next += parts[i].length;
    if (i + 1 < parts.size()) {
      EXPECT_GE(parts[i].length, min_part) << "part " << i;
    }
  }
  return parts;
}

uint64_t Copied(const std::vector<Part>& parts) {
  uint64_t n = 0;
  for (const auto& p : parts) n += p.copy ? p.length : 0;
  return n;
}

File Chunks(uint64_t seed, int n, size_t size) {
  File f;
  for (int i = 0; i < n; i++) f.chunks.push_back(testing::RandomBytes(size, seed * 1000 + i));
  return f;
}

TEST(CopyPlanTest, WithoutAnEarlierVersionEverythingIsUploadedInParts) {
  File now = Chunks(1, 20, 10);
  auto parts = PlanAndCheck(File{}, now, 80, 50, 1000);
  EXPECT_EQ(Copied(parts), 0u);
  ASSERT_EQ(parts.size(), 3u);  // cut at chunk boundaries once 80 bytes are undecided
  EXPECT_EQ(parts[0].length, 80u);
  EXPECT_EQ(parts[2].length, 40u);
}

TEST(CopyPlanTest, AnUnchangedFileIsOneCopy) {
  File old = Chunks(2, 10, 10);
  auto parts = PlanAndCheck(old, old, 80, 50, 1000);
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_TRUE(parts[0].copy);
  EXPECT_EQ(parts[0].length, 100u);
}

TEST(CopyPlanTest, AShortInsertionBorrowsFromTheCopyToMakeAWholePart) {
  File old = Chunks(3, 10, 10);
  File now = old;
  now.chunks.insert(now.chunks.begin(), testing::RandomBytes(10, 99));  // 10 new bytes first
  auto parts = PlanAndCheck(old, now, 80, 50, 1000);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_FALSE(parts[0].copy);
  EXPECT_EQ(parts[0].length, 50u);  // 10 new bytes + 40 borrowed from the run
  EXPECT_TRUE(parts[1].copy);
  EXPECT_EQ(parts[1].old_offset, 40u);
  EXPECT_EQ(Copied(parts), 60u);
}

TEST(CopyPlanTest, LongRunsAreSplitAtTheCopyLimitAndShortOnesUploaded) {
  File old = Chunks(4, 100, 10);
  auto parts = PlanAndCheck(old, old, 80, 50, 300);
  EXPECT_EQ(Copied(parts), 1000u);
  for (const auto& p : parts) EXPECT_LE(p.length, 300u);
  File twice = Chunks(5, 3, 10);  // runs of 30 bytes: shorter than a part
  File now = Chunks(6, 20, 10);
  for (int i = 0; i < 20; i += 5) now.chunks[i] = twice.chunks[0];
  EXPECT_EQ(Copied(PlanAndCheck(twice, now, 80, 50, 300)), 0u);
}

// Random edits of random files: every plan keeps the rules and copies only
// bytes that are the same, and a file with one edit in the middle is mostly copied.
TEST(CopyPlanTest, RandomEditsKeepTheRules) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 300; trial++) {
    File old;
    int n = 5 + static_cast<int>(rng() % 60);
    for (int i = 0; i < n; i++) old.chunks.push_back(testing::RandomBytes(4 + rng() % 30, rng()));
    File now;
    for (const auto& c : old.chunks) {
      switch (rng() % 10) {
        case 0:  // dropped
          break;
        case 1:  // replaced
          now.chunks.push_back(testing::RandomBytes(4 + rng() % 30, rng()));
          break;
        case 2:  // a chunk from anywhere in the old file, then this one
          now.chunks.push_back(old.chunks[rng() % old.chunks.size()]);
          now.chunks.push_back(c);
          break;
        default:
          now.chunks.push_back(c);
      }
    }
    if (now.chunks.empty()) continue;
    PlanAndCheck(old, now, 60 + rng() % 60, 40, 100 + rng() % 400);
    if (HasFailure()) {
      ADD_FAILURE() << "trial " << trial;
      return;
    }
  }
  File big = Chunks(8, 200, 10), edited = big;
  edited.chunks[100] = testing::RandomBytes(10, 12345);
  EXPECT_GE(Copied(PlanAndCheck(big, edited, 80, 50, 5000)), 1800u);
}

}  // namespace
}  // namespace ferry
