#include "transport/local_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>

#include "util/posix.h"

namespace ferry {

namespace {
// The lock ReplaceIf holds (flock) at the root: named like a temporary file
// so List hides it, and never swept as one.
std::string RefsLockName() { return std::string(kTempPrefix) + "refs.lock"; }
}  // namespace

LocalStore::LocalStore(std::string root, bool sync) : root_(std::move(root)), sync_(sync) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
}

namespace {
// A batch is published when any limit is reached. The age limit bounds the
// work a crash can lose: a re-run finds everything older than a second.
constexpr size_t kBatchObjects = 2048;
constexpr size_t kBatchBytes = 64u << 20;
constexpr auto kBatchAge = std::chrono::seconds(1);
}  // namespace

LocalStore::~LocalStore() {
  // Unpublished temp files of a failed run: not objects, remove them.
  for (const auto& p : pending_) unlink(p.tmp.c_str());
}

Status LocalStore::PutLazy(std::string_view key, std::string_view data) {
  std::string path = root_ + "/" + std::string(key);
  std::string dir = path.substr(0, path.find_last_of('/'));
  RETURN_IF_ERROR(EnsureDir(dir));
  std::string tmp = dir + "/" + std::string(kTempPrefix) + UniqueSuffix();
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return PosixError("cannot create " + tmp, errno);
  Status st = WriteAll(fd, data, tmp);
  if (close(fd) != 0 && st.ok()) st = PosixError("cannot close " + tmp, errno);
  if (!st.ok()) {
    unlink(tmp.c_str());
    return st;
  }
  bool full;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (pending_.empty()) pending_since_ = std::chrono::steady_clock::now();
    pending_.push_back({std::move(tmp), std::move(path)});
    pending_bytes_ += data.size();
    full = pending_.size() >= kBatchObjects || pending_bytes_ >= kBatchBytes ||
           std::chrono::steady_clock::now() - pending_since_ >= kBatchAge;
  }
  if (!full) return Status::OK();
  std::lock_guard<std::mutex> f(flush_mu_);
  return FlushPending();
}

Status LocalStore::Sync() {
  std::lock_guard<std::mutex> f(flush_mu_);
  return FlushPending();
}

Status LocalStore::FlushPending() {
  std::vector<Pending> batch;
  {
    std::lock_guard<std::mutex> l(mu_);
    batch.swap(pending_);
    pending_bytes_ = 0;
  }
  if (batch.empty()) return Status::OK();
  int root = open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return PosixError("cannot open store " + root_, errno);
  auto sync_all = [&](const char* what) -> Status {
    if (sync_ && syncfs(root) != 0)
      return PosixError(std::string("cannot sync store (") + what + ") " + root_, errno);
    return Status::OK();
  };
  // Data first: nothing gets its final name before its bytes are on disk.
  Status st = sync_all("data");
  for (size_t i = 0; i < batch.size(); i++) {
    if (st.ok() && rename(batch[i].tmp.c_str(), batch[i].final_path.c_str()) != 0)
      st = PosixError("cannot rename " + batch[i].tmp + " to " + batch[i].final_path, errno);
    if (!st.ok()) unlink(batch[i].tmp.c_str());
  }
  if (st.ok()) st = sync_all("names");
  close(root);
  return st;
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

Result<std::string> LocalStore::GetRange(std::string_view key, uint64_t offset, uint64_t n) {
  std::string path = root_ + "/" + std::string(key);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return PosixError("cannot open " + path, errno);
  std::string out(n, '\0');
  size_t got = 0;
  while (got < n) {
    ssize_t r = pread(fd, out.data() + got, n - got, static_cast<off_t>(offset + got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int err = errno;
      close(fd);
      return PosixError("cannot read " + path, err);
    }
    if (r == 0) break;  // the object ends first
    got += static_cast<size_t>(r);
  }
  close(fd);
  out.resize(got);
  return out;
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

Status LocalStore::ReplaceIf(std::string_view key, const std::optional<std::string>& expected,
                             std::string_view data) {
  // One lock file for the store, held with flock: the kernel releases it when
  // the process dies, so a killed push never leaves the store locked.
  std::string lock_path = root_ + "/" + RefsLockName();
  int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return PosixError("cannot open lock file " + lock_path, errno);
  struct Unlock {
    int fd;
    ~Unlock() { close(fd); }  // also releases the flock
  } unlock{fd};
  while (flock(fd, LOCK_EX) != 0)
    if (errno != EINTR) return PosixError("cannot lock " + lock_path, errno);
  auto current = Get(key);
  if (!current.ok() && current.status().code() != Code::kNotFound) return current.take_status();
  std::optional<std::string> now;
  if (current.ok()) now = std::move(*current);
  if (now != expected)
    return Status::Conflict(Describe() + "/" + std::string(key) + " was changed by another writer");
  return Put(key, data);
}

Status LocalStore::Delete(std::string_view key) {
  std::string path = root_ + "/" + std::string(key);
  if (unlink(path.c_str()) != 0 && errno != ENOENT)
    return PosixError("cannot delete " + path, errno);
  return Status::OK();
}

// Temporary files of writes cut short (a crash between write and rename),
// anywhere under the root; the refs lock (held, never renamed) is not one.
Status LocalStore::SweepAbandoned(double older_than, bool dry_run, std::vector<Abandoned>* found) {
  const std::string lock = RefsLockName();
  std::error_code ec;
  const auto now = std::filesystem::file_time_type::clock::now();
  for (auto it = std::filesystem::recursive_directory_iterator(root_, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    // An entry's own errors (renamed or removed since it was listed) skip it;
    // `ec` is the listing's.
    std::error_code entry_ec;
    if (name.rfind(kTempPrefix, 0) != 0 || name == lock || !it->is_regular_file(entry_ec)) continue;
    const auto mtime = it->last_write_time(entry_ec);
    const uint64_t size = it->file_size(entry_ec);
    if (entry_ec) continue;
    const double age = std::chrono::duration<double>(now - mtime).count();
    if (age < older_than) continue;
    found->push_back({it->path().string(), size, age});
    if (!dry_run && unlink(it->path().c_str()) != 0 && errno != ENOENT)
      return Status::StoreUnavailable("cannot remove " + it->path().string() + ": " +
                                      std::strerror(errno));
  }
  if (ec) return Status::StoreUnavailable("cannot list " + root_ + ": " + ec.message());
  return Status::OK();
}

}  // namespace ferry
