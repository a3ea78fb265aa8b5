// The embedded change feed for a bucket prefix: lists it (ListObjectsV2,
// 1,000 keys a request) every `every` seconds and reports what differs from
// the listing before: new keys, and keys whose size or ETag changed, as
// changes; a key gone as a change of the whole tree (its build simply leaves
// it out; nothing is deleted in DR). The first poll reports the whole tree.
// A listing that fails reports the source missing, never "everything was
// deleted". Memory: 16 bytes per object (a hash of each key and of its
// identity), not the keys themselves. docs/daemon.md, "Bucket sources".
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "daemon/watcher.h"
#include "engine/bucket_source.h"

namespace ferry::daemon {

class BucketPoller final : public ChangeFeed {
 public:
  // Lists `source` every `every` seconds.
  BucketPoller(std::unique_ptr<BucketSource> source, double every);

  // Opens the source (engine/bucket_source.h) and lists it once:
  // kSourceUnreadable naming the bucket if it cannot.
  static Result<std::unique_ptr<BucketPoller>> Open(const std::string& url,
                                                    const StoreOptions& opts, double every);

  Status Poll(int timeout_ms, TreeEvents* out) override;
  std::string Describe() const override;

  // One comparison against the previous listing (Poll calls it when due).
  Status ListOnce(TreeEvents* out);
  size_t objects() const { return known_.size(); }

 private:
  std::unique_ptr<BucketSource> source_;
  double every_;
  std::chrono::steady_clock::time_point next_{};
  bool listed_ = false;
  std::vector<std::pair<uint64_t, uint64_t>> known_;  // (key hash, identity hash), by key hash
};

}  // namespace ferry::daemon
