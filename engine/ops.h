// Ferry's operations: push, verify, restore. The CLI, the daemon and the
// audit mode call these; they print nothing (reports come back as structs).
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/mirror_options.h"
#include "engine/pipeline.h"
#include "engine/stat_cache.h"
#include "manifest/manifest.h"
#include "transport/object_store.h"
#include "transport/s3_store.h"
#include "util/glob.h"
#include "util/progress.h"
#include "util/status.h"

namespace ferry {

class SigningKey;  // crypto/sign.h

// ---- push -------------------------------------------------------------------

struct PushOptions {
  // Directories, files, or s3://bucket/prefix/ (engine/bucket_source.h),
  // whose client is built with `source_store` (--source-endpoint-url, ...).
  std::vector<std::string> sources;
  StoreOptions source_store;
  std::string ref;  // empty: no ref is moved
  std::vector<std::pair<std::string, std::string>> tags;
  int zstd_level = 3;  // 0 stores chunks uncompressed
  // Store layout (docs/store-format.md, "Packs"): chunks smaller than
  // pack_below go into packs of about pack_size bytes (0: none are packed).
  uint32_t pack_below = 256 << 10;
  uint32_t pack_size = 16 << 20;
  // Mirror layout: MirrorOptions::copy_min_size (--server-copy).
  uint64_t copy_min_size = kCopyPaysFrom;
  PipelineOptions pipeline;
  std::atomic<uint64_t>* progress_bytes = nullptr;
  // The stat cache (docs/stat-cache.md): with a ref, files the kernel says are
  // untouched since the ref's last push are taken from its manifest unread.
  std::string cache_dir;                   // empty: no stat cache
  bool rehash = false;                     // read every file anyway (the cache is still refreshed)
  int64_t racy_margin_ns = kRacyMarginNs;  // see StatCache::IsClean
  // A build with no regular file is refused (kSourceUnreadable naming the
  // sources: a post-build hook pointed at the wrong directory) unless allowed.
  bool allow_empty = false;
  // Once cancelled: stops reading and sending, records nothing, leaves
  // interrupted multipart uploads to be resumed, returns kInterrupted.
  const CancelToken* cancel = nullptr;
  // --exclude / --include (util/glob.h): entries filtered out are not part of
  // the build and are counted in `filtered`. Null: everything.
  const PathFilter* filter = nullptr;
  // Files (relative paths, as in the manifest) to leave out of this build:
  // the daemon holds back files still being written. Counted in held_back.
  std::function<bool(const std::string& path)> hold_back;
  // Mirror: Content-Type overrides (glob, type; first match wins) before the
  // extension table; set_content_type=false leaves S3's default.
  std::vector<std::pair<std::string, std::string>> content_types;
  bool set_content_type = true;
  // Mirror: false takes files the stat cache vouches for as the previous
  // build recorded their objects, without a HEAD each (the daemon between
  // reconciles, which recheck everything). True: HEAD every one.
  bool recheck_unchanged = true;
  // --dry-run: read and hash the sources, ask the destinations what they hold
  // (HEAD, the chunk probe, the ref's previous build), and report what would
  // be sent, copied and skipped in `planned`; write nothing anywhere (no
  // chunk, object, manifest, ref or stat cache). Destinations should be
  // opened with OpenMode::kDryRun, which refuses writes outright.
  bool dry_run = false;
  // --sign-key: each recorded build gets a signed statement beside its
  // manifest (manifest/signature.h), stored before the ref names it.
  const SigningKey* sign_key = nullptr;
  // --delete (mirror destinations; docs/deletes.md): the objects of files
  // the ref's previous build had there and this build lacks are deleted once
  // this build is recorded and the ref moved (a versioned bucket keeps them
  // as noncurrent versions). Only objects Ferry recorded are touched. If a
  // destination would lose more than max_delete of them, the push fails
  // before anything is sent (kTooManyDeletes) and nothing is recorded.
  bool propagate_deletes = false;
  // --merge (docs/merge.md): record this push's entries laid over the ref's
  // current build (re-merged onto whatever build a concurrent push left
  // there). Store layout only; needs a ref; never with propagate_deletes.
  bool merge = false;
  // --merge: where both builds hold a file at a path, the one with the later
  // mtime stays (the daemon, whose builds of one source compare: a key read
  // by two daemons, the older version recorded last). Off: this push's wins.
  bool merge_keep_newer = false;
  // Only these paths of the (single) source, relative as in a manifest: the
  // daemon's batch of changes (a bucket's keys listed one by one, not the
  // whole prefix). Null: the whole source.
  const std::vector<std::string>* only_paths = nullptr;
  uint64_t max_delete = kDefaultMaxDelete;
  static constexpr uint64_t kDefaultMaxDelete = 100;
};

// What a dry run found for one file at one destination.
struct PlannedFile {
  enum class Action {
    kUpload,     // mirror: sent (bytes: what would be uploaded; bytes_copied: part copies)
    kCopy,       // mirror: server-side copy of an object already there (from)
    kUnchanged,  // already there with these bytes: nothing sent
    kStore,      // store: new chunks stored (bytes: their uncompressed size)
    kDedup,      // store: every chunk already stored (or earlier in this push)
    kDelete,     // mirror, --delete: the object of a file the build no longer has
  };
  std::string path;
  Action action = Action::kUpload;
  uint64_t size = 0;          // the file's size
  uint64_t bytes = 0;         // bytes that would be sent (mirror) or stored (store)
  uint64_t bytes_copied = 0;  // mirror: bytes copied server-side
  std::string from;           // mirror: the s3:// URL of the object copied from
};
const char* PlannedActionName(PlannedFile::Action a);  // "upload", "copy", ...

struct PushReport {
  bool recorded = false;  // the manifest (and the ref, if any) was written here
  Digest manifest_id{};
  std::optional<Digest> parent;
  uint64_t files = 0, dirs = 0, symlinks = 0;
  // --merge: the files of the recorded build, and the build it was merged
  // onto (none: a new ref).
  uint64_t build_files = 0;
  std::optional<Digest> merged_onto;
  uint64_t bytes_read = 0;    // source bytes read and hashed
  uint64_t files_cached = 0;  // not read: unchanged per the stat cache
  uint64_t bytes_cached = 0;
  uint64_t bytes_new = 0;     // of those, in chunks the store did not have
  uint64_t bytes_dedup = 0;   // bytes_read - bytes_new
  uint64_t bytes_stored = 0;  // bytes written for new chunks (after compression)
  MirrorStats mirror;         // mirror layout: uploads, copies, throttling
  uint64_t chunks = 0, chunks_new = 0;
  uint64_t packs_new = 0;  // store layout: packs written (chunks_new counts their chunks)
  // --delete: objects deleted after the ref moved, and those whose DELETE
  // failed (they stay; the build is recorded either way).
  uint64_t objects_deleted = 0, delete_failures = 0;
  double seconds = 0;
  std::string io_backend;
  std::vector<std::string> skipped;  // special files not pushed
  uint64_t held_back = 0;            // files left out by PushOptions::hold_back
  uint64_t filtered = 0;             // entries left out by PushOptions::filter
  bool empty_source = false;         // refused: the sources (as filtered) hold no file
  std::vector<Status> file_errors;   // sources that could not be read
  // The paths of those whose error is about the file itself (not retryable,
  // not credentials): what the daemon counts toward giving an object up.
  std::vector<std::string> failed_paths;
  // PushOptions::dry_run: nothing was written; the counters above say what a
  // push would have done, and `planned` file by file.
  bool dry_run = false;
  std::vector<PlannedFile> planned;
};

// Every counter a push reports, once, by the name reports use (the JSON
// report, and the daemon's metrics): f(name, value).
template <typename F>
void ForEachPushCounter(const PushReport& r, F&& f) {
  f("bytes_new", r.bytes_new);
  f("bytes_deduplicated", r.bytes_dedup);
  f("bytes_stored", r.bytes_stored);
  f("bytes_sent", r.mirror.bytes_sent);
  f("objects_put", r.mirror.objects_put);
  f("files_unchanged", r.mirror.files_unchanged);
  f("files_checked_by_listing", r.mirror.files_listed);
  f("objects_checked_by_put", r.mirror.objects_checked_by_put);
  f("bytes_resumed", r.mirror.bytes_resumed);
  f("throttled", r.mirror.throttled);
  f("bytes_copied", r.mirror.bytes_copied);
  f("bytes_read_again", r.mirror.bytes_read_again);
  f("objects_copied", r.mirror.objects_copied);
  f("parts_copied", r.mirror.parts_copied);
  f("chunks_new", r.chunks_new);
  f("packs_written", r.packs_new);
  f("objects_deleted", r.objects_deleted);
  f("delete_failures", r.delete_failures);
}

// Checks, before any destination is opened or created, the ref name and the
// tags (kUsage), that every source exists and (unless allow_empty) that there
// is at least one file to push (kSourceUnreadable naming the sources).
// PushMulti checks it too.
Status CheckPushSources(const PushOptions& opts);
// The same; *empty: refused because the sources hold no file.
Status CheckPushSources(const PushOptions& opts, bool* empty);

class Destination;  // engine/destination.h: a store URL opened with its layout

// Store layout, one destination: reads every source once, stores new chunks,
// then the manifest, then moves the ref. If any source cannot be read, no manifest is written and
// no ref moves (kSourceUnreadable; the report lists every file).
Status Push(ObjectStore* store, const PushOptions& opts, PushReport* report);

// Push to several destinations (any layout) from one read of the sources. reports[i] belongs to
// targets[i]. A failure while reading or sending records nothing anywhere; a failure recording the
// manifest in one destination leaves the others recorded (kPartial).
Status PushMulti(const std::vector<Destination*>& targets, const PushOptions& opts,
                 std::vector<PushReport>* reports);

// ---- verify -----------------------------------------------------------------

// Threads for I/O-bound work (verify, restore): `requested`, or 0 for two per
// core (at least 2).
unsigned IoThreadCount(unsigned requested);

struct VerifyOptions {
  std::vector<std::string> refs;  // refs or manifest IDs
  bool all = false;               // every manifest and ref in the store
  unsigned threads = 0;           // 0: 2 per core (I/O bound)
  // HEAD only: existence, size and stored checksums; no byte is read or
  // rehashed, so a quick run never counts as verified (report->quick).
  bool quick = false;
  // Store layout: a chunk whose bytes do not match its ID is moved aside to
  // damaged/<id> (kept, not deleted), so the next push of a source that has
  // it stores it again (push dedupes only onto chunks that are present).
  // read_only: report only, write nothing.
  bool read_only = false;
  const CancelToken* cancel = nullptr;  // once cancelled: stops, returns kInterrupted
  ProgressMeter* progress = nullptr;    // bytes rehashed of the total (--quick: objects)
};

struct ChunkProblem {
  Digest id{};
  Status status;                   // kNotFound (missing) or kVerifyFailed (corrupt)
  std::vector<std::string> files;  // "path (manifest 1a2b3c4d)"
  bool moved_aside = false;        // a corrupt chunk now at damaged/<id>
};

struct VerifyReport {
  bool quick = false;             // only presence was checked, not bytes
  std::vector<Digest> manifests;  // verified manifest IDs
  uint64_t chunks_checked = 0;
  uint64_t bytes_checked = 0;       // uncompressed bytes rehashed
  uint64_t checked_by_listing = 0;  // --quick on a mirror: objects a listing showed as recorded
  double seconds = 0;
  std::vector<Status> manifest_problems;  // damaged manifests, dangling refs
  std::vector<ChunkProblem> chunk_problems;
  // --all: builds a later push replaced in place (unversioned mirror bucket):
  // listed, not checked, not a failure. (id, superseded by)
  std::vector<std::pair<Digest, Digest>> superseded;
};

// Re-reads, decompresses and rehashes every chunk the selected manifests
// reference (the store's chunks, or the mirror's objects).
// kVerifyFailed if anything is missing or corrupt.
Status Verify(Destination* dest, const VerifyOptions& opts, VerifyReport* report);
// Store layout: chunks come from `store` itself.
Status Verify(ObjectStore* store, const VerifyOptions& opts, VerifyReport* report);

// ---- restore ----------------------------------------------------------------

struct RestoreOptions {
  std::string what;    // ref or manifest ID
  std::string target;  // directory; created if missing
  unsigned threads = 0;
  // Remove what the target holds that the build does not (files, symlinks,
  // directories), so the target is exactly the build. Off: extras are kept
  // and listed in the report.
  bool delete_extras = false;
  // Restore set-uid/set-gid bits as recorded. Off (like tar for non-root
  // users): they are dropped, so a store writer cannot plant a set-uid file.
  bool keep_setuid = false;
  // Once cancelled: no further file is started; files in progress are not
  // renamed into place; returns kInterrupted. The next restore completes it.
  const CancelToken* cancel = nullptr;
  ProgressMeter* progress = nullptr;  // bytes written or found identical, of the build's
};

struct RestoreReport {
  Digest manifest_id{};
  uint64_t files_written = 0, files_unchanged = 0, dirs = 0, symlinks = 0;
  uint64_t files_replaced = 0;  // of files_written: a different file was there before
  uint64_t bytes_written = 0;
  uint64_t temp_files_removed = 0;  // .ferry-tmp-* left by an interrupted restore
  uint64_t setuid_dropped = 0;      // files whose set-uid/set-gid bits were not restored
  std::vector<std::string> extras;  // in the target, not in the build: kept, or removed (--delete)
  bool extras_deleted = false;
  double seconds = 0;
  std::vector<Status> errors;
};

// Writes the manifest's tree under `target`, byte-identical with its modes.
// Every path is checked first; any unsafe one refuses the whole restore before
// a byte is written, and so does a build larger than the target's free space.
// .ferry-tmp-* files an interrupted restore left in the target are removed. Each file is written to
// a temp name, verified against its SHA-256, then renamed into place. A file already present with
// the right size and XXH3-128 is left as it is.
Status Restore(Destination* dest, const RestoreOptions& opts, RestoreReport* report);
Status Restore(ObjectStore* store, const RestoreOptions& opts, RestoreReport* report);

}  // namespace ferry
