#include "engine/pack.h"

#include <gtest/gtest.h>

#include "engine/chunk_codec.h"
#include "engine/ops.h"
#include "manifest/repo.h"
#include "testing/mem_store.h"
#include "testing/push_util.h"
#include "testing/test_util.h"
#include "util/posix.h"

namespace ferry {
namespace {

using testing::RandomBytes;
using testing::SmallPush;
using testing::TempDir;

Digest Id(int n) { return Sha256::Of(std::to_string(n)); }

// A pack of two blobs stored in `store` (and its index, if `with_index`).
PackBuilder::Sealed TwoBlobPack(MemStore* store, std::string_view a, std::string_view b,
                                bool with_index) {
  PackBuilder builder;
  builder.Add(Id(1), a, 3);
  builder.Add(Id(2), b, 9);
  auto p = builder.Seal();
  EXPECT_TRUE(store->Put(PackKey(p.id), p.data).ok());
  if (with_index) {
    EXPECT_TRUE(store->Put(PackIndexKey(p.id), p.index).ok());
  }
  return p;
}

size_t CountPrefix(MemStore& store, const std::string& prefix) {
  size_t n = 0;
  for (const auto& [k, v] : store.Snapshot()) n += k.rfind(prefix, 0) == 0;
  return n;
}

TEST(PackIndexTest, RoundTripsAndRefusesDamage) {
  std::vector<PackEntry> in = {{Id(1), 0, 10, 20}, {Id(2), 10, 5, 5}};
  std::string bytes = EncodePackIndex(in);
  auto out = DecodePackIndex(bytes, 15);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[1].id, Id(2));
  EXPECT_EQ((*out)[1].offset, 10u);
  EXPECT_EQ((*out)[0].raw, 20u);
  // A blob beyond the pack's blob area, and one flipped byte.
  EXPECT_TRUE(DecodePackIndex(bytes, 14).status().data_loss());
  bytes[25] ^= 1;
  EXPECT_TRUE(DecodePackIndex(bytes, 15).status().data_loss());
}

TEST(PackIndexTest, TrailerGivesTheSameIndex) {
  MemStore store;
  auto sealed = TwoBlobPack(&store, "abc", "defgh", false);
  EXPECT_EQ(sealed.id, Sha256::Of(sealed.data));
  auto entries = ReadPackTrailer(&store, sealed.id, sealed.data.size());
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[1].offset, 3u);
  EXPECT_EQ((*entries)[1].stored, 5u);
  EXPECT_EQ(EncodePackIndex(*entries), sealed.index);
}

TEST(ChunkCatalogTest, ReadsIndexesOfListedPacksOnlyAndFallsBackToTrailers) {
  MemStore store;
  PackBuilder b;
  b.Add(Id(1), "abc", 3);
  auto with_index = b.Seal();
  b.Add(Id(2), "xyz", 3);
  auto without_index = b.Seal();
  b.Add(Id(3), "qqq", 3);
  auto index_only = b.Seal();
  ASSERT_TRUE(store.Put(PackKey(with_index.id), with_index.data).ok());
  ASSERT_TRUE(store.Put(PackIndexKey(with_index.id), with_index.index).ok());
  ASSERT_TRUE(store.Put(PackKey(without_index.id), without_index.data).ok());  // crash before index
  ASSERT_TRUE(store.Put(PackIndexKey(index_only.id), index_only.index).ok());  // pack gone
  auto cat = ChunkCatalog::Load(&store, 2);
  ASSERT_TRUE(cat.ok()) << cat.status().ToString();
  ASSERT_TRUE((*cat)->Find(Id(1)));
  EXPECT_EQ((*cat)->Find(Id(1))->pack, with_index.id);
  ASSERT_TRUE((*cat)->Find(Id(2)));
  EXPECT_FALSE((*cat)->Find(Id(3)));
  EXPECT_EQ((*cat)->size(), 2u);
}

TEST(ChunkCatalogTest, LeavesOutBlobsNamedDamaged) {
  MemStore store;
  auto p = TwoBlobPack(&store, "abc", "def", true);
  ASSERT_TRUE(store.Put(DamagedPackedKey(Id(2), p.id), "def").ok());
  auto cat = ChunkCatalog::Load(&store, 2);
  ASSERT_TRUE(cat.ok());
  EXPECT_TRUE((*cat)->Find(Id(1)));
  EXPECT_FALSE((*cat)->Find(Id(2)));
}

// bytes() is the sealed pack's size, index and trailer included, so a pack
// of tiny blobs is cut at its target like any other.
TEST(PackIndexTest, BytesCountsTheIndex) {
  PackBuilder b;
  for (int i = 0; i < 1000; i++) b.Add(Id(i), "xy", 2);
  const size_t predicted = b.bytes();
  EXPECT_EQ(b.Seal().data.size(), predicted);
}

