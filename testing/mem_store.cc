#include "testing/mem_store.h"

namespace ferry {

Status MemStore::Put(std::string_view key, std::string_view data) {
  std::lock_guard<std::mutex> l(mu_);
  objects_[std::string(key)] = std::string(data);
  return Status::OK();
}

Result<std::string> MemStore::Get(std::string_view key) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = objects_.find(std::string(key));
  if (it == objects_.end()) return Status::NotFound("no object " + std::string(key));
  return it->second;
}

Result<uint64_t> MemStore::Size(std::string_view key) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = objects_.find(std::string(key));
  if (it == objects_.end()) return Status::NotFound("no object " + std::string(key));
  return static_cast<uint64_t>(it->second.size());
}

Result<std::vector<std::string>> MemStore::List(std::string_view prefix) {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<std::string> out;
  for (auto it = objects_.lower_bound(std::string(prefix));
       it != objects_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it)
    out.push_back(it->first);
  return out;
}

Status MemStore::Delete(std::string_view key) {
  std::lock_guard<std::mutex> l(mu_);
  objects_.erase(std::string(key));
  return Status::OK();
}

Status MemStore::ReplaceIf(std::string_view key, const std::optional<std::string>& expected,
                           std::string_view data) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = objects_.find(std::string(key));
  std::optional<std::string> current;
  if (it != objects_.end()) current = it->second;
  if (current != expected) return Status::Conflict(std::string(key) + " changed");
  objects_[std::string(key)] = std::string(data);
  return Status::OK();
}

std::map<std::string, std::string> MemStore::Snapshot() {
  std::lock_guard<std::mutex> l(mu_);
  return objects_;
}

void MemStore::Mutate(const std::string& key, const std::function<void(std::string*)>& fn) {
  std::lock_guard<std::mutex> l(mu_);
  fn(&objects_[key]);
}

Status FaultyStore::Put(std::string_view key, std::string_view data) {
  long limit = fail_puts_after.load();
  if (limit >= 0 && puts.load() >= limit)
    return Status(fail_code, "injected failure writing " + std::string(key));
  RETURN_IF_ERROR(base_->Put(key, data));
  puts++;
  return Status::OK();
}

Result<std::string> FaultyStore::Get(std::string_view key) {
  auto r = base_->Get(key);
  if (r.ok() && !corrupt_prefix.empty() && key.substr(0, corrupt_prefix.size()) == corrupt_prefix &&
      !r->empty())
    (*r)[r->size() / 2] ^= 0x01;
  return r;
}

}  // namespace ferry
