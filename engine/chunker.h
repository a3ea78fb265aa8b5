// Content-defined chunking: FastCDC (Xia et al., 2016/2020) with a gear rolling
// hash and normalized chunking.
//
// The chunker is streaming: Scan() can be fed a file in blocks of any size and
// finds exactly the same boundaries as if it saw the whole file at once, so
// the I/O block size never changes what is stored. Boundaries depend only on
// the bytes and on ChunkerParams; the gear table is generated from a pinned
// seed (see chunker.cc) and golden vectors in chunker_test.cc pin the result.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "manifest/chunking.h"

namespace ferry {

class Chunker {
 public:
  explicit Chunker(const ChunkerParams& params);

  // Consumes bytes from p[0..n) up to and including the next chunk boundary.
  // Returns how many bytes were consumed and sets *cut if a chunk ends right
  // after them. A chunk that the end of the input cuts short is the caller's
  // to finish (the bytes since the last cut form the final chunk).
  size_t Scan(const uint8_t* p, size_t n, bool* cut);

  // Forgets the current chunk (start of a new file).
  void Reset() {
    pos_ = 0;
    hash_ = 0;
  }

  const ChunkerParams& params() const { return params_; }

 private:
  ChunkerParams params_;
  uint64_t mask_small_;  // used while pos_ < avg_size: harder to match
  uint64_t mask_large_;  // used after: easier to match
  uint64_t pos_ = 0;     // bytes in the current chunk so far
  uint64_t hash_ = 0;
};

// The 256-entry gear table (exposed for tests and benchmarks).
const uint64_t* GearTable();

}  // namespace ferry
