#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>

#include "engine/chunk_codec.h"
#include "engine/mirror.h"
#include "engine/ops.h"
#include "engine/stat_cache.h"
#include "engine/walk.h"
#include "manifest/repo.h"
#include "transport/s3_tags.h"
#include "transport/sigv4.h"
#include "util/log.h"
#include "util/posix.h"

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

// --tag k=v as object metadata (x-amz-meta-k) on every object (S3 object
// tags: MirrorOptions::object_tags).
std::vector<std::pair<std::string, std::string>> TagHeaders(
    const std::vector<std::pair<std::string, std::string>>& tags, const std::string& ref) {
  std::vector<std::pair<std::string, std::string>> h;
  for (const auto& [k, v] : tags) h.emplace_back("x-amz-meta-" + MetadataName(k), MetadataValue(v));
  if (!ref.empty()) h.emplace_back("x-amz-meta-ferry-ref", ref);
  return h;
}

// Fans chunks out to several store-layout destinations.
class FanOutChunkSink final : public ChunkSink {
 public:
  explicit FanOutChunkSink(std::vector<ChunkSink*> sinks) : sinks_(std::move(sinks)) {}
  bool Want(const Digest& id, uint32_t size) override {
    thread_local std::vector<ChunkSink*> wanting;
    wanting.clear();
    for (auto* s : sinks_)
      if (s->Want(id, size)) wanting.push_back(s);
    current_ = &wanting;
    return !wanting.empty();
  }
  Status Put(const Digest& id, const uint8_t* data, size_t n) override {
    for (auto* s : *current_) RETURN_IF_ERROR(s->Put(id, data, n));
    return Status::OK();
  }
  size_t PerThreadMemory() const override {
    size_t m = 0;
    for (auto* s : sinks_) m += s->PerThreadMemory();
    return m;
  }

 private:
  std::vector<ChunkSink*> sinks_;
  static thread_local std::vector<ChunkSink*>* current_;
};
thread_local std::vector<ChunkSink*>* FanOutChunkSink::current_ = nullptr;

// Fans file bytes out to several mirror destinations.
class FanOutFileSink final : public FileSink {
 public:
  explicit FanOutFileSink(std::vector<FileSink*> sinks) : sinks_(std::move(sinks)) {}
  Status OnData(size_t index, uint64_t offset, const uint8_t* data, size_t n) override {
    for (auto* s : sinks_) RETURN_IF_ERROR(s->OnData(index, offset, data, n));
    return Status::OK();
  }
  void OnFileDone(size_t index, const FileDigest& digest) override {
    for (auto* s : sinks_) s->OnFileDone(index, digest);
  }
  bool WantsChunks(size_t index) const override {
    for (auto* s : sinks_)
      if (s->WantsChunks(index)) return true;
    return false;
  }
  void OnChunk(size_t index, uint64_t offset, const ChunkInfo& c,
               const std::vector<std::string_view>& data) override {
    for (auto* s : sinks_)
      if (s->WantsChunks(index)) s->OnChunk(index, offset, c, data);
  }

 private:
  std::vector<FileSink*> sinks_;
};

// Passes a subset's file indexes on as indexes into the full file list.
class IndexMapSink final : public FileSink {
 public:
  IndexMapSink(FileSink* next, const std::vector<size_t>* index) : next_(next), index_(index) {}
  Status OnData(size_t i, uint64_t offset, const uint8_t* data, size_t n) override {
    return next_->OnData((*index_)[i], offset, data, n);
  }
  void OnFileDone(size_t i, const FileDigest& digest) override {
    next_->OnFileDone((*index_)[i], digest);
  }
  bool WantsChunks(size_t i) const override { return next_->WantsChunks((*index_)[i]); }
  void OnChunk(size_t i, uint64_t offset, const ChunkInfo& c,
               const std::vector<std::string_view>& data) override {
    next_->OnChunk((*index_)[i], offset, c, data);
  }

