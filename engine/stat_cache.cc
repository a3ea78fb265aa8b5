#include "engine/stat_cache.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "util/coding.h"
#include "util/hex.h"
#include "util/log.h"
#include "util/posix.h"

namespace ferry {

namespace {
constexpr std::string_view kMagic = "FERRYSC1";
}

std::string StatCache::PathFor(const std::string& dir, const std::string& destination,
                               const std::string& ref, const std::vector<std::string>& sources) {
  if (dir.empty()) return "";
  std::string key = destination;
  key += '\0';
  key += ref;
  for (const auto& s : sources) {
    key += '\0';
    key += s;
  }
  Sha256 h;
  h.Update(key.data(), key.size());
  return dir + "/stat/" + DigestHex(h.Finish()).substr(0, 32);
}

std::string StatCache::Encode(int64_t start_ns) const {
  std::string out(kMagic);
  PutVarint64(&out, static_cast<uint64_t>(start_ns));
  PutVarint64(&out, entries_.size());
  for (const auto& [path, e] : entries_) {
    PutLengthPrefixed(&out, path);
    PutVarint64(&out, e.stat.dev);
    PutVarint64(&out, e.stat.ino);
    PutVarint64(&out, e.stat.size);
    PutVarint64(&out, static_cast<uint64_t>(e.stat.mtime_ns));
    PutVarint64(&out, static_cast<uint64_t>(e.stat.ctime_ns));
    out.append(reinterpret_cast<const char*>(e.sha256.data()), e.sha256.size());
  }
  Sha256 h;
  h.Update(out.data(), out.size());
  Digest sum = h.Finish();
  out.append(reinterpret_cast<const char*>(sum.data()), sum.size());
  return out;
}

Result<StatCache> StatCache::Decode(std::string_view bytes) {
  auto bad = [](const std::string& why) { return Status::Internal("stat cache: " + why); };
  if (bytes.size() < kMagic.size() + 32 || bytes.substr(0, kMagic.size()) != kMagic)
    return bad("not a Ferry stat cache");
  std::string_view body = bytes.substr(0, bytes.size() - 32);
  Sha256 h;
  h.Update(body.data(), body.size());
  Digest sum = h.Finish();
  if (std::memcmp(sum.data(), bytes.data() + body.size(), 32) != 0) return bad("checksum mismatch");
  std::string_view in = body.substr(kMagic.size());
  uint64_t start, count;
  if (!GetVarint64(&in, &start) || !GetVarint64(&in, &count)) return bad("truncated header");
  StatCache c;
  // Each entry takes at least 38 bytes: a count the bytes cannot hold is damage.
  if (count > in.size() / 38) return bad("entry count " + std::to_string(count) + " too large");
  c.Reserve(count);
  for (uint64_t i = 0; i < count; i++) {
    std::string_view path, sha;
    Entry e;
    uint64_t mtime, ctime;
    if (!GetLengthPrefixed(&in, &path) || !GetVarint64(&in, &e.stat.dev) ||
        !GetVarint64(&in, &e.stat.ino) || !GetVarint64(&in, &e.stat.size) ||
        !GetVarint64(&in, &mtime) || !GetVarint64(&in, &ctime) || !GetBytes(&in, 32, &sha))
      return bad("truncated entry");
    e.stat.mtime_ns = static_cast<int64_t>(mtime);
    e.stat.ctime_ns = static_cast<int64_t>(ctime);
    std::memcpy(e.sha256.data(), sha.data(), 32);
    c.Add(std::string(path), e);
  }
  if (!in.empty()) return bad("trailing bytes");
  return c;
}

StatCache StatCache::Load(const std::string& path) {
  if (path.empty()) return StatCache();
  auto bytes = ReadFileToString(path);
  if (!bytes.ok()) {
    if (bytes.status().code() != Code::kNotFound)
      LogDebug("ignoring the stat cache " + path + ": " + bytes.status().message());
    return StatCache();
  }
  auto c = Decode(*bytes);
  if (!c.ok()) {
    LogDebug("ignoring " + path + ": " + c.status().message());
    return StatCache();
  }
  return std::move(*c);
}

namespace {

template <class It>
It FindPath(It begin, It end, const std::string& path) {
  return std::lower_bound(begin, end, path,
                          [](const auto& entry, const std::string& p) { return entry.first < p; });
}

}  // namespace

void StatCache::Add(const std::string& rel_path, const Entry& e) {
  if (entries_.empty() || entries_.back().first < rel_path) {
    entries_.emplace_back(rel_path, e);
    return;
  }
  auto it = FindPath(entries_.begin(), entries_.end(), rel_path);
  if (it != entries_.end() && it->first == rel_path)
    it->second = e;
  else
    entries_.emplace(it, rel_path, e);
}

void StatCache::KeepFrom(const StatCache& older) {
  std::vector<std::pair<std::string, Entry>> merged;
  merged.reserve(entries_.size() + older.entries_.size());
  auto a = entries_.begin();
  for (const auto& o : older.entries_) {
    for (; a != entries_.end() && a->first < o.first; ++a) merged.push_back(std::move(*a));
    if (a != entries_.end() && a->first == o.first) continue;  // this cache's is newer
    merged.push_back(o);
  }
  merged.insert(merged.end(), std::make_move_iterator(a), std::make_move_iterator(entries_.end()));
  entries_ = std::move(merged);
}

const Digest* StatCache::Lookup(const std::string& rel_path, const FileStat& st) const {
  auto it = FindPath(entries_.begin(), entries_.end(), rel_path);
  if (it == entries_.end() || it->first != rel_path || !(it->second.stat == st)) return nullptr;
  return &it->second.sha256;
}

Status StatCache::Save(const std::string& path, int64_t start_ns) const {
  size_t slash = path.find_last_of('/');
  std::string dir = path.substr(0, slash);
  RETURN_IF_ERROR(MkdirAll(dir));
  // Not fsynced: a cache lost in a crash only costs a re-read.
  return WriteFileAtomic(dir, path.substr(slash + 1), Encode(start_ns), /*sync=*/false);
}

std::string DefaultCacheDir() {
  if (const char* d = std::getenv("FERRY_CACHE_DIR"); d && *d) return d;
  if (const char* d = std::getenv("XDG_CACHE_HOME"); d && *d) return std::string(d) + "/ferry";
  if (const char* d = std::getenv("HOME"); d && *d) return std::string(d) + "/.cache/ferry";
  return "";
}

}  // namespace ferry
