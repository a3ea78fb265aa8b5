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
#include "util/parallel.h"
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
  ParallelFor(ids.size(), IoThreadCount(store->PreferredConcurrency()), [&](size_t i) {
    auto size = store->Size(ChunkKey(ids[i]));
    if (!(size.ok() && *size > 0)) {
      std::lock_guard<std::mutex> l(mu);
      missing.insert(ids[i]);
    }
  });
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

namespace {

// ---- plan --------------------------------------------------------------------

// One push, as its steps see it: what to read, each destination's state,
// and which files need no read.
struct PushPlan {
  std::chrono::steady_clock::time_point t0;
  int64_t start_ns = 0;  // before any stat: see StatCache::IsClean
  bool any_mirror = false;
  bool use_cache = false;
  WalkResult walk;
  std::vector<SourceFile> files;
  std::vector<size_t> file_entry;  // files[i] is walk.entries[file_entry[i]]
  std::vector<TargetState> states;
  PipelineOptions popts;
  std::vector<ChunkSink*> chunk_sinks;
  std::vector<FileSink*> file_sinks;
  std::vector<const FileEntry*> cached;  // not read: the stat cache vouches for it
  // Each file's path and stat, kept when the manifest takes the entries.
  std::vector<std::pair<std::string, FileStat>> file_stats;
  double elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  const FileEntry& entry(size_t i) const { return walk.entries[file_entry[i]].entry; }
};

// The ref name, the level and the tags (warning about tags S3 cannot carry).
Status CheckPushArguments(const std::vector<PushTarget>& targets, const PushOptions& opts,
                          bool* any_mirror) {
  if (targets.empty()) return Status::Usage("push needs at least one --to");
  if (opts.zstd_level < 0 || opts.zstd_level > 19)
    return Status::Usage("compression level must be 0 (none) to 19");
  if (!opts.ref.empty()) RETURN_IF_ERROR(ValidateRefName(opts.ref));
  *any_mirror = false;
  for (const auto& t : targets) *any_mirror |= t.mirror != nullptr;
  RETURN_IF_ERROR(ValidateTags(opts.tags, *any_mirror,
                               {{"ferry-ref", opts.ref}, {"ferry-sha256", std::string(64, '0')}}));
  if (*any_mirror) {
    std::vector<std::string> omitted;
    S3ObjectTags(opts.tags, &omitted);
    for (const auto& o : omitted)
      LogWarn("--tag " + o + ": kept in the manifest and as object metadata, not as an S3 tag");
  }
  return Status::OK();
}

Status SourceFailure(std::vector<Status> errors, const PushPlan& plan,
                     std::vector<PushReport>* reports) {
  for (auto& r : *reports) {
    r.file_errors = errors;
    r.seconds = plan.elapsed();
  }
  return Status::SourceUnreadable(std::to_string(errors.size()) +
                                  " source file(s) could not be read (first: " +
                                  errors[0].message() + "); nothing was recorded and no ref moved");
}

// Walks the sources. A mirror overwrites objects as it goes: unreadable files
// are found before a byte is sent, so a source error does not replace DR data.
Status ListSources(const PushOptions& opts, PushPlan* plan, std::vector<PushReport>* reports) {
  ASSIGN_OR_RETURN(plan->walk, WalkSources(opts.sources));
  for (auto& r : *reports) r.skipped = plan->walk.skipped;
  for (size_t i = 0; i < plan->walk.entries.size(); i++) {
    const auto& e = plan->walk.entries[i];
    if (e.entry.type != EntryType::kFile) continue;
    plan->files.push_back(SourceFile{e.abs_path, e.entry.size, e.entry.mtime_ns});
    plan->file_entry.push_back(i);
    plan->file_stats.emplace_back(e.entry.path, e.stat);
  }
  if (plan->files.empty() && !opts.allow_empty) return EmptyBuildError(opts.sources);
  if (!plan->any_mirror) return Status::OK();
  std::vector<Status> errors;
  for (const auto& f : plan->files) {
    int fd = open(f.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
      errors.push_back(
          Status::SourceUnreadable(PosixError("cannot open " + f.path, errno).message()));
    else
      close(fd);
  }
  return errors.empty() ? Status::OK() : SourceFailure(std::move(errors), *plan, reports);
}

// The previous-build index of one destination: its stat cache, its ref's
// current build, and (when something will compare against it) that build's
// files by path and by (size, mtime).
Status IndexPreviousBuild(const PushTarget& target, const PushOptions& opts, bool use_cache,
                          TargetState* ts) {
  if (use_cache) {
    ts->cache_path =
        StatCache::PathFor(opts.cache_dir, target.store->Describe(), opts.ref, opts.sources);
    if (!opts.rehash) ts->cache = StatCache::Load(ts->cache_path);
  }
  if (opts.ref.empty()) return Status::OK();
  auto prev = ReadRef(target.store, opts.ref);
  if (!prev.ok()) {
    if (prev.status().code() == Code::kNotFound) return Status::OK();
    return prev.take_status().WithContext(target.store->Describe());
  }
  ts->parent = *prev;
  if (!target.mirror && ts->cache.size() == 0) return Status::OK();
  auto pm = LoadManifest(target.store, *prev);
  if (!pm.ok()) return Status::OK();  // verify reports it; this push sends everything
  ts->previous = std::move(*pm);
  for (const auto& e : ts->previous.files) {
    ts->previous_files[e.path] = &e;
    if (e.type == EntryType::kFile)
      ts->previous_by_stat.emplace(std::make_pair(e.size, e.mtime_ns), &e);
  }
  return Status::OK();
}

// The memory budget split: each mirror's fixed buffers (two unfinished parts
// with their chunks, curl's send buffers), then what is left above the
// pipeline's minimum, shared out for bytes in flight.
size_t MirrorFixedMemory(const MirrorOptions& mo, size_t max_chunk) {
  return 2 * (mo.part_size + 2 * max_chunk) + mo.upload_threads * kCurlUploadBuffer;
}

size_t InflightShare(const std::vector<PushTarget>& targets, size_t budget, size_t max_chunk) {
  size_t mirrors = 0, all_fixed = 0;
  for (const auto& t : targets)
    if (t.mirror) {
      mirrors++;
      all_fixed += MirrorFixedMemory(t.mirror->options, max_chunk);
    }
  if (mirrors == 0 || budget < all_fixed + kMinPipelineMemory) return 0;
  return (budget - all_fixed - kMinPipelineMemory) / mirrors;
}

// Matching against the previous version: for each file, whether its object
// is unchanged (checked with HEAD, or copied whole from where the previous
// build had it) or shares runs with an earlier version (UploadPartCopy).
std::vector<MirrorFile> MatchPreviousObjects(const PushPlan& plan, const TargetState& ts,
                                             const MirrorOptions& mo, const std::string& own_prefix,
                                             const std::string& prev_prefix, bool prev_here) {
  auto key_of = [&](const FileEntry* p) { return prev_prefix + p->path; };
  std::vector<MirrorFile> mfiles;
  for (size_t i = 0; i < plan.files.size(); i++) {
    const FileEntry& e = plan.entry(i);
    MirrorFile mf{e.path, plan.files[i].path, e.size, std::nullopt, ""};
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
      mf.previous_sha = earlier->sha256;
      mf.previous_key = key_of(earlier);
      auto rec = ts.previous_record.objects.find(earlier->path);
      if (rec != ts.previous_record.objects.end()) mf.previous_object = rec->second;
    } else if (const FileEntry* base = earlier ? earlier : same;
               base && e.size > mo.part_size && base->size >= kMinPartSize) {
      mf.previous_chunks = base->chunks;
      mf.previous_chunks_key = key_of(base);
    }
    mfiles.push_back(std::move(mf));
  }
  return mfiles;
}

// A mirror destination's uploader, its buffers taken from plan->popts' budget.
Status PlanMirror(const PushTarget& target, const PushOptions& opts, size_t inflight_share,
                  size_t n_targets, PushPlan* plan, TargetState* ts) {
  const size_t max_chunk = opts.pipeline.chunking.max_size;
  MirrorOptions mo = target.mirror->options;
  mo.object_tags = S3ObjectTags(opts.tags, nullptr);
  mo.cancel = opts.cancel;
  const size_t one_part = mo.part_size + 2 * max_chunk;
  mo.max_inflight_bytes = std::max(one_part, std::min(mo.max_inflight_bytes, inflight_share));
  size_t upload_mem = mo.max_inflight_bytes + MirrorFixedMemory(mo, max_chunk);
  if (plan->popts.memory_budget < upload_mem + kMinPipelineMemory)
    return Status::Usage("memory budget of " + std::to_string(opts.pipeline.memory_budget >> 20) +
                         " MiB is too small for " + std::to_string(n_targets) +
                         " destination(s): give more with --memory");
  plan->popts.memory_budget -= upload_mem;
  // Where the previous build's objects are: its prefix (recorded in its
  // mirror record), this one's, or, in another bucket, out of reach for copies.
  const PushMirror& pm = *target.mirror;
  const std::string own_prefix = S3KeyPrefix(pm.prefix);
  std::string prev_bucket = pm.bucket, prev_prefix = own_prefix;
  if (ts->parent) {
    auto rec = GetMirrorRecord(target.store, *ts->parent);
    if (rec.ok()) {
      ts->previous_record = std::move(*rec);
      ParseS3Url(ts->previous_record.url, &prev_bucket, &prev_prefix);
    } else if (rec.status().code() != Code::kNotFound) {
      return rec.take_status();
    }
  }
  const bool prev_here = prev_bucket == pm.bucket && !ts->previous.files.empty();
  if (prev_here && prev_prefix == own_prefix) WarnIfOverwritingInPlace(pm, *ts->parent);
  ts->uploader = std::make_unique<MirrorUploader>(
      pm.client, pm.bucket, pm.prefix,
      MatchPreviousObjects(*plan, *ts, mo, own_prefix, prev_prefix, prev_here), mo,
      MetadataHeaders(opts.tags, opts.ref));
  if (prev_here)
    for (const auto& e : ts->previous.files)
      if (e.type == EntryType::kFile && e.size > 0)
        ts->uploader->AddKnownObject(e.sha256, prev_prefix + e.path);
  plan->file_sinks.push_back(ts->uploader.get());
  return Status::OK();
}

// Files the stat cache vouches for in every destination are not read: their
// digests come from the previous manifest (docs/stat-cache.md).
void MatchStatCache(const PushOptions& opts, PushPlan* plan) {
  plan->cached.assign(plan->files.size(), nullptr);
  if (!plan->use_cache || opts.rehash) return;
  for (size_t i = 0; i < plan->files.size(); i++) {
    const SourceEntry& se = plan->walk.entries[plan->file_entry[i]];
    const FileEntry* prev = nullptr;
    for (const TargetState& ts : plan->states) {
      if (ts.uploader && !ts.uploader->CanSkipRead(i)) {
        prev = nullptr;
        break;
      }
      const Digest* sha = ts.cache.Lookup(se.entry.path, se.stat);
      auto it = ts.previous_files.find(se.entry.path);
      if (!sha || ts.previous.chunking != opts.pipeline.chunking || it == ts.previous_files.end() ||
          it->second->type != EntryType::kFile || it->second->size != se.entry.size ||
          it->second->mtime_ns != se.entry.mtime_ns || it->second->sha256 != *sha) {
        prev = nullptr;
        break;
      }
      prev = it->second;
    }
    plan->cached[i] = prev;
  }
}

// The chunk probe: the store layout must still hold every chunk a cached
// file needs; a file with one absent is read after all (and its chunks stored).
void ProbeCachedChunks(const std::vector<PushTarget>& targets, PushPlan* plan) {
  for (size_t t = 0; t < targets.size(); t++) {
    if (targets[t].mirror) continue;
    std::unordered_set<Digest, DigestHash> seen;
    std::vector<Digest> ids;
    for (const FileEntry* e : plan->cached)
      if (e)
        for (const auto& c : e->chunks)
          if (seen.insert(c.id).second) ids.push_back(c.id);
    auto missing = MissingChunks(targets[t].store, ids);
    if (missing.empty()) continue;
    for (auto& e : plan->cached)
      if (e)
        for (const auto& c : e->chunks)
          if (missing.count(c.id)) {
            e = nullptr;
            break;
          }
  }
}

Status Plan(const std::vector<PushTarget>& targets, const PushOptions& opts, PushPlan* plan,
            std::vector<PushReport>* reports) {
  RETURN_IF_ERROR(CheckPushArguments(targets, opts, &plan->any_mirror));
  RETURN_IF_ERROR(CheckPushSources(opts));
  RETURN_IF_ERROR(ListSources(opts, plan, reports));
  plan->states.resize(targets.size());
  plan->popts = opts.pipeline;
  plan->popts.cancel = opts.cancel;
  plan->use_cache = !opts.ref.empty() && !opts.cache_dir.empty();
  const size_t share =
      InflightShare(targets, plan->popts.memory_budget, opts.pipeline.chunking.max_size);
  for (size_t t = 0; t < targets.size(); t++) {
    TargetState& ts = plan->states[t];
    RETURN_IF_ERROR(IndexPreviousBuild(targets[t], opts, plan->use_cache, &ts));
    if (targets[t].mirror) {
      RETURN_IF_ERROR(PlanMirror(targets[t], opts, share, targets.size(), plan, &ts));
      continue;
    }
    ts.store_sink = std::make_unique<StoreSink>(targets[t].store, opts.zstd_level,
                                                opts.pipeline.chunking.max_size);
    plan->chunk_sinks.push_back(ts.store_sink.get());
  }
  MatchStatCache(opts, plan);
  ProbeCachedChunks(targets, plan);
  return Status::OK();
}

// ---- run ---------------------------------------------------------------------

struct RunCounts {
  PipelineStats stats;
  uint64_t files_cached = 0, bytes_cached = 0, chunks_cached = 0;
};

// Reads what is not cached once, into every destination; then each mirror
// finishes its uploads. digests[i] belongs to plan.files[i].
Status RunOnce(PushPlan* plan, const PushOptions& opts, std::vector<FileDigest>* digests,
               RunCounts* counts) {
  std::vector<SourceFile> to_read;
  std::vector<size_t> read_index;  // to_read[k] is files[read_index[k]]
  digests->assign(plan->files.size(), FileDigest{});
  for (size_t i = 0; i < plan->files.size(); i++) {
    const FileEntry* c = plan->cached[i];
    if (!c) {
      to_read.push_back(plan->files[i]);
      read_index.push_back(i);
      continue;
    }
    (*digests)[i] = FileDigest{Status::OK(), c->sha256, c->xxh3, c->chunks};
    counts->files_cached++;
    counts->bytes_cached += c->size;
    counts->chunks_cached += c->chunks.size();
    // A mirror still checks (HEAD) that the object is there, and resends it if not.
    if (plan->files[i].size > 0)
      for (auto& ts : plan->states)
        if (ts.uploader) ts.uploader->OnUnchanged(i, (*digests)[i]);
  }
  HashOnlySink hash_only;
  FanOutChunkSink chunk_fan(plan->chunk_sinks);
  FanOutFileSink file_fan(plan->file_sinks);
  const auto& cs = plan->chunk_sinks;
  const auto& fs = plan->file_sinks;
  ChunkSink* chunk_sink = cs.empty()       ? static_cast<ChunkSink*>(&hash_only)
                          : cs.size() == 1 ? cs[0]
                                           : &chunk_fan;
  FileSink* file_sink = fs.empty() ? nullptr : fs.size() == 1 ? fs[0] : &file_fan;
  IndexMapSink mapped(file_sink, &read_index);
  std::vector<FileDigest> read_digests;
  Status run = RunPipeline(to_read, plan->popts, chunk_sink, &read_digests, &counts->stats,
                           opts.progress_bytes, file_sink ? &mapped : nullptr);
  for (size_t k = 0; k < read_digests.size(); k++)
    (*digests)[read_index[k]] = std::move(read_digests[k]);
  return run;
}

// Each destination's counters, and every chunk durable before anything names it.
Status FinishTargets(const std::vector<PushTarget>& targets, PushPlan* plan,
                     const std::vector<FileDigest>& digests, const RunCounts& c, Status first_error,
                     std::vector<PushReport>* reports) {
  for (size_t t = 0; t < targets.size(); t++) {
    TargetState& ts = plan->states[t];
    PushReport& r = (*reports)[t];
    if (ts.uploader) {
      Status up = ts.uploader->Finish(digests);  // always: it aborts unfinished uploads
      if (first_error.ok() && !up.ok()) first_error = up.WithContext(targets[t].store->Describe());
      r.mirror = ts.uploader->stats();
      r.bytes_new = r.mirror.bytes_sent;
      r.bytes_stored = r.mirror.bytes_sent;
    } else {
      r.bytes_new = ts.store_sink->bytes_new_;
      r.bytes_stored = ts.store_sink->bytes_stored_;
      r.chunks_new = ts.store_sink->chunks_new_;
    }
    r.bytes_read = c.stats.bytes_read;
    r.files_cached = c.files_cached;
    r.bytes_cached = c.bytes_cached;
    r.chunks = c.stats.chunks + c.chunks_cached;
    r.io_backend = c.stats.io_backend;
    r.bytes_dedup =
        r.bytes_read + c.bytes_cached - std::min(r.bytes_read + c.bytes_cached, r.bytes_new);
    Status sync = targets[t].store->Sync();
    if (first_error.ok() && !sync.ok()) first_error = sync;
  }
  return first_error;
}

// ---- record ------------------------------------------------------------------

// The manifest of what was read (every file's digests and chunks).
Manifest BuildManifest(PushPlan* plan, const PushOptions& opts, std::vector<FileDigest>* digests,
                       PushReport* counts) {
  Manifest m;
  for (size_t i = 0; i < plan->files.size(); i++) {
    FileEntry& e = plan->walk.entries[plan->file_entry[i]].entry;
    e.sha256 = (*digests)[i].sha256;
    e.xxh3 = (*digests)[i].xxh3;
    e.chunks = std::move((*digests)[i].chunks);
    uint64_t total = 0;
    for (const auto& c : e.chunks) total += c.size;
    e.size = total;  // what was read (the file may have been listed at another size)
  }
  for (auto& se : plan->walk.entries) {
    switch (se.entry.type) {
      case EntryType::kFile:
        counts->files++;
        break;
      case EntryType::kDir:
        counts->dirs++;
        break;
      case EntryType::kSymlink:
        counts->symlinks++;
        break;
    }
    m.files.push_back(std::move(se.entry));
  }
  m.created_unix_ns = UnixNowNs();
  m.ref = opts.ref;
  m.tags = opts.tags;
  m.chunking = opts.pipeline.chunking;
  return m;
}

// What this push hashed, for the next one (only entries that are not racily clean).
void SaveStatCache(const PushPlan& plan, const PushOptions& opts, const TargetState& ts,
                   const std::vector<FileDigest>& digests) {
  StatCache next;
  for (size_t i = 0; i < plan.files.size(); i++) {
    const auto& [path, fs] = plan.file_stats[i];
    if (StatCache::IsClean(fs, plan.start_ns, opts.racy_margin_ns))
      next.Add(path, {fs, digests[i].sha256});
  }
  Status saved = next.Save(ts.cache_path, plan.start_ns);
  if (!saved.ok())
    LogWarn("could not write the stat cache (the next push reads every file): " + saved.message());
}

// Records the build in every destination; one that fails does not undo the others.
Status RecordEverywhere(const std::vector<PushTarget>& targets, const PushOptions& opts,
                        const PushPlan& plan, const std::vector<FileDigest>& digests,
                        const PushReport& counts, Manifest* m, std::vector<PushReport>* reports) {
  size_t recorded = 0;
  Status record_error;
  for (size_t t = 0; t < targets.size(); t++) {
    PushReport& r = (*reports)[t];
    r.files = counts.files;
    r.dirs = counts.dirs;
    r.symlinks = counts.symlinks;
    MirrorRecord record;
    std::map<std::string, Digest> written;  // mirror: paths this push wrote, and their bytes
    const MirrorUploader* up = plan.states[t].uploader.get();
    if (targets[t].mirror) {
      record.url =
          "s3://" + targets[t].mirror->bucket + "/" + S3KeyPrefix(targets[t].mirror->prefix);
      for (size_t i = 0; i < plan.files.size(); i++) {
        const std::string& path = plan.file_stats[i].first;
        record.objects[path] = up->object(i);
        if (up->wrote(i)) written[path] = digests[i].sha256;
      }
    }
    Status st = RecordBuild(targets[t], opts.ref, plan.states[t].parent,
                            targets[t].mirror ? &record : nullptr, written, m, &r);
    r.seconds = plan.elapsed();
    if (st.ok() && !plan.states[t].cache_path.empty())
      SaveStatCache(plan, opts, plan.states[t], digests);
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

}  // namespace

// Plan (check, walk, index the previous build, split the memory, match the
// stat cache), run (one read into every destination), record.
Status PushMulti(const std::vector<PushTarget>& targets, const PushOptions& opts,
                 std::vector<PushReport>* reports) {
  PushPlan plan;
  plan.t0 = std::chrono::steady_clock::now();
  plan.start_ns = UnixNowNs();
  reports->assign(targets.size(), PushReport{});
  RETURN_IF_ERROR(Plan(targets, opts, &plan, reports));
  std::vector<FileDigest> digests;
  RunCounts counts;
  Status run = RunOnce(&plan, opts, &digests, &counts);
  run = FinishTargets(targets, &plan, digests, counts, run, reports);
  // Interrupted: whatever failed after the signal failed because of it.
  if (Cancelled(opts.cancel)) return opts.cancel->Check("the push");
  RETURN_IF_ERROR(run);
  std::vector<Status> file_errors;
  for (const auto& d : digests)
    if (!d.status.ok()) file_errors.push_back(d.status);
  if (!file_errors.empty()) return SourceFailure(std::move(file_errors), plan, reports);
  PushReport totals;
  Manifest m = BuildManifest(&plan, opts, &digests, &totals);
  return RecordEverywhere(targets, opts, plan, digests, totals, &m, reports);
}

}  // namespace ferry