 private:
  FileSink* next_;
  const std::vector<size_t>* index_;
};

// The chunks of `ids` that `store` does not hold (or holds empty), probed in parallel.
std::unordered_set<Digest, DigestHash> MissingChunks(ObjectStore* store,
                                                     const std::vector<Digest>& ids) {
  std::unordered_set<Digest, DigestHash> missing;
  std::mutex mu;
  std::atomic<size_t> next{0};
  std::vector<std::thread> threads;
  unsigned n = std::min<size_t>(IoThreadCount(store->PreferredConcurrency()), ids.size());
  for (unsigned t = 0; t < n; t++)
    threads.emplace_back([&] {
      for (size_t i; (i = next++) < ids.size();) {
        auto size = store->Size(ChunkKey(ids[i]));
        if (!(size.ok() && *size > 0)) {
          std::lock_guard<std::mutex> l(mu);
          missing.insert(ids[i]);
        }
      }
    });
  for (auto& t : threads) t.join();
  return missing;
}

// What the read pipeline keeps at least when mirrors take their share.
constexpr size_t kMinPipelineMemory = 48u << 20;

int64_t UnixNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Per destination: its ref's previous manifest and its sink.
struct TargetState {
  std::string cache_path;  // its stat cache file; empty: none
  StatCache cache;
  std::optional<Digest> parent;
  Manifest previous;
  std::map<std::string, const FileEntry*> previous_files;
  std::map<std::pair<uint64_t, int64_t>, const FileEntry*> previous_by_stat;  // (size, mtime)
  MirrorRecord previous_record;  // mirror: where the previous build's objects are, and which
  std::unique_ptr<StoreSink> store_sink;
  std::unique_ptr<MirrorUploader> uploader;
};

// On a bucket without versioning, a push into the prefix its ref's previous
// build uses replaces that build's objects in place: say so, once, with the fix.
void WarnIfOverwritingInPlace(const PushMirror& pm, const Digest& previous) {
  auto state = pm.client->GetBucketVersioning(pm.bucket);
  if (!state.ok()) {
    LogDebug("cannot read the versioning of bucket " + pm.bucket + ": " + state.status().message());
    return;
  }
  if (*state == "Enabled") return;
  LogWarn("bucket " + pm.bucket + " is not versioned: this push replaces the objects of build " +
          DigestHex(previous).substr(0, 12) + " in s3://" + pm.bucket + "/" +
          S3KeyPrefix(pm.prefix) +
          " in place, so until it finishes that build is damaged, and afterwards the files it "
          "changed are gone (the build is marked superseded). Enable versioning on the bucket "
          "(aws s3api put-bucket-versioning --versioning-configuration Status=Enabled) or push "
          "each build to its own prefix");
}

Status EmptyBuildError(const std::vector<std::string>& sources) {
  std::string names;
  for (const auto& src : sources) names += (names.empty() ? "" : ", ") + src;
  return Status::SourceUnreadable(
      "no files to push in " + names +
      " (is the build output empty, or somewhere else?); nothing was recorded and no ref moved: "
      "check the path, or pass --allow-empty to record an empty build");
}

// Whether `path` is a regular file or a directory with one somewhere below it
// (stops at the first; symlinks are not followed).
bool HasRegularFile(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(std::filesystem::symlink_status(path, ec))) return true;
  for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) return true;
  return false;
}

// The builds recorded at a mirror location, from its index. A store from
// before the index is indexed once, every location at a time (one read of
// each manifest's record), then marked so (locations/INDEXED).
Result<std::vector<LocatedBuild>> BuildsAt(ObjectStore* store, const std::string& url) {
  auto builds = BuildsAtLocation(store, url);
  if (builds.ok() || builds.status().code() != Code::kNotFound) return builds;
  ASSIGN_OR_RETURN(bool indexed, LocationsIndexed(store));
  if (indexed) return std::vector<LocatedBuild>{};  // no build there yet
  std::map<std::string, std::vector<LocatedBuild>> at;
  ASSIGN_OR_RETURN(auto all, ListManifests(store));
  for (const auto& id : all)
    if (auto rec = GetMirrorRecord(store, id); rec.ok())
      at[rec->url].push_back({id, FullyVersioned(*rec)});
  for (const auto& [where, located] : at)
    for (const auto& b : located) RETURN_IF_ERROR(AddBuildAtLocation(store, where, b));
  RETURN_IF_ERROR(MarkLocationsIndexed(store));
  return at[url];
}

