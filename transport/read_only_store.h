// A store that is only read: a dry run's destinations (OpenMode::kDryRun).
// Reads pass through to the store it wraps, or find nothing if it wraps none
// (a location that would be created). Every write fails with kInternal naming
// the key, so a code path that writes during a dry run is a bug that shows
// up as an error, never a silent change to DR data.
#pragma once

#include <memory>
#include <string>

#include "transport/object_store.h"

namespace ferry {

class ReadOnlyStore final : public ObjectStore {
 public:
  explicit ReadOnlyStore(std::unique_ptr<ObjectStore> base);
  // An empty location, named `describe` (as the store created there would be).
  ReadOnlyStore(std::nullptr_t, std::string describe);

  std::string Describe() const override { return describe_; }
  Status Put(std::string_view key, std::string_view data) override;
  Status PutLazy(std::string_view key, std::string_view data) override;
  Status Sync() override { return Status::OK(); }
  Result<std::string> Get(std::string_view key) override;
  Result<std::string> GetRange(std::string_view key, uint64_t offset, uint64_t n) override;
  Result<uint64_t> Size(std::string_view key) override;
  Result<std::vector<std::string>> List(std::string_view prefix) override;
  Status Delete(std::string_view key) override;
  Status ReplaceIf(std::string_view key, const std::optional<std::string>& expected,
                   std::string_view data) override;
  unsigned PreferredConcurrency() const override {
    return base_ ? base_->PreferredConcurrency() : 0;
  }

 private:
  Status Refuse(std::string_view what, std::string_view key) const;
  std::unique_ptr<ObjectStore> base_;  // null: nothing there yet
  std::string describe_;
};

}  // namespace ferry
