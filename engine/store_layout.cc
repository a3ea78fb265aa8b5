// The store layout (docs/store-format.md): content-addressed zstd chunks
// beside the manifests and refs, in a local directory or an S3 prefix.
#include <map>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "engine/chunk_codec.h"
#include "engine/destination.h"
#include "manifest/repo.h"
#include "util/parallel.h"

namespace ferry {

namespace {

// Stores chunks the store does not have yet, compressed, once each. A dry
// run compresses them too (bytes_stored is what a push would store), keeps
// their IDs and writes nothing.
class StoreSink final : public ChunkSink {
 public:
  StoreSink(ObjectStore* store, int level, uint32_t max_chunk, bool dry_run)
      : store_(store), level_(level), max_chunk_(max_chunk), dry_run_(dry_run) {}

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
    Status st = dry_run_ ? Status::OK() : store_->PutLazy(ChunkKey(id), out);
    if (dry_run_) {
      std::lock_guard<std::mutex> l(mu_);
      new_ids_.insert(id);
    } else if (!st.ok()) {
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

  // Dry run, after the read: the chunks a push would have stored.
  std::unordered_set<Digest, DigestHash> TakeNewIds() {
    std::lock_guard<std::mutex> l(mu_);
    return std::move(new_ids_);
  }

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
  bool dry_run_;
  std::mutex mu_;
  std::unordered_set<Digest, DigestHash> seen_;                        // guarded by mu_
  std::unordered_set<Digest, DigestHash> new_ids_;                     // guarded by mu_ (dry run)
  std::map<std::thread::id, std::unique_ptr<ChunkEncoder>> encoders_;  // guarded by mu_
};

// The chunks of `ids` that `store` does not hold (or holds empty), probed in parallel.
std::unordered_set<Digest, DigestHash> MissingChunks(ObjectStore* store,
                                                     const std::vector<Digest>& ids) {
  std::unordered_set<Digest, DigestHash> missing;
  std::mutex mu;
  ParallelFor(ids.size(), IoThreadCount(store->PreferredConcurrency()), [&](size_t i) {
    auto size = store->Size(ChunkKey(ids[i]));
    if (!(size.ok() && *size > 0)) {
      std::lock_guard<std::mutex> l(mu);
      missing.insert(ids[i]);
    }
  });
  return missing;
}

class StoreWriter final : public LayoutWriter {
 public:
  StoreWriter(ObjectStore* store, const PushOptions& opts)
      : store_(store),
        dry_run_(opts.dry_run),
        sink_(store, opts.zstd_level, opts.pipeline.chunking.max_size, opts.dry_run) {}

  bool WritesFileObjects() const override { return false; }
  bool NeedsPreviousBuild() const override { return false; }
  size_t FixedMemory() const override { return 0; }
  size_t Memory(size_t) const override { return 0; }
  Status Plan(const PushFiles& files, const PreviousBuild&, size_t) override {
    if (dry_run_)
      for (const FileEntry* e : files.entries) paths_.push_back(e->path);
    unchanged_.assign(files.files.size(), false);
    return Status::OK();
  }
  ChunkSink* chunk_sink() override { return &sink_; }
  FileSink* file_sink() override { return nullptr; }
  bool CanSkipRead(size_t) const override { return true; }

  // The chunk probe: the store must still hold every chunk a cached file
  // needs; a file with one absent is read after all (and its chunks stored).
  void CheckCached(std::vector<const FileEntry*>* cached) override {
    std::unordered_set<Digest, DigestHash> seen;
    std::vector<Digest> ids;
    for (const FileEntry* e : *cached)
      if (e)
        for (const auto& c : e->chunks)
          if (seen.insert(c.id).second) ids.push_back(c.id);
    auto missing = MissingChunks(store_, ids);
    if (missing.empty()) return;
    for (auto& e : *cached)
      if (e)
        for (const auto& c : e->chunks)
          if (missing.count(c.id)) {
            e = nullptr;
            break;
          }
  }

