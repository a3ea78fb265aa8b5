// The verify-only audit (ferry audit --source X --against Y): compares the
// source of truth with a DR copy object by object and names every object
// missing from the DR copy, different in it, or extra in it. Content is
// compared by hashing both sides (SHA-256 of every byte), so it works on DR
// copies Ferry did not write (S3 Cross-Region Replication, aws s3 sync,
// rclone). Reads only: both sides are opened read-only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "crypto/hash.h"
#include "engine/coverage.h"
#include "transport/s3_store.h"
#include "util/cancel.h"
#include "util/glob.h"
#include "util/progress.h"
#include "util/status.h"

namespace ferry {

struct AuditObject {
  std::string path;  // relative to the tree's root, '/'-separated
  uint64_t size = 0;
  std::string version;  // S3: the ETag; a directory: the mtime in ns (coverage keys on it)
};

// One side of an audit: the regular files under a directory, or the objects
// under an S3 prefix (a Ferry mirror's .ferry/ left out). Thread-safe.
class AuditTree {
 public:
  virtual ~AuditTree() = default;
  virtual std::string Describe() const = 0;
  // Every object, with its size. `skipped` gets entries that are neither
  // (symlinks, sockets...), which an object store cannot hold.
  virtual Result<std::vector<AuditObject>> List(std::vector<std::string>* skipped) = 0;
  // The SHA-256 of the object's bytes, read once; kNotFound if it vanished,
  // kVerifyFailed if it is not `size` bytes any more.
  virtual Result<Digest> Hash(const AuditObject& o, std::atomic<uint64_t>* bytes) = 0;
  virtual unsigned Concurrency() const = 0;  // reads worth having in flight
  // The SHA-256 Ferry recorded for this very object (a Ferry mirror whose
  // mirror record names the object by its ETag), if any: the bytes need not
  // be read. Only a source is opened with them (the DR copy is always read).
  virtual std::optional<Digest> RecordedHash(const AuditObject&) const { return std::nullopt; }
  virtual size_t recorded_hashes() const { return 0; }  // how many are known
};

// "s3://bucket/prefix/" (read-only client) or a directory. A directory that
// is missing or not one: kSourceUnreadable for the source, kStoreUnavailable
// for the DR copy.
// A source that is a Ferry mirror (s3://, with .ferry/ or --meta-prefix) is
// opened with the SHA-256s its mirror records give, unless `read_everything`.
enum class AuditSide { kSource, kDr };
Result<std::unique_ptr<AuditTree>> OpenAuditTree(const std::string& url, AuditSide side,
                                                 const StoreOptions& options,
                                                 bool read_everything = false);

struct AuditDifference {
  enum class Kind { kMissing, kDifferent, kExtra };
  Kind kind;
  std::string path;
  std::optional<uint64_t> source_size, dr_size;
  std::optional<Digest> source_sha256, dr_sha256;  // when both sides were hashed
  Status error;  // an object that could not be read (counted as different)
};
const char* DifferenceName(AuditDifference::Kind k);  // "missing", "different", "extra"

struct AuditOptions {
  unsigned threads = 0;                 // 0: the trees' preferred concurrency
  const PathFilter* filter = nullptr;   // --exclude/--include on both sides
  const CancelToken* cancel = nullptr;  // once cancelled: returns kInterrupted
  ProgressMeter* progress = nullptr;    // bytes hashed, of the bytes to hash
  // A source with no object at all is refused (kSourceUnreadable: a wrong
  // path or prefix would otherwise "pass" against an empty DR copy) unless allowed.
  bool allow_empty = false;
  // A bounded run (--budget/--cycle): the content checks are taken in the
  // order PlanCoverage gives from `cursor`, which is updated in place.
  // Listing, missing, extra and size differences stay complete.
  CoveragePolicy coverage;
  CoverageCursor* cursor = nullptr;
  int64_t now_ns = 0;  // the run's time for the cursor (0: the clock)
};

struct AuditReport {
  uint64_t source_objects = 0, dr_objects = 0;
  uint64_t identical = 0;       // same path, size and SHA-256 on both sides
  uint64_t bytes_verified = 0;  // bytes of identical objects
  uint64_t bytes_hashed_source = 0, bytes_hashed_dr = 0;
  // Source objects not read: their SHA-256 is the one Ferry recorded (ETag matched).
  uint64_t objects_recorded_source = 0, bytes_recorded_source = 0;
  uint64_t filtered = 0;
  std::vector<std::string> skipped;          // source entries an object store cannot hold
  std::vector<AuditDifference> differences;  // by path
  double seconds = 0;
  std::optional<CoverageSummary> coverage;  // with a cursor
};

// Compares `source` with `dr`. OK: every source object is in the DR copy,
// byte-identical, and nothing else is there. kVerifyFailed naming the count
// of differences (listed in the report). Other codes: could not complete.
Status Audit(AuditTree* source, AuditTree* dr, const AuditOptions& opts, AuditReport* report);

}  // namespace ferry
