#include "daemon/bucket_poller.h"

#include <xxhash.h>

#include <algorithm>
#include <thread>

#include "transport/s3_rules.h"
#include "transport/s3_store.h"
#include "util/log.h"

namespace ferry::daemon {

BucketPoller::BucketPoller(std::shared_ptr<S3Client> client, std::string bucket, std::string prefix,
                           double every, const CancelToken* cancel)
    : client_(std::move(client)),
      bucket_(std::move(bucket)),
      prefix_(std::move(prefix)),
      every_(every),
      cancel_(cancel) {}

Result<std::unique_ptr<BucketPoller>> BucketPoller::Open(const std::string& url,
                                                         const StoreOptions& opts, double every,
                                                         const CancelToken* cancel) {
  std::string bucket, prefix;
  if (!ParseS3Url(url, &bucket, &prefix))
    return Status::Usage("source '" + url + "' is not an s3://bucket/prefix/ URL");
  StoreOptions o = opts;
  o.read_only = true;
  o.cancel = cancel;
  ASSIGN_OR_RETURN(S3Config config, S3ConfigFromEnvironment(o));
  auto p = std::make_unique<BucketPoller>(std::make_shared<S3Client>(std::move(config)),
                                          std::move(bucket), std::move(prefix), every, cancel);
  TreeEvents first;  // the whole tree: the job rescans at start anyway
  RETURN_IF_ERROR(p->ListOnce(&first));
  p->next_ = std::chrono::steady_clock::now() +
             std::chrono::milliseconds(static_cast<int64_t>(every * 1000));
  return p;
}

std::string BucketPoller::Describe() const {
  return "polling s3://" + bucket_ + "/" + prefix_ + " every " +
         std::to_string(static_cast<int64_t>(every_)) + " s (" + std::to_string(known_.size()) +
         " objects)";
}

Status BucketPoller::ListOnce(TreeEvents* out) {
  auto listed = client_->ListObjectsDetailed(bucket_, prefix_);
  if (!listed.ok())
    return Status::SourceUnreadable("cannot list s3://" + bucket_ + "/" + prefix_ + ": " +
                                    listed.status().message());
  struct Seen {
    uint64_t key, ident;
    size_t index;  // into *listed
  };
  std::vector<Seen> now;
  now.reserve(listed->size());
  for (size_t i = 0; i < listed->size(); i++) {
    const auto& o = (*listed)[i];
    if (o.key.size() <= prefix_.size() || o.key.back() == '/') continue;  // as BucketSource
    std::string ident = o.etag + "/" + std::to_string(o.size);
    now.push_back(
        {XXH3_64bits(o.key.data(), o.key.size()), XXH3_64bits(ident.data(), ident.size()), i});
  }
  std::sort(now.begin(), now.end(), [](const Seen& a, const Seen& b) { return a.key < b.key; });
  if (!listed_) {
    out->overflow = true;  // everything is new to this poller
  } else {
    size_t k = 0;
    for (const Seen& s : now) {
      while (k < known_.size() && known_[k].first < s.key) {
        out->overflow = true;  // a key is gone: the next build leaves it out
        k++;
      }
      const bool same = k < known_.size() && known_[k].first == s.key;
      if (!same || known_[k].second != s.ident)
        out->events.push_back({(*listed)[s.index].key.substr(prefix_.size()), false});
      if (same) k++;
    }
    if (k < known_.size()) out->overflow = true;
  }
  known_.clear();
  known_.reserve(now.size());
  for (const Seen& s : now) known_.emplace_back(s.key, s.ident);
  listed_ = true;
  return Status::OK();
}

Status BucketPoller::Poll(int timeout_ms, TreeEvents* out) {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_) {
    auto wait = std::min<std::chrono::steady_clock::duration>(
        next_ - now, std::chrono::milliseconds(timeout_ms));
    std::this_thread::sleep_for(wait);
    return Status::OK();
  }
  next_ = now + std::chrono::milliseconds(static_cast<int64_t>(every_ * 1000));
  Status st = ListOnce(out);
  if (!st.ok()) out->root_missing = true;  // never "everything was deleted"
  return st;
}

}  // namespace ferry::daemon
