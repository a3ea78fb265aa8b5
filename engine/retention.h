// Which builds of a ref a retention policy keeps (`ferry prune`, restic's
// `forget` vocabulary; docs/gc.md "Which builds are kept"). Pure: it reads
// summaries and decides, and never touches a store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "manifest/builds.h"

namespace ferry {

struct RetentionPolicy {
  size_t keep_last = 0;  // the N newest builds by position on the chain
  size_t keep_hourly = 0, keep_daily = 0, keep_weekly = 0, keep_monthly = 0;
  int64_t keep_within_ns = 0;  // builds created less than this before the newest
  // (key, glob of the value; "*" any value): builds carrying such a tag.
  std::vector<std::pair<std::string, std::string>> keep_tags;
  bool empty() const {
    return keep_last == 0 && keep_hourly == 0 && keep_daily == 0 && keep_weekly == 0 &&
           keep_monthly == 0 && keep_within_ns == 0 && keep_tags.empty();
  }
};

struct RetentionDecision {
  bool keep = false;
  std::vector<std::string> reasons;  // the rules that keep it ("last 3", "daily 2026-12-04", ...)
};

// `history`: one ref's builds, newest first (RefHistory). Always kept: the
// ref's head (a ref never names a dropped build) and builds whose manifest
// could not be read. A superseded build (it cannot be restored whole) fills
// no --keep-last or time-bucket slot; --keep-within and --keep-tag keep it.
// Time buckets are UTC (hour, day, ISO week, month) of each build's creation
// time; for the last N buckets that hold a build, the newest build of each
// (the first met on the chain) is kept.
std::vector<RetentionDecision> ApplyRetention(const std::vector<BuildSummary>& history,
                                              const RetentionPolicy& policy);

}  // namespace ferry
