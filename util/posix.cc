#include "util/posix.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <random>

namespace ferry {

Status PosixError(const std::string& context, int err, Code fallback) {
  std::string msg = context + ": " + std::strerror(err);
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      return Status(Code::kNoSpace, msg + " (free space on that filesystem or raise the quota)");
    case ENOENT:
      return Status(Code::kNotFound, msg);
    case EINTR:
    case EAGAIN:
      return Status(fallback, msg).SetRetryable();
    default:
      return Status(fallback, msg);
  }
}

Result<std::string> ReadFileToString(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return PosixError("cannot open " + path, errno);
  std::string out;
  struct stat st;
  if (fstat(fd, &st) == 0 && st.st_size > 0) out.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      return PosixError("cannot read " + path, e);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

std::string UniqueSuffix() {
  static std::atomic<uint64_t> counter{0};
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::to_string(getpid()) + "-" + std::to_string(counter++) + "-" +
         std::to_string(rng() & 0xffffffff);
}

Status WriteAll(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return PosixError("cannot write " + what, errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::OK();
}

Status FsyncDir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return PosixError("cannot open directory " + dir, errno);
  int rc = fsync(fd);
  int e = errno;
  close(fd);
  if (rc != 0) return PosixError("cannot fsync directory " + dir, e);
  return Status::OK();
}

Status WriteFileAtomic(const std::string& dir, const std::string& name, std::string_view data,
                       bool sync) {
  std::string tmp = dir + "/" + std::string(kTempPrefix) + UniqueSuffix();
  std::string final_path = dir + "/" + name;
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return PosixError("cannot create " + tmp, errno);
  Status st = WriteAll(fd, data, tmp);
  if (st.ok() && sync && fsync(fd) != 0) st = PosixError("cannot fsync " + tmp, errno);
  if (close(fd) != 0 && st.ok()) st = PosixError("cannot close " + tmp, errno);
  if (st.ok() && rename(tmp.c_str(), final_path.c_str()) != 0) {
    st = PosixError("cannot rename " + tmp + " to " + final_path, errno);
  }
  if (!st.ok()) {
    unlink(tmp.c_str());
    return st;
  }
  if (sync) return FsyncDir(dir);
  return Status::OK();
}

Status MkdirAll(const std::string& path) {
  if (path.empty()) return Status::OK();
  struct stat st;
  if (stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return Status::OK();
    return Status::StoreUnavailable(path + " exists and is not a directory");
  }
  size_t slash = path.find_last_of('/');
  if (slash != std::string::npos && slash > 0) RETURN_IF_ERROR(MkdirAll(path.substr(0, slash)));
  if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return PosixError("cannot create directory " + path, errno);
  }
  return Status::OK();
}

Result<std::vector<std::string>> ListDir(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (!d) return PosixError("cannot list " + dir, errno);
  std::vector<std::string> names;
  while (struct dirent* e = readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    names.emplace_back(e->d_name);
  }
  closedir(d);
  return names;
}

}  // namespace ferry
