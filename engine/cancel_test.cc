// Cancellation (SIGINT/SIGTERM): every operation stops on its token, returns
// kInterrupted, and leaves nothing half-done behind.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>

#include "engine/ops.h"
#include "manifest/repo.h"
#include "testing/push_util.h"
#include "testing/test_util.h"
#include "transport/local_store.h"
#include "util/parallel.h"

namespace ferry {
namespace {

using testing::RandomBytes;
using testing::TempDir;

TEST(CancelTest, ParallelForStartsNothingOnceCancelled) {
  CancelToken token;
  std::atomic<int> ran{0};
  EXPECT_TRUE(ParallelFor(
      100, 4, [&](size_t) { ran++; }, &token));
  EXPECT_EQ(ran.load(), 100);
  ran = 0;
  EXPECT_FALSE(ParallelFor(
      1000, 2,
      [&](size_t i) {
        ran++;
        if (i == 10) token.Cancel();
      },
      &token));
  EXPECT_LT(ran.load(), 1000);  // at most the indices already taken when it was cancelled
  EXPECT_EQ(token.Check("x").code(), Code::kInterrupted);
}

TEST(CancelTest, AnInterruptedPushRecordsNothing) {
  TempDir src, dir;
  src.Write("app.bin", RandomBytes(2 << 20, 3));
  LocalStore store(dir.path());
  PushReport first;
  ASSERT_TRUE(Push(&store, testing::SmallPush(src.path()), &first).ok());
  src.Write("app.bin", RandomBytes(2 << 20, 4));
  CancelToken token;
  token.Cancel();
  PushOptions o = testing::SmallPush(src.path());
  o.cancel = &token;
  PushReport r;
  Status st = Push(&store, o, &r);
  EXPECT_EQ(st.code(), Code::kInterrupted) << st.ToString();
  EXPECT_FALSE(r.recorded);
  EXPECT_EQ(*ReadRef(&store, "app/main"), first.manifest_id);  // the ref did not move
  EXPECT_EQ(ListManifests(&store)->size(), 1u);
  // The next run (not cancelled) completes.
  PushReport again;
  ASSERT_TRUE(Push(&store, testing::SmallPush(src.path()), &again).ok());
  EXPECT_NE(*ReadRef(&store, "app/main"), first.manifest_id);
}

TEST(CancelTest, AnInterruptedVerifyReportsAndMovesNothing) {
  TempDir src, dir;
  src.Write("app.bin", RandomBytes(600 << 10, 5));
  LocalStore store(dir.path());
  PushReport r;
  ASSERT_TRUE(Push(&store, testing::LoosePush(src.path()), &r).ok());
  auto m = LoadManifest(&store, r.manifest_id);
  const Digest id = m->files[0].chunks[0].id;
  std::string bytes = *store.Get(ChunkKey(id));
  bytes[bytes.size() / 2] ^= 1;
  ASSERT_TRUE(store.Put(ChunkKey(id), bytes).ok());
  CancelToken token;
  token.Cancel();
  VerifyOptions vo;
  vo.all = true;
  vo.cancel = &token;
  VerifyReport vr;
  EXPECT_EQ(Verify(&store, vo, &vr).code(), Code::kInterrupted);
  EXPECT_TRUE(vr.chunk_problems.empty());
  EXPECT_TRUE(store.Size(ChunkKey(id)).ok());  // not moved aside on a partial look
}

TEST(CancelTest, AnInterruptedRestoreLeavesNoFileHalfWritten) {
  TempDir src, dir, out;
  src.Write("a.bin", RandomBytes(300 << 10, 6));
  LocalStore store(dir.path());
  PushReport r;
  ASSERT_TRUE(Push(&store, testing::SmallPush(src.path()), &r).ok());
  CancelToken token;
  token.Cancel();
  RestoreOptions ro;
  ro.what = "app/main";
  ro.target = out.path() + "/t";
  ro.cancel = &token;
  RestoreReport rr;
  EXPECT_EQ(Restore(&store, ro, &rr).code(), Code::kInterrupted);
  EXPECT_EQ(rr.files_written, 0u);
  EXPECT_FALSE(std::filesystem::exists(ro.target + "/a.bin"));
  ro.cancel = nullptr;
  RestoreReport again;
  EXPECT_TRUE(Restore(&store, ro, &again).ok());
  EXPECT_EQ(again.files_written, 1u);
}

}  // namespace
}  // namespace ferry
