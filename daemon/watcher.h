// Watches a directory tree with inotify: one watch per directory, new
// directories watched as they appear (and scanned, so files made before the
// watch count), IN_Q_OVERFLOW reported so the caller rescans. No polling: Poll
// sleeps in poll(2) until the kernel has events or the timeout passes.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "util/status.h"

struct inotify_event;

namespace ferry::daemon {

struct TreeEvent {
  std::string path;  // relative, as in a manifest
  // Written to and not closed yet (IN_MODIFY): held back from builds until
  // it settles. Otherwise the entry was closed after writing, moved in,
  // created, removed or changed in mode.
  bool writing = false;
};

struct TreeEvents {
  std::vector<TreeEvent> events;  // in the order the kernel reported them
  bool overflow = false;          // the kernel dropped events: rescan everything
  bool root_missing = false;      // the watched root itself is gone or was moved
};

// Where a job learns what changed in its source: inotify for a directory
// (TreeWatcher), a poller for a bucket prefix (daemon/bucket_poller.h).
class ChangeFeed {
 public:
  virtual ~ChangeFeed() = default;
  // Waits up to timeout_ms for changes and returns them (empty on timeout).
  virtual Status Poll(int timeout_ms, TreeEvents* out) = 0;
  // For the log: "watching DIR (N directories)", "polling s3://... every 10 s".
  virtual std::string Describe() const = 0;
  // Where a change reported for a path stands: still pending, recorded in
  // every destination, or given up on (poisoned: it failed too many cycles).
  enum class Fate { kPending, kReplicated, kPoisoned };
  // A feed that holds its events until they are replicated (a broker's
  // unacknowledged messages) lets them go; called from the polling thread
  // after each poll and each cycle.
  virtual void Settle(const std::function<Fate(const std::string& path)>& /*fate*/) {}
  // Events the feed gave up on (dead-lettered: unreadable, or poisoned).
  virtual uint64_t dead_lettered() const { return 0; }
  // Why the feed cannot currently see changes ("" while it can).
  virtual std::string failing() const { return ""; }
};

class TreeWatcher final : public ChangeFeed {
 public:
  ~TreeWatcher() override;
  // Watches `root` and every directory below it. kSourceUnreadable if root
  // is not a readable directory or the inotify watch limit
  // (fs.inotify.max_user_watches) is reached; the message says which.
  static Result<std::unique_ptr<TreeWatcher>> Open(const std::string& root);

  Status Poll(int timeout_ms, TreeEvents* out) override;
  std::string Describe() const override;

  size_t watched_dirs() const { return dirs_.size(); }

 private:
  TreeWatcher(int fd, std::string root) : fd_(fd), root_(std::move(root)) {}
  // Adds watches for `rel` (a directory) and everything below it; every
  // file found is reported as changed (it may predate the watch).
  Status AddTree(const std::string& rel, TreeEvents* out);
  void Handle(const ::inotify_event* ev, TreeEvents* out);
  void Unwatch(const std::string& rel);  // `rel` and every directory below it

  int fd_;
  std::string root_;
  std::map<int, std::string> dirs_;  // watch descriptor -> relative dir ("" = root)
};

}  // namespace ferry::daemon
