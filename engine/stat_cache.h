// The stat cache (docs/stat-cache.md): which source files a push may take from
// the ref's previous manifest without reading them, because the kernel says
// nothing touched them since Ferry hashed them. Local to the pushing machine;
// losing it only costs time.
#pragma once

#include <string>
#include <vector>

#include "crypto/hash.h"
#include "engine/walk.h"
#include "util/status.h"

namespace ferry {

// Entries whose mtime or ctime are this close to the push's start are not
// cached: the file could change again within the same clock tick.
inline constexpr int64_t kRacyMarginNs = 2'000'000'000;

class StatCache {
 public:
  struct Entry {
    FileStat stat;
    Digest sha256{};
  };

  // The cache file for (destination, ref, sources) under `dir`; empty if `dir` is.
  static std::string PathFor(const std::string& dir, const std::string& destination,
                             const std::string& ref, const std::vector<std::string>& sources);

  // A missing or damaged file is an empty cache (damage is logged at debug level).
  static StatCache Load(const std::string& path);

  // The SHA-256 recorded for `rel_path` if its stat is exactly `st`.
  const Digest* Lookup(const std::string& rel_path, const FileStat& st) const;

  // Whether an entry stat'ed by a push that started at `start_ns` may be cached.
  static bool IsClean(const FileStat& st, int64_t start_ns, int64_t margin_ns = kRacyMarginNs) {
    return st.mtime_ns < start_ns - margin_ns && st.ctime_ns < start_ns - margin_ns;
  }

  // Replaces an entry of the same path. Cheapest in path order (a push adds
  // its files sorted).
  void Add(const std::string& rel_path, const Entry& e);
  void Reserve(size_t n) { entries_.reserve(n); }
  // Adds `older`'s entries for paths this cache lacks (push --merge: a push
  // of some files keeps what the cache knew of the others).
  void KeepFrom(const StatCache& older);
  size_t size() const { return entries_.size(); }

  // Writes the cache atomically (creating the directory).
  Status Save(const std::string& path, int64_t start_ns) const;

  // The encoded form (docs/stat-cache.md), for tests.
  std::string Encode(int64_t start_ns) const;
  static Result<StatCache> Decode(std::string_view bytes);

 private:
  // Sorted by path, looked up by binary search: about 100 bytes a file, where
  // a map's nodes took 40 more.
  std::vector<std::pair<std::string, Entry>> entries_;
};

// FERRY_CACHE_DIR, else $XDG_CACHE_HOME/ferry, else $HOME/.cache/ferry; empty if none is set.
std::string DefaultCacheDir();

}  // namespace ferry
