#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
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

#include "engine/bucket_source.h"
#include "engine/chunk_codec.h"
#include "engine/destination.h"
#include "engine/ops.h"
#include "engine/stat_cache.h"
#include "engine/walk.h"
#include "manifest/repo.h"
#include "manifest/signature.h"
#include "transport/s3_tags.h"
#include "transport/sigv4.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/parallel.h"
#include "util/posix.h"

namespace ferry {

namespace {

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

// What the read pipeline keeps at least when mirrors take their share.
constexpr size_t kMinPipelineMemory = 48u << 20;

// Per destination: its stat cache, its ref's previous build, its writer.
struct TargetState {
  std::string cache_path;  // its stat cache file; empty: none
  StatCache cache;
  PreviousBuild previous;
  std::unique_ptr<LayoutWriter> writer;
};

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

// --merge: m's entries become `own` laid over build `onto` (docs/merge.md).
Status MergeOnto(ObjectStore* store, std::optional<Digest> onto, const std::vector<FileEntry>& own,
                 bool keep_newer, Manifest* m, PushReport* r) {
  r->merged_onto = onto;
  if (!onto) {
    m->files = own;
  } else {
    auto base = LoadManifest(store, *onto);
    if (!base.ok())
      return base.take_status().WithContext(
          "--merge: cannot read the build to merge onto; nothing was recorded and no ref moved "
          "(`ferry verify` names the damage; one push without --merge records a whole tree "
          "again)");
    m->files = LayEntriesOver(base->files, own, keep_newer);
  }
  r->build_files = 0;
  for (const auto& e : m->files) r->build_files += e.type == EntryType::kFile;
  return Status::OK();
}

// How often a push re-chains onto a ref that other pushes keep moving.
constexpr int kRefAttempts = 10;

// Stores the manifest (durable before any ref names it), where a mirror's
// objects are, then moves the ref by compare-and-swap. If another push moved
// the ref meanwhile, the build is re-parented onto that push's build and the
// swap tried again, so neither build drops out of the ref's history.
// --merge (`own` set): each attempt records `own` laid over the build it
// goes on top of, so a concurrent push's files are kept.
Status RecordBuild(ObjectStore* store, LayoutWriter* writer, const std::string& ref,
                   std::optional<Digest> parent, const std::vector<FileDigest>& digests,
                   const SigningKey* key, const std::vector<FileEntry>* own, bool keep_newer,
                   Manifest* m, PushReport* r) {
  Status st;
  for (int attempt = 1; attempt <= kRefAttempts; attempt++) {
    m->parent = parent;
    r->parent = parent;
    if (own) RETURN_IF_ERROR(MergeOnto(store, parent, *own, keep_newer, m, r));
    ASSIGN_OR_RETURN(r->manifest_id, PutManifest(store, m));
    RETURN_IF_ERROR(writer->Record(r->manifest_id, digests));
    if (key) RETURN_IF_ERROR(SignBuild(store, r->manifest_id, ref, parent, *key));
    if (ref.empty()) return Status::OK();
    st = UpdateRef(store, ref, parent, r->manifest_id);
    if (st.code() != Code::kConflict) return st;
    auto now = ReadRef(store, ref);
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
  bool empty;
  return CheckPushSources(opts, &empty);
}

Status CheckPushSources(const PushOptions& opts, bool* empty) {
  *empty = false;
  if (opts.sources.empty()) return Status::Usage("no source directory given");
  if (!opts.ref.empty()) RETURN_IF_ERROR(ValidateRefName(opts.ref));
  RETURN_IF_ERROR(ValidateTags(opts.tags, /*metadata=*/false));
  bool has_objects = false;
  for (const auto& src : opts.sources) {
    if (IsBucketSource(src)) {  // one small listing: reachable, allowed, not empty
      ASSIGN_OR_RETURN(auto b, BucketSource::Open(src, opts.source_store));
      ASSIGN_OR_RETURN(bool any, b->HasObjects());
      has_objects |= any;
      continue;
    }
    struct stat st;
    if (stat(src.c_str(), &st) != 0)
      return Status::SourceUnreadable(PosixError("cannot read source " + src, errno).message() +
                                      "; nothing was recorded and no store was created");
  }
  if (opts.allow_empty || has_objects) return Status::OK();
  for (const auto& src : opts.sources)
    if (HasRegularFile(src)) return Status::OK();
  *empty = true;
  return EmptyBuildError(opts.sources);
}

Status Push(ObjectStore* store, const PushOptions& opts, PushReport* report) {
  auto dest = StoreDestination(store);
  std::vector<PushReport> reports;
  Status st = PushMulti({dest.get()}, opts, &reports);
  if (!reports.empty()) *report = std::move(reports[0]);
  return st;
}

namespace {

// ---- plan --------------------------------------------------------------------

// One push, as its steps see it: what to read, each destination's state,
// and which files need no read.
struct PushPlan {
  std::chrono::steady_clock::time_point t0;
  int64_t start_ns = 0;              // before any stat: see StatCache::IsClean
  bool writes_file_objects = false;  // some destination overwrites objects as it goes
  bool use_cache = false;
  // The sources' entries; walk.files are what the pipeline reads (file i is
  // entry walk.file_entry[i]). The manifest takes walk.entries at the end.
  WalkResult walk;
  std::set<std::string> left_out;  // --delete: paths at the source this build leaves out
  std::vector<TargetState> states;
  PipelineOptions popts;
  size_t inflight_share = 0;             // each mirror's bytes in flight (SplitMemory)
  std::vector<const FileEntry*> cached;  // not read: the stat cache vouches for it
  double elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  size_t file_count() const { return walk.files.size(); }
  const FileEntry& entry(size_t i) const { return walk.entries[walk.file_entry[i]]; }
  const FileStat& stat(size_t i) const { return walk.stats[walk.file_entry[i]]; }
};

// The ref name, the level and the tags (warning about tags S3 cannot carry).
Status CheckPushArguments(size_t n_targets, const PushOptions& opts) {
  if (n_targets == 0) return Status::Usage("push needs at least one --to");
  if (opts.zstd_level < 0 || opts.zstd_level > 19)
    return Status::Usage("compression level must be 0 (none) to 19");
  if (!opts.ref.empty()) RETURN_IF_ERROR(ValidateRefName(opts.ref));
  if (opts.merge && opts.ref.empty())
    return Status::Usage("--merge lays this push over the ref's latest build: give --ref");
  if (opts.merge && opts.propagate_deletes)
    return Status::Usage("--merge keeps every file of the ref's latest build: it cannot --delete");
  return Status::OK();
}

// Tags that become object metadata and S3 tags must fit S3's rules.
Status CheckObjectTags(const PushOptions& opts) {
  RETURN_IF_ERROR(ValidateTags(opts.tags, /*metadata=*/true,
                               {{"ferry-ref", opts.ref}, {"ferry-sha256", std::string(64, '0')}}));
  std::vector<std::string> omitted;
  S3ObjectTags(opts.tags, &omitted);
  for (const auto& o : omitted)
    LogWarn("--tag " + o + ": kept in the manifest and as object metadata, not as an S3 tag");
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
  ASSIGN_OR_RETURN(plan->walk, WalkSources(opts.sources, opts.source_store, opts.only_paths));
  if (opts.propagate_deletes)
    plan->left_out.insert(plan->walk.skipped_paths.begin(), plan->walk.skipped_paths.end());
  auto& walk = plan->walk;
  if (opts.filter && !opts.filter->empty()) {
    const size_t before = walk.entries.size();
    walk.KeepIf([&](const FileEntry& e) {
      const bool out = !opts.filter->Included(e.path);
      if (out && opts.propagate_deletes) plan->left_out.insert(e.path);
      return !out;
    });
    for (auto& r : *reports) r.filtered = before - walk.entries.size();
  }
  if (opts.hold_back) {
    const size_t before = walk.entries.size();
    walk.KeepIf([&](const FileEntry& e) {
      const bool out = e.type == EntryType::kFile && opts.hold_back(e.path);
      if (out && opts.propagate_deletes) plan->left_out.insert(e.path);
      return !out;
    });
    for (auto& r : *reports) r.held_back = before - walk.entries.size();
  }
  for (auto& r : *reports) r.skipped = walk.skipped;
  if (walk.files.empty() && !opts.allow_empty) {
    for (auto& r : *reports) r.empty_source = true;
    if (!reports->empty() && (*reports)[0].filtered > 0)
      return Status::SourceUnreadable(
          "--exclude/--include left no file to push (" + std::to_string((*reports)[0].filtered) +
          " entries filtered out); nothing was recorded and no ref moved: check the patterns");
    return EmptyBuildError(opts.sources);
  }
  if (!plan->writes_file_objects) return Status::OK();
  std::vector<Status> errors;
  for (const auto& f : walk.files) {
    if (f.remote) continue;  // listed just now; each read checks its ETag
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
Status IndexPreviousBuild(const Destination& target, const PushOptions& opts, bool use_cache,
                          TargetState* ts) {
  if (use_cache) {
    ts->cache_path =
        StatCache::PathFor(opts.cache_dir, target.meta()->Describe(), opts.ref, opts.sources);
    if (!opts.rehash) ts->cache = StatCache::Load(ts->cache_path);
  }
  if (opts.ref.empty()) return Status::OK();
  auto prev = ReadRef(target.meta(), opts.ref);
  if (!prev.ok()) {
    if (prev.status().code() == Code::kNotFound) return Status::OK();
    return prev.take_status().WithContext(target.meta()->Describe());
  }
  PreviousBuild& pb = ts->previous;
  pb.id = *prev;
  if (!ts->writer->NeedsPreviousBuild() && ts->cache.size() == 0) return Status::OK();
  auto pm = LoadManifest(target.meta(), *prev);
  if (!pm.ok()) return Status::OK();  // verify reports it; this push sends everything
  pb.manifest = std::move(*pm);
  if (ts->writer->NeedsPreviousBuild()) pb.IndexByStat();  // renames: only mirrors look
  return Status::OK();
}

size_t HeapBytes(const std::string& s) {
  return s.capacity() > 15 ? s.capacity() + 1 : 0;  // past the short-string buffer
}

// Bytes a push holds per entry for its whole run, outside any buffer: the
// walk (entry, stat, where to read it), each file's digests, chunk list and
// chunk IDs in the dedup set; the previous builds and stat caches it compares
// against (docs/performance.md, "Memory per file").
size_t MetadataBytes(const PushPlan& plan, const ChunkerParams& chunking) {
  constexpr size_t kChunkIdSeen = 48;  // a node of the set of chunk IDs this push saw
  const WalkResult& w = plan.walk;
  size_t bytes = w.entries.size() * (sizeof(FileEntry) + sizeof(FileStat));
  for (const auto& e : w.entries) bytes += HeapBytes(e.path) + HeapBytes(e.link_target);
  for (const auto& f : w.files) {
    const size_t chunks = f.size / chunking.avg_size + 1;
    bytes += sizeof(SourceFile) + sizeof(uint32_t) + sizeof(FileDigest) + HeapBytes(f.path) +
             HeapBytes(f.version) + chunks * (sizeof(ChunkInfo) + kChunkIdSeen);
  }
  for (const auto& ts : plan.states) {
    for (const auto& e : ts.previous.manifest.files)
      bytes += sizeof(FileEntry) + HeapBytes(e.path) + e.chunks.capacity() * sizeof(ChunkInfo);
    bytes += ts.cache.size() * (sizeof(std::pair<std::string, StatCache::Entry>) + 16);
  }
  return bytes;
}

// The memory budget split: buffers sized from the budget up front (the
// store layout's packs, a small part of it), then the push's per-file
// metadata, then every destination's fixed buffers, then what is left above
// the pipeline's minimum, shared out among those that hold bytes in flight
// (mirrors); the pipeline keeps the rest. Metadata that does not fit leaves
// the pipeline its minimum, with a warning: the push needs more than --memory.
Status SplitMemory(const PushOptions& opts, PushPlan* plan) {
  size_t& budget = plan->popts.memory_budget;
  size_t holders = 0, all_fixed = 0;
  for (const auto& ts : plan->states) {
    if (size_t fixed = ts.writer->FixedMemory(); fixed > 0) {
      holders++;
      all_fixed += fixed;
    } else {
      budget -= std::min(budget, ts.writer->Memory(0));
    }
  }
  const size_t meta = MetadataBytes(*plan, opts.pipeline.chunking);
  const size_t room =
      budget > all_fixed + kMinPipelineMemory ? budget - all_fixed - kMinPipelineMemory : 0;
  budget -= std::min(meta, room);
  static std::atomic<bool> warned{false};  // once per process: a daemon pushes the tree each cycle
  if (meta > room && !warned.exchange(true))
    LogWarn(std::to_string(plan->walk.entries.size()) + " entries: about " +
            std::to_string((meta >> 20) + 1) + " MiB of per-file metadata, beyond the " +
            std::to_string(room >> 20) + " MiB that --memory " +
            std::to_string(opts.pipeline.memory_budget >> 20) +
            " leaves beside its buffers: the push may use up to about " +
            std::to_string(((meta - room) >> 20) + 1) +
            " MiB more than the budget (give more with --memory, or push the tree in parts)");
  const size_t share = holders == 0 || budget < all_fixed + kMinPipelineMemory
                           ? 0
                           : (budget - all_fixed - kMinPipelineMemory) / holders;
  for (auto& ts : plan->states) {
    if (ts.writer->FixedMemory() == 0) continue;  // taken above
    const size_t need = ts.writer->Memory(share);
    if (budget < need + kMinPipelineMemory)
      return Status::Usage("memory budget of " + std::to_string(opts.pipeline.memory_budget >> 20) +
                           " MiB is too small for " + std::to_string(plan->states.size()) +
                           " destination(s): give more with --memory");
    budget -= need;
  }
  plan->inflight_share = share;
  return Status::OK();
}

// Files the stat cache vouches for in every destination are not read: their
// digests come from the previous manifest (docs/stat-cache.md).
void MatchStatCache(const PushOptions& opts, PushPlan* plan) {
  plan->cached.assign(plan->file_count(), nullptr);
  if (!plan->use_cache || opts.rehash) return;
  for (size_t i = 0; i < plan->file_count(); i++) {
    const FileEntry& e = plan->entry(i);
    const FileEntry* prev = nullptr;
    for (const TargetState& ts : plan->states) {
      const Digest* sha = ts.cache.Lookup(e.path, plan->stat(i));
      const FileEntry* p = ts.previous.Find(e.path);
      if (!ts.writer->CanSkipRead(i) || !sha ||
          ts.previous.manifest.chunking != opts.pipeline.chunking || !p ||
          p->type != EntryType::kFile || p->size != e.size || p->mtime_ns != e.mtime_ns ||
          p->sha256 != *sha) {
        prev = nullptr;
        break;
      }
      prev = p;
    }
    plan->cached[i] = prev;
  }
}

Status Plan(const std::vector<Destination*>& targets, const PushOptions& opts, PushPlan* plan,
            std::vector<PushReport>* reports) {
  RETURN_IF_ERROR(CheckPushArguments(targets.size(), opts));
  plan->states.resize(targets.size());
  for (size_t t = 0; t < targets.size(); t++) {
    plan->states[t].writer = targets[t]->StartPush(opts);
    plan->writes_file_objects |= plan->states[t].writer->WritesFileObjects();
  }
  if (plan->writes_file_objects && opts.merge)
    return Status::Usage(
        "--merge is for store-layout destinations (a local store, or s3:// with --layout "
        "store): a mirror keeps one object per file at one prefix (docs/merge.md)");
  if (plan->writes_file_objects) RETURN_IF_ERROR(CheckObjectTags(opts));
  bool empty = false;
  Status src = CheckPushSources(opts, &empty);
  if (!src.ok()) {
    for (auto& r : *reports) r.empty_source = empty;
    return src;
  }
  RETURN_IF_ERROR(ListSources(opts, plan, reports));
  plan->popts = opts.pipeline;
  plan->popts.cancel = opts.cancel;
  plan->use_cache = !opts.ref.empty() && !opts.cache_dir.empty();
  for (size_t t = 0; t < targets.size(); t++)
    RETURN_IF_ERROR(IndexPreviousBuild(*targets[t], opts, plan->use_cache, &plan->states[t]));
  RETURN_IF_ERROR(SplitMemory(opts, plan));
  PushFiles files;
  files.files = plan->walk.files;
  files.entries.reserve(plan->file_count());
  for (size_t i = 0; i < plan->file_count(); i++) files.entries.push_back(&plan->entry(i));
  files.still_at_source = std::move(plan->left_out);
  for (size_t t = 0; t < targets.size(); t++) {
    TargetState& ts = plan->states[t];
    RETURN_IF_ERROR(ts.writer->Plan(files, ts.previous, plan->inflight_share));
  }
  MatchStatCache(opts, plan);
  for (auto& ts : plan->states) {
    ts.writer->CheckCached(&plan->cached);
    // Asked once per file above; the push writes a new one (--merge: on top of it).
    if (!opts.merge) ts.cache = StatCache();
  }
  return Status::OK();
}

// ---- run ---------------------------------------------------------------------

struct RunCounts {
  PipelineStats stats;
  uint64_t files_cached = 0, bytes_cached = 0, chunks_cached = 0;
};

// Reads what is not cached once, into every destination. digests[i] belongs
// to file i of the plan.
Status RunOnce(PushPlan* plan, const PushOptions& opts, std::vector<FileDigest>* digests,
               RunCounts* counts) {
  const auto& files = plan->walk.files;
  std::vector<size_t> read_index;  // the k-th file read is files[read_index[k]]
  for (size_t i = 0; i < files.size(); i++)
    if (!plan->cached[i]) read_index.push_back(i);
  // Nothing cached (a first push): the pipeline reads the plan's own list
  // into `digests`, with no second copy of either.
  const bool read_all = read_index.size() == files.size();
  std::vector<SourceFile> to_read;
  if (!read_all) {
    to_read.reserve(read_index.size());
    for (size_t i : read_index) to_read.push_back(files[i]);
    digests->assign(files.size(), FileDigest{});
  }
  for (size_t i = 0; i < files.size(); i++) {
    const FileEntry* c = plan->cached[i];
    if (!c) continue;
    (*digests)[i] = FileDigest{Status::OK(), c->sha256, c->xxh3, c->chunks};
    counts->files_cached++;
    counts->bytes_cached += c->size;
    counts->chunks_cached += c->chunks.size();
    // A mirror still checks (HEAD) that the object is there, and resends it if not.
    if (files[i].size > 0)
      for (auto& ts : plan->states) ts.writer->OnUnchanged(i, (*digests)[i]);
  }
  // The previous builds' entries were what `cached` pointed to: nothing
  // compares against them from here on.
  for (auto& ts : plan->states) ts.previous.ReleaseManifest();
  std::vector<ChunkSink*> cs;
  std::vector<FileSink*> fs;
  for (auto& ts : plan->states) {
    if (ChunkSink* c = ts.writer->chunk_sink()) cs.push_back(c);
    if (FileSink* f = ts.writer->file_sink()) fs.push_back(f);
  }
  HashOnlySink hash_only;
  FanOutChunkSink chunk_fan(cs);
  FanOutFileSink file_fan(fs);
  ChunkSink* chunk_sink = cs.empty()       ? static_cast<ChunkSink*>(&hash_only)
                          : cs.size() == 1 ? cs[0]
                                           : &chunk_fan;
  FileSink* file_sink = fs.empty() ? nullptr : fs.size() == 1 ? fs[0] : &file_fan;
  if (read_all)
    return RunPipeline(files, plan->popts, chunk_sink, digests, &counts->stats, opts.progress_bytes,
                       file_sink);
  IndexMapSink mapped(file_sink, &read_index);
  std::vector<FileDigest> read_digests;
  Status run = RunPipeline(to_read, plan->popts, chunk_sink, &read_digests, &counts->stats,
                           opts.progress_bytes, file_sink ? &mapped : nullptr);
  for (size_t k = 0; k < read_digests.size(); k++)
    (*digests)[read_index[k]] = std::move(read_digests[k]);
  return run;
}

// Each destination finishes what it sends and fills its counters; every
// chunk is durable before anything names it.
Status FinishTargets(const std::vector<Destination*>& targets, PushPlan* plan,
                     const std::vector<FileDigest>& digests, const RunCounts& c, Status first_error,
                     std::vector<PushReport>* reports) {
  for (size_t t = 0; t < targets.size(); t++) {
    PushReport& r = (*reports)[t];
    Status done = plan->states[t].writer->Finish(digests, &r);
    if (first_error.ok() && !done.ok())
      first_error = done.WithContext(targets[t]->meta()->Describe());
    r.bytes_read = c.stats.bytes_read;
    r.files_cached = c.files_cached;
    r.bytes_cached = c.bytes_cached;
    r.chunks = c.stats.chunks + c.chunks_cached;
    r.io_backend = c.stats.io_backend;
    r.bytes_dedup =
        r.bytes_read + c.bytes_cached - std::min(r.bytes_read + c.bytes_cached, r.bytes_new);
    Status sync = targets[t]->meta()->Sync();
    if (first_error.ok() && !sync.ok()) first_error = sync;
  }
  return first_error;
}

// ---- record ------------------------------------------------------------------

// The manifest of what was read (every file's digests and chunks). It takes
// the walk's entries (in the same order: file i stays at walk.file_entry[i]).
Manifest BuildManifest(PushPlan* plan, const PushOptions& opts, std::vector<FileDigest>* digests,
                       PushReport* counts) {
  auto& walk = plan->walk;
  for (size_t i = 0; i < plan->file_count(); i++) {
    FileEntry& e = walk.entries[walk.file_entry[i]];
    e.sha256 = (*digests)[i].sha256;
    e.xxh3 = (*digests)[i].xxh3;
    e.chunks = std::move((*digests)[i].chunks);
    uint64_t total = 0;
    for (const auto& c : e.chunks) total += c.size;
    e.size = total;  // what was read (the file may have been listed at another size)
  }
  for (const auto& e : walk.entries) {
    switch (e.type) {
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
  }
  Manifest m;
  m.files = std::move(walk.entries);
  // Nothing reads a file after this: give back the paths to read (a first
  // push of many small files holds them until here).
  std::vector<SourceFile>().swap(walk.files);
  m.created_unix_ns = UnixNowNs();
  m.ref = opts.ref;
  m.tags = opts.tags;
  m.chunking = opts.pipeline.chunking;
  return m;
}

// What this push hashed, for the next one (only entries that are not racily
// clean). `m` holds the walk's entries in the walk's order.
void SaveStatCache(const PushPlan& plan, const PushOptions& opts, const TargetState& ts,
                   const Manifest& m) {
  StatCache next;
  const auto& walk = plan.walk;
  next.Reserve(walk.file_entry.size());
  for (size_t i = 0; i < walk.file_entry.size(); i++) {
    const size_t e = walk.file_entry[i];
    const FileStat& fs = walk.stats[e];
    if (StatCache::IsClean(fs, plan.start_ns, opts.racy_margin_ns))
      next.Add(m.files[e].path, {fs, m.files[e].sha256});
  }
  if (opts.merge) next.KeepFrom(ts.cache);  // the files this push did not hold
  Status saved = next.Save(ts.cache_path, plan.start_ns);
  if (!saved.ok())
    LogWarn("could not write the stat cache (the next push reads every file): " + saved.message());
}

// Records the build in every destination; one that fails does not undo the others.
Status RecordEverywhere(const std::vector<Destination*>& targets, const PushOptions& opts,
                        const PushPlan& plan, const std::vector<FileDigest>& digests,
                        const PushReport& counts, Manifest* m, std::vector<PushReport>* reports) {
  size_t recorded = 0;
  Status record_error;
  // --merge: m keeps this push's entries (the stat cache's); `merged` is what
  // each destination records, this push laid over its ref's build.
  Manifest merged;
  Manifest* rec = m;
  const std::vector<FileEntry>* merge_own = nullptr;
  if (opts.merge) {
    merged.created_unix_ns = m->created_unix_ns;
    merged.ref = m->ref;
    merged.tags = m->tags;
    merged.chunking = m->chunking;
    rec = &merged;
    merge_own = &m->files;
  }
  for (size_t t = 0; t < targets.size(); t++) {
    PushReport& r = (*reports)[t];
    r.files = counts.files;
    r.dirs = counts.dirs;
    r.symlinks = counts.symlinks;
    const TargetState& ts = plan.states[t];
    Status st = RecordBuild(targets[t]->meta(), ts.writer.get(), opts.ref, ts.previous.id, digests,
                            opts.sign_key, merge_own, opts.merge_keep_newer, rec, &r);
    r.seconds = plan.elapsed();
    if (st.ok() && !ts.cache_path.empty()) SaveStatCache(plan, opts, ts, *m);
    if (st.ok()) {
      ts.writer->PropagateDeletes(&r);
      r.recorded = true;
      recorded++;
    } else if (record_error.ok()) {
      record_error = st.WithContext(targets[t]->meta()->Describe());
    }
  }
  if (!record_error.ok() && recorded > 0)
    return Status(Code::kPartial, "the build was recorded in " + std::to_string(recorded) + " of " +
                                      std::to_string(targets.size()) + " destinations; " +
                                      record_error.message());
  return record_error;
}

// A dry run records nothing (no manifest, ref or stat cache): each report
// gets the build's counts and says what it is.
Status ReportDryRun(const PushPlan& plan, const PushReport& counts,
                    std::vector<PushReport>* reports) {
  for (auto& r : *reports) {
    r.files = counts.files;
    r.dirs = counts.dirs;
    r.symlinks = counts.symlinks;
    r.seconds = plan.elapsed();
    r.dry_run = true;
  }
  return Status::OK();
}

}  // namespace

const char* PlannedActionName(PlannedFile::Action a) {
  switch (a) {
    case PlannedFile::Action::kUpload:
      return "upload";
    case PlannedFile::Action::kCopy:
      return "copy";
    case PlannedFile::Action::kUnchanged:
      return "unchanged";
    case PlannedFile::Action::kStore:
      return "store";
    case PlannedFile::Action::kDedup:
      return "deduplicated";
    case PlannedFile::Action::kDelete:
      return "delete";
  }
  return "?";
}

// Plan (check, walk, index the previous build, split the memory, match the
// stat cache), run (one read into every destination), record.
Status PushMulti(const std::vector<Destination*>& targets, const PushOptions& opts,
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
  std::vector<std::string> failed;
  for (size_t i = 0; i < digests.size(); i++)
    if (!digests[i].status.ok()) {
      const Status& st = digests[i].status;
      file_errors.push_back(st);
      // About this file alone: not a source-wide outage (retryable: 503s,
      // a lost connection) nor credentials, which fail every file alike.
      if (!st.retryable() && st.code() != Code::kAuth && st.code() != Code::kInterrupted)
        failed.push_back(plan.entry(i).path);
    }
  if (!file_errors.empty()) {
    for (auto& r : *reports) r.failed_paths = failed;
    return SourceFailure(std::move(file_errors), plan, reports);
  }
  PushReport totals;
  Manifest m = BuildManifest(&plan, opts, &digests, &totals);
  if (opts.dry_run) return ReportDryRun(plan, totals, reports);
  return RecordEverywhere(targets, opts, plan, digests, totals, &m, reports);
}

}  // namespace ferry
