// The store layout (docs/store-format.md): content-addressed zstd chunks
// beside the manifests and refs, in a local directory or an S3 prefix.
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "engine/chunk_codec.h"
#include "engine/destination.h"
#include "engine/pack.h"
#include "manifest/repo.h"
#include "util/parallel.h"

namespace ferry {

namespace {

// Whether the store holds chunk `id`: in a pack, or as an object of its own
// (looked for unless the chunk is small enough to be packed and the store
// never held small chunks loose). A size-0 or unreadable object counts as
// absent: verify reports damage, push repairs it.
bool Holds(ObjectStore* store, const ChunkCatalog& cat, const Digest& id, bool small) {
  if (cat.Find(id)) return true;
  if (small && !cat.loose_small()) return false;
  auto size = store->Size(ChunkKey(id));
  return size.ok() && *size > 0;
}

// The pack size a push uses: the one asked for, but at most a sixteenth of
// the memory budget (two packs are in memory at once: one filling, one being
// written) and at least 1 MiB.
uint32_t PackSizeFor(const PushOptions& opts) {
  const size_t cap = std::max<size_t>(1u << 20, opts.pipeline.memory_budget / 16);
  return static_cast<uint32_t>(std::min<size_t>(opts.pack_size, cap));
}

// Stores chunks the store does not have yet, compressed, once each: those
// below the pack threshold as blobs of packs (engine/pack.h), the rest as
// objects of their own. A dry run compresses them too (bytes_stored is what a
// push would store), keeps their IDs and writes nothing.
class StoreSink final : public ChunkSink {
 public:
  StoreSink(ObjectStore* store, const PushOptions& opts)
      : store_(store),
        level_(opts.zstd_level),
        max_chunk_(opts.pipeline.chunking.max_size),
        pack_below_(opts.pack_below),
        pack_size_(PackSizeFor(opts)),
        dry_run_(opts.dry_run),
        open_(PackBuilder::ReserveFor(pack_size_, pack_below_)) {}

  // Before the read: what the store holds in packs.
  Status Open() {
    ASSIGN_OR_RETURN(catalog_,
                     ChunkCatalog::Load(store_, IoThreadCount(store_->PreferredConcurrency())));
    return Status::OK();
  }
  const ChunkCatalog* catalog() const { return catalog_.get(); }

  bool Want(const Digest& id, uint32_t size) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (seen_.count(id)) return false;
      seen_.insert(id);
    }
    return !Holds(store_, *catalog_, id, Packed(size));
  }

