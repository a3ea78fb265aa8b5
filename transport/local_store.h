// The local-filesystem store: one file per object under a root directory
// (a local disk, or an NFS/EFS mount in real use). Put() is temp file +
// fsync + rename + fsync(dir), so a crash never leaves a partial object under
// its final name. PutLazy() writes temp files without fsync and publishes them
// in batches: syncfs (data durable), renames, syncfs (names durable).
#pragma once

#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "transport/object_store.h"

namespace ferry {

class LocalStore final : public ObjectStore {
 public:
  // `root` must exist. `sync`: fsync data and directories (default true; only
  // tests and benchmarks of the CPU path turn it off).
  explicit LocalStore(std::string root, bool sync = true);
  ~LocalStore() override;

  std::string Describe() const override { return "file://" + root_; }
  Status Put(std::string_view key, std::string_view data) override;
  Status PutLazy(std::string_view key, std::string_view data) override;
  Status Sync() override;
  Result<std::string> Get(std::string_view key) override;
  Result<std::string> GetRange(std::string_view key, uint64_t offset, uint64_t n) override;
  Result<uint64_t> Size(std::string_view key) override;
  Result<std::vector<std::string>> List(std::string_view prefix) override;
  Status Delete(std::string_view key) override;
  Status ReplaceIf(std::string_view key, const std::optional<std::string>& expected,
                   std::string_view data) override;

  const std::string& root() const { return root_; }
  Status SweepAbandoned(double older_than, bool dry_run, std::vector<Abandoned>* found) override;

 private:
  Status EnsureDir(const std::string& dir);
  Status FlushPending();  // requires flush_mu_

  struct Pending {
    std::string tmp, final_path;
  };
  std::string root_;
  bool sync_;
  std::mutex mu_;
  std::set<std::string> dirs_;    // guarded by mu_: directories known to exist
  std::vector<Pending> pending_;  // guarded by mu_: written, not yet published
  size_t pending_bytes_ = 0;      // guarded by mu_
  std::chrono::steady_clock::time_point pending_since_;  // guarded by mu_
  std::mutex flush_mu_;                                  // one batch publishes at a time
};

}  // namespace ferry
