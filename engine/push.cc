#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "engine/chunk_codec.h"
#include "engine/ops.h"
#include "engine/walk.h"
#include "manifest/repo.h"

namespace ferry {

namespace {

struct DigestHash {
  size_t operator()(const Digest& d) const {
    size_t h;
    std::memcpy(&h, d.data(), sizeof h);
    return h;
  }
};

// Stores chunks the store does not have yet, compressed, once each.
class StoreSink final : public ChunkSink {
 public:
  StoreSink(ObjectStore* store, int level, uint32_t max_chunk)
      : store_(store), level_(level), max_chunk_(max_chunk) {}

  bool Want(const Digest& id, uint32_t) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (seen_.count(id)) return false;
      seen_.insert(id);
    }
    // Present already (from an earlier push): nothing to write. A size-0 or
    // unreadable object is rewritten; verify reports damage, push repairs it.
    auto size = store_->Size(ChunkKey(id));
    return !(size.ok() && *size > 0);
  }

  Status Put(const Digest& id, const uint8_t* data, size_t n) override {
    ChunkEncoder* enc = Encoder();
    thread_local std::string out;
    enc->Encode(data, n, &out);
    Status st = store_->PutLazy(ChunkKey(id), out);
    if (!st.ok()) {
      std::lock_guard<std::mutex> l(mu_);
      seen_.erase(id);
      return st;
    }
    bytes_new_ += n;
    bytes_stored_ += out.size();
    chunks_new_++;
    return Status::OK();
  }

  size_t PerThreadMemory() const override { return ChunkEncoderMemory(max_chunk_, level_); }

  std::atomic<uint64_t> bytes_new_{0}, bytes_stored_{0}, chunks_new_{0};

 private:
  ChunkEncoder* Encoder() {
    std::lock_guard<std::mutex> l(mu_);
    auto& e = encoders_[std::this_thread::get_id()];
    if (!e) e = std::make_unique<ChunkEncoder>(level_);
    return e.get();
  }

  ObjectStore* store_;
  int level_;
  uint32_t max_chunk_;
  std::mutex mu_;
  std::unordered_set<Digest, DigestHash> seen_;                        // guarded by mu_
  std::map<std::thread::id, std::unique_ptr<ChunkEncoder>> encoders_;  // guarded by mu_
};

}  // namespace

Status Push(ObjectStore* store, const PushOptions& opts, PushReport* report) {
  auto t0 = std::chrono::steady_clock::now();
  if (opts.zstd_level < 0 || opts.zstd_level > 19)
    return Status::Usage("compression level must be 0 (none) to 19");
  if (!opts.ref.empty()) RETURN_IF_ERROR(ValidateRefName(opts.ref));
  for (const auto& [k, v] : opts.tags)
    if (k.empty()) return Status::Usage("--tag needs key=value with a non-empty key");
  ASSIGN_OR_RETURN(WalkResult walk, WalkSources(opts.sources));
  report->skipped = walk.skipped;

  std::vector<SourceFile> files;
  std::vector<size_t> file_entry;  // files[i] is walk.entries[file_entry[i]]
  for (size_t i = 0; i < walk.entries.size(); i++) {
    const auto& e = walk.entries[i];
    if (e.entry.type == EntryType::kFile) {
      files.push_back(SourceFile{e.abs_path, e.entry.size, e.entry.mtime_ns});
      file_entry.push_back(i);
    }
  }

  StoreSink sink(store, opts.zstd_level, opts.pipeline.chunking.max_size);
  std::vector<FileDigest> digests;
  PipelineStats stats;
  RETURN_IF_ERROR(RunPipeline(files, opts.pipeline, &sink, &digests, &stats, opts.progress_bytes));
  report->bytes_read = stats.bytes_read;
  report->chunks = stats.chunks;
  report->io_backend = stats.io_backend;
  report->bytes_new = sink.bytes_new_;
  report->bytes_stored = sink.bytes_stored_;
  report->chunks_new = sink.chunks_new_;
  report->bytes_dedup = report->bytes_read - report->bytes_new;
  // Every chunk durable under its final name before anything names it.
  RETURN_IF_ERROR(store->Sync());

  Manifest m;
  for (size_t i = 0; i < files.size(); i++) {
    if (!digests[i].status.ok()) {
      report->file_errors.push_back(digests[i].status);
      continue;
    }
    FileEntry& e = walk.entries[file_entry[i]].entry;
    e.sha256 = digests[i].sha256;
    e.xxh3 = digests[i].xxh3;
    e.chunks = std::move(digests[i].chunks);
    uint64_t total = 0;
    for (const auto& c : e.chunks) total += c.size;
    e.size = total;  // what was read (the file may have been listed at another size)
  }
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  if (!report->file_errors.empty()) {
    report->seconds = elapsed();
    return Status::SourceUnreadable(
        std::to_string(report->file_errors.size()) + " source file(s) could not be read (first: " +
        report->file_errors[0].message() + "); nothing was recorded and no ref moved");
  }
  for (auto& se : walk.entries) {
    switch (se.entry.type) {
      case EntryType::kFile:
        report->files++;
        break;
      case EntryType::kDir:
        report->dirs++;
        break;
      case EntryType::kSymlink:
        report->symlinks++;
        break;
    }
    m.files.push_back(std::move(se.entry));
  }
  m.created_unix_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  m.ref = opts.ref;
  m.tags = opts.tags;
  m.chunking = opts.pipeline.chunking;
  if (!opts.ref.empty()) {
    auto prev = ReadRef(store, opts.ref);
    if (prev.ok()) {
      m.parent = *prev;
    } else if (prev.status().code() != Code::kNotFound) {
      return prev.take_status();
    }
  }
  report->parent = m.parent;
  // The manifest is durable before the ref points at it (Put fsyncs).
  ASSIGN_OR_RETURN(report->manifest_id, PutManifest(store, &m));
  if (!opts.ref.empty()) RETURN_IF_ERROR(WriteRef(store, opts.ref, report->manifest_id));
  report->seconds = elapsed();
  return Status::OK();
}

}  // namespace ferry