  Status Put(const Digest& id, const uint8_t* data, size_t n) override {
    ChunkEncoder* enc = Encoder();
    thread_local std::string out;
    enc->Encode(data, n, &out);
    Status st;
    if (dry_run_) {
      std::lock_guard<std::mutex> l(mu_);
      new_ids_.insert(id);
    } else if (Packed(n)) {
      st = AddToPack(id, out, n);
    } else {
      st = store_->PutLazy(ChunkKey(id), out);
    }
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

  // After the read: the last pack, and the first error any pack write had
  // (a chunk Put accepted into a pack that failed to be written).
  Status Flush() {
    std::unique_lock<std::mutex> l(pack_mu_);
    pack_cv_.wait(l, [&] { return !writing_; });
    if (!open_.empty() && pack_error_.ok()) {
      PackBuilder last = std::move(open_);
      open_ = NewPack();
      std::string spent;
      pack_error_ = WritePack(&last, &spent);
    }
    return pack_error_;
  }

  size_t PerThreadMemory() const override { return ChunkEncoderMemory(max_chunk_, level_); }
  // The pack being filled and one being written.
  size_t PackMemory() const {
    return dry_run_ || pack_below_ == 0 ? 0 : 2 * PackBuilder::ReserveFor(pack_size_, pack_below_);
  }

  std::atomic<uint64_t> bytes_new_{0}, bytes_stored_{0}, chunks_new_{0}, packs_new_{0};

  // Dry run, after the read: the chunks a push would have stored.
  std::unordered_set<Digest, DigestHash> TakeNewIds() {
    std::lock_guard<std::mutex> l(mu_);
    return std::move(new_ids_);
  }

 private:
  bool Packed(size_t n) const { return n < pack_below_; }
  // The next pack, in the buffer of the last one written (requires pack_mu_).
  PackBuilder NewPack() {
    return PackBuilder(PackBuilder::ReserveFor(pack_size_, pack_below_), std::move(spare_));
  }

  // Appends to the open pack; the thread that fills it writes it, while the
  // others go on filling the next one (and wait if that fills too).
  Status AddToPack(const Digest& id, const std::string& stored, size_t n) {
    std::unique_lock<std::mutex> l(pack_mu_);
    // A full pack takes no more blobs: wait until its filler has taken it.
    pack_cv_.wait(l, [&] { return open_.bytes() < pack_size_ || !pack_error_.ok(); });
    if (!pack_error_.ok()) return pack_error_;
    open_.Add(id, stored, static_cast<uint32_t>(n));
    if (open_.bytes() < pack_size_) return Status::OK();
    // This thread filled it, so it writes it, once the one before is written.
    pack_cv_.wait(l, [&] { return !writing_; });
    PackBuilder full = std::move(open_);
    open_ = NewPack();
    if (!pack_error_.ok()) {  // the one before failed: the push fails anyway
      pack_cv_.notify_all();
      return pack_error_;
    }
    writing_ = true;
    pack_cv_.notify_all();  // the open pack has room again
    l.unlock();
    std::string spent;
    Status st = WritePack(&full, &spent);
    l.lock();
    spare_ = std::move(spent);
    writing_ = false;
    if (pack_error_.ok()) pack_error_ = st;
    pack_cv_.notify_all();
    return st;
  }

  // The pack, then its index copy; durable by the push's Sync, before the
  // manifest that needs them.
  // `*spent` gets the pack's buffer back, for the next pack.
  Status WritePack(PackBuilder* b, std::string* spent) {
    PackBuilder::Sealed p = b->Seal();
    Status st = store_->PutLazy(PackKey(p.id), p.data);
    if (st.ok()) st = store_->PutLazy(PackIndexKey(p.id), p.index);
    *spent = std::move(p.data);
    if (st.ok()) packs_new_++;
    return st;
  }

  ChunkEncoder* Encoder() {
    std::lock_guard<std::mutex> l(mu_);
    auto& e = encoders_[std::this_thread::get_id()];
    if (!e) e = std::make_unique<ChunkEncoder>(level_);
    return e.get();
  }

  ObjectStore* store_;
  int level_;
  uint32_t max_chunk_, pack_below_, pack_size_;
  bool dry_run_;
  std::unique_ptr<ChunkCatalog> catalog_;
  std::mutex mu_;
  std::unordered_set<Digest, DigestHash> seen_;                        // guarded by mu_
  std::unordered_set<Digest, DigestHash> new_ids_;                     // guarded by mu_ (dry run)
  std::map<std::thread::id, std::unique_ptr<ChunkEncoder>> encoders_;  // guarded by mu_
  std::mutex pack_mu_;
  std::condition_variable pack_cv_;
  PackBuilder open_;      // guarded by pack_mu_
  std::string spare_;     // guarded by pack_mu_: the last written pack's buffer
  bool writing_ = false;  // guarded by pack_mu_: a full pack is being written
  Status pack_error_;     // guarded by pack_mu_
};

// The chunks of `ids` that `store` does not hold (or holds empty), probed in parallel.
std::unordered_set<Digest, DigestHash> MissingChunks(
    ObjectStore* store, const ChunkCatalog& cat,
    const std::vector<std::pair<Digest, uint32_t>>& ids, uint32_t pack_below) {
  std::unordered_set<Digest, DigestHash> missing;
  std::mutex mu;
  ParallelFor(ids.size(), IoThreadCount(store->PreferredConcurrency()), [&](size_t i) {
    if (!Holds(store, cat, ids[i].first, ids[i].second < pack_below)) {
      std::lock_guard<std::mutex> l(mu);
      missing.insert(ids[i].first);
    }
  });
  return missing;
}

class StoreWriter final : public LayoutWriter {
 public:
  StoreWriter(ObjectStore* store, const PushOptions& opts)
      : store_(store), dry_run_(opts.dry_run), pack_below_(opts.pack_below), sink_(store, opts) {}

  bool WritesFileObjects() const override { return false; }
  bool NeedsPreviousBuild() const override { return false; }
  // The pack buffers, sized from the budget (PackSizeFor); no share of it.
  size_t FixedMemory() const override { return 0; }
  size_t Memory(size_t) const override { return sink_.PackMemory(); }
  Status Plan(const PushFiles& files, const PreviousBuild&, size_t) override {
    RETURN_IF_ERROR(sink_.Open());
    // Packs are what a format-2 Ferry would misread: raise the marker first.
    if (!dry_run_ && pack_below_ > 0) RETURN_IF_ERROR(UpgradeStoreFormat(store_, 3));
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
    std::vector<std::pair<Digest, uint32_t>> ids;
    for (const FileEntry* e : *cached)
      if (e)
        for (const auto& c : e->chunks)
          if (seen.insert(c.id).second) ids.emplace_back(c.id, c.size);
    auto missing = MissingChunks(store_, *sink_.catalog(), ids, pack_below_);
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
    Status st = sink_.Flush();
    r->bytes_new = sink_.bytes_new_;
    r->bytes_stored = sink_.bytes_stored_;
    r->chunks_new = sink_.chunks_new_;
    r->packs_new = sink_.packs_new_;
    if (dry_run_) PlanFiles(digests, r);
    return st;
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
  uint32_t pack_below_;
  StoreSink sink_;
  std::vector<std::string> paths_;  // dry run: files[i]'s manifest path
  std::vector<bool> unchanged_;     // files[i] was not read (the stat cache)
};

// Reads chunks from packs (a ranged read of the blob) or their own objects.
// The store's pack indexes are loaded at the first read.
class StoreChunkSource final : public ChunkSource {
 public:
  explicit StoreChunkSource(ObjectStore* store)
      : store_(store),
        packs_(store, store->PreferredConcurrency() ? kWindow : 0,
               2 * IoThreadCount(store->PreferredConcurrency())) {}

