// Where a push goes and verify/restore read from: a store URL opened with its
// layout. The layout is one interface with two implementations:
//   store layout:  content-addressed zstd chunks + manifests + refs (local
//                  directory, or s3://bucket/prefix/ with --layout store);
//                  engine/store_layout.cc
//   mirror layout: each file at s3://bucket/prefix/<path>, byte-identical;
//                  manifests and refs under s3://bucket/prefix/.ferry/;
//                  engine/mirror_layout.cc
// Push, verify and restore see a destination only through this header: what
// to send for a file and what to record (LayoutWriter), how to check and read
// back what is there (ChunkSource).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/ops.h"
#include "engine/pipeline.h"
#include "manifest/manifest.h"
#include "transport/object_store.h"
#include "transport/s3_store.h"

namespace ferry {

class S3Client;

enum class Layout { kStore, kMirror };
const char* LayoutName(Layout layout);  // "store", "mirror"

// Where verify and restore get a chunk's bytes; every Fetch checks them
// against the chunk's SHA-256 and size.
class ChunkSource {
 public:
  virtual ~ChunkSource() = default;
  // Chunk `i` of `f` (a file of manifest `manifest`), which starts at byte
  // `offset` of the file.
  virtual Status Fetch(const Digest& manifest, const FileEntry& f, size_t i, uint64_t offset,
                       std::string* out) = 0;
  // HEAD-only check (verify --quick): the stored chunk exists (store), or the
  // file's object exists with the right size and, where Ferry wrote it whole,
  // the right SHA-256 metadata (mirror; `i` is ignored). No bytes are read.
  virtual Status Probe(const Digest& manifest, const FileEntry& f, size_t i) = 0;
  // Verify found chunk `i` of `f` corrupt: moves its bytes aside where a
  // push will not take it as present (store layout); true if it did.
  virtual bool SetAside(const FileEntry&, size_t) { return false; }
  // Probes answered by a listing rather than a request of their own.
  virtual uint64_t ProbesAnsweredByListing() const { return 0; }
  // True if each file holds its own copy of its chunks (mirror): verify then
  // checks every file's chunks, not every chunk ID once.
  virtual bool PerFile() const = 0;
  // Fetches worth having in flight; 0: IoThreadCount's default.
  virtual unsigned PreferredConcurrency() const = 0;
};

// The ref's build at a destination when a push starts, as the push's steps
// and the layout compare against it.
struct PreviousBuild {
  std::optional<Digest> id;  // none: a new ref (or no ref)
  Manifest manifest;         // loaded only if something compares against it

  // Its entry at `path`, or null. A binary search of the manifest (whose
  // files are sorted by path), so a push holds no index per file for it.
  const FileEntry* Find(std::string_view path) const;
  // Its first file in path order with this size and mtime (a rename), or
  // null. Needs IndexByStat() first.
  const FileEntry* FindByStat(uint64_t size, int64_t mtime_ns) const;
  void IndexByStat();
  // Gives the manifest's memory back once nothing compares against it (the
  // id stays: the new build's parent).
  void ReleaseManifest() {
    Manifest().files.swap(manifest.files);
    std::vector<std::pair<StatKey, const FileEntry*>>().swap(by_stat_);
  }