// After a push that wrote `written` (path -> SHA-256) at record.url: every
// earlier build there that had other bytes at one of those paths, in an
// object without a version ID (an unversioned bucket), lost that object to
// this push. It is marked superseded by `id`, so verify and restore say so
// instead of reporting damage.
Status MarkSupersededBuilds(ObjectStore* store, const MirrorRecord& record,
                            const std::map<std::string, Digest>& written, const Digest& id) {
  ASSIGN_OR_RETURN(auto builds, BuildsAt(store, record.url));
  RETURN_IF_ERROR(AddBuildAtLocation(store, record.url, {id, FullyVersioned(record)}));
  if (written.empty()) return Status::OK();
  // Only builds that can still lose an object: not versioned, not superseded yet.
  ASSIGN_OR_RETURN(auto superseded, SupersededIds(store));
  for (const auto& [old, versioned] : builds) {
    if (old == id || versioned || superseded.count(old)) continue;
    auto om = LoadManifest(store, old);
    auto orec = GetMirrorRecord(store, old);
    if (!om.ok() || !orec.ok()) continue;  // verify reports those
    for (const auto& f : om->files) {
      auto w = written.find(f.path);
      if (f.type != EntryType::kFile || w == written.end() || w->second == f.sha256) continue;
      auto o = orec->objects.find(f.path);
      if (o != orec->objects.end() && !o->second.version_id.empty()) continue;  // kept by version
      RETURN_IF_ERROR(MarkSuperseded(store, old, id));
      LogInfo("build " + DigestHex(old).substr(0, 12) + " is superseded: this push replaced " +
              record.url + f.path + " in place");
      break;
    }
  }
  return Status::OK();
}

// How often a push re-chains onto a ref that other pushes keep moving.
constexpr int kRefAttempts = 10;

// Stores the manifest (durable before any ref names it), where a mirror's
// objects are, then moves the ref by compare-and-swap. If another push moved
// the ref meanwhile, the build is re-parented onto that push's build and the
// swap tried again, so neither build drops out of the ref's history.
Status RecordBuild(const PushTarget& target, const std::string& ref, std::optional<Digest> parent,
                   const MirrorRecord* record, const std::map<std::string, Digest>& written,
                   Manifest* m, PushReport* r) {
  Status st;
  for (int attempt = 1; attempt <= kRefAttempts; attempt++) {
    m->parent = parent;
    r->parent = parent;
    ASSIGN_OR_RETURN(r->manifest_id, PutManifest(target.store, m));
    if (record) {
      RETURN_IF_ERROR(PutMirrorRecord(target.store, r->manifest_id, *record));
      RETURN_IF_ERROR(MarkSupersededBuilds(target.store, *record, written, r->manifest_id));
    }
    if (ref.empty()) return Status::OK();
    st = UpdateRef(target.store, ref, parent, r->manifest_id);
    if (st.code() != Code::kConflict) return st;
    auto now = ReadRef(target.store, ref);
    if (!now.ok() && now.status().code() != Code::kNotFound) return now.take_status();
    // A retried write whose first attempt landed (its answer was lost) finds
    // its own build there: done.
    if (now.ok() && *now == r->manifest_id) return Status::OK();
    parent = now.ok() ? std::optional<Digest>(*now) : std::nullopt;
    LogInfo("ref " + ref + " moved while this push ran; recording the build on top of " +
            (parent ? DigestHex(*parent) : std::string("an empty ref")));
  }
  return st
      .WithContext("gave up after " + std::to_string(kRefAttempts) +
                   " attempts; run the push again")
      .SetRetryable();
}

}  // namespace

