#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>

#include "engine/chunk_codec.h"
#include "engine/mirror.h"
#include "engine/ops.h"
#include "engine/walk.h"
#include "manifest/repo.h"
#include "transport/sigv4.h"

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

// Mirror layout: chunks are only hashed (for the manifest), never stored.
class HashOnlySink final : public ChunkSink {
 public:
  bool Want(const Digest&, uint32_t) override { return false; }
  Status Put(const Digest&, const uint8_t*, size_t) override { return Status::OK(); }
};

// --tag k=v as object metadata (x-amz-meta-k) and S3 object tags.
std::vector<std::pair<std::string, std::string>> TagHeaders(
    const std::vector<std::pair<std::string, std::string>>& tags, const std::string& ref) {
  std::vector<std::pair<std::string, std::string>> h;
  std::string tagging;
  for (const auto& [k, v] : tags) {
    std::string key;
    for (char c : k)
      key += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '-';
    h.emplace_back("x-amz-meta-" + key, v);
    tagging += (tagging.empty() ? "" : "&") + UriEncode(k, true) + "=" + UriEncode(v, true);
  }
  if (!ref.empty()) h.emplace_back("x-amz-meta-ferry-ref", ref);
  if (!tagging.empty() && tags.size() <= 10)
    h.emplace_back("x-amz-tagging", tagging);  // S3 allows 10
  return h;
}

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

  // The ref's previous manifest: mirror pushes skip files that did not change.
  std::optional<Digest> parent;
  std::map<std::string, const FileEntry*> previous;
  Manifest previous_manifest;
  if (!opts.ref.empty()) {
    auto prev = ReadRef(store, opts.ref);
    if (prev.ok()) {
      parent = *prev;
      if (opts.mirror) {
        auto pm = LoadManifest(store, *prev);
        if (pm.ok()) {
          previous_manifest = std::move(*pm);
          for (const auto& e : previous_manifest.files) previous[e.path] = &e;
        }
      }
    } else if (prev.status().code() != Code::kNotFound) {
      return prev.take_status();
    }
  }

  std::vector<FileDigest> digests;
  PipelineStats stats;
  if (opts.mirror) {
    // The uploads' buffers come out of the same memory budget: parts in
    // flight, plus one unfinished part per file being read.
    PipelineOptions popts = opts.pipeline;
    size_t upload_mem =
        opts.mirror->options.max_inflight_bytes + 2 * opts.mirror->options.part_size;
    if (popts.memory_budget <= upload_mem + (16u << 20))
      return Status::Usage("memory budget of " + std::to_string(popts.memory_budget >> 20) +
                           " MiB is too small for mirror uploads: give at least " +
                           std::to_string(((upload_mem + (16u << 20)) >> 20) + 32) +
                           " MiB (--memory)");
    popts.memory_budget -= upload_mem;
    std::vector<MirrorFile> mfiles;
    for (size_t i = 0; i < files.size(); i++) {
      const FileEntry& e = walk.entries[file_entry[i]].entry;
      MirrorFile mf{e.path, files[i].path, e.size, std::nullopt};
      auto it = previous.find(e.path);
      if (it != previous.end() && it->second->type == EntryType::kFile &&
          it->second->size == e.size && it->second->mtime_ns == e.mtime_ns)
        mf.previous_sha = it->second->sha256;
      mfiles.push_back(std::move(mf));
    }
    MirrorUploader uploader(opts.mirror->client, opts.mirror->bucket, opts.mirror->prefix,
                            std::move(mfiles), opts.mirror->options,
                            TagHeaders(opts.tags, opts.ref));
    HashOnlySink sink;
    Status run = RunPipeline(files, popts, &sink, &digests, &stats, opts.progress_bytes, &uploader);
    Status up = uploader.Finish(digests);  // always: it aborts unfinished uploads
    RETURN_IF_ERROR(run);
    RETURN_IF_ERROR(up);
    MirrorStats ms = uploader.stats();
    report->bytes_sent = ms.bytes_sent;
    report->objects_put = ms.objects_put;
    report->files_unchanged = ms.files_unchanged;
    report->bytes_resumed = ms.bytes_resumed;
    report->bytes_new = ms.bytes_sent;
    report->bytes_stored = ms.bytes_sent;
  } else {
    StoreSink sink(store, opts.zstd_level, opts.pipeline.chunking.max_size);
    RETURN_IF_ERROR(
        RunPipeline(files, opts.pipeline, &sink, &digests, &stats, opts.progress_bytes));
    report->bytes_new = sink.bytes_new_;
    report->bytes_stored = sink.bytes_stored_;
    report->chunks_new = sink.chunks_new_;
  }
  report->bytes_read = stats.bytes_read;
  report->chunks = stats.chunks;
  report->io_backend = stats.io_backend;
  report->bytes_dedup = report->bytes_read - std::min(report->bytes_read, report->bytes_new);
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
  m.parent = parent;
  report->parent = m.parent;
  // The manifest is durable before the ref points at it (Put fsyncs).
  ASSIGN_OR_RETURN(report->manifest_id, PutManifest(store, &m));
  if (!opts.ref.empty()) RETURN_IF_ERROR(WriteRef(store, opts.ref, report->manifest_id));
  report->seconds = elapsed();
  return Status::OK();
}

}  // namespace ferry
