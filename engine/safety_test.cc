// The data-safety guarantees of push, verify and restore (issue 8): each
// test is one way a DR copy could silently stop being what it claims.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <set>
#include <thread>

#include "engine/ops.h"
#include "manifest/repo.h"
#include "testing/mem_store.h"
#include "testing/push_util.h"
#include "testing/test_util.h"
#include "transport/local_store.h"
#include "util/posix.h"

namespace ferry {
namespace {

using testing::LoosePush;
using testing::RandomBytes;
using testing::SmallPush;
using testing::TempDir;

RestoreOptions RestoreTo(const std::string& what, const std::string& target) {
  RestoreOptions o;
  o.what = what;
  o.target = target;
  o.threads = 2;
  return o;
}

// Follows a ref's parent chain and returns every manifest on it.
std::set<Digest> History(ObjectStore* store, const std::string& ref) {
  std::set<Digest> out;
  auto id = ReadRef(store, ref);
  std::optional<Digest> at = id.ok() ? std::optional<Digest>(*id) : std::nullopt;
  while (at && out.insert(*at).second) {
    auto m = LoadManifest(store, *at);
    if (!m.ok()) break;
    at = m->parent;
  }
  return out;
}

TEST(SafetyTest, ConcurrentPushesToOneRefKeepEveryBuildInItsHistory) {
  TempDir src, dir;
  LocalStore store(dir.path());
  constexpr int kPushes = 6;
  std::vector<TempDir> trees(kPushes);
  for (int i = 0; i < kPushes; i++) trees[i].Write("build.txt", "build " + std::to_string(i));
  std::vector<PushReport> reports(kPushes);
  std::vector<std::thread> threads;
  for (int i = 0; i < kPushes; i++)
    threads.emplace_back([&, i] {
      // pread: several io_uring rings created and torn down at once in one
      // process confuse ThreadSanitizer (liburing maps them with raw
      // syscalls it cannot see); what is tested here is the ref, not the read.
      PushOptions o = SmallPush(trees[i].path());
      o.pipeline.io = IoBackend::kPread;
      Status st = Push(&store, o, &reports[i]);
      EXPECT_TRUE(st.ok()) << st.ToString();
    });
  for (auto& t : threads) t.join();
  auto history = History(&store, "app/main");
  EXPECT_EQ(history.size(), static_cast<size_t>(kPushes));
  for (const auto& r : reports) EXPECT_EQ(history.count(r.manifest_id), 1u);
}

// A MemStore behind the ObjectStore interface; the stores below perturb one call.
class ForwardingStore : public ObjectStore {
 public:
  Status Put(std::string_view k, std::string_view d) override { return base_.Put(k, d); }
  Result<std::string> Get(std::string_view k) override { return base_.Get(k); }
  Result<uint64_t> Size(std::string_view k) override { return base_.Size(k); }
  Result<std::vector<std::string>> List(std::string_view p) override { return base_.List(p); }
  Status Delete(std::string_view k) override { return base_.Delete(k); }
  Status ReplaceIf(std::string_view k, const std::optional<std::string>& expected,
                   std::string_view d) override {
    return base_.ReplaceIf(k, expected, d);
  }
  MemStore base_;
};

// A store whose first compare-and-swap lands but answers "conflict", as a
// conditional PUT does when its answer is lost and the retry meets the
// object the first attempt wrote.
class LostAnswerStore final : public ForwardingStore {
 public:
  std::string Describe() const override { return "lost-answer://"; }
  Status ReplaceIf(std::string_view k, const std::optional<std::string>& expected,
                   std::string_view d) override {
    RETURN_IF_ERROR(base_.ReplaceIf(k, expected, d));
    if (lost_++ == 0) return Status::Conflict("precondition failed (the retry of a landed write)");
    return Status::OK();
  }
  int lost_ = 0;
};

// A store on which another push lands just before this push's first
// compare-and-swap of a ref (so that swap conflicts).
class RacedStore final : public ForwardingStore {
 public:
  std::string Describe() const override { return "raced://"; }
  Status ReplaceIf(std::string_view k, const std::optional<std::string>& expected,
                   std::string_view d) override {
    if (race_) std::exchange(race_, nullptr)();
    return base_.ReplaceIf(k, expected, d);
  }
  std::function<void()> race_;
};

std::vector<std::string> Paths(ObjectStore* store, const Digest& id) {
  std::vector<std::string> out;
  auto m = LoadManifest(store, id);
  if (m.ok())
    for (const auto& f : m->files) out.push_back(f.path);
  return out;
}

// Two matrix jobs merge into one ref at once: the one that lands second is
// merged again onto the other's build, so the latest build holds both.
TEST(SafetyTest, ConcurrentMergesBothEndUpInTheLatestBuild) {
  TempDir common, linux_job, mac_job;
  common.Write("readme.txt", "shared");
  linux_job.Write("linux.bin", RandomBytes(40 << 10, 31));
  mac_job.Write("mac.bin", RandomBytes(40 << 10, 32));
  RacedStore store;
  auto merge_push = [](const std::string& src) {
    PushOptions o = SmallPush(src);
    o.merge = true;
    return o;
  };
  PushReport first, linux_r, mac_r;
  ASSERT_TRUE(Push(&store, merge_push(common.path()), &first).ok());
  EXPECT_FALSE(first.merged_onto.has_value());
  store.race_ = [&] { ASSERT_TRUE(Push(&store.base_, merge_push(mac_job.path()), &mac_r).ok()); };
  Status st = Push(&store, merge_push(linux_job.path()), &linux_r);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(mac_r.merged_onto, first.manifest_id);
  EXPECT_EQ(linux_r.merged_onto, mac_r.manifest_id);  // merged again onto the build it lost to
  EXPECT_EQ(linux_r.parent, mac_r.manifest_id);
  EXPECT_EQ(linux_r.build_files, 3u);
  auto head = ReadRef(&store, "app/main");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(*head, linux_r.manifest_id);
  EXPECT_EQ(Paths(&store, *head), (std::vector<std::string>{"linux.bin", "mac.bin", "readme.txt"}));
  VerifyReport vr;
  EXPECT_TRUE(Verify(&store, VerifyOptions{{"app/main"}, false, 2}, &vr).ok());
  TempDir out;
  RestoreReport rr;
  ASSERT_TRUE(Restore(&store, RestoreTo("app/main", out.path() + "/r"), &rr).ok());
  EXPECT_EQ(*ReadFileToString(out.path() + "/r/mac.bin"),
            *ReadFileToString(mac_job.path() + "/mac.bin"));
}

TEST(SafetyTest, MergeNeedsARefAndNeverDeletes) {
  TempDir src;
  src.Write("a", "x");
  MemStore store;
  PushOptions o = SmallPush(src.path(), "");
  o.merge = true;
  PushReport r;
  EXPECT_EQ(Push(&store, o, &r).code(), Code::kUsage);
  o.ref = "app/main";
  o.propagate_deletes = true;
  EXPECT_EQ(Push(&store, o, &r).code(), Code::kUsage);
  EXPECT_TRUE(store.Snapshot().empty());
}

TEST(SafetyTest, ARefUpdateWhoseAnswerWasLostRecordsTheBuildOnce) {
  TempDir src;
  src.Write("a.txt", "one build");
  LostAnswerStore store;
  PushReport r;
  ASSERT_TRUE(Push(&store, SmallPush(src.path()), &r).ok());
  EXPECT_FALSE(r.parent.has_value());
  EXPECT_EQ(*ReadRef(&store, "app/main"), r.manifest_id);
  EXPECT_EQ(History(&store, "app/main").size(), 1u);  // not re-chained onto itself
  EXPECT_EQ(ListManifests(&store)->size(), 1u);
}

TEST(SafetyTest, AnEmptyBuildOutputIsRefusedUnlessAllowed) {
  TempDir src;
  std::filesystem::create_directories(src.path() + "/only/dirs");
  MemStore store;
  PushReport r;
  Status st = Push(&store, SmallPush(src.path()), &r);
  EXPECT_EQ(st.code(), Code::kSourceUnreadable);
  EXPECT_NE(st.message().find("--allow-empty"), std::string::npos);
  EXPECT_TRUE(store.Snapshot().empty());
  PushOptions allow = SmallPush(src.path());
  allow.allow_empty = true;
  EXPECT_TRUE(Push(&store, allow, &r).ok());
  EXPECT_TRUE(ReadRef(&store, "app/main").ok());
}

TEST(SafetyTest, VerifyMovesACorruptChunkAsideAndTheNextPushRepairsIt) {
  TempDir src, dir;
  src.Write("app.bin", RandomBytes(600 << 10, 21));
  LocalStore store(dir.path());
  PushReport r;
  ASSERT_TRUE(Push(&store, LoosePush(src.path()), &r).ok());
  auto m = LoadManifest(&store, r.manifest_id);
  const Digest flipped = m->files[0].chunks[1].id, cut = m->files[0].chunks[2].id;
  std::string bytes = *store.Get(ChunkKey(flipped));
  bytes[bytes.size() / 2] ^= 0x10;
  ASSERT_TRUE(store.Put(ChunkKey(flipped), bytes).ok());
  bytes = *store.Get(ChunkKey(cut));
  ASSERT_TRUE(store.Put(ChunkKey(cut), bytes.substr(0, bytes.size() / 2)).ok());  // truncated

  VerifyOptions vo;
  vo.refs = {"app/main"};
  VerifyReport vr;
  EXPECT_EQ(Verify(&store, vo, &vr).code(), Code::kVerifyFailed);
  ASSERT_EQ(vr.chunk_problems.size(), 2u);
  for (const auto& p : vr.chunk_problems) EXPECT_TRUE(p.moved_aside) << DigestHex(p.id);
  EXPECT_EQ(store.Size(ChunkKey(flipped)).status().code(), Code::kNotFound);
  EXPECT_TRUE(store.Get("damaged/" + DigestHex(flipped)).ok());  // kept for inspection

  PushReport again;
  ASSERT_TRUE(Push(&store, LoosePush(src.path()), &again).ok());
  EXPECT_EQ(again.chunks_new, 2u);
  VerifyReport ok;
  EXPECT_TRUE(Verify(&store, vo, &ok).ok());
}

TEST(SafetyTest, ReadOnlyVerifyWritesNothing) {
  TempDir src;
  src.Write("app.bin", RandomBytes(300 << 10, 22));
  MemStore store;
  PushReport r;
  ASSERT_TRUE(Push(&store, LoosePush(src.path()), &r).ok());
  auto m = LoadManifest(&store, r.manifest_id);
  store.Mutate(ChunkKey(m->files[0].chunks[0].id), [](std::string* s) { (*s)[3] ^= 1; });
  auto before = store.Snapshot();
  VerifyOptions vo;
  vo.all = true;
  vo.read_only = true;
  VerifyReport vr;
  EXPECT_EQ(Verify(&store, vo, &vr).code(), Code::kVerifyFailed);
  EXPECT_FALSE(vr.chunk_problems.at(0).moved_aside);
  EXPECT_EQ(store.Snapshot(), before);
}

TEST(SafetyTest, RestoreDropsSetuidUnlessAsked) {
  TempDir src, out;
  src.Write("bin/su-like", "#!/bin/sh\n", 0755);
  chmod((src.path() + "/bin/su-like").c_str(), 06755);
  MemStore store;
  PushReport r;
  ASSERT_TRUE(Push(&store, SmallPush(src.path()), &r).ok());
  RestoreReport rr;
  ASSERT_TRUE(Restore(&store, RestoreTo("app/main", out.path() + "/a"), &rr).ok());
  struct stat st;
  ASSERT_EQ(stat((out.path() + "/a/bin/su-like").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  EXPECT_EQ(rr.setuid_dropped, 1u);
  RestoreOptions keep = RestoreTo("app/main", out.path() + "/b");
  keep.keep_setuid = true;
  ASSERT_TRUE(Restore(&store, keep, &rr).ok());
  ASSERT_EQ(stat((out.path() + "/b/bin/su-like").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 06755u);
}

TEST(SafetyTest, RestoreSweepsTempFilesReportsExtrasAndDeletesThemWhenAsked) {
  TempDir src, out;
  src.Write("app/main.js", "console.log(1)\n");
  src.Write("app/lib.js", "x\n");
  MemStore store;
  PushReport r;
  ASSERT_TRUE(Push(&store, SmallPush(src.path()), &r).ok());
  const std::string t = out.path();
  std::filesystem::create_directories(t + "/app/old/deep");
  ASSERT_TRUE(WriteFileAtomic(t + "/app", ".ferry-tmp-123-4-abc", std::string(1000, 'p')).ok());
  ASSERT_TRUE(WriteFileAtomic(t + "/app/old/deep", "stale.js", "old").ok());
  ASSERT_TRUE(WriteFileAtomic(t, "notes.txt", "keep me?").ok());
  ASSERT_TRUE(WriteFileAtomic(t + "/app", "main.js", "edited locally").ok());

  RestoreReport rr;
  ASSERT_TRUE(Restore(&store, RestoreTo("app/main", t), &rr).ok());
  EXPECT_EQ(rr.temp_files_removed, 1u);
  EXPECT_FALSE(std::filesystem::exists(t + "/app/.ferry-tmp-123-4-abc"));
  EXPECT_EQ(rr.files_replaced, 1u);  // the local edit was overwritten, and said so
  EXPECT_EQ(rr.extras, (std::vector<std::string>{"app/old", "notes.txt"}));
  EXPECT_FALSE(rr.extras_deleted);
  EXPECT_TRUE(std::filesystem::exists(t + "/notes.txt"));

  RestoreOptions del = RestoreTo("app/main", t);
  del.delete_extras = true;
  RestoreReport dr;
  ASSERT_TRUE(Restore(&store, del, &dr).ok());
  EXPECT_TRUE(dr.extras_deleted);
  EXPECT_FALSE(std::filesystem::exists(t + "/notes.txt"));
  EXPECT_FALSE(std::filesystem::exists(t + "/app/old"));
  EXPECT_EQ(*ReadFileToString(t + "/app/main.js"), "console.log(1)\n");
}

TEST(SafetyTest, RestoreRefusesAManifestThatClaimsMoreThanTheDiskHolds) {
  // One 4 MiB chunk claimed 4,194,304 times: 16 TiB, before any byte is written.
  MemStore store;
  Manifest m;
  FileEntry f;
  f.path = "huge.img";
  const uint32_t chunk = m.chunking.max_size;
  std::string data = RandomBytes(chunk, 23);
  Digest id = Sha256::Of(data);
  ASSERT_TRUE(store.Put(ChunkKey(id), std::string(1, '\0') + data).ok());
  f.chunks.assign(size_t{1} << 22, ChunkInfo{id, chunk});
  f.size = uint64_t{chunk} << 22;
  f.sha256 = Sha256::Of("claimed");
  m.files = {f};
  auto mid = PutManifest(&store, &m);
  ASSERT_TRUE(mid.ok());
  TempDir out;
  RestoreReport rr;
  Status st = Restore(&store, RestoreTo(DigestHex(*mid), out.path()), &rr);
  EXPECT_EQ(st.code(), Code::kNoSpace);
  EXPECT_NE(st.message().find("nothing was written"), std::string::npos);
  EXPECT_TRUE(std::filesystem::is_empty(out.path()));
}

}  // namespace
}  // namespace ferry
