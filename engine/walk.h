// Lists the source trees of a push.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/pipeline.h"
#include "manifest/manifest.h"
#include "transport/s3_store.h"
#include "util/status.h"

namespace ferry {

// What lstat said of a source when it was listed: what the stat cache
// (engine/stat_cache.h) compares to decide a file is unchanged.
struct FileStat {
  uint64_t dev = 0, ino = 0, size = 0;
  int64_t mtime_ns = 0, ctime_ns = 0;
  bool operator==(const FileStat&) const = default;
};

// The entries of the source trees as parallel vectors, sorted by path. A
// push holds this for its whole run, so it is kept lean: about 300 bytes a
// file with the path to read it (docs/performance.md, "Memory per file").
struct WalkResult {
  std::vector<FileEntry> entries;  // sorted by path
  std::vector<FileStat> stats;     // stats[i]: what lstat (or the listing) said of entries[i]
  // The regular files among entries, in the same order, and where to read
  // each (remote: the object's key and its ETag when listed): files[k] is
  // entries[file_entry[k]].
  std::vector<SourceFile> files;
  std::vector<uint32_t> file_entry;
  std::vector<std::string> skipped;  // sockets, FIFOs, devices: not build artifacts
  // The same entries' paths in the tree (as a manifest would name them):
  // still at the source, so push --delete never deletes their DR objects.
  std::vector<std::string> skipped_paths;
  std::vector<std::shared_ptr<RemoteReader>> remotes;  // what files' `remote` point to

  // Appends an entry; `read` is where to read it if it is a regular file.
  void Add(FileEntry e, const FileStat& st, SourceFile read = {});
  // Sorts the entries by path, keeping the vectors in step, in place.
  void Sort();
  // Drops the entries `keep` says no to, keeping the vectors in step.
  void KeepIf(const std::function<bool(const FileEntry&)>& keep);
};

// One root: its contents, with paths relative to it (a root that is a file
// becomes its base name). Several roots: each root's contents under the root's
// base name. Unreadable roots or directories are kSourceUnreadable naming them.
// A root that is an s3:// URL is a bucket prefix (engine/bucket_source.h),
// opened with `remote_opts`.
// With `only` (one root): just those paths below it (relative, as in a
// manifest; a directory among them walked whole; a bucket's keys listed one
// by one) and the directories above them; paths that no longer exist are
// left out.
Result<WalkResult> WalkSources(const std::vector<std::string>& roots,
                               const StoreOptions& remote_opts = {},
                               const std::vector<std::string>* only = nullptr);

}  // namespace ferry
