// ObjectStore: the seam between Ferry and where DR data lives.
//
// Keys are '/'-separated relative names ("chunks/ab/ab12...", "manifests/...",
// "refs/app/main"); docs/store-format.md lists them. Every implementation is
// safe for concurrent use from many threads. The local filesystem store is the
// embedded default; an S3 store implements the same interface.
#pragma once

#include <functional>
#include <memory>
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

  // Size of the object, or kNotFound.
  virtual Result<uint64_t> Size(std::string_view key) = 0;

  // Every key that starts with `prefix`, in no particular order.
  virtual Result<std::vector<std::string>> List(std::string_view prefix) = 0;

  // Removes `key`; OK if it did not exist.
  virtual Status Delete(std::string_view key) = 0;

  // Requests worth having in flight when reading many objects: high for a
  // store behind a network round trip, 0 (the caller's default) for local disks.
  virtual unsigned PreferredConcurrency() const { return 0; }
};

// Requests in flight for network object stores (a bucket answers each small
// GET in a round trip; latency, not bandwidth, bounds a single stream).
inline constexpr unsigned kNetworkConcurrency = 16;

// Checks the FERRY-STORE marker of `store`; with create=true and no marker,
// makes the location a store if is_empty() says it is empty, else refuses.
Status CheckStoreMarker(ObjectStore* store, bool create,
                        const std::function<Result<bool>()>& is_empty);

// Opens a directory store ("file:///path" or a plain path). With create=false
// a directory that is not a Ferry store is an error naming the fix; with
// create=true an empty directory becomes one, a non-empty one that is not a
// store is refused. (s3:// locations: OpenDestination in engine/destination.h.)
Result<std::unique_ptr<ObjectStore>> OpenStore(const std::string& url, bool create);

}  // namespace ferry
