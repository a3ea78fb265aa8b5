// When a watched tree's changes are replicated, and how healthy the job is.
// Pure logic over a clock the caller passes in (seconds, any epoch), so every
// rule here is unit-tested without sleeping (daemon/scheduler_test.cc).
//
//   - A change is pending from its first event until a build that contains
//     it is recorded in every destination. The lag is the age of the oldest
//     pending change (0 when caught up): ferry_replication_lag_seconds.
//   - A file is held back (left out of the build being cut) while it is open
//     for writing (up to `open_quiet` without a write) or changed less than
//     `settle` ago, so a half-written artifact is never shipped; the next
//     build takes it.
//   - A build is cut when something settled is pending, at most once per
//     `interval` (while changes keep flowing, one build per interval: a
//     change waits at most settle + interval + the cycle's own time).
//   - A failed cycle is retried after a backoff (2 s doubling to 60 s, with
//     jitter from the caller), the pending changes kept.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

namespace ferry::daemon {

struct SchedulerOptions {
  double settle = 2;         // seconds a file must be unchanged (and closed)
  double interval = 5;       // at most one build this often
  double rpo = 300;          // lag over this: /health fails
  double stall_after = 600;  // pending work and no success for this long: stalled
  // A file open for writing (or created and not closed) but unchanged this
  // long is taken anyway: a writer that keeps its file open, a hard link.
  double open_quiet = 60;
};

// The whole tree, as a pending "change" (start, overflow, rescan).
inline const std::string kWholeTree = "";

struct Pending {
  double first_seen = 0, last_event = 0;
  bool writing = false;  // modified and not closed yet
};

struct Health {
  bool ok = true;
  std::vector<std::string> reasons;  // why not, one line each
};

class Scheduler {
 public:
  explicit Scheduler(SchedulerOptions opts) : opts_(opts) {}

  // Events (at time `now`).
  void Changed(const std::string& path, double now);
  void Writing(const std::string& path, double now);
  // A change known from before a restart (the journal): keeps its age.
  void Restore(const std::string& path, const Pending& p);

  bool Due(double now) const;
  // Starting a cycle at `now`: the paths to hold back from its build.
  std::set<std::string> Begin(double now);
  // The cycle begun at `begun` recorded its build everywhere: what was
  // pending then (and not held back) is replicated; with `only` (a batch:
  // daemon --merge), only those of its paths. Returns the paths done and, in
  // *first_seen if given, when each was first seen (for the latency).
  std::vector<std::string> Succeeded(double begun, const std::set<std::string>& held, double now,
                                     const std::vector<std::string>* only = nullptr,
                                     std::vector<double>* first_seen = nullptr);
  // The next cycle need not wait for the interval: the last one took a full
  // batch and left settled changes for the next (a backlog drains at the
  // rate cycles run, not one batch per interval).
  void RunNextSoon() { last_begin_ = -1e300; }
  // Drops a pending change without replicating it (an object given up on).
  void Forget(const std::string& path) { pending_.erase(path); }
  bool IsPending(const std::string& path) const { return pending_.count(path) > 0; }
  // The cycle failed; `jitter` in [0, 1) spreads the retries of many daemons.
  void Failed(const std::string& reason, double now, double jitter);
  // The source is gone (nothing is deleted in DR) or back.
  void SetSourceMissing(bool missing) { source_missing_ = missing; }
  void SetJournalError(const std::string& e) { journal_error_ = e; }
  // The change feed is failing (a broker unreachable): changes may go unseen.
  void SetFeedError(const std::string& e) { feed_error_ = e; }
  // Objects given up on (poisoned): the DR copy lacks them.
  void SetGivenUp(size_t n, const std::string& first) {
    given_up_ = n;
    given_up_first_ = first;
  }

  double Lag(double now) const;
  size_t pending() const { return pending_.size(); }
  const std::map<std::string, Pending>& pending_changes() const { return pending_; }
  Health Evaluate(double now) const;
  double last_success() const { return last_success_; }

 private:
  bool HeldBack(const Pending& p, double now) const {
    const double quiet = now - p.last_event;
    return quiet < opts_.settle || (p.writing && quiet < opts_.open_quiet);
  }

  SchedulerOptions opts_;
  std::map<std::string, Pending> pending_;
  double last_begin_ = -1e300;  // when the last cycle began
  double last_success_ = -1;    // -1: none yet
  double started_ = -1;         // first call that saw time
  double retry_at_ = 0;         // after a failure
  int failures_ = 0;            // in a row
  std::string last_error_;      // of the last cycle, if it failed
  bool source_missing_ = false;
  std::string journal_error_, feed_error_, given_up_first_;
  size_t given_up_ = 0;
};

}  // namespace ferry::daemon
