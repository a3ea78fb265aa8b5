#include "transport/local_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <functional>

#include "util/posix.h"

namespace ferry {

LocalStore::LocalStore(std::string root, bool sync) : root_(std::move(root)), sync_(sync) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
}

Status LocalStore::EnsureDir(const std::string& dir) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (dirs_.count(dir)) return Status::OK();
  }
  RETURN_IF_ERROR(MkdirAll(dir));
  std::lock_guard<std::mutex> l(mu_);
  dirs_.insert(dir);
  return Status::OK();
}

Status LocalStore::Put(std::string_view key, std::string_view data) {
  std::string path = root_ + "/" + std::string(key);
  size_t slash = path.find_last_of('/');
  std::string dir = path.substr(0, slash);
  RETURN_IF_ERROR(EnsureDir(dir));
  Status st = WriteFileAtomic(dir, path.substr(slash + 1), data, sync_);
  if (st.code() == Code::kNotFound) {  // directory removed behind our back: retry once
    {
      std::lock_guard<std::mutex> l(mu_);
      dirs_.erase(dir);
    }
    RETURN_IF_ERROR(EnsureDir(dir));
    st = WriteFileAtomic(dir, path.substr(slash + 1), data, sync_);
  }
  return st;
}

Result<std::string> LocalStore::Get(std::string_view key) {
  return ReadFileToString(root_ + "/" + std::string(key));
}

Result<uint64_t> LocalStore::Size(std::string_view key) {
  std::string path = root_ + "/" + std::string(key);
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return PosixError("cannot stat " + path, errno);
  return static_cast<uint64_t>(st.st_size);
}

Result<std::vector<std::string>> LocalStore::List(std::string_view prefix) {
  // List the deepest directory the prefix names, then filter.
  std::string p(prefix);
  std::string dir_rel =
      p.substr(0, p.find_last_of('/') == std::string::npos ? 0 : p.find_last_of('/'));
  std::vector<std::string> out;
  std::function<Status(const std::string&)> walk = [&](const std::string& rel) -> Status {
    std::string abs = rel.empty() ? root_ : root_ + "/" + rel;
    auto names = ListDir(abs);
    if (!names.ok()) {
      if (names.status().code() == Code::kNotFound) return Status::OK();
      return names.take_status();
    }
    for (const auto& n : *names) {
      if (n.rfind(kTempPrefix, 0) == 0) continue;  // an unfinished write, not an object
      std::string child = rel.empty() ? n : rel + "/" + n;
      struct stat st;
      if (lstat((root_ + "/" + child).c_str(), &st) != 0) continue;
      if (S_ISDIR(st.st_mode)) {
        // Only descend where the prefix can still match.
        if (child.size() < p.size() ? p.compare(0, child.size() + 1, child + "/") == 0
                                    : child.compare(0, p.size(), p) == 0)
          RETURN_IF_ERROR(walk(child));
      } else if (S_ISREG(st.st_mode) && child.compare(0, p.size(), p) == 0) {
        out.push_back(child);
      }
    }
    return Status::OK();
  };
  RETURN_IF_ERROR(walk(dir_rel));
  return out;
}

Status LocalStore::Delete(std::string_view key) {
  std::string path = root_ + "/" + std::string(key);
  if (unlink(path.c_str()) != 0 && errno != ENOENT)
    return PosixError("cannot delete " + path, errno);
  return Status::OK();
}

}  // namespace ferry
