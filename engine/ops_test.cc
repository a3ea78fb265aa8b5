#include "engine/ops.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "engine/destination.h"
#include "engine/drill.h"
#include "manifest/repo.h"
#include "testing/mem_store.h"
#include "testing/push_util.h"
#include "testing/test_util.h"
#include "util/posix.h"

namespace ferry {
namespace {

using testing::LoosePush;
using testing::RandomBytes;
using testing::SmallPush;
using testing::TempDir;

std::string Slurp(const std::string& p) { return *ReadFileToString(p); }

TEST(PushTest, SecondPushOfAnUnchangedTreeStoresNothing) {
  TempDir src;
  src.Write("a.bin", RandomBytes(3 << 20, 1));
  src.Write("lib/b.txt", "hello");
  MemStore store;
  PushReport r1, r2;
  ASSERT_TRUE(Push(&store, SmallPush(src.path()), &r1).ok());
  EXPECT_EQ(r1.bytes_new, r1.bytes_read);
  EXPECT_GT(r1.chunks_new, 10u);
  size_t objects = store.Snapshot().size();
  ASSERT_TRUE(Push(&store, SmallPush(src.path()), &r2).ok());
  EXPECT_EQ(r2.bytes_read, r1.bytes_read);
  EXPECT_EQ(r2.bytes_new, 0u);
  EXPECT_EQ(r2.bytes_stored, 0u);
  EXPECT_EQ(r2.bytes_dedup, r2.bytes_read);
  // Only a new manifest (new timestamp) was added; the ref moved to it with the old one as parent.
  EXPECT_EQ(store.Snapshot().size(), objects + 1);
  ASSERT_TRUE(r2.parent.has_value());
  EXPECT_EQ(*r2.parent, r1.manifest_id);
  EXPECT_EQ(*ReadRef(&store, "app/main"), r2.manifest_id);
}

TEST(PushTest, DryRunWritesNothingAndSaysWhatItWouldStore) {
  TempDir src;
  src.Write("old.bin", RandomBytes(2 << 20, 1));
  MemStore store;
  PushReport r1;
  ASSERT_TRUE(Push(&store, SmallPush(src.path()), &r1).ok());
  src.Write("new.bin", RandomBytes(1 << 20, 2));
  src.Write("twin.bin", RandomBytes(1 << 20, 2));  // the same bytes as new.bin
  const auto before = store.Snapshot();
  PushOptions o = SmallPush(src.path());
  o.dry_run = true;
  PushReport r;
  ASSERT_TRUE(Push(&store, o, &r).ok());
  EXPECT_TRUE(r.dry_run);
  EXPECT_FALSE(r.recorded);
  EXPECT_EQ(store.Snapshot(), before);  // no chunk, manifest or ref
  EXPECT_EQ(*ReadRef(&store, "app/main"), r1.manifest_id);
  EXPECT_EQ(r.files, 3u);
  EXPECT_EQ(r.bytes_new, 1u << 20);  // new.bin's chunks, once
  EXPECT_GT(r.bytes_stored, 0u);     // compressed as a push would
  ASSERT_EQ(r.planned.size(), 3u);
  std::map<std::string, PlannedFile> by_path;
  for (const auto& p : r.planned) by_path[p.path] = p;
  EXPECT_EQ(by_path["old.bin"].action, PlannedFile::Action::kDedup);
  EXPECT_EQ(by_path["new.bin"].action, PlannedFile::Action::kStore);
  EXPECT_EQ(by_path["new.bin"].bytes, 1u << 20);
  EXPECT_EQ(by_path["twin.bin"].action, PlannedFile::Action::kDedup);  // new.bin brings them
  // What the dry run said is what the push then does.
  PushReport real;
  ASSERT_TRUE(Push(&store, SmallPush(src.path()), &real).ok());
  EXPECT_EQ(real.bytes_new, r.bytes_new);
  EXPECT_EQ(real.chunks_new, r.chunks_new);
  EXPECT_EQ(real.bytes_stored, r.bytes_stored);
}

TEST(DrillTest, PassesBreachesAndFailsItsSmokeTestInThatOrder) {
  TempDir src, scratch;
  src.Write("bin/app", RandomBytes(1 << 20, 3));
  src.Write("VERSION", "1.4.2\n");
  MemStore store;
  PushReport pr;
  ASSERT_TRUE(Push(&store, SmallPush(src.path()), &pr).ok());
  auto dest = StoreDestination(&store);
  DrillOptions o;
  o.what = "app/main";
  o.scratch_parent = scratch.path();
  o.exec = "grep -q 1.4.2 VERSION && test \"$FERRY_DRILL_DIR\" = \"$PWD\"";
  o.rto_target = 600;
  DrillReport r;
  ASSERT_TRUE(Drill(dest.get(), o, &r).ok());
  EXPECT_EQ(r.manifest_id, pr.manifest_id);
  EXPECT_EQ(r.files_checked, 2u);
  EXPECT_EQ(r.bytes_checked, (1u << 20) + 6);
  EXPECT_EQ(r.exec_exit, 0);
  EXPECT_TRUE(r.target_removed);
  EXPECT_TRUE(std::filesystem::is_empty(scratch.path()));
  // Too slow: restored and checked, the target missed.
  o.rto_target = 0;
  DrillReport slow;
  EXPECT_EQ(Drill(dest.get(), o, &slow).code(), Code::kTargetBreached);
  EXPECT_TRUE(slow.rto_breached);
  EXPECT_EQ(slow.files_checked, 2u);
  // A failing smoke test wins over a missed target.
  o.exec = "exit 4";
  DrillReport failed;
  EXPECT_EQ(Drill(dest.get(), o, &failed).code(), Code::kSmokeTestFailed);
  EXPECT_EQ(failed.exec_exit, 4);
  // A damaged chunk fails the restore before any smoke test runs.
  for (const auto& [key, bytes] : store.Snapshot())
    if (key.rfind("packs/", 0) == 0) {  // blobs fill all but its last few hundred bytes
      store.Mutate(key, [](std::string* s) { (*s)[s->size() / 2] ^= 1; });
      break;
    }
  DrillReport damaged;
  EXPECT_EQ(Drill(dest.get(), o, &damaged).code(), Code::kVerifyFailed);
  EXPECT_FALSE(damaged.exec_run);
  EXPECT_TRUE(std::filesystem::is_empty(scratch.path()));
}

TEST(PushTest, HeldBackFilesAreLeftOutOfTheBuildAndCounted) {
  TempDir src;
  src.Write("done.bin", "finished");
  src.Write("lib/writing.bin", "half");
  MemStore store;
  PushOptions o = SmallPush(src.path());
  o.hold_back = [](const std::string& path) { return path == "lib/writing.bin"; };
  PushReport r;
  ASSERT_TRUE(Push(&store, o, &r).ok());
  EXPECT_EQ(r.held_back, 1u);
  EXPECT_EQ(r.files, 1u);
  auto m = LoadManifest(&store, r.manifest_id);
  ASSERT_TRUE(m.ok());
  for (const auto& e : m->files) EXPECT_NE(e.path, "lib/writing.bin");
  bool has_dir = false;
  for (const auto& e : m->files) has_dir |= e.path == "lib";
  EXPECT_TRUE(has_dir);  // only files are held back
}

TEST(PushTest, EditInTheMiddleOfALargeFileStoresOnlyNearbyChunks) {
  TempDir src;
  std::string data = RandomBytes(8 << 20, 2);
  src.Write("big.bin", data);
  MemStore store;
  PushReport r1, r2;
  ASSERT_TRUE(Push(&store, SmallPush(src.path()), &r1).ok());
  data.replace(4 << 20, 100, std::string(100, 'X'));
  src.Write("big.bin", data);
  ASSERT_TRUE(Push(&store, SmallPush(src.path()), &r2).ok());
  EXPECT_GE(r2.chunks_new, 1u);
  EXPECT_LE(r2.chunks_new, 3u);
  EXPECT_LE(r2.bytes_new, 3u * (256u << 10));
  EXPECT_EQ(r2.bytes_read, data.size());
}

TEST(PushTest, CompressesCompressibleChunks) {
  TempDir src;
  std::string text;
  for (int i = 0; i < 100000; i++) text += "line " + std::to_string(i % 100) + " of a build log\n";
  src.Write("build.log", text);
  MemStore store;
  PushReport r;
  ASSERT_TRUE(Push(&store, SmallPush(src.path()), &r).ok());
  EXPECT_LT(r.bytes_stored * 5, r.bytes_new);
}

TEST(PushTest, CrashPartWayLeavesTheStoreConsistentAndARerunCompletes) {
  TempDir src;
  src.Write("v1.bin", RandomBytes(1 << 20, 3));
  MemStore base;
  PushReport r0;
  ASSERT_TRUE(Push(&base, SmallPush(src.path()), &r0).ok());
  src.Write("v2.bin", RandomBytes(4 << 20, 4));

  FaultyStore faulty(&base);
  faulty.fail_puts_after = 2;  // the "disk" fills after a pack and its index
  PushReport r1;
  Status st = Push(&faulty, SmallPush(src.path()), &r1);
  EXPECT_EQ(st.code(), Code::kNoSpace);
  // The ref still points at the last complete push, and everything it names is intact.
  EXPECT_EQ(*ReadRef(&base, "app/main"), r0.manifest_id);
  EXPECT_EQ(ListManifests(&base)->size(), 1u);
  VerifyReport vr;
  EXPECT_TRUE(Verify(&base, VerifyOptions{{}, true, 2}, &vr).ok());

  PushReport r2;
  ASSERT_TRUE(Push(&base, SmallPush(src.path()), &r2).ok());
  EXPECT_GT(r2.bytes_dedup, 0u);  // the chunks stored before the crash were reused
  VerifyReport vr2;
  EXPECT_TRUE(Verify(&base, VerifyOptions{{"app/main"}, false, 2}, &vr2).ok());
}

TEST(PushTest, MissingSourceIsSourceUnreadableAndWritesNothing) {
  MemStore store;
  PushReport r;
  EXPECT_EQ(Push(&store, SmallPush("/nonexistent/build"), &r).code(), Code::kSourceUnreadable);
  EXPECT_TRUE(store.Snapshot().empty());
}

TEST(VerifyTest, NamesCorruptAndMissingChunksAndTheirFiles) {
  TempDir src;
  src.Write("one.bin", RandomBytes(100 << 10, 5));
  src.Write("two.bin", RandomBytes(100 << 10, 6));
  MemStore store;
  PushReport r;
  ASSERT_TRUE(Push(&store, LoosePush(src.path()), &r).ok());
  auto m = LoadManifest(&store, r.manifest_id);
  const auto& one = m->files[0];
  const auto& two = m->files[1];
  ASSERT_EQ(one.path, "one.bin");
  store.Mutate(ChunkKey(one.chunks[0].id), [](std::string* s) { (*s)[s->size() / 2] ^= 1; });
  ASSERT_TRUE(store.Delete(ChunkKey(two.chunks.back().id)).ok());

  VerifyReport vr;
  Status st = Verify(&store, VerifyOptions{{"app/main"}, false, 2}, &vr);
  EXPECT_EQ(st.code(), Code::kVerifyFailed);
  ASSERT_EQ(vr.chunk_problems.size(), 2u);
  int corrupt = 0, missing = 0;
  for (const auto& p : vr.chunk_problems) {
    ASSERT_EQ(p.files.size(), 1u);
    if (p.id == one.chunks[0].id) {
      corrupt++;
      EXPECT_EQ(p.status.code(), Code::kVerifyFailed);
      EXPECT_TRUE(p.status.data_loss());
      EXPECT_EQ(p.files[0].rfind("one.bin", 0), 0u);
    } else {
      missing++;
      EXPECT_EQ(p.status.code(), Code::kNotFound);
      EXPECT_EQ(p.files[0].rfind("two.bin", 0), 0u);
    }
  }
  EXPECT_EQ(corrupt, 1);
  EXPECT_EQ(missing, 1);
}

// verify --all reads one manifest at a time: a chunk several builds share is
// still fetched once and reported once, naming its file in every build.
TEST(VerifyTest, AllNamesEveryBuildThatHoldsADamagedSharedChunk) {
  TempDir src;
  const std::string shared = RandomBytes(100 << 10, 7);
  MemStore store;
  std::vector<Digest> builds;
  for (int i = 0; i < 3; i++) {
    src.Write("lib.so", shared);
    src.Write("app-" + std::to_string(i), RandomBytes(10 << 10, 10 + i));
    PushReport r;
    ASSERT_TRUE(Push(&store, LoosePush(src.path()), &r).ok());
    builds.push_back(r.manifest_id);
  }
  auto m = LoadManifest(&store, builds[0]);
  ASSERT_TRUE(m.ok());
  const FileEntry* lib = nullptr;
  for (const auto& f : m->files)
    if (f.path == "lib.so") lib = &f;
  ASSERT_NE(lib, nullptr);
  const Digest id = lib->chunks[0].id;
  std::set<Digest> unique;  // what verify --all must fetch: each chunk once
  for (const auto& b : builds) {
    auto each = LoadManifest(&store, b);
    ASSERT_TRUE(each.ok());
    for (const auto& f : each->files)
      for (const auto& c : f.chunks) unique.insert(c.id);
  }
  store.Mutate(ChunkKey(id), [](std::string* s) { (*s)[s->size() / 2] ^= 1; });

  VerifyOptions vo;
  vo.all = true;
  vo.read_only = true;
  VerifyReport vr;
  EXPECT_EQ(Verify(&store, vo, &vr).code(), Code::kVerifyFailed);
  EXPECT_EQ(vr.manifests.size(), 3u);
  ASSERT_EQ(vr.chunk_problems.size(), 1u);
  EXPECT_EQ(vr.chunk_problems[0].id, id);
  std::vector<std::string> named = vr.chunk_problems[0].files;
  std::sort(named.begin(), named.end());
  std::vector<std::string> want;
  for (const auto& b : builds)
    want.push_back("lib.so (manifest " + DigestHex(b).substr(0, 12) + ")");
  std::sort(want.begin(), want.end());
  EXPECT_EQ(named, want);
  EXPECT_EQ(vr.chunks_checked, unique.size());
}

TEST(VerifyTest, AllReportsDanglingRefsAndDamagedManifests) {
  TempDir src;
  src.Write("f", "x");
  MemStore store;
  PushReport r;
  ASSERT_TRUE(Push(&store, SmallPush(src.path()), &r).ok());
  Digest fake;
  fake.fill(7);
  ASSERT_TRUE(WriteRef(&store, "app/ghost", fake).ok());
  store.Mutate(ManifestKey(r.manifest_id), [](std::string* s) { s->resize(s->size() - 3); });
  VerifyReport vr;
  EXPECT_FALSE(Verify(&store, VerifyOptions{{}, true, 2}, &vr).ok());
  ASSERT_EQ(vr.manifest_problems.size(), 2u);
}

TEST(RestoreTest, RoundTripIsByteIdenticalWithModesAndLinks) {
  TempDir src, out;
  std::string big = RandomBytes(2 << 20, 8);
  src.Write("bin/app", big, 0755);
  src.Write("etc/conf", "k=v\n", 0600);
  src.Write("empty", "");
  std::filesystem::create_directories(src.path() + "/var/empty-dir");
  symlink("app", (src.path() + "/bin/current").c_str());
  MemStore store;
  PushReport r;
  ASSERT_TRUE(Push(&store, SmallPush(src.path()), &r).ok());
  RestoreReport rr;
  ASSERT_TRUE(Restore(&store, RestoreOptions{"app/main", out.path() + "/t", 2}, &rr).ok());
  std::string t = out.path() + "/t";
  EXPECT_EQ(Slurp(t + "/bin/app"), big);
  EXPECT_EQ(Slurp(t + "/etc/conf"), "k=v\n");
  EXPECT_EQ(Slurp(t + "/empty"), "");
  EXPECT_TRUE(std::filesystem::is_directory(t + "/var/empty-dir"));
  EXPECT_EQ(std::filesystem::read_symlink(t + "/bin/current"), "app");
  struct stat st;
  stat((t + "/bin/app").c_str(), &st);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  stat((t + "/etc/conf").c_str(), &st);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(rr.files_written, 3u);

  RestoreReport again;
  ASSERT_TRUE(
      Restore(&store,
              RestoreOptions{r.manifest_id == Digest{} ? "" : DigestHex(r.manifest_id), t, 2},
              &again)
          .ok());
  EXPECT_EQ(again.files_unchanged, 3u);
  EXPECT_EQ(again.files_written, 0u);
}

TEST(RestoreTest, RefusesAManifestThatWritesThroughItsOwnSymlink) {
  MemStore store;
  Manifest m;
  FileEntry link;
  link.path = "evil";
  link.type = EntryType::kSymlink;
  link.link_target = "/etc";
  FileEntry f;
  f.path = "evil/passwd";
  f.size = 1;
  f.sha256 = Sha256::Of("x");
  f.chunks = {{Sha256::Of("x"), 1}};
  m.files = {link, f};
  auto id = PutManifest(&store, &m);
  TempDir out;
  RestoreReport rr;
  Status st = Restore(&store, RestoreOptions{DigestHex(*id), out.path(), 1}, &rr);
  EXPECT_EQ(st.code(), Code::kUnsafePath);
  EXPECT_NE(st.message().find("evil/passwd"), std::string::npos);
  EXPECT_TRUE(std::filesystem::is_empty(out.path()));
}

TEST(RestoreTest, NeverWritesThroughASymlinkAlreadyInTheTarget) {
  TempDir src, out, outside;
  src.Write("sub/file", "payload");
  MemStore store;
  PushReport r;
  ASSERT_TRUE(Push(&store, SmallPush(src.path()), &r).ok());
  symlink(outside.path().c_str(), (out.path() + "/sub").c_str());
  RestoreReport rr;
  Status st = Restore(&store, RestoreOptions{"app/main", out.path(), 1}, &rr);
  EXPECT_EQ(st.code(), Code::kUnsafePath);
  EXPECT_TRUE(std::filesystem::is_empty(outside.path()));
}

TEST(RestoreTest, CorruptChunkFailsTheFileAndLeavesNoPartialFile) {
  TempDir src, out;
  src.Write("data.bin", RandomBytes(300 << 10, 9));
  MemStore store;
  PushReport r;
  ASSERT_TRUE(Push(&store, LoosePush(src.path()), &r).ok());
  auto m = LoadManifest(&store, r.manifest_id);
  store.Mutate(ChunkKey(m->files[0].chunks[1].id), [](std::string* s) { (*s)[5] ^= 1; });
  RestoreReport rr;
  Status st = Restore(&store, RestoreOptions{"app/main", out.path(), 1}, &rr);
  EXPECT_EQ(st.code(), Code::kVerifyFailed);
  EXPECT_TRUE(std::filesystem::is_empty(out.path()));  // no temp file, no data.bin
}

TEST(RestoreTest, UnknownRefIsNotFound) {
  MemStore store;
  TempDir out;
  RestoreReport rr;
  EXPECT_EQ(Restore(&store, RestoreOptions{"app/none", out.path(), 1}, &rr).code(),
            Code::kNotFound);
}

}  // namespace
}  // namespace ferry
