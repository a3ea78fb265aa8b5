// ObjectStore: the seam between Ferry and where DR data lives.
//
// Keys are '/'-separated relative names ("chunks/ab/ab12...", "manifests/...",
// "refs/app/main"); docs/store-format.md lists them. Every implementation is
// safe for concurrent use from many threads. The local filesystem store is the
// embedded default; an S3 store implements the same interface.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace ferry {

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // A URL-like name for messages ("file:///srv/dr"). Never contains secrets.
  virtual std::string Describe() const = 0;

  // Creates or replaces `key`. Atomic: readers see the old object or the new
  // one, never a part; a crash never leaves a partial object under `key`.
  virtual Status Put(std::string_view key, std::string_view data) = 0;

  // Like Put, but the object may appear (still atomically, and only once its
  // bytes are durable) as late as the next Sync(). Lets a store make many
  // small objects durable with one flush instead of two fsyncs each.
  virtual Status PutLazy(std::string_view key, std::string_view data) { return Put(key, data); }

  // Returns once every PutLazy so far is durable under its final name.
  virtual Status Sync() { return Status::OK(); }

  // The whole object; kNotFound if it does not exist.
  virtual Result<std::string> Get(std::string_view key) = 0;

  // Bytes [offset, offset+n) of the object (fewer if it ends first);
  // kNotFound if it does not exist. Stores override it with a ranged read.
  virtual Result<std::string> GetRange(std::string_view key, uint64_t offset, uint64_t n) {
    ASSIGN_OR_RETURN(std::string all, Get(key));
    if (offset >= all.size()) return std::string();
    return all.substr(offset, n);
  }

  // Size of the object, or kNotFound.
  virtual Result<uint64_t> Size(std::string_view key) = 0;

  // Every key that starts with `prefix`, in no particular order.
  virtual Result<std::vector<std::string>> List(std::string_view prefix) = 0;

  // Removes `key`; OK if it did not exist.
  virtual Status Delete(std::string_view key) = 0;

  // Compare-and-swap: creates or replaces `key` with `data` only if its
  // current bytes are `expected` (nullopt: only if it does not exist),
  // atomically with respect to every other ReplaceIf on the store (local: a
  // lock file held with flock; S3: a conditional PUT, If-Match on the ETag or
  // If-None-Match: *). kConflict naming the key if the object is not as
  // expected or another writer got in between. Used for refs.
  virtual Status ReplaceIf(std::string_view key, const std::optional<std::string>& expected,
                           std::string_view data) = 0;

  // Requests worth having in flight when reading many objects: high for a
  // store behind a network round trip, 0 (the caller's default) for local disks.
  virtual unsigned PreferredConcurrency() const { return 0; }

  // What interrupted writes left behind more than `older_than` seconds ago:
  // temporary files (a local store; never its refs lock) or unfinished
  // multipart uploads (S3, under the store's prefix). Each is appended to
  // *found and, unless `dry_run`, removed. Stores with neither find nothing.
  struct Abandoned {
    std::string what;    // a path, or "s3://bucket/key (upload ID)"
    uint64_t bytes = 0;  // a temporary file's size (0 for an upload)
    double age_s = 0;
  };
  virtual Status SweepAbandoned(double /*older_than*/, bool /*dry_run*/,
                                std::vector<Abandoned>* /*found*/) {
    return Status::OK();
  }
};

// Requests in flight for network object stores (a bucket answers each small
// GET in a round trip; latency, not bandwidth, bounds a single stream).
inline constexpr unsigned kNetworkConcurrency = 16;

// The store format this Ferry writes, and the oldest it reads
// (docs/store-format.md). Format 2 keeps refs in a flat namespace
// (refs/<percent-encoded name>); format 1 stores' refs are read as they are.
// Format 3 keeps small chunks in packs; a store raised to it from 1 or 2 is
// marked as one that may also hold them loose.
inline constexpr int kStoreFormat = 3;
// The store's format version from its FERRY-STORE marker.
Result<int> StoreFormat(ObjectStore* store);
// Whether the store may hold chunks of any size as objects under chunks/
// (format 1 or 2, or raised from one; true with no marker at all).
Result<bool> StoreMayHoldLooseSmallChunks(ObjectStore* store);
// Raises the marker to kStoreFormat (before writing anything older Ferry
// versions would misread, so they refuse the store instead). A store with no
// marker at all is left as it is.
// Only as far as `to` needs: format 2 for refs, 3 for packs (a store of
// format 1 or 2 raised to 3 is marked "loose small chunks").
Status UpgradeStoreFormat(ObjectStore* store, int to);

// How a store location is opened:
//   kExisting: it must be a Ferry store (verify, restore);
//   kCreate:   an empty or missing location becomes one (push);
//   kDryRun:   as kCreate, but nothing is created or written: a location that
//              would become a store is opened empty, and the store comes back
//              wrapped in a ReadOnlyStore (transport/read_only_store.h), so any
//              write is refused.
enum class OpenMode { kExisting, kCreate, kDryRun };

// Checks the FERRY-STORE marker of `store`; with no marker, kCreate makes the
// location a store if is_empty() says it is empty (kDryRun only checks that
// it could), else refuses.
Status CheckStoreMarker(ObjectStore* store, OpenMode mode,
                        const std::function<Result<bool>()>& is_empty);

// Opens a directory store ("file:///path" or a plain path). kExisting: a
// directory that is not a Ferry store is an error naming the fix; kCreate: an
// empty directory becomes one, a non-empty one that is not a store is refused.
// (s3:// locations: OpenDestination in engine/destination.h.)
Result<std::unique_ptr<ObjectStore>> OpenStore(const std::string& url, OpenMode mode);

}  // namespace ferry
