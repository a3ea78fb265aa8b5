#include "engine/chunker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "testing/test_util.h"

namespace ferry {
namespace {

std::vector<size_t> Cuts(const std::string& data, const ChunkerParams& p, size_t feed) {
  Chunker c(p);
  std::vector<size_t> cuts;
  size_t pos = 0;
  const uint8_t* d = reinterpret_cast<const uint8_t*>(data.data());
  while (pos < data.size()) {
    size_t block_end = std::min(data.size(), (pos / feed + 1) * feed);
    bool cut;
    size_t n = c.Scan(d + pos, block_end - pos, &cut);
    pos += n;
    if (cut) cuts.push_back(pos);
  }
  if (cuts.empty() || cuts.back() != data.size()) cuts.push_back(data.size());
  return cuts;
}

ChunkerParams Small() {
  ChunkerParams p;
  p.min_size = 2048;
  p.avg_size = 8192;
  p.max_size = 32768;
  return p;
}

TEST(ChunkerTest, GoldenBoundariesSmallParams) {
  // Pinned: changing the gear table or the algorithm breaks dedup against every
  // existing store. If this fails, you changed the storage format.
  std::string data = testing::RandomBytes(128 * 1024, 42);
  std::vector<size_t> want = {9527,  21130, 31161, 41225,  51034,  59341,  67930,
                              77573, 82725, 92334, 102607, 112354, 122781, 131072};
  EXPECT_EQ(Cuts(data, Small(), data.size()), want);
}

TEST(ChunkerTest, GoldenBoundariesDefaultParams) {
  std::string data = testing::RandomBytes(12 << 20, 7);
  std::vector<size_t> want = {934918,  2442032, 2755514, 4070695,  4475486,  5648670, 6266422,
                              7486616, 8563778, 8869936, 10000932, 11892616, 12582912};
  EXPECT_EQ(Cuts(data, ChunkerParams{}, data.size()), want);
}

TEST(ChunkerTest, GearTableIsPinned) {
  EXPECT_EQ(GearTable()[0], 0x7cc55bab44a5f7aeULL);
  EXPECT_EQ(GearTable()[255], 0xe1d84778f0035c5eULL);
}

TEST(ChunkerTest, StreamingFindsTheSameBoundariesForAnyBlockSize) {
  std::string data = testing::RandomBytes(1 << 20, 3);
  auto whole = Cuts(data, Small(), data.size());
  for (size_t feed : {1u, 7u, 4096u, 5000u, 65536u})
    EXPECT_EQ(Cuts(data, Small(), feed), whole) << feed;
}

TEST(ChunkerTest, RespectsMinAndMax) {
  ChunkerParams p = Small();
  std::string data = testing::RandomBytes(2 << 20, 11);
  auto cuts = Cuts(data, p, data.size());
  size_t prev = 0;
  for (size_t i = 0; i < cuts.size(); i++) {
    size_t len = cuts[i] - prev;
    if (i + 1 < cuts.size()) {
      EXPECT_GE(len, p.min_size);
    }
    EXPECT_LE(len, p.max_size);
    prev = cuts[i];
  }
  // Normalized chunking keeps the mean near avg_size.
  double mean = static_cast<double>(data.size()) / cuts.size();
  EXPECT_GT(mean, p.avg_size * 0.6);
  EXPECT_LT(mean, p.avg_size * 1.6);
}

TEST(ChunkerTest, ZerosAreCutAtMaxSize) {
  std::string zeros(100000, '\0');
  auto cuts = Cuts(zeros, Small(), zeros.size());
  EXPECT_EQ(cuts[0], 32768u);
}

TEST(ChunkerTest, InsertionOnlyMovesNearbyBoundaries) {
  std::string data = testing::RandomBytes(1 << 20, 5);
  std::string shifted = data.substr(0, 300000) + "inserted bytes" + data.substr(300000);
  auto a = Cuts(data, Small(), data.size());
  auto b = Cuts(shifted, Small(), shifted.size());
  // Boundaries after the edit reappear shifted by the insertion length.
  size_t same = 0;
  for (size_t cut : a) {
    if (cut > 340000 && std::find(b.begin(), b.end(), cut + 14) != b.end()) same++;
  }
  size_t after = std::count_if(a.begin(), a.end(), [](size_t c) { return c > 340000; });
  EXPECT_EQ(same, after);
  // And boundaries well before it are untouched.
  for (size_t cut : a) {
    if (cut < 260000) {
      EXPECT_NE(std::find(b.begin(), b.end(), cut), b.end());
    }
  }
}

TEST(ChunkerTest, ValidateRejectsBadParams) {
  ChunkerParams p;
  p.avg_size = 1000000;  // not a power of two
  EXPECT_EQ(p.Validate().code(), Code::kUsage);
  p = ChunkerParams{};
  p.min_size = p.avg_size * 2;
  EXPECT_EQ(p.Validate().code(), Code::kUsage);
  p = ChunkerParams{};
  p.max_size = p.avg_size / 2;
  EXPECT_EQ(p.Validate().code(), Code::kUsage);
  EXPECT_TRUE(ChunkerParams{}.Validate().ok());
}

TEST(ChunkerTest, ParsesSizeSpec) {
  auto p = ParseChunkerParams("64K,256K,1M");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->min_size, 65536u);
  EXPECT_EQ(p->avg_size, 262144u);
  EXPECT_EQ(p->max_size, 1048576u);
  EXPECT_EQ(ParseChunkerParams("64K,256K").status().code(), Code::kUsage);
  EXPECT_EQ(ParseChunkerParams("a,b,c").status().code(), Code::kUsage);
}

}  // namespace
}  // namespace ferry
