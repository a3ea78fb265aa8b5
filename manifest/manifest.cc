#include "manifest/manifest.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "util/coding.h"

namespace ferry {

namespace {
constexpr char kMagic[] = "FERRYMF1";
constexpr char kEnd[] = "FEND";

void PutDigest(std::string* out, const uint8_t* d, size_t n) {
  out->append(reinterpret_cast<const char*>(d), n);
}

template <size_t N>
bool GetArray(std::string_view* in, std::array<uint8_t, N>* out) {
  std::string_view b;
  if (!GetBytes(in, N, &b)) return false;
  std::memcpy(out->data(), b.data(), N);
  return true;
}
}  // namespace

bool IsSafeRelativePath(std::string_view path) {
  if (path.empty() || path.front() == '/' || path.back() == '/') return false;
  if (path.find('\0') != std::string_view::npos) return false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view comp = path.substr(start, end - start);
    if (comp.empty() || comp == "." || comp == "..") return false;
    start = end + 1;
  }
  return true;
}

Status ValidateRefName(std::string_view name) {
  auto bad = [&](const std::string& why) {
    return Status::Usage("invalid ref name '" + std::string(name) + "': " + why +
                         " (ref names follow git's branch name rules, e.g. app/main, "
                         "feature%2Flogin, fix+1)");
  };
  if (name.empty()) return bad("it is empty");
  if (name.size() > kMaxRefNameBytes)
    return bad("it is longer than " + std::to_string(kMaxRefNameBytes) + " bytes");
  if (name == "@") return bad("'@' alone is not a name");
  if (name.find("..") != std::string_view::npos) return bad("it contains '..'");
  if (name.find("@{") != std::string_view::npos) return bad("it contains '@{'");
  if (name.back() == '.') return bad("it ends with '.'");
  size_t start = 0;
  for (size_t i = 0; i <= name.size(); i++) {
    if (i < name.size() && name[i] != '/') {
      unsigned char c = static_cast<unsigned char>(name[i]);
      if (c < 0x20 || c == 0x7f) return bad("it contains a control character");
      if (std::string_view(" ~^:?*[\\").find(static_cast<char>(c)) != std::string_view::npos)
        return bad("it contains one of space ~ ^ : ? * [ \\");
      continue;
    }
    std::string_view comp = name.substr(start, i - start);
    if (comp.empty()) return bad("it has an empty component (a leading, trailing or double '/')");
    if (comp[0] == '.') return bad("a component starts with '.'");
    if (comp.size() >= 5 && comp.substr(comp.size() - 5) == ".lock")
      return bad("a component ends with '.lock'");
    start = i + 1;
  }
  return Status::OK();
}

std::vector<FileEntry> LayEntriesOver(const std::vector<FileEntry>& base,
                                      const std::vector<FileEntry>& top, bool keep_newer_base) {
  auto by_path = [](const FileEntry& e, std::string_view p) { return e.path < p; };
  auto find = [&](std::string_view p) -> const FileEntry* {
    auto it = std::lower_bound(top.begin(), top.end(), p, by_path);
    return it != top.end() && it->path == p ? &*it : nullptr;
  };
  auto replaced = [&](const FileEntry& b) {
    if (find(b.path)) return true;
    // A file or symlink of top above it: its directory became a file.
    for (size_t s = b.path.find('/'); s != std::string::npos; s = b.path.find('/', s + 1)) {
      const FileEntry* up = find(std::string_view(b.path).substr(0, s));
      if (up && up->type != EntryType::kDir) return true;
    }
    // Top has something below it: a file of base became a directory.
    if (b.type == EntryType::kDir) return false;
    const std::string below = b.path + "/";
    auto it = std::lower_bound(top.begin(), top.end(), below, by_path);
    return it != top.end() && it->path.compare(0, below.size(), below) == 0;
  };
  std::vector<FileEntry> out;
  out.reserve(base.size() + top.size());
  auto t = top.begin();
  for (const auto& b : base) {
    for (; t != top.end() && t->path < b.path; ++t) out.push_back(*t);
    if (t != top.end() && t->path == b.path) {  // one entry each: which one stays
      const bool base_newer = keep_newer_base && b.type == EntryType::kFile &&
                              t->type == EntryType::kFile && b.mtime_ns > t->mtime_ns;
      out.push_back(base_newer ? b : *t);
      ++t;
      continue;
    }
    if (!replaced(b)) out.push_back(b);
  }
  out.insert(out.end(), t, top.end());
  return out;
}