  void OnUnchanged(size_t i, const FileDigest&) override { unchanged_[i] = true; }

  Status Finish(const std::vector<FileDigest>& digests, PushReport* r) override {
    r->bytes_new = sink_.bytes_new_;
    r->bytes_stored = sink_.bytes_stored_;
    r->chunks_new = sink_.chunks_new_;
    if (dry_run_) PlanFiles(digests, r);
    return Status::OK();
  }

  Status Record(const Digest&, const std::vector<FileDigest>&) override { return Status::OK(); }

 private:
  // Dry run: each file's new bytes are those of the chunks it is the first
  // to bring (a chunk two files share is counted once, at the first).
  void PlanFiles(const std::vector<FileDigest>& digests, PushReport* r) {
    auto fresh = sink_.TakeNewIds();
    for (size_t i = 0; i < paths_.size(); i++) {
      PlannedFile p;
      p.path = paths_[i];
      for (const auto& c : digests[i].chunks) {
        p.size += c.size;
        if (fresh.erase(c.id)) p.bytes += c.size;
      }
      p.action = unchanged_[i] ? PlannedFile::Action::kUnchanged
                 : p.bytes > 0 ? PlannedFile::Action::kStore
                               : PlannedFile::Action::kDedup;
      r->planned.push_back(std::move(p));
    }
  }

  ObjectStore* store_;
  bool dry_run_;
  StoreSink sink_;
  std::vector<std::string> paths_;  // dry run: files[i]'s manifest path
  std::vector<bool> unchanged_;     // files[i] was not read (the stat cache)
};

class StoreChunkSource final : public ChunkSource {
 public:
  explicit StoreChunkSource(ObjectStore* store) : store_(store) {}
  Status Fetch(const Digest&, const FileEntry& f, size_t i, uint64_t, std::string* out) override {
    const ChunkInfo& c = f.chunks[i];
    auto obj = store_->Get(ChunkKey(c.id));
    if (!obj.ok()) {
      if (obj.status().code() == Code::kNotFound)
        return Status::NotFound("chunk " + DigestHex(c.id) + " is missing");
      return obj.take_status();
    }
    return DecodeChunk(*obj, c.id, c.size, out);
  }
  Status Probe(const Digest&, const FileEntry& f, size_t i) override {
    auto size = store_->Size(ChunkKey(f.chunks[i].id));
    if (!size.ok()) {
      if (size.status().code() == Code::kNotFound)
        return Status::NotFound("chunk " + DigestHex(f.chunks[i].id) + " is missing");
      return size.take_status();
    }
    if (*size == 0)
      return Status::VerifyFailed("chunk " + DigestHex(f.chunks[i].id) + " is empty").SetDataLoss();
    return Status::OK();
  }
  bool PerFile() const override { return false; }
  unsigned PreferredConcurrency() const override { return store_->PreferredConcurrency(); }

 private:
  ObjectStore* store_;
};

class StoreLayout final : public Destination {
 public:
  StoreLayout(ObjectStore* store, std::unique_ptr<ObjectStore> owned)
      : owned_(std::move(owned)), store_(store) {}
  Layout layout() const override { return Layout::kStore; }
  ObjectStore* meta() const override { return store_; }
  std::unique_ptr<ChunkSource> Reader() override {
    return std::make_unique<StoreChunkSource>(store_);
  }
  std::unique_ptr<LayoutWriter> StartPush(const PushOptions& opts) override {
    return std::make_unique<StoreWriter>(store_, opts);
  }

 private:
  std::unique_ptr<ObjectStore> owned_;
  ObjectStore* store_;
};

}  // namespace

std::unique_ptr<Destination> StoreDestination(ObjectStore* store) {
  return std::make_unique<StoreLayout>(store, nullptr);
}

std::unique_ptr<Destination> StoreDestination(std::unique_ptr<ObjectStore> store) {
  ObjectStore* s = store.get();
  return std::make_unique<StoreLayout>(s, std::move(store));
}

}  // namespace ferry
