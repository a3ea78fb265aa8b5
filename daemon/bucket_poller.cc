#include "daemon/bucket_poller.h"

#include <xxhash.h>

#include <algorithm>
#include <thread>

namespace ferry::daemon {

BucketPoller::BucketPoller(std::unique_ptr<BucketSource> source, double every)
    : source_(std::move(source)), every_(every) {}

Result<std::unique_ptr<BucketPoller>> BucketPoller::Open(const std::string& url,
                                                         const StoreOptions& opts, double every) {
  ASSIGN_OR_RETURN(auto source, BucketSource::Open(url, opts));
  auto p = std::make_unique<BucketPoller>(std::move(source), every);
  TreeEvents first;  // the whole tree: the job rescans at start anyway
  RETURN_IF_ERROR(p->ListOnce(&first));
  p->next_ = std::chrono::steady_clock::now() +
             std::chrono::milliseconds(static_cast<int64_t>(every * 1000));
  return p;
}

std::string BucketPoller::Describe() const {
  return "polling " + source_->url() + " every " + std::to_string(static_cast<int64_t>(every_)) +
         " s (" + std::to_string(known_.size()) + " objects)";
}

Status BucketPoller::ListOnce(TreeEvents* out) {
  auto result = source_->ListObjects();
  // Every failure, credentials too, is "the source cannot be listed" here:
  // the daemon starts anyway and keeps trying (docs/daemon.md).
  if (!result.ok()) return Status::SourceUnreadable(result.status().message());
  auto listed = std::move(*result);
  const size_t prefix_size = source_->prefix().size();
  struct Seen {
    uint64_t key, ident;
    size_t index;  // into *listed
  };
  std::vector<Seen> now;
  now.reserve(listed.size());
  for (size_t i = 0; i < listed.size(); i++) {
    const auto& o = listed[i];
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
        out->events.push_back({listed[s.index].key.substr(prefix_size), false});
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
