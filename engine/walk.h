// Lists the source trees of a push.
#pragma once

#include <memory>
#include <string>
#include <vector>

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

class RemoteReader;  // engine/pipeline.h

struct SourceEntry {
  FileEntry entry;       // path, type, mode, mtime, size, link_target
  std::string abs_path;  // where to read it (remote: the object's key)
  FileStat stat;
  RemoteReader* remote = nullptr;  // set for an object in a bucket
  std::string version;             // remote: its ETag when listed
};

struct WalkResult {
  std::vector<SourceEntry> entries;  // sorted by entry.path
  std::vector<std::string> skipped;  // sockets, FIFOs, devices: not build artifacts
  // The same entries' paths in the tree (as a manifest would name them):
  // still at the source, so push --delete never deletes their DR objects.
  std::vector<std::string> skipped_paths;
  std::vector<std::shared_ptr<RemoteReader>> remotes;  // what entries' `remote` point to
};

// One root: its contents, with paths relative to it (a root that is a file
// becomes its base name). Several roots: each root's contents under the root's
// base name. Unreadable roots or directories are kSourceUnreadable naming them.
// A root that is an s3:// URL is a bucket prefix (engine/bucket_source.h),
// opened with `remote_opts`.
Result<WalkResult> WalkSources(const std::vector<std::string>& roots,
                               const StoreOptions& remote_opts = {});

}  // namespace ferry