Status CheckPushSources(const PushOptions& opts) {
  if (opts.sources.empty()) return Status::Usage("no source directory given");
  if (!opts.ref.empty()) RETURN_IF_ERROR(ValidateRefName(opts.ref));
  RETURN_IF_ERROR(ValidateTags(opts.tags, /*metadata=*/false));
  for (const auto& src : opts.sources) {
    struct stat st;
    if (stat(src.c_str(), &st) != 0)
      return Status::SourceUnreadable(PosixError("cannot read source " + src, errno).message() +
                                      "; nothing was recorded and no store was created");
  }
  if (opts.allow_empty) return Status::OK();
  for (const auto& src : opts.sources)
    if (HasRegularFile(src)) return Status::OK();
  return EmptyBuildError(opts.sources);
}

Status Push(ObjectStore* store, const PushOptions& opts, PushReport* report) {
  std::vector<PushTarget> targets{{store, nullptr}};
  std::vector<PushReport> reports;
  Status st = PushMulti(targets, opts, &reports);
  if (!reports.empty()) *report = std::move(reports[0]);
  return st;
}

Status PushMulti(const std::vector<PushTarget>& targets, const PushOptions& opts,
                 std::vector<PushReport>* reports) {
  auto t0 = std::chrono::steady_clock::now();
  const int64_t start_ns = UnixNowNs();  // before any stat: see StatCache::IsClean
  reports->assign(targets.size(), PushReport{});
  if (targets.empty()) return Status::Usage("push needs at least one --to");
  if (opts.zstd_level < 0 || opts.zstd_level > 19)
    return Status::Usage("compression level must be 0 (none) to 19");
  if (!opts.ref.empty()) RETURN_IF_ERROR(ValidateRefName(opts.ref));
  bool any_mirror = false;
  for (const auto& t : targets) any_mirror |= t.mirror != nullptr;
  RETURN_IF_ERROR(ValidateTags(opts.tags, any_mirror,
                               {{"ferry-ref", opts.ref}, {"ferry-sha256", std::string(64, '0')}}));
  if (any_mirror) {
    std::vector<std::string> omitted;
    S3ObjectTags(opts.tags, &omitted);
    for (const auto& o : omitted)
      LogWarn("--tag " + o + ": kept in the manifest and as object metadata, not as an S3 tag");
  }
  RETURN_IF_ERROR(CheckPushSources(opts));
  ASSIGN_OR_RETURN(WalkResult walk, WalkSources(opts.sources));
  for (auto& r : *reports) r.skipped = walk.skipped;

  std::vector<SourceFile> files;
  std::vector<size_t> file_entry;  // files[i] is walk.entries[file_entry[i]]
  for (size_t i = 0; i < walk.entries.size(); i++) {
    const auto& e = walk.entries[i];
    if (e.entry.type == EntryType::kFile) {
      files.push_back(SourceFile{e.abs_path, e.entry.size, e.entry.mtime_ns});
      file_entry.push_back(i);
    }
  }
  if (files.empty() && !opts.allow_empty) return EmptyBuildError(opts.sources);
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  auto source_failure = [&](std::vector<Status> errors) {
    for (auto& r : *reports) {
      r.file_errors = errors;
      r.seconds = elapsed();
    }
    return Status::SourceUnreadable(
        std::to_string(errors.size()) + " source file(s) could not be read (first: " +
        errors[0].message() + "); nothing was recorded and no ref moved");
  };

  if (any_mirror) {
    // A mirror overwrites objects as it goes: find unreadable files before
    // sending a byte, so a source error does not replace DR data.
    std::vector<Status> errors;
    for (const auto& f : files) {
      int fd = open(f.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
      if (fd < 0) {
        errors.push_back(
            Status::SourceUnreadable(PosixError("cannot open " + f.path, errno).message()));
      } else {
        close(fd);
      }
    }
    if (!errors.empty()) return source_failure(std::move(errors));
  }

  // Each destination: its ref's previous manifest (a mirror skips unchanged files).
  std::vector<TargetState> states(targets.size());
  PipelineOptions popts = opts.pipeline;
  std::vector<ChunkSink*> chunk_sinks;
  std::vector<FileSink*> file_sinks;
  const bool use_cache = !opts.ref.empty() && !opts.cache_dir.empty();
  // Mirrors' buffers come out of the memory budget: each its fixed share,
  // then what is left above the pipeline's minimum, split for bytes in flight.
  const size_t max_chunk = opts.pipeline.chunking.max_size;
  auto MirrorFixedMemory = [&](const MirrorOptions& mo) {
    return 2 * (mo.part_size + 2 * max_chunk) + mo.upload_threads * kCurlUploadBuffer;
  };
  size_t mirrors = 0, all_fixed = 0;
  for (const auto& t : targets)
    if (t.mirror) {
      mirrors++;
      all_fixed += MirrorFixedMemory(t.mirror->options);
    }
  const size_t inflight_share =
      mirrors == 0 || popts.memory_budget < all_fixed + kMinPipelineMemory
          ? 0
          : (popts.memory_budget - all_fixed - kMinPipelineMemory) / mirrors;
  for (size_t t = 0; t < targets.size(); t++) {
    TargetState& ts = states[t];
    if (use_cache) {
      ts.cache_path =
          StatCache::PathFor(opts.cache_dir, targets[t].store->Describe(), opts.ref, opts.sources);
      if (!opts.rehash) ts.cache = StatCache::Load(ts.cache_path);
    }
    if (!opts.ref.empty()) {
      auto prev = ReadRef(targets[t].store, opts.ref);
      if (prev.ok()) {
        ts.parent = *prev;
        if (targets[t].mirror || ts.cache.size() > 0) {
          auto pm = LoadManifest(targets[t].store, *prev);
          if (pm.ok()) {
            ts.previous = std::move(*pm);
            for (const auto& e : ts.previous.files) {
              ts.previous_files[e.path] = &e;
              if (e.type == EntryType::kFile)
                ts.previous_by_stat.emplace(std::make_pair(e.size, e.mtime_ns), &e);
            }
          }
        }
      } else if (prev.status().code() != Code::kNotFound) {
        return prev.take_status().WithContext(targets[t].store->Describe());
      }
    }
    if (!targets[t].mirror) {
      ts.store_sink = std::make_unique<StoreSink>(targets[t].store, opts.zstd_level,
                                                  opts.pipeline.chunking.max_size);
      chunk_sinks.push_back(ts.store_sink.get());
      continue;
    }
    // The uploads' buffers come out of the same memory budget: parts in
    // flight; the unfinished part (and a run not yet known to be copyable)
    // of each large file being read, a few at a time; curl's send buffers.
    // A small budget gets fewer bytes in flight (at least one part each).
    MirrorOptions mo = targets[t].mirror->options;
    mo.object_tags = S3ObjectTags(opts.tags, nullptr);
    const size_t one_part = mo.part_size + 2 * max_chunk;
    const size_t fixed = MirrorFixedMemory(mo);
    mo.max_inflight_bytes = std::max(one_part, std::min(mo.max_inflight_bytes, inflight_share));
    size_t upload_mem = mo.max_inflight_bytes + fixed;
    if (popts.memory_budget < upload_mem + kMinPipelineMemory)
      return Status::Usage("memory budget of " + std::to_string(opts.pipeline.memory_budget >> 20) +
                           " MiB is too small for " + std::to_string(targets.size()) +
                           " destination(s): give more with --memory");
    popts.memory_budget -= upload_mem;
    // Where the previous build's objects are: its prefix (recorded in its
    // manifest), this one's, or, in another bucket, out of reach for copies.
    const PushMirror& pm = *targets[t].mirror;
    const std::string own_prefix = S3KeyPrefix(pm.prefix);
    std::string prev_bucket = pm.bucket, prev_prefix = own_prefix;
    if (ts.parent) {
      auto rec = GetMirrorRecord(targets[t].store, *ts.parent);
      if (rec.ok()) {
        ts.previous_record = std::move(*rec);
        ParseS3Url(ts.previous_record.url, &prev_bucket, &prev_prefix);
      } else if (rec.status().code() != Code::kNotFound) {
        return rec.take_status();
      }
    }
    const bool prev_here = prev_bucket == pm.bucket && !ts.previous.files.empty();
    if (prev_here && prev_prefix == own_prefix) WarnIfOverwritingInPlace(pm, *ts.parent);
    auto previous_object = [&](const FileEntry* p) {
      auto it = ts.previous_record.objects.find(p->path);
      return it == ts.previous_record.objects.end() ? MirrorObject{} : it->second;
    };
    auto key_of = [&](const FileEntry* p) { return prev_prefix + p->path; };
    std::vector<MirrorFile> mfiles;
    for (size_t i = 0; i < files.size(); i++) {
      const FileEntry& e = walk.entries[file_entry[i]].entry;
      MirrorFile mf{e.path, files[i].path, e.size, std::nullopt, ""};
      if (!prev_here) {
        mfiles.push_back(std::move(mf));
        continue;
      }
      // Unchanged (same path, size, mtime), or renamed (same size and mtime elsewhere)?
      const FileEntry* same = nullptr;
      auto it = ts.previous_files.find(e.path);
      if (it != ts.previous_files.end() && it->second->type == EntryType::kFile) same = it->second;
      const FileEntry* earlier = nullptr;
      if (same && same->size == e.size && same->mtime_ns == e.mtime_ns) {
        earlier = same;
      } else if (e.size > 0) {
        auto moved = ts.previous_by_stat.find({e.size, e.mtime_ns});
        if (moved != ts.previous_by_stat.end()) earlier = moved->second;
      }
      if (earlier && (e.size <= mo.part_size || key_of(earlier) == own_prefix + e.path)) {
        // Checked with HEAD (its own object) or copied whole (CopyObject).
        mf.previous_sha = earlier->sha256;
        mf.previous_key = key_of(earlier);
        mf.previous_object = previous_object(earlier);
      } else if (const FileEntry* base = earlier ? earlier : same;
                 base && e.size > mo.part_size && base->size >= kMinPartSize) {
        // A large file with an earlier version elsewhere or other bytes: the
        // runs it shares with it are copied part by part (UploadPartCopy).
        mf.previous_chunks = base->chunks;
        mf.previous_chunks_key = key_of(base);
      }
      mfiles.push_back(std::move(mf));
    }
    ts.uploader = std::make_unique<MirrorUploader>(
        pm.client, pm.bucket, pm.prefix, std::move(mfiles), mo, TagHeaders(opts.tags, opts.ref));
    if (prev_here)
      for (const auto& e : ts.previous.files)
        if (e.type == EntryType::kFile && e.size > 0)
          ts.uploader->AddKnownObject(e.sha256, key_of(&e));
    file_sinks.push_back(ts.uploader.get());
  }

  // Files the stat cache vouches for in every destination are not read: their
  // digests come from the previous manifest (docs/stat-cache.md).
  std::vector<const FileEntry*> cached(files.size(), nullptr);
  if (use_cache && !opts.rehash) {
    for (size_t i = 0; i < files.size(); i++) {
      const SourceEntry& se = walk.entries[file_entry[i]];
      const FileEntry* prev = nullptr;
      for (const TargetState& ts : states) {
        if (ts.uploader && !ts.uploader->CanSkipRead(i)) {
          prev = nullptr;
          break;
        }
        const Digest* sha = ts.cache.Lookup(se.entry.path, se.stat);
        auto it = ts.previous_files.find(se.entry.path);
        if (!sha || ts.previous.chunking != opts.pipeline.chunking ||
            it == ts.previous_files.end() || it->second->type != EntryType::kFile ||
            it->second->size != se.entry.size || it->second->mtime_ns != se.entry.mtime_ns ||
            it->second->sha256 != *sha) {
          prev = nullptr;
          break;
        }
        prev = it->second;
      }
      cached[i] = prev;
    }
    // The store layout must still hold every chunk such a file needs.
    for (size_t t = 0; t < targets.size(); t++) {
      if (targets[t].mirror) continue;
      std::unordered_set<Digest, DigestHash> seen;
      std::vector<Digest> ids;
      for (const FileEntry* e : cached)
        if (e)
          for (const auto& c : e->chunks)
            if (seen.insert(c.id).second) ids.push_back(c.id);
      auto missing = MissingChunks(targets[t].store, ids);
      if (missing.empty()) continue;
      for (auto& e : cached)
        if (e)
          for (const auto& c : e->chunks)
            if (missing.count(c.id)) {
              e = nullptr;  // read it: its chunks are stored again
              break;
            }
    }
  }
  std::vector<SourceFile> to_read;
  std::vector<size_t> read_index;  // to_read[k] is files[read_index[k]]
  std::vector<FileDigest> digests(files.size());
  uint64_t files_cached = 0, bytes_cached = 0, chunks_cached = 0;
  for (size_t i = 0; i < files.size(); i++) {
    if (!cached[i]) {
      to_read.push_back(files[i]);
      read_index.push_back(i);
      continue;
    }
    digests[i] = FileDigest{Status::OK(), cached[i]->sha256, cached[i]->xxh3, cached[i]->chunks};
    files_cached++;
    bytes_cached += cached[i]->size;
    chunks_cached += cached[i]->chunks.size();
    // A mirror still checks (HEAD) that the object is there, and resends it if not.
    if (files[i].size > 0)
      for (auto& ts : states)
        if (ts.uploader) ts.uploader->OnUnchanged(i, digests[i]);
  }

  // One read of the sources feeds every destination.
  HashOnlySink hash_only;
  FanOutChunkSink chunk_fan(chunk_sinks);
  FanOutFileSink file_fan(file_sinks);
  ChunkSink* chunk_sink = chunk_sinks.empty()       ? static_cast<ChunkSink*>(&hash_only)
                          : chunk_sinks.size() == 1 ? chunk_sinks[0]
                                                    : &chunk_fan;
  FileSink* file_sink = file_sinks.empty()       ? nullptr
                        : file_sinks.size() == 1 ? file_sinks[0]
                                                 : &file_fan;
  IndexMapSink mapped(file_sink, &read_index);
  std::vector<FileDigest> read_digests;
  PipelineStats stats;
  Status run = RunPipeline(to_read, popts, chunk_sink, &read_digests, &stats, opts.progress_bytes,
                           file_sink ? &mapped : nullptr);
  for (size_t k = 0; k < read_digests.size(); k++)
    digests[read_index[k]] = std::move(read_digests[k]);
  Status first_error = run;
  for (size_t t = 0; t < targets.size(); t++) {
    TargetState& ts = states[t];
    PushReport& r = (*reports)[t];
    if (ts.uploader) {
      Status up = ts.uploader->Finish(digests);  // always: it aborts unfinished uploads
      if (first_error.ok() && !up.ok()) first_error = up.WithContext(targets[t].store->Describe());
      MirrorStats ms = ts.uploader->stats();
      r.bytes_sent = ms.bytes_sent;
      r.objects_put = ms.objects_put;
      r.files_unchanged = ms.files_unchanged;
      r.bytes_resumed = ms.bytes_resumed;
      r.bytes_copied = ms.bytes_copied;
      r.objects_copied = ms.objects_copied;
      r.parts_copied = ms.parts_copied;
      r.throttled = ms.throttled;
      r.bytes_new = ms.bytes_sent;
      r.bytes_stored = ms.bytes_sent;
    } else {
      r.bytes_new = ts.store_sink->bytes_new_;
      r.bytes_stored = ts.store_sink->bytes_stored_;
      r.chunks_new = ts.store_sink->chunks_new_;
    }
    r.bytes_read = stats.bytes_read;
    r.files_cached = files_cached;
    r.bytes_cached = bytes_cached;
    r.chunks = stats.chunks + chunks_cached;
    r.io_backend = stats.io_backend;
    r.bytes_dedup =
        r.bytes_read + bytes_cached - std::min(r.bytes_read + bytes_cached, r.bytes_new);
    // Every chunk durable under its final name before anything names it.
    Status sync = targets[t].store->Sync();
    if (first_error.ok() && !sync.ok()) first_error = sync;
  }
  RETURN_IF_ERROR(first_error);

  Manifest m;
  std::vector<Status> file_errors;
  for (size_t i = 0; i < files.size(); i++) {
    if (!digests[i].status.ok()) {
      file_errors.push_back(digests[i].status);
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
  if (!file_errors.empty()) return source_failure(std::move(file_errors));
  std::vector<std::pair<std::string, FileStat>> file_stats;  // for the stat cache
  for (size_t i = 0; i < files.size(); i++)
    file_stats.emplace_back(walk.entries[file_entry[i]].entry.path,
                            walk.entries[file_entry[i]].stat);
  PushReport counts;
  for (auto& se : walk.entries) {
    switch (se.entry.type) {
      case EntryType::kFile:
        counts.files++;
        break;
      case EntryType::kDir:
        counts.dirs++;
        break;
      case EntryType::kSymlink:
        counts.symlinks++;
        break;
    }
    m.files.push_back(std::move(se.entry));
  }
  m.created_unix_ns = UnixNowNs();
  m.ref = opts.ref;
  m.tags = opts.tags;
  m.chunking = opts.pipeline.chunking;
  // Record the build in every destination; one that fails does not undo the others.
  size_t recorded = 0;
  Status record_error;
  for (size_t t = 0; t < targets.size(); t++) {
    PushReport& r = (*reports)[t];
    r.files = counts.files;
    r.dirs = counts.dirs;
    r.symlinks = counts.symlinks;
    MirrorRecord record;
    std::map<std::string, Digest> written;  // mirror: paths this push wrote, and their bytes
    if (targets[t].mirror) {
      record.url =
          "s3://" + targets[t].mirror->bucket + "/" + S3KeyPrefix(targets[t].mirror->prefix);
      for (size_t i = 0; i < files.size(); i++) {
        const std::string& path = file_stats[i].first;
        record.objects[path] = states[t].uploader->object(i);
        if (states[t].uploader->wrote(i)) written[path] = digests[i].sha256;
      }
    }
    Status st = RecordBuild(targets[t], opts.ref, states[t].parent,
                            targets[t].mirror ? &record : nullptr, written, &m, &r);
    r.seconds = elapsed();
    if (st.ok() && !states[t].cache_path.empty()) {
      // What this push hashed, for the next one (only entries that are not racily clean).
      StatCache next;
      for (size_t i = 0; i < files.size(); i++) {
        const auto& [path, fs] = file_stats[i];
        if (StatCache::IsClean(fs, start_ns, opts.racy_margin_ns))
          next.Add(path, {fs, digests[i].sha256});
      }
      Status saved = next.Save(states[t].cache_path, start_ns);
      if (!saved.ok())
        LogWarn("could not write the stat cache (the next push reads every file): " +
                saved.message());
    }
    if (st.ok()) {
      r.recorded = true;
      recorded++;
    } else if (record_error.ok()) {
      record_error = st.WithContext(targets[t].store->Describe());
    }
  }
  if (!record_error.ok() && recorded > 0)
    return Status(Code::kPartial, "the build was recorded in " + std::to_string(recorded) + " of " +
                                      std::to_string(targets.size()) + " destinations; " +
                                      record_error.message());
  return record_error;
}

}  // namespace ferry
