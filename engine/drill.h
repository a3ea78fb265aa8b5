// A restore drill (ferry drill): restore a build into a scratch directory,
// check every restored file against the manifest by reading it back, run an
// optional smoke test inside the tree, and measure RTO and RPO against their
// targets. Prints nothing: the report says what happened.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/ops.h"

namespace ferry {

class Destination;

struct DrillOptions {
  std::string what;  // ref, manifest ID or its start (already resolved from --tag)
  // Where to restore. Empty: a new scratch directory under scratch_parent
  // ($TMPDIR, else /tmp, if empty), removed afterwards unless keep.
  std::string target;
  std::string scratch_parent;
  bool keep = false;
  std::string exec;                  // smoke test: `sh -c exec` in the restored tree; empty: none
  std::optional<double> rto_target;  // seconds from start to a passing drill
  std::optional<double> rpo_target;  // seconds the DR copy may lag
  // The primary store: RPO becomes how far the DR copy's build lags the
  // primary's newest build of the same ref (the difference of their creation
  // times; 0 if it is that build). Null: the restored build's age.
  Destination* primary = nullptr;
  unsigned threads = 0;
  const CancelToken* cancel = nullptr;
  ProgressMeter* progress = nullptr;
};

struct DrillReport {
  Digest manifest_id{};
  std::string ref;  // the ref the build was pushed to
  std::vector<std::pair<std::string, std::string>> tags;
  int64_t build_created_unix_ns = 0;
  int64_t started_unix_ns = 0, finished_unix_ns = 0;
  std::string target;
  bool scratch = false;         // target was made for the drill...
  bool target_removed = false;  // ...and removed afterwards
  RestoreReport restore;
  uint64_t files_checked = 0, bytes_checked = 0, symlinks_checked = 0;
  std::vector<Status> check_problems;  // restored files that did not read back as recorded
  double restore_seconds = 0;          // start to a restored and checked tree
  bool exec_run = false;
  int exec_exit = -1;  // the smoke test's exit status (128 + signal if killed)
  double exec_seconds = 0;
  double rto_seconds = 0;  // start to the end of a passing smoke test (or of the check)
  double rpo_seconds = 0;  // the build's age, or its lag behind the primary
  bool rpo_from_primary = false;
  std::optional<Digest> primary_latest;  // the primary's newest build of the ref
  bool rto_breached = false, rpo_breached = false;
};

// Runs the drill on `dr`. OK: restored, every file checked, smoke test passed,
// targets met. Otherwise the first failure in this order: the restore's or
// the check's error (kVerifyFailed for a file that reads back wrong), the
// smoke test's (kSmokeTestFailed), a missed target (kTargetBreached). The
// report is filled as far as the drill got, also on failure.
Status Drill(Destination* dr, const DrillOptions& opts, DrillReport* report);

}  // namespace ferry