 private:
  using StatKey = std::pair<uint64_t, int64_t>;  // (size, mtime)
  std::vector<std::pair<StatKey, const FileEntry*>> by_stat_;
};

// What a layout sees of the push it takes part in. files[i] is the file the
// pipeline reads (absolute path); entries[i] its manifest entry (relative
// path, size, mtime); entries stay valid during Plan.
// still_at_source: paths the sources hold but this build leaves out
// (--exclude/--include, held back, given up on): --delete never deletes
// their objects.
struct PushFiles {
  std::span<const SourceFile> files;
  std::vector<const FileEntry*> entries;
  std::set<std::string> still_at_source;
};

// One push into one destination. The push calls, in order: Plan; then the
// sinks run during the single read of the sources (CanSkipRead, CheckCached
// and OnUnchanged for files the stat cache vouches for); Finish; and, if
// every destination finished, Record once the manifest is stored.
class LayoutWriter {
 public:
  virtual ~LayoutWriter() = default;
  // Whether the push's files become objects of their own, overwritten as it
  // goes and carrying its tags (mirror): then every source is opened before a
  // byte is sent, and tags must fit S3's rules.
  virtual bool WritesFileObjects() const = 0;
  // Whether the previous build's manifest is needed even without a stat cache.
  virtual bool NeedsPreviousBuild() const = 0;
  // Memory for buffers this destination holds whatever its share of the
  // budget (0: none), and all it takes when `inflight_share` bytes in flight
  // are its share. The push checks the budget covers it before Plan.
  virtual size_t FixedMemory() const = 0;
  virtual size_t Memory(size_t inflight_share) const = 0;
  // Prepares the push: what to send for each file, given the previous build.
  virtual Status Plan(const PushFiles& files, const PreviousBuild& previous,
                      size_t inflight_share) = 0;
  // Where the read's chunks go (store) or its files' bytes (mirror); null: none.
  virtual ChunkSink* chunk_sink() = 0;
  virtual FileSink* file_sink() = 0;
  // Whether files[i], if the stat cache vouches for it, needs no read here.
  virtual bool CanSkipRead(size_t i) const = 0;
  // Of the files the stat cache vouches for (cached[i] non-null), clears those
  // whose bytes this destination no longer holds, so they are read after all.
  virtual void CheckCached(std::vector<const FileEntry*>* cached) = 0;
  // files[i] was not read; `digest` is the previous manifest's.
  virtual void OnUnchanged(size_t i, const FileDigest& digest) = 0;
  // After the read: waits for everything sent, makes it durable, and fills
  // r's layout counters. `digests[i]` is files[i]'s. Always called.
  virtual Status Finish(const std::vector<FileDigest>& digests, PushReport* r) = 0;
  // The manifest is stored as `id` (the ref not moved yet): records what the
  // layout keeps beside it (mirror: where each file's object is).
  virtual Status Record(const Digest& id, const std::vector<FileDigest>& digests) = 0;
  // The ref names the recorded build now: what PushOptions::propagate_deletes
  // deletes (mirror). Failures are counted in `r` and logged; they never undo
  // the build.
  virtual void PropagateDeletes(PushReport* /*r*/) {}
};

class Destination {
 public:
  virtual ~Destination() = default;
  virtual Layout layout() const = 0;
  // Manifests and refs (and the chunks, in the store layout).
  virtual ObjectStore* meta() const = 0;
  // Verify and restore: where a chunk's bytes come from.
  virtual std::unique_ptr<ChunkSource> Reader() = 0;
  // A push with `opts` into this destination.
  virtual std::unique_ptr<LayoutWriter> StartPush(const PushOptions& opts) = 0;
  // What interrupted writes left more than `older_than` seconds ago
  // (ObjectStore::SweepAbandoned): in the store, and a mirror's data prefix.
  virtual Status SweepAbandoned(double older_than, bool dry_run,
                                std::vector<ObjectStore::Abandoned>* found) {
    return meta()->SweepAbandoned(older_than, dry_run, found);
  }
};

// Opens `url`. An existing store keeps its layout (asking for the other one is
// a usage error). With OpenMode::kCreate an empty location becomes a store of
// `layout` ("mirror" or "store"; "" = mirror for s3://, store for a directory).
// OpenMode::kDryRun opens it as kCreate would, creating nothing, with every
// write refused (its stores are ReadOnlyStores, its S3 client read-only).
Result<std::unique_ptr<Destination>> OpenDestination(const std::string& url, OpenMode mode,
                                                     StoreOptions options,
                                                     const std::string& layout = "");

// The store layout on `store`, which the caller keeps owning.
std::unique_ptr<Destination> StoreDestination(ObjectStore* store);
// The store layout on a store it owns.
std::unique_ptr<Destination> StoreDestination(std::unique_ptr<ObjectStore> store);
// The mirror layout: objects at s3://bucket/prefix/<path> (prefix "" or
// ending with '/'), manifests and refs in `meta`.
std::unique_ptr<Destination> MirrorDestination(std::shared_ptr<S3Client> s3, std::string bucket,
                                               std::string prefix,
                                               std::unique_ptr<ObjectStore> meta,
                                               MirrorOptions options = {});

}  // namespace ferry
