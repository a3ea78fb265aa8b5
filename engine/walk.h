// Lists the source trees of a push.
#pragma once

#include <string>
#include <vector>

#include "manifest/manifest.h"
#include "util/status.h"

namespace ferry {

struct SourceEntry {
  FileEntry entry;       // path, type, mode, mtime, size, link_target
  std::string abs_path;  // where to read it
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
