// Where a push goes and verify/restore read from: a store URL opened with its
// layout, and where chunk bytes come from.
//   store layout:  content-addressed zstd chunks + manifests + refs (local
//                  directory, or s3://bucket/prefix/ with --layout store)
//   mirror layout: each file at s3://bucket/prefix/<path>, byte-identical;
//                  manifests and refs under s3://bucket/prefix/.ferry/
#pragma once

#include <memory>
#include <string>

#include "manifest/manifest.h"
#include "transport/object_store.h"
#include "transport/s3_client.h"
#include "transport/s3_store.h"

namespace ferry {

enum class Layout { kStore, kMirror };

struct Destination {
  Layout layout = Layout::kStore;
  std::unique_ptr<ObjectStore> meta;  // manifests and refs (and chunks, store layout)
  std::shared_ptr<S3Client> s3;       // mirror layout only
  std::string bucket, prefix;         // mirror layout only; prefix is "" or ends with '/'
};

// Opens `url`. An existing store keeps its layout (asking for the other one is
// a usage error). With create=true an empty location becomes a store of
// `layout` ("mirror" or "store"; "" = mirror for s3://, store for a directory).
Result<Destination> OpenDestination(const std::string& url, bool create,
                                    const StoreOptions& options, const std::string& layout = "");

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
  // True if each file holds its own copy of its chunks (mirror): verify then
  // checks every file's chunks, not every chunk ID once.
  virtual bool PerFile() const = 0;
  // Fetches worth having in flight; 0: IoThreadCount's default.
  virtual unsigned PreferredConcurrency() const = 0;
};

std::unique_ptr<ChunkSource> MakeStoreChunkSource(ObjectStore* store);
std::unique_ptr<ChunkSource> MakeChunkSource(const Destination& dest);

}  // namespace ferry
