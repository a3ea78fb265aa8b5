#include "daemon/scheduler.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace ferry::daemon {

namespace {

std::string Seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f s", s);
  return buf;
}

}  // namespace

void Scheduler::Changed(const std::string& path, double now) {
  auto [it, added] = pending_.try_emplace(path, Pending{now, now, false});
  it->second.last_event = now;
  it->second.writing = false;
}

void Scheduler::Writing(const std::string& path, double now) {
  auto [it, added] = pending_.try_emplace(path, Pending{now, now, true});
  it->second.last_event = now;
  it->second.writing = true;
}

void Scheduler::Restore(const std::string& path, const Pending& p) {
  auto [it, added] = pending_.try_emplace(path, p);
  if (!added) it->second.first_seen = std::min(it->second.first_seen, p.first_seen);
}

bool Scheduler::Due(double now) const {
  if (pending_.empty() || now < retry_at_ || source_missing_) return false;
  if (now - last_begin_ < opts_.interval) return false;
  for (const auto& [path, p] : pending_)
    if (!HeldBack(p, now)) return true;
  return false;
}

std::set<std::string> Scheduler::Begin(double now) {
  last_begin_ = now;
  std::set<std::string> held;
  for (const auto& [path, p] : pending_)
    if (path != kWholeTree && HeldBack(p, now)) held.insert(path);
  return held;
}

std::vector<std::string> Scheduler::Succeeded(double begun, const std::set<std::string>& held,
                                              double now, const std::vector<std::string>* only,
                                              std::vector<double>* first_seen) {
  std::vector<std::string> done;
  // Changed again after the cycle began (or held back): still pending.
  auto replicated = [&](const auto& it) {
    return it->second.last_event <= begun && !held.count(it->first);
  };
  auto take = [&](auto it) {
    done.push_back(it->first);
    if (first_seen) first_seen->push_back(it->second.first_seen);
    return pending_.erase(it);
  };
  if (only) {
    for (const auto& path : *only)
      if (auto it = pending_.find(path); it != pending_.end() && replicated(it)) take(it);
  } else {
    for (auto it = pending_.begin(); it != pending_.end();) it = replicated(it) ? take(it) : ++it;
  }
  last_success_ = now;
  failures_ = 0;
  retry_at_ = 0;
  last_error_.clear();
  return done;
}

void Scheduler::Failed(const std::string& reason, double now, double jitter) {
  failures_++;
  const double backoff = std::min(60.0, std::pow(2.0, std::min(failures_, 6)));
  retry_at_ = now + backoff * (0.5 + 0.5 * jitter);
  last_error_ = reason;
}

double Scheduler::Lag(double now) const {
  double oldest = now;
  for (const auto& [path, p] : pending_) oldest = std::min(oldest, p.first_seen);
  return now - oldest;
}

Health Scheduler::Evaluate(double now) const {
  Health h;
  auto fail = [&](std::string r) {
    h.ok = false;
    h.reasons.push_back(std::move(r));
  };
  if (source_missing_)
    fail(
        "the watched source is missing or cannot be listed (nothing is deleted in DR); waiting "
        "for it to return");
  if (!last_error_.empty())
    fail("the last replication failed (" + std::to_string(failures_) +
         " in a row, retrying): " + last_error_);
  if (!journal_error_.empty()) fail("the journal cannot be written: " + journal_error_);
  if (!feed_error_.empty())
    fail("the change feed is failing (changes may go unseen): " + feed_error_);
  if (given_up_ > 0)
    fail(std::to_string(given_up_) + " object(s) given up on after failing every attempt (first: " +
         given_up_first_ + "): the DR copy lacks them until they change");
  const double lag = Lag(now);
  if (lag > opts_.rpo)
    fail("replication lag " + Seconds(lag) + " is over the RPO target of " + Seconds(opts_.rpo));
  if (!pending_.empty()) {
    double oldest = now;
    for (const auto& [path, p] : pending_) oldest = std::min(oldest, p.first_seen);
    const double since = now - std::max(oldest, last_success_);
    if (since > opts_.stall_after)
      fail("stalled: " + std::to_string(pending_.size()) + " change(s) pending and nothing " +
           "replicated for " + Seconds(since));
  }
  return h;
}

}  // namespace ferry::daemon
