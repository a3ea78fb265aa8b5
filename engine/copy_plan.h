// The copy-run planner of the mirror layout, as a pure state machine: which
// bytes of a new large file become upload parts and which become
// UploadPartCopy parts from its earlier version (same chunks at any offset,
// found by content-defined chunking). No I/O: MirrorUploader executes the
// steps; copy_plan_test.cc checks them against byte models.
//
// Rules (S3's): every part but the last is at least `min_part` bytes; a copy
// part is at most `max_copy`. An upload part is cut once `part_size` bytes are
// undecided; a run shorter than min_part is uploaded; an upload part that would
// be too short before a copy borrows the copy's first bytes.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "manifest/chunking.h"

namespace ferry {

struct CopyPlanStep {
  enum class Kind {
    kUpload,     // the bytes from the last decided offset to `end` are one upload part
    kCopyBytes,  // the next `length` bytes belong to the copy part being built (hash, drop)
    kCopyPart,   // the copy part is complete: old bytes [old_offset, old_offset + length)
  };
  Kind kind;
  uint64_t end = 0;
  uint64_t length = 0;
  uint64_t old_offset = 0;
};

class CopyPlanner {
 public:
  CopyPlanner(const std::vector<ChunkInfo>& old_chunks, uint64_t part_size, uint64_t min_part,
              uint64_t max_copy);

  // The next chunk of the new file, at `offset` (chunks come in file order).
  // Appends the steps now decided to *steps.
  void Add(uint64_t offset, const ChunkInfo& chunk, std::vector<CopyPlanStep>* steps);
  // The end of the file: the rest.
  void Finish(std::vector<CopyPlanStep>* steps);

  uint64_t decided() const { return decided_; }  // bytes of the new file given to a step

 private:
  void Commit(std::vector<CopyPlanStep>* steps);  // the run becomes a copy part once long enough
  void EndRun(std::vector<CopyPlanStep>* steps);  // the run stops growing
  void Upload(uint64_t end, std::vector<CopyPlanStep>* steps);

  std::map<Digest, std::vector<uint64_t>> old_at_;  // chunk -> its offsets in the old file
  const uint64_t part_size_, min_part_, max_copy_;
  uint64_t decided_ = 0, end_ = 0;
  bool in_run_ = false, committed_ = false;
  uint64_t run_start_ = 0, run_len_ = 0, run_old_ = 0;  // new offset, length, old offset
};

}  // namespace ferry
