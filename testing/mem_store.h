// In-memory and fault-injecting stores, for unit tests.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "transport/object_store.h"

namespace ferry {

class MemStore final : public ObjectStore {
 public:
  std::string Describe() const override { return "mem://"; }
  Status Put(std::string_view key, std::string_view data) override;
  Result<std::string> Get(std::string_view key) override;
  Result<uint64_t> Size(std::string_view key) override;
  Result<std::vector<std::string>> List(std::string_view prefix) override;
  Status Delete(std::string_view key) override;
  Status ReplaceIf(std::string_view key, const std::optional<std::string>& expected,
                   std::string_view data) override;

  // Test access: the raw map (copy) and direct mutation.
  std::map<std::string, std::string> Snapshot();
  void Mutate(const std::string& key, const std::function<void(std::string*)>& fn);

 private:
  std::mutex mu_;
  std::map<std::string, std::string> objects_;  // guarded by mu_
};

// Wraps a store and injects faults. Puts are counted; once `fail_puts_after`
// puts have succeeded, every further Put fails without writing (as a crash or a
// full disk would stop a run part way). Gets of keys with `corrupt_prefix`
// come back with one byte flipped.
class FaultyStore final : public ObjectStore {
 public:
  explicit FaultyStore(ObjectStore* base) : base_(base) {}

  std::atomic<long> fail_puts_after{-1};  // -1: never
  Code fail_code = Code::kNoSpace;
  std::string corrupt_prefix;
  std::atomic<long> puts{0};

  std::string Describe() const override { return "faulty+" + base_->Describe(); }
  Status Put(std::string_view key, std::string_view data) override;
  Status PutLazy(std::string_view key, std::string_view data) override { return Put(key, data); }
  Status Sync() override { return base_->Sync(); }
  Result<std::string> Get(std::string_view key) override;
  Result<uint64_t> Size(std::string_view key) override { return base_->Size(key); }
  Result<std::vector<std::string>> List(std::string_view prefix) override {
    return base_->List(prefix);
  }
  Status Delete(std::string_view key) override { return base_->Delete(key); }
  Status ReplaceIf(std::string_view key, const std::optional<std::string>& expected,
                   std::string_view data) override {
    return base_->ReplaceIf(key, expected, data);
  }

 private:
  ObjectStore* base_;
};

}  // namespace ferry