// A pack cut short (a disk that lost data) vouches for no blob beyond its
// end, even if its index/ copy survived.
TEST(ChunkCatalogTest, ATruncatedPackDoesNotVouchForItsBlobs) {
  MemStore store;
  auto p = TwoBlobPack(&store, "abc", "defgh", true);
  store.Mutate(PackKey(p.id), [](std::string* s) { s->resize(3); });
  auto cat = ChunkCatalog::Load(&store, 2);
  ASSERT_TRUE(cat.ok()) << cat.status().ToString();
  EXPECT_FALSE((*cat)->Find(Id(1)));
  EXPECT_FALSE((*cat)->Find(Id(2)));
}

// A store whose first `failures` ranged reads fail (a timeout after retries).
class FlakyRangeStore final : public ObjectStore {
 public:
  explicit FlakyRangeStore(int failures) : failures_(failures) {}
  MemStore base;
  std::string Describe() const override { return "flaky://"; }
  Status Put(std::string_view k, std::string_view d) override { return base.Put(k, d); }
  Result<std::string> Get(std::string_view k) override { return base.Get(k); }
  Result<std::string> GetRange(std::string_view k, uint64_t o, uint64_t n) override {
    if (failures_-- > 0) return Status::StoreUnavailable("timed out");
    return base.GetRange(k, o, n);
  }
  Result<uint64_t> Size(std::string_view k) override { return base.Size(k); }
  Result<std::vector<std::string>> List(std::string_view p) override { return base.List(p); }
  Status Delete(std::string_view k) override { return base.Delete(k); }
  Status ReplaceIf(std::string_view k, const std::optional<std::string>& e,
                   std::string_view d) override {
    return base.ReplaceIf(k, e, d);
  }

 private:
  int failures_;
};

// A window that could not be read is not kept: the blob, and its neighbours
// after it, are read on their own instead of all failing with it.
TEST(PackReaderTest, AFailedWindowIsNotKeptForItsNeighbours) {
  FlakyRangeStore store(1);
  const Digest pack = Id(7);
  ASSERT_TRUE(store.Put(PackKey(pack), "aaaaabbbbbccccc").ok());
  PackReader reader(&store, 100, 4);
  EXPECT_EQ(*reader.Read(pack, 0, 5), "aaaaa");  // the window failed; the blob alone did not
  EXPECT_EQ(*reader.Read(pack, 5, 5), "bbbbb");
  EXPECT_EQ(*reader.Read(pack, 10, 5), "ccccc");
}

// Blobs in one window cost one read; one straddling two windows, or read
// fresh, is a ranged read of its own.
TEST(PackReaderTest, OneReadServesAWindowOfBlobs) {
  MemStore store;
  const Digest pack = Id(7);
  std::string bytes;
  for (int i = 0; i < 20; i++) bytes += std::string(10, static_cast<char>('a' + i));
  ASSERT_TRUE(store.Put(PackKey(pack), bytes).ok());
  PackReader reader(&store, 100, 4);
  for (int i = 0; i < 10; i++) EXPECT_EQ(*reader.Read(pack, i * 10, 10), std::string(10, 'a' + i));
  EXPECT_EQ(reader.reads(), 1u);
  EXPECT_EQ(*reader.Read(pack, 95, 10), "jjjjjkkkkk");  // straddles 100
  EXPECT_EQ(reader.reads(), 2u);
  EXPECT_EQ(*reader.Read(pack, 20, 10, /*fresh=*/true), "cccccccccc");
  EXPECT_EQ(reader.reads(), 3u);
  EXPECT_EQ(*reader.Read(pack, 190, 10), std::string(10, 't'));  // the last, short window
  EXPECT_EQ(reader.reads(), 4u);
  EXPECT_EQ(reader.Read(Id(8), 0, 10).status().code(), Code::kNotFound);
}

// 300 small files become one pack (and its index), not 300 objects; a second
// push of the same tree stores nothing; restore gives the bytes back.
TEST(PackPushTest, SmallFilesGoIntoPacksAndRestore) {
  TempDir src, out;
  for (int i = 0; i < 300; i++) src.Write("f" + std::to_string(i), RandomBytes(1000 + i * 7, i));
  src.Write("big.bin", RandomBytes(3 << 20, 99));  // chunks of 16..256 KiB: some stay loose
  MemStore store;
  auto opts = SmallPush(src.path());
  opts.pack_below = 64 << 10;
  PushReport r;
  ASSERT_TRUE(Push(&store, opts, &r).ok());
  EXPECT_EQ(r.packs_new, 1u);
  EXPECT_EQ(CountPrefix(store, "packs/"), 1u);
  EXPECT_EQ(CountPrefix(store, "index/"), 1u);
  size_t loose = CountPrefix(store, "chunks/");
  EXPECT_GT(loose, 0u);
  EXPECT_LT(loose, 60u);  // the big file's chunks of 64 KiB and more only
  EXPECT_EQ(r.chunks_new, r.chunks);

  PushReport again;
  ASSERT_TRUE(Push(&store, opts, &again).ok());
  EXPECT_EQ(again.chunks_new, 0u);
  EXPECT_EQ(again.packs_new, 0u);

  RestoreOptions ro;
  ro.what = "app/main";
  ro.target = out.path();
  RestoreReport rr;
  ASSERT_TRUE(Restore(&store, ro, &rr).ok());
  EXPECT_EQ(*ReadFileToString(out.path() + "/f299"), *ReadFileToString(src.path() + "/f299"));
  EXPECT_EQ(*ReadFileToString(out.path() + "/big.bin"), *ReadFileToString(src.path() + "/big.bin"));
}

