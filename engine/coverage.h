// Coverage of audits run in bounded slices (ferry audit --budget/--cycle):
// a cursor that remembers when each object of one audit's scope was last
// found identical, and the plan of what a run takes, oldest-verified first,
// so that every byte is verified within the cycle. Format: docs/audit.md.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "transport/object_store.h"
#include "util/status.h"

namespace ferry {

struct CoverageEntry {
  uint64_t size = 0;
  int64_t verified_ns = 0;                 // last found identical (Unix ns); 0: never
  int64_t first_seen_ns = 0;               // when a run first listed it
  std::string source_version, dr_version;  // ETag or mtime when verified
};

struct CoverageCursor {
  std::string source, against, filters;  // the scope
  int64_t last_run_ns = 0;               // 0: no run yet
  std::map<std::string, CoverageEntry> objects;
};

// "audits/coverage/<16 hex of SHA-256(source \n against \n filters)>.json".
std::string CoverageKey(const std::string& source, const std::string& against,
                        const std::string& filters);
std::string EncodeCoverage(const CoverageCursor& c);
// kCorrupt naming `what` if it is not a cursor of this format.
Result<CoverageCursor> DecodeCoverage(std::string_view body, const std::string& what);

// A cursor as stored, with the bytes a compare-and-swap expects back.
struct StoredCoverage {
  CoverageCursor cursor;
  std::optional<std::string> raw;  // nullopt: none stored yet
};
// The cursor at `key` in `store`, or an empty one of that scope.
Result<StoredCoverage> LoadCoverage(ObjectStore* store, const std::string& key,
                                    CoverageCursor scope);
// Replaces it if nobody else did since it was loaded (kConflict otherwise).
Status SaveCoverage(ObjectStore* store, const std::string& key, const StoredCoverage& loaded,
                    const CoverageCursor& updated);

struct CoveragePolicy {
  uint64_t budget_bytes = 0;  // 0: no byte budget
  double budget_seconds = 0;  // 0: no time budget
  double cycle_seconds = 0;   // 0: no cycle
  bool bounded() const { return budget_bytes || budget_seconds > 0 || cycle_seconds > 0; }
};

// An object on both sides with the same size: a content check to make.
struct CoverageCandidate {
  std::string path;
  uint64_t size = 0;
  std::string source_version, dr_version;
};

struct CoveragePlan {
  std::vector<size_t> order;  // candidates to take, in this order
  size_t must = 0;            // the first `must` are due within the cycle: never cut by time
  bool cycle_over_budget = false;
  double interval_seconds = 0;  // expected time to the next run
};

// What a run at `now_ns` takes: objects due before the next run (deadline =
// last verified or first seen + cycle) by deadline, then the never verified
// by first seen, then the rest oldest verified first; as many as the byte
// budget allows (at least one), every due one whatever the budget, and with
// a cycle alone at least total x interval / cycle bytes. Pure.
CoveragePlan PlanCoverage(const std::vector<CoverageCandidate>& candidates,
                          const CoverageCursor& cursor, int64_t now_ns,
                          const CoveragePolicy& policy);

struct CoverageSummary {
  uint64_t objects_verified = 0, bytes_verified = 0;
  uint64_t objects_not_reached = 0, never_verified_objects = 0;
  double fraction_this_run = 1;
  std::optional<double> fraction_within_cycle;
  double oldest_unverified_seconds = 0;
  bool cycle_over_budget = false;
};

enum class CheckOutcome : uint8_t { kNotReached, kIdentical, kDifferent };

// The cursor after a run at `now_ns` whose content check of candidates[i]
// came to outcome[i] (`candidates`: every object on both sides with the same
// size): identical ones stamped verified, the others keep their last
// verification, objects no longer listed are dropped, new ones first seen
// now. Returns the run's summary.
CoverageSummary RecordCoverage(const std::vector<CoverageCandidate>& candidates,
                               const std::vector<CheckOutcome>& outcome, int64_t now_ns,
                               const CoveragePolicy& policy, const CoveragePlan& plan,
                               CoverageCursor* cursor);

}  // namespace ferry
