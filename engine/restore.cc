#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "engine/chunk_codec.h"
#include "engine/destination.h"
#include "engine/ops.h"
#include "manifest/repo.h"
#include "util/hex.h"
#include "util/parallel.h"
#include "util/posix.h"

namespace ferry {

namespace {

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

Status Unsafe(const std::string& path, const std::string& why) {
  return Status::UnsafePath("refusing to restore '" + path + "': " + why +
                            "; nothing outside the target is ever written");
}

// Opens the directory that will hold `rel` (creating missing directories
// unless create=false), never following a symlink on the way. *name gets the
// last component.
Result<Fd> OpenParent(int root, const std::string& rel, std::string* name, bool create = true) {
  Fd cur(dup(root));
  size_t start = 0;
  for (;;) {
    size_t slash = rel.find('/', start);
    if (slash == std::string::npos) {
      *name = rel.substr(start);
      return cur;
    }
    std::string comp = rel.substr(start, slash - start);
    int fd = openat(cur.get(), comp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
      if (mkdirat(cur.get(), comp.c_str(), 0755) != 0 && errno != EEXIST)
        return PosixError("cannot create directory for " + rel, errno, Code::kTargetUnwritable);
      fd = openat(cur.get(), comp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) {
      if (errno == ELOOP || errno == ENOTDIR)
        return Unsafe(
            rel, "'" + rel.substr(0, slash) + "' in the target is a symlink or not a directory");
      return PosixError("cannot open directory for " + rel, errno, Code::kTargetUnwritable);
    }
    cur = Fd(fd);
    start = slash + 1;
  }
}

// True if the file already in place has the manifest's size and XXH3-128.
bool AlreadyRestored(int dirfd, const std::string& name, const FileEntry& e, uint32_t mode) {
  struct stat st;
  if (fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<uint64_t>(st.st_size) != e.size)
    return false;
  Fd fd(openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) return false;
  Xxh3 h;
  std::string buf(1 << 20, '\0');
  for (;;) {
    ssize_t n = read(fd.get(), buf.data(), buf.size());
    if (n < 0) return false;
    if (n == 0) break;
    h.Update(buf.data(), static_cast<size_t>(n));
  }
  if (h.Finish() != e.xxh3) return false;
  if ((st.st_mode & 07777) != mode) fchmod(fd.get(), mode);
  return true;
}

void SetMtime(int fd, int64_t mtime_ns) {
  struct timespec ts[2];
  ts[0].tv_sec = 0;
  ts[0].tv_nsec = UTIME_OMIT;
  ts[1].tv_sec = mtime_ns / 1000000000LL;
  ts[1].tv_nsec = mtime_ns % 1000000000LL;
  futimens(fd, ts);
}

// The mode a file is restored with: set-uid/set-gid only when asked for.
uint32_t RestoredMode(const FileEntry& e, const RestoreOptions& opts) {
  return opts.keep_setuid ? e.mode : e.mode & ~uint32_t{06000};
}

Status RestoreFile(ChunkSource* source, const Digest& manifest, int root, const FileEntry& e,
                   const RestoreOptions& opts, RestoreReport* report, std::mutex* mu) {
  std::string name;
  ASSIGN_OR_RETURN(Fd dir, OpenParent(root, e.path, &name));
  const uint32_t mode = RestoredMode(e, opts);
  if (AlreadyRestored(dir.get(), name, e, mode)) {
    Advance(opts.progress, e.size);
    std::lock_guard<std::mutex> l(*mu);
    report->files_unchanged++;
    return Status::OK();
  }
  struct stat before;
  const bool replacing = fstatat(dir.get(), name.c_str(), &before, AT_SYMLINK_NOFOLLOW) == 0;
  std::string tmp = std::string(kTempPrefix) + UniqueSuffix();
  Fd fd(openat(dir.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (fd.get() < 0)
    return PosixError("cannot create a file for " + e.path, errno, Code::kTargetUnwritable);
  auto fail = [&](Status st) {
    unlinkat(dir.get(), tmp.c_str(), 0);
    return st;
  };
  Sha256 sha;
  std::string data;
  uint64_t offset = 0;
  for (size_t i = 0; i < e.chunks.size(); offset += e.chunks[i].size, i++) {
    if (Cancelled(opts.cancel)) return fail(opts.cancel->Check("restoring " + e.path));
    Status st = source->Fetch(manifest, e, i, offset, &data);
    if (!st.ok()) {
      if (st.code() == Code::kNotFound)
        st = Status::VerifyFailed(st.message() + " (needed for " + e.path + ")").SetDataLoss();
      return fail(st.WithContext(e.path));
    }
    sha.Update(data);
    Advance(opts.progress, data.size());
    st = WriteAll(fd.get(), data, e.path);
    if (!st.ok())
      return fail(Status(st.code() == Code::kNoSpace ? Code::kNoSpace : Code::kTargetUnwritable,
                         st.message()));
  }
  if (sha.Finish() != e.sha256)
    return fail(
        Status::VerifyFailed(e.path + ": restored bytes do not match the manifest's SHA-256")
            .SetDataLoss());
  if (fchmod(fd.get(), mode) != 0)
    return fail(PosixError("cannot set mode of " + e.path, errno, Code::kTargetUnwritable));
  SetMtime(fd.get(), e.mtime_ns);
  if (renameat(dir.get(), tmp.c_str(), dir.get(), name.c_str()) != 0)
    return fail(
        PosixError("cannot move " + e.path + " into place", errno, Code::kTargetUnwritable));
  std::lock_guard<std::mutex> l(*mu);
  report->files_written++;
  report->files_replaced += replacing;
  report->bytes_written += e.size;
  return Status::OK();
}

// What the target already holds: every entry, parents before children, never
// following a symlink. `size` is a regular file's size (0 otherwise).
struct TargetEntry {
  std::string path;
  bool dir = false;
  uint64_t size = 0;
};

void ListTarget(int dirfd, const std::string& rel, std::vector<TargetEntry>* out) {
  int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR* d = fd < 0 ? nullptr : fdopendir(fd);
  if (!d) {
    if (fd >= 0) close(fd);
    return;
  }
  while (dirent* de = readdir(d)) {
    std::string n = de->d_name;
    if (n == "." || n == "..") continue;
    struct stat st;
    if (fstatat(dirfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    std::string path = rel.empty() ? n : rel + "/" + n;
    out->push_back(
        {path, S_ISDIR(st.st_mode), S_ISREG(st.st_mode) ? static_cast<uint64_t>(st.st_size) : 0});
    if (!S_ISDIR(st.st_mode)) continue;
    Fd child(openat(dirfd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (child.get() >= 0) ListTarget(child.get(), path, out);
  }
  closedir(d);
}

// Removes `name` in `dirfd` and, if it is a directory, everything in it;
// never follows a symlink.
Status RemoveTree(int dirfd, const std::string& name, const std::string& rel) {
  if (unlinkat(dirfd, name.c_str(), 0) == 0) return Status::OK();
  if (errno != EISDIR && errno != EPERM)
    return PosixError("cannot remove " + rel, errno, Code::kTargetUnwritable);
  Fd dir(openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (dir.get() < 0) return PosixError("cannot open " + rel, errno, Code::kTargetUnwritable);
  std::vector<TargetEntry> inside;
  ListTarget(dir.get(), "", &inside);
  for (const auto& t : inside)
    if (t.path.find('/') == std::string::npos)
      RETURN_IF_ERROR(RemoveTree(dir.get(), t.path, rel + "/" + t.path));
  if (unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0)
    return PosixError("cannot remove directory " + rel, errno, Code::kTargetUnwritable);
  return Status::OK();
}

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Before writing: sweeps .ferry-tmp-* files of an interrupted restore, finds
// (and with --delete removes) what the build does not hold, and checks that
// the bytes to write fit in the target's free space, so a manifest that
// claims more than the disk holds is refused before a byte is written.
Status PrepareTarget(int root, const Manifest& m, const RestoreOptions& opts,
                     RestoreReport* report) {
  std::vector<TargetEntry> present;
  ListTarget(root, "", &present);
  std::map<std::string, const FileEntry*> wanted;
  for (const auto& e : m.files) wanted[e.path] = &e;
  std::map<std::string, uint64_t> present_size;
  std::set<std::string> extra_dirs;
  for (const auto& t : present) {
    std::string name;
    if (!t.dir && BaseName(t.path).rfind(kTempPrefix, 0) == 0) {
      auto parent = OpenParent(root, t.path, &name, /*create=*/false);
      if (parent.ok() && unlinkat(parent->get(), name.c_str(), 0) == 0)
        report->temp_files_removed++;
      continue;
    }
    present_size[t.path] = t.size;
    if (wanted.count(t.path)) continue;
    size_t slash = t.path.rfind('/');
    if (slash != std::string::npos && extra_dirs.count(t.path.substr(0, slash))) {
      if (t.dir) extra_dirs.insert(t.path);  // inside an extra directory: listed with it
      continue;
    }
    if (t.dir) extra_dirs.insert(t.path);
    report->extras.push_back(t.path);
  }
  if (opts.delete_extras) {
    for (const auto& x : report->extras) {
      std::string name;
      ASSIGN_OR_RETURN(Fd parent, OpenParent(root, x, &name, /*create=*/false));
      RETURN_IF_ERROR(RemoveTree(parent.get(), name, x));
      present_size.erase(x);
    }
    report->extras_deleted = true;
  }
  uint64_t need = 0;
  for (const auto& e : m.files) {
    if (e.type != EntryType::kFile) continue;
    auto it = present_size.find(e.path);
    if (it == present_size.end() || it->second != e.size) need += e.size;
  }
  struct statvfs vfs;
  if (fstatvfs(root, &vfs) == 0) {
    uint64_t avail = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
    if (need > avail)
      return Status::NoSpace("restore of manifest " + DigestHex(report->manifest_id) + " needs " +
                             std::to_string(need) + " bytes but the target " + opts.target +
                             " has " + std::to_string(avail) +
                             " free: free space or restore elsewhere; nothing was written");
  }
  return Status::OK();
}

Status RestoreDir(int root, const FileEntry& e) {
  std::string name;
  ASSIGN_OR_RETURN(Fd parent, OpenParent(root, e.path, &name));
  struct stat st;
  if (fstatat(parent.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (!S_ISDIR(st.st_mode))
      return Unsafe(e.path, "the target already has a symlink or other non-directory there");
    return Status::OK();
  }
  if (mkdirat(parent.get(), name.c_str(), 0755) != 0 && errno != EEXIST)
    return PosixError("cannot create directory " + e.path, errno, Code::kTargetUnwritable);
  return Status::OK();
}

Status RestoreSymlink(int root, const FileEntry& e) {
  std::string name;
  ASSIGN_OR_RETURN(Fd parent, OpenParent(root, e.path, &name));
  std::string tmp = std::string(kTempPrefix) + UniqueSuffix();
  if (symlinkat(e.link_target.c_str(), parent.get(), tmp.c_str()) != 0)
    return PosixError("cannot create symlink " + e.path, errno, Code::kTargetUnwritable);
  if (renameat(parent.get(), tmp.c_str(), parent.get(), name.c_str()) != 0) {
    int err = errno;
    unlinkat(parent.get(), tmp.c_str(), 0);
    return PosixError("cannot move symlink " + e.path + " into place", err,
                      Code::kTargetUnwritable);
  }
  return Status::OK();
}

Status RestoreFrom(ObjectStore* store, ChunkSource* source, const RestoreOptions& opts,
                   RestoreReport* report) {
  auto t0 = std::chrono::steady_clock::now();
  if (opts.target.empty()) return Status::Usage("restore needs --to DIR");
  ASSIGN_OR_RETURN(report->manifest_id, ResolveManifest(store, opts.what));
  ASSIGN_OR_RETURN(auto superseded, SupersededBy(store, report->manifest_id));
  if (superseded) return SupersededError(report->manifest_id, *superseded);
  ASSIGN_OR_RETURN(Manifest m, LoadManifest(store, report->manifest_id));

  // Check every path before writing anything.
  std::set<std::string> symlinks;
  for (const auto& e : m.files)
    if (e.type == EntryType::kSymlink) symlinks.insert(e.path);
  for (const auto& e : m.files) {
    if (!IsSafeRelativePath(e.path))
      return Unsafe(e.path, "it is absolute or has a '..' component");
    for (size_t p = e.path.find('/'); p != std::string::npos; p = e.path.find('/', p + 1))
      if (symlinks.count(e.path.substr(0, p)))
        return Unsafe(e.path,
                      "it would be written through the symlink '" + e.path.substr(0, p) + "'");
  }

  Status st = MkdirAll(opts.target);
  if (!st.ok())
    return Status(st.code() == Code::kNoSpace ? Code::kNoSpace : Code::kTargetUnwritable,
                  st.message());
  Fd root(open(opts.target.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (root.get() < 0)
    return PosixError("cannot open restore target " + opts.target, errno, Code::kTargetUnwritable);

  RETURN_IF_ERROR(PrepareTarget(root.get(), m, opts, report));
  for (const auto& e : m.files)
    if (e.type == EntryType::kFile && RestoredMode(e, opts) != e.mode) report->setuid_dropped++;

  std::mutex mu;
  auto record = [&](Status s) {
    if (s.ok()) return;
    std::lock_guard<std::mutex> l(mu);
    report->errors.push_back(std::move(s));
  };
  std::vector<const FileEntry*> files;
  for (const auto& e : m.files) {
    if (e.type == EntryType::kDir) {
      Status s = RestoreDir(root.get(), e);
      if (s.code() == Code::kUnsafePath) return s;
      if (s.ok()) report->dirs++;
      record(std::move(s));
    } else if (e.type == EntryType::kFile) {
      files.push_back(&e);
    }
  }
  if (opts.progress) {
    uint64_t total = 0;
    for (const FileEntry* f : files) total += f->size;
    opts.progress->total = total;
  }
  unsigned n = IoThreadCount(opts.threads ? opts.threads : source->PreferredConcurrency());
  ParallelFor(
      files.size(), n,
      [&](size_t i) {
        record(RestoreFile(source, report->manifest_id, root.get(), *files[i], opts, report, &mu));
      },
      opts.cancel);
  if (Cancelled(opts.cancel)) {
    report->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return opts.cancel->Check("the restore into " + opts.target);
  }
  for (const auto& e : m.files) {
    if (e.type != EntryType::kSymlink) continue;
    Status s = RestoreSymlink(root.get(), e);
    if (s.ok()) report->symlinks++;
    record(std::move(s));
  }
  // Directory modes last (deepest first), so a read-only directory is filled before it closes.
  for (auto it = m.files.rbegin(); it != m.files.rend(); ++it) {
    if (it->type != EntryType::kDir) continue;
    std::string name;
    auto parent = OpenParent(root.get(), it->path, &name);
    if (!parent.ok()) continue;  // already reported when the directory was created
    Fd dir(openat(parent->get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (dir.get() < 0 || fchmod(dir.get(), it->mode) != 0)
      record(
          PosixError("cannot set mode of directory " + it->path, errno, Code::kTargetUnwritable));
  }
  syncfs(root.get());
  report->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (report->errors.empty()) return Status::OK();
  bool data_loss = false, no_space = false;
  for (const auto& e : report->errors) {
    data_loss |= e.data_loss() || e.code() == Code::kVerifyFailed;
    no_space |= e.code() == Code::kNoSpace;
  }
  std::string msg = std::to_string(report->errors.size()) + " entr" +
                    (report->errors.size() == 1 ? "y" : "ies") +
                    " could not be restored (first: " + report->errors[0].message() + ")";
  if (data_loss) return Status::VerifyFailed(msg + "; the store is damaged: run ferry verify");
  if (no_space)
    return Status::NoSpace(msg +
                           "; free space in the target and run again (finished files are "
                           "kept)");
  if (report->files_written + report->files_unchanged == 0)
    return Status(report->errors[0].code(), msg);
  return Status(Code::kPartial, msg);
}

}  // namespace

Status Restore(Destination* dest, const RestoreOptions& opts, RestoreReport* report) {
  auto source = dest->Reader();
  return RestoreFrom(dest->meta(), source.get(), opts, report);
}

Status Restore(ObjectStore* store, const RestoreOptions& opts, RestoreReport* report) {
  return Restore(StoreDestination(store).get(), opts, report);
}

}  // namespace ferry