std::string EncodeManifest(Manifest* m) {
  std::sort(m->files.begin(), m->files.end(),
            [](const FileEntry& a, const FileEntry& b) { return a.path < b.path; });
  std::sort(m->tags.begin(), m->tags.end());
  std::string out;
  out.append(kMagic, 8);
  PutFixed32(&out, kManifestVersion);
  PutVarint64(&out, static_cast<uint64_t>(m->created_unix_ns));
  PutLengthPrefixed(&out, m->ref);
  out.push_back(m->parent ? 1 : 0);
  if (m->parent) PutDigest(&out, m->parent->data(), 32);
  PutVarint64(&out, m->tags.size());
  for (const auto& [k, v] : m->tags) {
    PutLengthPrefixed(&out, k);
    PutLengthPrefixed(&out, v);
  }
  PutVarint64(&out, m->chunking.min_size);
  PutVarint64(&out, m->chunking.avg_size);
  PutVarint64(&out, m->chunking.max_size);
  PutVarint64(&out, m->files.size());
  for (const auto& f : m->files) {
    PutLengthPrefixed(&out, f.path);
    out.push_back(static_cast<char>(f.type));
    PutVarint64(&out, f.mode);
    PutVarint64(&out, static_cast<uint64_t>(f.mtime_ns));
    PutVarint64(&out, f.size);
    switch (f.type) {
      case EntryType::kFile:
        PutDigest(&out, f.sha256.data(), 32);
        PutDigest(&out, f.xxh3.data(), 16);
        PutVarint64(&out, f.chunks.size());
        for (const auto& c : f.chunks) {
          PutDigest(&out, c.id.data(), 32);
          PutVarint64(&out, c.size);
        }
        break;
      case EntryType::kSymlink:
        PutLengthPrefixed(&out, f.link_target);
        break;
      case EntryType::kDir:
        break;
    }
  }
  out.append(kEnd, 4);
  return out;
}

