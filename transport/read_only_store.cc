#include "transport/read_only_store.h"

namespace ferry {

ReadOnlyStore::ReadOnlyStore(std::unique_ptr<ObjectStore> base)
    : base_(std::move(base)), describe_(base_->Describe()) {}

ReadOnlyStore::ReadOnlyStore(std::nullptr_t, std::string describe)
    : describe_(std::move(describe)) {}

namespace {
std::string Name(const std::string& describe, std::string_view key) {
  return describe + (!describe.empty() && describe.back() == '/' ? "" : "/") + std::string(key);
}
}  // namespace

Status ReadOnlyStore::Refuse(std::string_view what, std::string_view key) const {
  return Status::Internal("refused to " + std::string(what) + " " + Name(describe_, key) +
                          ": this store is open read-only (a dry run writes nothing); "
                          "please report this as a Ferry bug");
}

Status ReadOnlyStore::Put(std::string_view key, std::string_view) { return Refuse("write", key); }
Status ReadOnlyStore::PutLazy(std::string_view key, std::string_view) {
  return Refuse("write", key);
}
Status ReadOnlyStore::Delete(std::string_view key) { return Refuse("delete", key); }
Status ReadOnlyStore::ReplaceIf(std::string_view key, const std::optional<std::string>&,
                                std::string_view) {
  return Refuse("write", key);
}

Result<std::string> ReadOnlyStore::Get(std::string_view key) {
  if (!base_) return Status::NotFound(Name(describe_, key) + " does not exist");
  return base_->Get(key);
}

Result<std::string> ReadOnlyStore::GetRange(std::string_view key, uint64_t offset, uint64_t n) {
  if (!base_) return Status::NotFound(Name(describe_, key) + " does not exist");
  return base_->GetRange(key, offset, n);
}

Result<uint64_t> ReadOnlyStore::Size(std::string_view key) {
  if (!base_) return Status::NotFound(Name(describe_, key) + " does not exist");
  return base_->Size(key);
}

Result<std::vector<std::string>> ReadOnlyStore::List(std::string_view prefix) {
  if (!base_) return std::vector<std::string>{};
  return base_->List(prefix);
}

}  // namespace ferry
