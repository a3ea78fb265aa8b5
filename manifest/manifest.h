// Build manifests: what one push contains, chunk by chunk
// (docs/manifest-format.md). Encode() is canonical; Decode() never trusts its
// input and reports every defect as a kCorruptManifest naming the manifest.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crypto/hash.h"
#include "manifest/chunking.h"
#include "util/status.h"

namespace ferry {

inline constexpr uint32_t kManifestVersion = 1;

enum class EntryType : uint8_t { kFile = 0, kSymlink = 1, kDir = 2 };

struct FileEntry {
  std::string path;
  EntryType type = EntryType::kFile;
  uint32_t mode = 0644;
  int64_t mtime_ns = 0;
  uint64_t size = 0;
  Digest sha256{};
  Xxh128 xxh3{};
  std::vector<ChunkInfo> chunks;
  std::string link_target;  // symlinks only
};

struct Manifest {
  int64_t created_unix_ns = 0;
  std::string ref;
  std::optional<Digest> parent;
  std::vector<std::pair<std::string, std::string>> tags;
  ChunkerParams chunking;
  std::vector<FileEntry> files;
};

// Sorts files and tags into canonical order (in place) and encodes.
std::string EncodeManifest(Manifest* m);

// push --merge (docs/merge.md): `top`'s entries laid over `base`'s, both
// sorted by path; the result is sorted. A base entry goes if top has one at
// its path, one below it, or a non-directory above it. keep_newer_base: a
// file of base with a later mtime than top's file at its path stays (the
// daemon: two daemons read one key's versions, the older one recorded last).
std::vector<FileEntry> LayEntriesOver(const std::vector<FileEntry>& base,
                                      const std::vector<FileEntry>& top,
                                      bool keep_newer_base = false);

// `name` is used in error messages (e.g. "manifest 3fa1..." or a file path).
Result<Manifest> DecodeManifest(std::string_view bytes, const std::string& name);

// Whether `path` is a safe relative path (see the format doc).
bool IsSafeRelativePath(std::string_view path);

// Ref names: what git accepts as a branch name (git check-ref-format):
// '/'-separated components, none empty, starting with '.' or ending in
// '.lock'; no '..', '@{', control characters, space, ~ ^ : ? * [ or '\';
// not ending in '.'; not "@". Anything else (%, +, @, UTF-8) is fine, so
// Jenkins' feature%2Flogin and GitHub's fix+1 are names. At most
// kMaxRefNameBytes. Usage error naming the rule otherwise.
inline constexpr size_t kMaxRefNameBytes = 200;
Status ValidateRefName(std::string_view name);

}  // namespace ferry
