#include "engine/stat_cache.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "engine/ops.h"
#include "engine/pack.h"
#include "manifest/repo.h"
#include "testing/mem_store.h"
#include "testing/push_util.h"
#include "testing/test_util.h"
#include "util/posix.h"

namespace ferry {
namespace {

using testing::RandomBytes;
using testing::TempDir;

TEST(StatCacheTest, EncodesAndDecodesEntries) {
  StatCache c;
  Digest sha{};
  sha[0] = 7;
  FileStat st{1, 2, 3, -4, 5};
  c.Add("a/b", {st, sha});
  c.Add("c", {FileStat{9, 9, 0, 1, 1}, Digest{}});
  auto d = StatCache::Decode(c.Encode(123));
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->size(), 2u);
  ASSERT_NE(d->Lookup("a/b", st), nullptr);
  EXPECT_EQ(*d->Lookup("a/b", st), sha);
  FileStat other = st;
  other.ctime_ns++;
  EXPECT_EQ(d->Lookup("a/b", other), nullptr);  // any field differs: not cached
  EXPECT_EQ(d->Lookup("x", st), nullptr);
}

TEST(StatCacheTest, RejectsDamage) {
  StatCache c;
  c.Add("a", {FileStat{1, 2, 3, 4, 5}, Digest{}});
  std::string bytes = c.Encode(1);
  for (size_t i = 0; i < bytes.size(); i++) {
    std::string bad = bytes;
    bad[i] ^= 0x01;
    EXPECT_FALSE(StatCache::Decode(bad).ok()) << "flipped byte " << i;
  }
  EXPECT_FALSE(StatCache::Decode(bytes.substr(0, bytes.size() - 1)).ok());
  EXPECT_FALSE(StatCache::Decode(bytes + "x").ok());
  TempDir dir;
  std::string path = dir.Write("cache", bytes.substr(0, 20));
  EXPECT_EQ(StatCache::Load(path).size(), 0u);  // damaged: an empty cache, no error
}

TEST(StatCacheTest, RacilyCleanEntriesAreNotTrusted) {
  const int64_t start = 100'000'000'000;
  EXPECT_TRUE(
      StatCache::IsClean(FileStat{0, 0, 0, start - 3'000'000'000, start - 3'000'000'000}, start));
  EXPECT_FALSE(StatCache::IsClean(FileStat{0, 0, 0, start - 3'000'000'000, start - 1'000'000'000},
                                  start));  // ctime within the margin
  EXPECT_FALSE(StatCache::IsClean(FileStat{0, 0, 0, start - 1, start - 3'000'000'000}, start));
}

// Push with a stat cache. Margin 0: files written by the test before the push
// count as clean (the real margin is 2 s).
PushOptions Opts(const std::string& src, const std::string& cache) {
  PushOptions o;
  o.sources = {src};
  o.ref = "app/main";
  o.cache_dir = cache;
  o.racy_margin_ns = 0;
  testing::UseSmallChunks(&o.pipeline);
  return o;
}

const FileEntry& Entry(const Manifest& m, const std::string& path) {
  for (const auto& e : m.files)
    if (e.path == path) return e;
  static FileEntry none;
  return none;
}

class StatCachePushTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_.Write("a.bin", RandomBytes(1 << 20, 1));
    src_.Write("b.bin", RandomBytes(600 << 10, 2));
    src_.Write("empty", "");
    ASSERT_TRUE(Push(&store_, Opts(src_.path(), cache_.path()), &first_).ok());
    EXPECT_EQ(first_.files_cached, 0u);
  }
  Manifest Load(const Digest& id) { return *LoadManifest(&store_, id); }

  TempDir src_, cache_;
  MemStore store_;
  PushReport first_;
};

TEST_F(StatCachePushTest, UntouchedFilesAreNotReadAndGetTheSameEntries) {
  PushReport r;
  ASSERT_TRUE(Push(&store_, Opts(src_.path(), cache_.path()), &r).ok());
  EXPECT_EQ(r.files_cached, 3u);
  EXPECT_EQ(r.bytes_read, 0u);
  EXPECT_EQ(r.bytes_cached, first_.bytes_read);
  EXPECT_EQ(r.chunks, first_.chunks);
  Manifest m1 = Load(first_.manifest_id), m2 = Load(r.manifest_id);
  for (const char* p : {"a.bin", "b.bin", "empty"}) {
    EXPECT_EQ(Entry(m1, p).sha256, Entry(m2, p).sha256) << p;
    EXPECT_EQ(Entry(m1, p).xxh3, Entry(m2, p).xxh3) << p;
    EXPECT_EQ(Entry(m1, p).chunks.size(), Entry(m2, p).chunks.size()) << p;
  }
  VerifyReport v;
  ASSERT_TRUE(Verify(&store_, VerifyOptions{{"app/main"}}, &v).ok());
}

TEST_F(StatCachePushTest, SameSizeAndMtimeWithOtherBytesIsReadAgain) {
  // What a CI cache restore or `touch -r` does: other bytes, old size and mtime.
  std::string path = src_.path() + "/a.bin";
  struct stat before;
  ASSERT_EQ(stat(path.c_str(), &before), 0);
  std::string edited = RandomBytes(1 << 20, 1);
  edited[1000] ^= 0x55;
  src_.Write("a.bin", edited);
  struct timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
  PushReport r;
  ASSERT_TRUE(Push(&store_, Opts(src_.path(), cache_.path()), &r).ok());
  EXPECT_EQ(r.files_cached, 2u);  // b.bin and empty
  EXPECT_EQ(r.bytes_read, edited.size());
  Manifest m1 = Load(first_.manifest_id), m2 = Load(r.manifest_id);
  EXPECT_EQ(Entry(m1, "a.bin").mtime_ns, Entry(m2, "a.bin").mtime_ns);
  EXPECT_NE(Entry(m1, "a.bin").sha256, Entry(m2, "a.bin").sha256);
  Sha256 h;
  h.Update(edited.data(), edited.size());
  EXPECT_EQ(Entry(m2, "a.bin").sha256, h.Finish());
}

TEST_F(StatCachePushTest, RehashReadsEverything) {
  PushOptions o = Opts(src_.path(), cache_.path());
  o.rehash = true;
  PushReport r;
  ASSERT_TRUE(Push(&store_, o, &r).ok());
  EXPECT_EQ(r.files_cached, 0u);
  EXPECT_EQ(r.bytes_read, first_.bytes_read);
}

TEST_F(StatCachePushTest, AMissingChunkMakesThePushReadAndStoreItAgain) {
  Manifest m1 = Load(first_.manifest_id);
  const Digest lost = Entry(m1, "b.bin").chunks[0].id;  // in a pack (16..256 KiB chunks)
  auto before = ChunkCatalog::Load(&store_, 2);
  ASSERT_TRUE(before.ok());
  auto at = (*before)->Find(lost);
  ASSERT_TRUE(at);
  // As verify sets a damaged blob aside: the chunk no longer counts.
  ASSERT_TRUE(store_.Put(DamagedPackedKey(lost, at->pack), "x").ok());
  PushReport r;
  ASSERT_TRUE(Push(&store_, Opts(src_.path(), cache_.path()), &r).ok());
  EXPECT_EQ(r.files_cached, 2u);  // a.bin and empty
  EXPECT_EQ(r.bytes_read, 600u << 10);
  EXPECT_EQ(r.chunks_new, 1u);
  auto after = ChunkCatalog::Load(&store_, 2);
  ASSERT_TRUE(after.ok() && (*after)->Find(lost));
  EXPECT_NE((*after)->Find(lost)->pack, at->pack);
  VerifyReport v;
  EXPECT_TRUE(Verify(&store_, VerifyOptions{{"app/main"}}, &v).ok());
}

TEST_F(StatCachePushTest, RacilyCleanFilesAreNotCached) {
  PushOptions o = Opts(src_.path(), cache_.path());
  o.racy_margin_ns = 3600'000'000'000;  // every file was touched "just now"
  PushReport r1, r2;
  ASSERT_TRUE(Push(&store_, o, &r1).ok());  // trusts the old cache, writes an empty one
  EXPECT_EQ(r1.files_cached, 3u);
  ASSERT_TRUE(Push(&store_, o, &r2).ok());
  EXPECT_EQ(r2.files_cached, 0u);
  EXPECT_EQ(r2.bytes_read, first_.bytes_read);
}

TEST_F(StatCachePushTest, OtherChunkParametersReadEverything) {
  PushOptions o = Opts(src_.path(), cache_.path());
  o.pipeline.chunking.max_size = 512 << 10;
  PushReport r;
  ASSERT_TRUE(Push(&store_, o, &r).ok());
  EXPECT_EQ(r.files_cached, 0u);
}

TEST_F(StatCachePushTest, ADamagedCacheOnlyCostsARead) {
  auto names = ListDir(cache_.path() + "/stat");
  ASSERT_TRUE(names.ok());
  ASSERT_EQ(names->size(), 1u);
  std::string path = cache_.path() + "/stat/" + (*names)[0];
  std::string bytes = *ReadFileToString(path);
  bytes[bytes.size() / 2] ^= 1;
  ASSERT_TRUE(WriteFileAtomic(cache_.path() + "/stat", (*names)[0], bytes).ok());
  PushReport r1, r2;
  ASSERT_TRUE(Push(&store_, Opts(src_.path(), cache_.path()), &r1).ok());
  EXPECT_EQ(r1.files_cached, 0u);
  ASSERT_TRUE(Push(&store_, Opts(src_.path(), cache_.path()), &r2).ok());
  EXPECT_EQ(r2.files_cached, 3u);  // rewritten by the push before
}

TEST_F(StatCachePushTest, AnotherRefHasItsOwnCache) {
  PushOptions o = Opts(src_.path(), cache_.path());
  o.ref = "app/other";
  PushReport r;
  ASSERT_TRUE(Push(&store_, o, &r).ok());
  EXPECT_EQ(r.files_cached, 0u);
}

}  // namespace
}  // namespace ferry

namespace ferry {
namespace {

TEST(StatCacheTest, KeepFromAddsTheOlderEntriesThisOneLacks) {
  StatCache older, newer;
  Digest one{}, two{};
  one[0] = 1;
  two[0] = 2;
  const FileStat st{1, 2, 3, 4, 5};
  for (const char* p : {"a", "c", "e"}) older.Add(p, {st, one});
  for (const char* p : {"b", "c", "f"}) newer.Add(p, {st, two});
  newer.KeepFrom(older);
  EXPECT_EQ(newer.size(), 5u);
  for (const char* p : {"a", "e"}) EXPECT_EQ(*newer.Lookup(p, st), one) << p;
  for (const char* p : {"b", "c", "f"}) EXPECT_EQ(*newer.Lookup(p, st), two) << p;  // newer wins
  auto d = StatCache::Decode(newer.Encode(0));  // still sorted: it decodes and finds each
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d->Lookup("a", st), one);
  EXPECT_EQ(*d->Lookup("f", st), two);
}

}  // namespace
}  // namespace ferry
