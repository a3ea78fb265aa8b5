// How a chunk is stored: one codec byte, then the payload
// (docs/store-format.md). 0 = raw bytes, 1 = one zstd frame. Chunks that zstd
// does not shrink by at least 1/32 are stored raw: no CPU spent on decoding
// data that does not compress.
#pragma once

#include <string>
#include <string_view>

#include "crypto/hash.h"
#include "util/status.h"

namespace ferry {

// Reusable per-thread compressor. level 0 = store raw.
class ChunkEncoder {
 public:
  explicit ChunkEncoder(int level);
  ~ChunkEncoder();
  ChunkEncoder(const ChunkEncoder&) = delete;
  ChunkEncoder& operator=(const ChunkEncoder&) = delete;
  // Encodes into *out (replacing its contents).
  void Encode(const uint8_t* data, size_t n, std::string* out);

 private:
  int level_;
  void* cctx_;
};

// Decodes a stored chunk and checks it against its ID and size. A mismatch is
// kVerifyFailed with data_loss() set, naming the chunk.
Status DecodeChunk(std::string_view stored, const Digest& id, uint32_t size, std::string* out);

// Bytes ChunkEncoder needs per thread for chunks up to max_size.
size_t ChunkEncoderMemory(uint32_t max_size, int level);

}  // namespace ferry