  Status Fetch(const Digest&, const FileEntry& f, size_t i, uint64_t, std::string* out) override {
    const ChunkInfo& c = f.chunks[i];
    RETURN_IF_ERROR(LoadCatalog());
    if (auto at = catalog_->Find(c.id)) {
      auto blob = packs_.Read(at->pack, at->offset, at->stored);
      Status st = blob.ok() ? DecodeChunk(*blob, c.id, c.size, out) : blob.status();
      // Bytes that do not match: read the blob itself, not the window again.
      if (st.data_loss()) {
        blob = packs_.Read(at->pack, at->offset, at->stored, /*fresh=*/true);
        st = blob.ok() ? DecodeChunk(*blob, c.id, c.size, out) : blob.status();
      }
      if (st.code() != Code::kNotFound) return st;
      // The pack went since the store was opened: look for a loose copy.
    }
    auto obj = store_->Get(ChunkKey(c.id));
    if (!obj.ok()) return Missing(c.id, obj.take_status());
    return DecodeChunk(*obj, c.id, c.size, out);
  }

  Status Probe(const Digest&, const FileEntry& f, size_t i) override {
    const Digest& id = f.chunks[i].id;
    RETURN_IF_ERROR(LoadCatalog());
    if (catalog_->Find(id)) return Status::OK();  // its pack was listed and indexes it
    auto size = store_->Size(ChunkKey(id));
    if (!size.ok()) return Missing(id, size.take_status());
    if (*size == 0)
      return Status::VerifyFailed("chunk " + DigestHex(id) + " is empty").SetDataLoss();
    return Status::OK();
  }

  // Moves a corrupt chunk aside (its bytes kept under damaged/), so that it
  // counts as absent and the next push stores it anew: a packed one by
  // naming its blob damaged (the pack's other chunks stay), a loose one by
  // moving its object. Only bytes that still fail are set aside: a chunk a
  // push has meanwhile repaired stays.
  bool SetAside(const FileEntry& f, size_t i) override {
    const ChunkInfo& c = f.chunks[i];
    if (!LoadCatalog().ok()) return false;
    std::string out;
    if (auto at = catalog_->Find(c.id)) {
      auto blob = store_->GetRange(PackKey(at->pack), at->offset, at->stored);
      if (!blob.ok() || blob->size() > at->stored || DecodeChunk(*blob, c.id, c.size, &out).ok())
        return false;
      if (!store_->Put(DamagedPackedKey(c.id, at->pack), *blob).ok()) return false;
      catalog_->Exclude(c.id, at->pack);
      return true;
    }
    auto bytes = store_->Get(ChunkKey(c.id));
    if (!bytes.ok() || DecodeChunk(*bytes, c.id, c.size, &out).ok()) return false;
    if (!store_->Put("damaged/" + DigestHex(c.id), *bytes).ok()) return false;
    return store_->Delete(ChunkKey(c.id)).ok();
  }

  bool PerFile() const override { return false; }
  unsigned PreferredConcurrency() const override { return store_->PreferredConcurrency(); }

 private:
  static Status Missing(const Digest& id, Status st) {
    if (st.code() == Code::kNotFound)
      return Status::NotFound("chunk " + DigestHex(id) + " is missing");
    return st;
  }

  Status LoadCatalog() {
    std::call_once(once_, [&] {
      auto cat = ChunkCatalog::Load(store_, IoThreadCount(store_->PreferredConcurrency()));
      if (cat.ok())
        catalog_ = std::move(*cat);
      else
        load_error_ = cat.take_status().WithContext("cannot read the pack indexes");
    });
    return load_error_;
  }

  // A network store's packs are read 1 MiB at a time (PackReader); at most
  // two windows per reader thread are held (32 MiB at 16 requests in flight).
  static constexpr size_t kWindow = 1 << 20;

  ObjectStore* store_;
  PackReader packs_;
  std::once_flag once_;
  std::unique_ptr<ChunkCatalog> catalog_;  // set once by LoadCatalog
  Status load_error_;
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
