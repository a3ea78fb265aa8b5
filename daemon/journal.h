// The daemon's journal (docs/journal-format.md): an SQLite database in WAL
// mode in the state directory. It keeps what is pending (so the lag and the
// work survive a restart or kill -9) and the history of replication cycles.
// For a watched directory the tree itself is the truth (a restart rescans it
// and the stat cache makes that cheap); the journal is what the daemon knew.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "daemon/scheduler.h"
#include "util/status.h"

struct sqlite3;

namespace ferry::daemon {

struct CycleRecord {
  double started = 0, finished = 0;
  std::string manifest;  // hex; empty if none was recorded
  uint64_t files = 0, objects = 0, bytes = 0;
  std::string error;                      // empty: every destination recorded the build
  std::vector<std::string> failed_paths;  // sources that could not be read (not journaled)
  std::vector<std::string> skipped;       // entries the push skipped (not journaled)
};

class Journal {
 public:
  ~Journal();
  // Opens (creating) `path`. kTargetUnwritable naming the path if it cannot.
  static Result<std::unique_ptr<Journal>> Open(const std::string& path);

  // Durable (one transaction, synced) before they return.
  Status AddPending(const std::map<std::string, Pending>& changes);
  Status RemovePending(const std::vector<std::string>& paths);
  Status AddCycle(const CycleRecord& c);

  Result<std::map<std::string, Pending>> LoadPending();
  Result<std::vector<CycleRecord>> RecentCycles(size_t n);

 private:
  explicit Journal(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  Status Exec(const std::string& sql);
  template <typename Bind>
  Status Batch(const char* sql, size_t rows, const char* what, Bind bind);
  Status Error(const std::string& what) const;

  sqlite3* db_;
  std::string path_;
};

}  // namespace ferry::daemon
