#include "engine/pipeline.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <mutex>
#include <set>

#include "testing/test_util.h"

namespace ferry {
namespace {

// Records what it is given; can be told to fail.
class RecordingSink final : public ChunkSink {
 public:
  bool Want(const Digest& id, uint32_t) override {
    std::lock_guard<std::mutex> l(mu);
    return seen.insert(id).second;
  }
  Status Put(const Digest& id, const uint8_t* data, size_t n) override {
    if (fail_after >= 0 && puts.fetch_add(1) >= fail_after) return Status::NoSpace("injected");
    EXPECT_EQ(Sha256::Of(data, n), id);  // the bytes really are the chunk
    std::lock_guard<std::mutex> l(mu);
    stored += n;
    return Status::OK();
  }
  std::mutex mu;
  std::set<Digest> seen;
  uint64_t stored = 0;
  long fail_after = -1;
  std::atomic<long> puts{0};
};

// What the pipeline must find, computed the simple way.
void ExpectDigest(const std::string& data, const FileDigest& got, const ChunkerParams& p) {
  ASSERT_TRUE(got.status.ok()) << got.status.ToString();
  EXPECT_EQ(got.sha256, Sha256::Of(data));
  EXPECT_EQ(got.xxh3, Xxh3::Of(data.data(), data.size()));
  Chunker c(p);
  size_t pos = 0, start = 0, i = 0;
  const uint8_t* d = reinterpret_cast<const uint8_t*>(data.data());
  while (pos < data.size()) {
    bool cut;
    pos += c.Scan(d + pos, data.size() - pos, &cut);
    if (cut || pos == data.size()) {
      ASSERT_LT(i, got.chunks.size());
      EXPECT_EQ(got.chunks[i].size, pos - start);
      EXPECT_EQ(got.chunks[i].id, Sha256::Of(d + start, pos - start));
      start = pos;
      i++;
    }
  }
  EXPECT_EQ(i, got.chunks.size());
}

class PipelineTest : public ::testing::TestWithParam<IoBackend> {
 protected:
  PipelineOptions Opts() {
    PipelineOptions o;
    o.chunking.min_size = 4096;
    o.chunking.avg_size = 16384;
    o.chunking.max_size = 65536;
    o.block_size = 8192;  // chunks span blocks
    o.memory_budget = 4 << 20;
    o.threads = 3;
    o.queue_depth = 8;
    o.io = GetParam();
    return o;
  }
};

TEST_P(PipelineTest, DigestsMatchDirectComputation) {
  testing::TempDir dir;
  std::vector<std::string> datas = {"",
                                    "x",
                                    testing::RandomBytes(4000, 1),
                                    testing::RandomBytes(8192, 2),
                                    testing::RandomBytes(20000, 3),
                                    testing::RandomBytes(1 << 20, 4),
                                    std::string(300000, 'z')};
  std::vector<SourceFile> files;
  for (size_t i = 0; i < datas.size(); i++)
    files.push_back({dir.Write("f" + std::to_string(i), datas[i]), datas[i].size(), 0});
  RecordingSink sink;
  std::vector<FileDigest> results;
  PipelineStats stats;
  PipelineOptions o = Opts();
  ASSERT_TRUE(RunPipeline(files, o, &sink, &results, &stats).ok());
  ASSERT_EQ(results.size(), datas.size());
  uint64_t total = 0;
  for (size_t i = 0; i < datas.size(); i++) {
    ExpectDigest(datas[i], results[i], o.chunking);
    total += datas[i].size();
  }
  EXPECT_EQ(stats.bytes_read, total);
  EXPECT_EQ(stats.io_backend, GetParam() == IoBackend::kPread ? "pread" : "io_uring");
  EXPECT_LE(stats.peak_blocks_used, stats.io_blocks);
}

TEST_P(PipelineTest, ManySmallFilesWithATinyBudget) {
  testing::TempDir dir;
  std::vector<SourceFile> files;
  std::vector<std::string> datas;
  for (int i = 0; i < 2000; i++) {
    datas.push_back(
        testing::RandomBytes(static_cast<size_t>(i % 97) * 37 + 1, static_cast<uint64_t>(i)));
    files.push_back(
        {dir.Write("d" + std::to_string(i % 10) + "/f" + std::to_string(i), datas.back()), 0, 0});
  }
  RecordingSink sink;
  std::vector<FileDigest> results;
  PipelineStats stats;
  PipelineOptions o = Opts();
  o.memory_budget = 1 << 20;  // a few dozen 8 KiB blocks for 2000 files
  ASSERT_TRUE(RunPipeline(files, o, &sink, &results, &stats).ok());
  for (size_t i = 0; i < datas.size(); i++) ExpectDigest(datas[i], results[i], o.chunking);
}

TEST_P(PipelineTest, LargeFileStaysWithinTheBlockPool) {
  testing::TempDir dir;
  std::string data = testing::RandomBytes(24 << 20, 9);
  std::vector<SourceFile> files = {{dir.Write("big", data), data.size(), 0}};
  RecordingSink sink;
  std::vector<FileDigest> results;
  PipelineStats stats;
  PipelineOptions o = Opts();
  o.memory_budget = 2 << 20;
  ASSERT_TRUE(RunPipeline(files, o, &sink, &results, &stats).ok());
  ExpectDigest(data, results[0], o.chunking);
  EXPECT_LT(stats.io_blocks * o.block_size, o.memory_budget);
  EXPECT_LE(stats.peak_blocks_used, stats.io_blocks);
}

TEST_P(PipelineTest, UnreadableFileIsReportedAndOthersComplete) {
  testing::TempDir dir;
  std::string good = testing::RandomBytes(50000, 1);
  std::vector<SourceFile> files = {{dir.path() + "/missing", 10, 0},
                                   {dir.Write("good", good), good.size(), 0},
                                   {dir.path(), 0, 0}};  // a directory is not a file
  RecordingSink sink;
  std::vector<FileDigest> results;
  PipelineStats stats;
  ASSERT_TRUE(RunPipeline(files, Opts(), &sink, &results, &stats).ok());
  EXPECT_EQ(results[0].status.code(), Code::kSourceUnreadable);
  EXPECT_NE(results[0].status.message().find("missing"), std::string::npos);
  ExpectDigest(good, results[1], Opts().chunking);
  EXPECT_EQ(results[2].status.code(), Code::kSourceUnreadable);
}

TEST_P(PipelineTest, SinkErrorStopsTheRunAndIsReturned) {
  testing::TempDir dir;
  std::vector<SourceFile> files;
  for (int i = 0; i < 50; i++) {
    std::string d = testing::RandomBytes(100000, static_cast<uint64_t>(i));
    files.push_back({dir.Write("f" + std::to_string(i), d), d.size(), 0});
  }
  RecordingSink sink;
  sink.fail_after = 5;
  std::vector<FileDigest> results;
  PipelineStats stats;
  Status st = RunPipeline(files, Opts(), &sink, &results, &stats);
  EXPECT_EQ(st.code(), Code::kNoSpace);
}

TEST_P(PipelineTest, BudgetTooSmallIsAUsageErrorNamingTheFix) {
  PipelineOptions o = Opts();
  o.memory_budget = 64 << 10;
  RecordingSink sink;
  std::vector<FileDigest> results;
  PipelineStats stats;
  Status st = RunPipeline({}, o, &sink, &results, &stats);
  EXPECT_EQ(st.code(), Code::kUsage);
  EXPECT_NE(st.message().find("--memory"), std::string::npos);
}

// Objects held in memory, read the way BucketSource reads a bucket: each
// read checks the object is still the version listed.
class MemRemote final : public RemoteReader {
 public:
  Status ReadAt(const SourceFile& f, uint64_t offset, uint8_t* buf, size_t n) override {
    std::lock_guard<std::mutex> l(mu);
    reads++;
    auto it = objects.find(f.path);
    if (it == objects.end() || it->second.second != f.version ||
        offset + n > it->second.first.size())
      return Status::SourceUnreadable(f.path + " changed while it was being read");
    std::memcpy(buf, it->second.first.data() + offset, n);
    if (replace_after_reads > 0 && reads == replace_after_reads) it->second.second = "v2";
    return Status::OK();
  }
  unsigned PreferredConcurrency() const override { return 4; }
  std::mutex mu;
  std::map<std::string, std::pair<std::string, std::string>> objects;  // key -> (bytes, version)
  int reads = 0, replace_after_reads = 0;
};

// Remote and local files in one run: the same digests as the direct
// computation, read by the I/O threads, whatever the backend asked for.
TEST_P(PipelineTest, RemoteFilesDigestAsLocalOnes) {
  testing::TempDir dir;
  MemRemote remote;
  std::vector<std::string> datas;
  std::vector<SourceFile> files;
  for (int i = 0; i < 60; i++) {
    datas.push_back(testing::RandomBytes(static_cast<size_t>(i) * 1031 + (i % 7 == 0 ? 70000 : 0),
                                         static_cast<uint64_t>(i + 100)));
    const std::string name = "k" + std::to_string(i);
    if (i % 5 == 0) {  // a local file among the objects
      files.push_back({dir.Write(name, datas.back()), datas.back().size(), 0});
    } else {
      remote.objects[name] = {datas.back(), "v1"};
      files.push_back({name, datas.back().size(), 0, &remote, "v1"});
    }
  }
  RecordingSink sink;
  std::vector<FileDigest> results;
  PipelineStats stats;
  PipelineOptions o = Opts();
  ASSERT_TRUE(RunPipeline(files, o, &sink, &results, &stats).ok());
  for (size_t i = 0; i < datas.size(); i++) ExpectDigest(datas[i], results[i], o.chunking);
  EXPECT_EQ(stats.io_backend, "threads");
  EXPECT_GT(remote.reads, 48);  // every object, some in several blocks
}

// An object replaced between two of its block reads fails that file only.
TEST_P(PipelineTest, RemoteObjectReplacedWhileReadFailsOnlyThatFile) {
  MemRemote remote;
  const std::string big = testing::RandomBytes(200000, 7), small = "hello";
  remote.objects["big"] = {big, "v1"};
  remote.objects["small"] = {small, "v1"};
  remote.replace_after_reads = 1;  // "big" (25 blocks of 8 KiB) changes after its first read
  std::vector<SourceFile> files = {{"big", big.size(), 0, &remote, "v1"},
                                   {"small", small.size(), 0, &remote, "v1"}};
  RecordingSink sink;
  std::vector<FileDigest> results;
  PipelineStats stats;
  PipelineOptions o = Opts();
  ASSERT_TRUE(RunPipeline(files, o, &sink, &results, &stats).ok());
  EXPECT_EQ(results[0].status.code(), Code::kSourceUnreadable);
  EXPECT_NE(results[0].status.message().find("changed while"), std::string::npos);
  ExpectDigest(small, results[1], o.chunking);
}

INSTANTIATE_TEST_SUITE_P(Backends, PipelineTest,
                         ::testing::Values(IoBackend::kUring, IoBackend::kPread),
                         [](const auto& info) {
                           return info.param == IoBackend::kUring ? "io_uring" : "pread";
                         });

}  // namespace
}  // namespace ferry