Result<Manifest> DecodeManifest(std::string_view bytes, const std::string& name) {
  auto corrupt = [&](const std::string& why) {
    return Status::CorruptManifest(name + ": " + why +
                                   "; the store copy is damaged: push the build again or restore "
                                   "the manifest from another replica");
  };
  std::string_view in = bytes;
  std::string_view magic;
  if (!GetBytes(&in, 8, &magic) || magic != std::string_view(kMagic, 8)) {
    if (bytes.size() < 8 && std::string_view(kMagic, 8).substr(0, bytes.size()) == bytes)
      return corrupt("truncated (" + std::to_string(bytes.size()) + " bytes)");
    return corrupt("not a Ferry manifest (bad magic)");
  }
  uint32_t version;
  if (!GetFixed32(&in, &version)) return corrupt("truncated in the header");
  if (version != kManifestVersion)
    return Status::CorruptManifest(name + ": manifest format version " + std::to_string(version) +
                                   " is not supported (this Ferry reads version " +
                                   std::to_string(kManifestVersion) +
                                   "); it was written by a newer Ferry: upgrade Ferry");
  Manifest m;
  uint64_t v;
  std::string_view s;
  const std::string trunc = "truncated or malformed";
  if (!GetVarint64(&in, &v)) return corrupt(trunc + " (created)");
  m.created_unix_ns = static_cast<int64_t>(v);
  if (!GetLengthPrefixed(&in, &s)) return corrupt(trunc + " (ref)");
  m.ref = std::string(s);
  if (in.empty()) return corrupt(trunc + " (parent)");
  uint8_t has_parent = static_cast<uint8_t>(in[0]);
  in.remove_prefix(1);
  if (has_parent > 1) return corrupt("bad parent flag");
  if (has_parent) {
    Digest p;
    if (!GetArray(&in, &p)) return corrupt(trunc + " (parent)");
    m.parent = p;
  }
  uint64_t ntags;
  if (!GetVarint64(&in, &ntags) || ntags > in.size()) return corrupt(trunc + " (tags)");
  for (uint64_t i = 0; i < ntags; i++) {
    std::string_view k, val;
    if (!GetLengthPrefixed(&in, &k) || !GetLengthPrefixed(&in, &val))
      return corrupt(trunc + " (tag " + std::to_string(i) + ")");
    if (!m.tags.empty() && !(m.tags.back().first < k)) return corrupt("tags out of order");
    m.tags.emplace_back(std::string(k), std::string(val));
  }
  uint64_t cmin, cavg, cmax;
  if (!GetVarint64(&in, &cmin) || !GetVarint64(&in, &cavg) || !GetVarint64(&in, &cmax))
    return corrupt(trunc + " (chunk parameters)");
  if (cmin > UINT32_MAX || cavg > UINT32_MAX || cmax > UINT32_MAX)
    return corrupt("chunk parameters out of range");
  m.chunking.min_size = static_cast<uint32_t>(cmin);
  m.chunking.avg_size = static_cast<uint32_t>(cavg);
  m.chunking.max_size = static_cast<uint32_t>(cmax);
  if (!m.chunking.Validate().ok()) return corrupt("invalid chunk parameters");
  uint64_t nfiles;
  if (!GetVarint64(&in, &nfiles) || nfiles > in.size()) return corrupt(trunc + " (file count)");
  m.files.reserve(static_cast<size_t>(nfiles));
  for (uint64_t i = 0; i < nfiles; i++) {
    FileEntry f;
    std::string where = "file entry " + std::to_string(i);
    if (!GetLengthPrefixed(&in, &s)) return corrupt(trunc + " (" + where + ")");
    f.path = std::string(s);
    where += " '" + f.path + "'";
    if (!IsSafeRelativePath(f.path)) return corrupt("unsafe path in " + where);
    if (!m.files.empty() && !(m.files.back().path < f.path))
      return corrupt("files out of order or duplicated at " + where);
    if (in.empty()) return corrupt(trunc + " (" + where + ")");
    uint8_t type = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    if (type > 2) return corrupt("unknown entry type " + std::to_string(type) + " in " + where);
    f.type = static_cast<EntryType>(type);
    uint64_t mode, mtime;
    if (!GetVarint64(&in, &mode) || !GetVarint64(&in, &mtime) || !GetVarint64(&in, &f.size))
      return corrupt(trunc + " (" + where + ")");
    if (mode > 07777) return corrupt("bad mode in " + where);
    f.mode = static_cast<uint32_t>(mode);
    f.mtime_ns = static_cast<int64_t>(mtime);
    if (f.type == EntryType::kFile) {
      uint64_t nchunks;
      if (!GetArray(&in, &f.sha256) || !GetArray(&in, &f.xxh3) || !GetVarint64(&in, &nchunks) ||
          nchunks > in.size())
        return corrupt(trunc + " (" + where + ")");
      f.chunks.resize(static_cast<size_t>(nchunks));
      uint64_t total = 0;
      for (auto& c : f.chunks) {
        uint64_t csize;
        if (!GetArray(&in, &c.id) || !GetVarint64(&in, &csize) || csize == 0 || csize > (64u << 20))
          return corrupt(trunc + " (chunk list of " + where + ")");
        if (csize > m.chunking.max_size)
          return corrupt("a chunk of " + where + " claims " + std::to_string(csize) +
                         " bytes, more than the manifest's largest chunk size " +
                         std::to_string(m.chunking.max_size));
        c.size = static_cast<uint32_t>(csize);
        total += csize;
      }
      if (total != f.size)
        return corrupt("chunk sizes of " + where + " add up to " + std::to_string(total) +
                       ", not its size " + std::to_string(f.size));
    } else if (f.type == EntryType::kSymlink) {
      if (!GetLengthPrefixed(&in, &s) || s.empty()) return corrupt(trunc + " (" + where + ")");
      f.link_target = std::string(s);
    }
    m.files.push_back(std::move(f));
  }
  std::string_view end;
  if (!GetBytes(&in, 4, &end) || end != std::string_view(kEnd, 4))
    return corrupt("truncated (no end marker)");
  if (!in.empty()) return corrupt(std::to_string(in.size()) + " unexpected bytes after the end");
  return m;
}

}  // namespace ferry
