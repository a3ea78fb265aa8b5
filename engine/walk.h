// Lists the source trees of a push.
#pragma once

#include <string>
#include <vector>

#include "manifest/manifest.h"
#include "util/status.h"

namespace ferry {

// What lstat said of a source when it was listed: what the stat cache
// (engine/stat_cache.h) compares to decide a file is unchanged.
struct FileStat {
  uint64_t dev = 0, ino = 0, size = 0;
  int64_t mtime_ns = 0, ctime_ns = 0;
  bool operator==(const FileStat&) const = default;
};

struct SourceEntry {
  FileEntry entry;       // path, type, mode, mtime, size, link_target
  std::string abs_path;  // where to read it
  FileStat stat;
};

struct WalkResult {
  std::vector<SourceEntry> entries;  // sorted by entry.path
  std::vector<std::string> skipped;  // sockets, FIFOs, devices: not build artifacts
};

// One root: its contents, with paths relative to it (a root that is a file
// becomes its base name). Several roots: each root's contents under the root's
// base name. Unreadable roots or directories are kSourceUnreadable naming them.
Result<WalkResult> WalkSources(const std::vector<std::string>& roots);

}  // namespace ferry
