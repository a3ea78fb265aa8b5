#include "engine/copy_plan.h"

namespace ferry {

CopyPlanner::CopyPlanner(const std::vector<ChunkInfo>& old_chunks, uint64_t part_size,
                         uint64_t min_part, uint64_t max_copy)
    : part_size_(part_size), min_part_(min_part), max_copy_(max_copy) {
  uint64_t at = 0;
  for (const auto& c : old_chunks) {
    old_at_[c.id].push_back(at);
    at += c.size;
  }
}

void CopyPlanner::Add(uint64_t offset, const ChunkInfo& c, std::vector<CopyPlanStep>* steps) {
  end_ = offset + c.size;
  auto it = old_at_.find(c.id);
  bool extends = false;
  if (in_run_ && it != old_at_.end())
    for (uint64_t o : it->second) extends |= o == run_old_ + run_len_;
  if (extends && !committed_) {
    run_len_ += c.size;
    Commit(steps);
    return;
  }
  if (extends && run_len_ + c.size <= max_copy_) {
    steps->push_back({CopyPlanStep::Kind::kCopyBytes, 0, c.size, 0});
    decided_ += c.size;
    run_len_ += c.size;
    return;
  }
  uint64_t old = 0;
  if (extends) {
    old = run_old_ + run_len_;  // a full copy part: go on with a new run
  } else if (it != old_at_.end()) {
    old = it->second[0];
  }
  EndRun(steps);
  if (extends || it != old_at_.end()) {
    in_run_ = true;
    committed_ = false;
    run_start_ = offset;
    run_old_ = old;
    run_len_ = c.size;
    Commit(steps);
  } else if (offset + c.size - decided_ >= part_size_) {
    Upload(offset + c.size, steps);
  }
}

void CopyPlanner::Commit(std::vector<CopyPlanStep>* steps) {
  uint64_t pending = run_start_ - decided_;
  uint64_t borrow = pending > 0 && pending < min_part_ ? min_part_ - pending : 0;
  if (run_len_ < borrow + min_part_) return;
  if (pending + borrow > 0) Upload(run_start_ + borrow, steps);
  run_start_ += borrow;
  run_old_ += borrow;
  run_len_ -= borrow;
  steps->push_back({CopyPlanStep::Kind::kCopyBytes, 0, run_len_, 0});
  decided_ += run_len_;
  committed_ = true;
}

void CopyPlanner::EndRun(std::vector<CopyPlanStep>* steps) {
  if (!in_run_) return;
  in_run_ = false;
  if (committed_) {
    committed_ = false;
    steps->push_back({CopyPlanStep::Kind::kCopyPart, 0, run_len_, run_old_});
    return;
  }
  // Too short to copy: its bytes are upload bytes.
  uint64_t end = run_start_ + run_len_;
  if (end - decided_ >= part_size_) Upload(end, steps);
}

void CopyPlanner::Upload(uint64_t end, std::vector<CopyPlanStep>* steps) {
  steps->push_back({CopyPlanStep::Kind::kUpload, end, end - decided_, 0});
  decided_ = end;
}

void CopyPlanner::Finish(std::vector<CopyPlanStep>* steps) {
  EndRun(steps);
  if (end_ > decided_) Upload(end_, steps);
}

}  // namespace ferry
