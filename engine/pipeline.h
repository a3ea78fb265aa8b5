// The read -> chunk -> hash pipeline: every byte of every file is read once.
//
// Threads: one reader (io_uring, or pread when io_uring is unavailable) fills
// fixed-size blocks from a bounded pool; `threads` workers run three kinds of
// tasks: per file, in block order, a scan lane (gear chunker + XXH3-128) and a
// whole-file SHA-256 lane, which run on different workers concurrently; and
// per chunk, a SHA-256 + sink task that any worker may take. Blocks go back to
// the pool when every lane and chunk that uses them is done, so memory stays
// within PipelineOptions::memory_budget whatever the input (a 10 GiB file or
// 100,000 small ones).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/hash.h"
#include "engine/chunker.h"
#include "util/cancel.h"
#include "util/status.h"

namespace ferry {

class RemoteReader;

struct SourceFile {
  std::string path;   // opened for reading (remote: the name the reader knows it by)
  uint64_t size = 0;  // size at listing time; a file that changes while read is an error
  int64_t mtime_ns = 0;
  // Not a local file: an object read through `remote` (engine/bucket_source.h);
  // `version` is what it must still be (an ETag), or the read fails.
  RemoteReader* remote = nullptr;
  std::string version;
};

// A file that is an S3 object, as a destination on the same endpoint can
// copy it server-side: the object's version is `etag` (the copy must be of it).
struct S3CopySource {
  std::string endpoint, bucket, key, etag;
};

// Reads files that are not local paths (objects in a bucket). ReadAt is
// called from several I/O threads at once, for different blocks.
class RemoteReader {
 public:
  virtual ~RemoteReader() = default;
  // Exactly bytes [offset, offset+n) of `file` into `buf`. An object that no
  // longer is file.version or shorter than file.size is kSourceUnreadable
  // saying it changed while it was read.
  virtual Status ReadAt(const SourceFile& file, uint64_t offset, uint8_t* buf, size_t n) = 0;
  // Reads worth having in flight at once.
  virtual unsigned PreferredConcurrency() const { return 16; }
  // Where `file` is, for a server-side copy (push into a mirror on the same
  // endpoint); false if it is not an S3 object.
  virtual bool CopySourceOf(const SourceFile& /*file*/, S3CopySource* /*out*/) const {
    return false;
  }
};

struct FileDigest {
  Status status;  // not OK: this file could not be read; the rest is unset
  Digest sha256{};
  Xxh128 xxh3{};
  std::vector<ChunkInfo> chunks;
};

// Receives every chunk. Called from worker threads concurrently.
class ChunkSink {
 public:
  virtual ~ChunkSink() = default;
  // Whether the sink wants this chunk's bytes (false: already stored). A sink
  // that returns true for an id must get Put() for it next, from the same thread.
  virtual bool Want(const Digest& id, uint32_t size) = 0;
  // The chunk's bytes, contiguous. An error stops the whole pipeline.
  virtual Status Put(const Digest& id, const uint8_t* data, size_t n) = 0;
  // Bytes of per-thread working memory the sink needs (counted in the budget).
  virtual size_t PerThreadMemory() const { return 0; }
};

// Takes no chunk: the bytes are only hashed (for the manifest).
class HashOnlySink final : public ChunkSink {
 public:
  bool Want(const Digest&, uint32_t) override { return false; }
  Status Put(const Digest&, const uint8_t*, size_t) override { return Status::OK(); }
};

// Optionally receives every file's bytes in order (to upload them as whole
// objects), from the same single read. Called from worker threads; calls for
// one file never overlap.
class FileSink {
 public:
  virtual ~FileSink() = default;
  // The next `n` bytes of files[index], starting at `offset`. May block (back
  // pressure). An error stops the whole pipeline.
  virtual Status OnData(size_t index, uint64_t offset, const uint8_t* data, size_t n) = 0;
  // files[index] is done: read, chunked and hashed (digest.status OK), or failed.
  // Not called for files that could not be opened; empty files get no OnData.
  virtual void OnFileDone(size_t index, const FileDigest& digest) = 0;
  // Whether this sink wants OnChunk for files[index] (asked once per file).
  virtual bool WantsChunks(size_t) const { return false; }
  // The chunks of files[index] in file order, each once hashed, with its
  // bytes (in one or more pieces, valid during the call): after the OnData
  // calls that carried them, and before OnFileDone. Calls for one file never
  // overlap; they may come from any worker thread. The chunk's blocks stay
  // in the pipeline's memory budget until it is handed over.
  virtual void OnChunk(size_t, uint64_t /*offset*/, const ChunkInfo&,
                       const std::vector<std::string_view>& /*data*/) {}
};

enum class IoBackend { kAuto, kUring, kPread };

struct PipelineOptions {
  ChunkerParams chunking;
  // Upper bound for buffers: I/O blocks + per-worker chunk buffers + the
  // sink's per-thread memory. Default: 256 MiB.
  size_t memory_budget = 256ull << 20;
  // I/O block size. Default: 1 MiB.
  size_t block_size = 1 << 20;
  // Worker threads; 0 = one per core.
  unsigned threads = 0;
  // Reads in flight at once (io_uring queue depth). Default: 64.
  unsigned queue_depth = 64;
  IoBackend io = IoBackend::kAuto;
  // Once cancelled, no further block is read: files not yet read fail with
  // kInterrupted and RunPipeline returns kInterrupted.
  const CancelToken* cancel = nullptr;
};

struct PipelineStats {
  uint64_t bytes_read = 0;
  uint64_t chunks = 0;
  size_t io_blocks = 0;  // blocks in the pool
  size_t peak_blocks_used = 0;
  std::string io_backend;  // "io_uring", "pread", or "threads" (some files are remote)
};

// Checks the options against the budget; a Usage error names what to change.
Status ValidatePipelineOptions(const PipelineOptions& opts, size_t sink_per_thread);

// Reads, chunks and hashes `files`; results[i] belongs to files[i]. A file
// that cannot be read gets a non-OK FileDigest::status and does not stop the
// others. A sink error stops the run and is returned. `progress_bytes`, if
// not null, is advanced as bytes are hashed (for a progress line).
Status RunPipeline(const std::vector<SourceFile>& files, const PipelineOptions& opts,
                   ChunkSink* sink, std::vector<FileDigest>* results, PipelineStats* stats,
                   std::atomic<uint64_t>* progress_bytes = nullptr, FileSink* file_sink = nullptr);

}  // namespace ferry