// Pack target 1 MiB: many packs, each at most about that size.
TEST(PackPushTest, PacksAreCutAtTheTargetSize) {
  TempDir src;
  for (int i = 0; i < 200; i++) src.Write("f" + std::to_string(i), RandomBytes(20000, i));
  MemStore store;
  auto opts = SmallPush(src.path());
  opts.pack_size = 1 << 20;
  PushReport r;
  ASSERT_TRUE(Push(&store, opts, &r).ok());
  EXPECT_GE(r.packs_new, 3u);  // 4 MB of incompressible files
  for (const auto& [k, v] : store.Snapshot()) {
    if (k.rfind("packs/", 0) == 0) {
      EXPECT_LT(v.size(), (1u << 20) + 30000);
    }
  }
}

// A flipped byte inside a packed blob: verify names the chunk, sets the blob
// aside (the pack and its other chunks stay), the next push stores that
// chunk again in a new pack, and verify passes.
TEST(PackPushTest, DamagedBlobIsSetAsideAndRepairedByThePush) {
  TempDir src;
  for (int i = 0; i < 20; i++) src.Write("f" + std::to_string(i), RandomBytes(3000, i));
  MemStore store;
  auto opts = SmallPush(src.path());
  PushReport r;
  ASSERT_TRUE(Push(&store, opts, &r).ok());
  std::string pack_key;
  for (const auto& [k, v] : store.Snapshot())
    if (k.rfind("packs/", 0) == 0) pack_key = k;
  ASSERT_FALSE(pack_key.empty());
  store.Mutate(pack_key, [](std::string* s) { (*s)[100] ^= 0x40; });  // inside blob 0

  VerifyOptions vo;
  vo.refs = {"app/main"};
  VerifyReport bad;
  EXPECT_EQ(Verify(&store, vo, &bad).code(), Code::kVerifyFailed);
  ASSERT_EQ(bad.chunk_problems.size(), 1u);
  EXPECT_TRUE(bad.chunk_problems[0].moved_aside);
  EXPECT_EQ(CountPrefix(store, "damaged/"), 1u);
  EXPECT_EQ(CountPrefix(store, "packs/"), 1u);  // kept: its other chunks are fine

  PushReport repair;
  ASSERT_TRUE(Push(&store, opts, &repair).ok());
  EXPECT_EQ(repair.chunks_new, 1u);
  EXPECT_EQ(repair.packs_new, 1u);
  VerifyReport good;
  EXPECT_TRUE(Verify(&store, vo, &good).ok());
}

// A store that held small chunks loose (format 2) keeps serving them: a push
// finds them there and stores nothing, and the marker says so once raised.
TEST(PackPushTest, LooseSmallChunksOfAFormat2StoreCount) {
  TempDir src;
  for (int i = 0; i < 10; i++) src.Write("f" + std::to_string(i), RandomBytes(3000, i));
  MemStore store;
  ASSERT_TRUE(store.Put("FERRY-STORE", "ferry store format 2\n").ok());
  auto opts = SmallPush(src.path());
  opts.pack_below = 0;  // as format 2 wrote them: every chunk an object
  PushReport first;
  ASSERT_TRUE(Push(&store, opts, &first).ok());
  EXPECT_EQ(first.packs_new, 0u);
  EXPECT_EQ(*store.Get("FERRY-STORE"), "ferry store format 2\n");  // nothing needed more
  opts.pack_below = 256 << 10;
  PushReport second;
  ASSERT_TRUE(Push(&store, opts, &second).ok());
  EXPECT_EQ(second.chunks_new, 0u);
  EXPECT_EQ(second.packs_new, 0u);
  EXPECT_EQ(*store.Get("FERRY-STORE"), "ferry store format 3\nloose small chunks\n");
}

// A pack that cannot be written fails the push: no manifest names chunks
// that are not there.
TEST(PackPushTest, FailedPackWriteFailsThePush) {
  TempDir src;
  for (int i = 0; i < 20; i++) src.Write("f" + std::to_string(i), RandomBytes(3000, i));
  MemStore base;
  FaultyStore store(&base);
  store.fail_puts_after = 0;
  PushReport r;
  EXPECT_FALSE(Push(&store, SmallPush(src.path()), &r).ok());
  EXPECT_EQ(CountPrefix(base, "manifests/"), 0u);
}

}  // namespace
}  // namespace ferry
