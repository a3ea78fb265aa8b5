// What a manifest says about chunks: a chunk's identity and size, and the
// chunker parameters a build was cut with. Plain data that the manifest,
// the engine and the tools share; the chunker itself is engine/chunker.h.
#pragma once

#include <cstdint>
#include <string>

#include "crypto/hash.h"
#include "util/status.h"

namespace ferry {

struct ChunkInfo {
  Digest id;
  uint32_t size = 0;
};

struct ChunkerParams {
  // Defaults chosen by measurement: docs/design.md, "Chunk size".
  uint32_t min_size = 256 * 1024;
  uint32_t avg_size = 1024 * 1024;  // must be a power of two
  uint32_t max_size = 4 * 1024 * 1024;
  // Normalization level: the mask is avg_bits+level bits before avg_size and
  // avg_bits-level after, which pulls chunk sizes towards avg_size.
  uint32_t normalization = 2;

  // Usage error naming the bad field, or OK.
  Status Validate() const;
  bool operator==(const ChunkerParams&) const = default;
};

// Parses "MIN,AVG,MAX" with optional K/M suffixes ("256K,1M,4M").
Result<ChunkerParams> ParseChunkerParams(const std::string& spec);

}  // namespace ferry
