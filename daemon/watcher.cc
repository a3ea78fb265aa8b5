#include "daemon/watcher.h"

#include <dirent.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "util/posix.h"

namespace ferry::daemon {

namespace {

constexpr uint32_t kDirMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |
                              IN_ATTRIB | IN_MODIFY | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR |
                              IN_DONT_FOLLOW | IN_EXCL_UNLINK;

std::string Join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

}  // namespace

TreeWatcher::~TreeWatcher() { close(fd_); }

Result<std::unique_ptr<TreeWatcher>> TreeWatcher::Open(const std::string& root) {
  struct stat st;
  if (stat(root.c_str(), &st) != 0)
    return Status::SourceUnreadable(PosixError("cannot watch " + root, errno).message());
  if (!S_ISDIR(st.st_mode))
    return Status::SourceUnreadable("cannot watch " + root + ": not a directory");
  int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return PosixError("inotify_init1", errno, Code::kSourceUnreadable);
  std::unique_ptr<TreeWatcher> w(new TreeWatcher(fd, root));
  TreeEvents ignored;
  RETURN_IF_ERROR(w->AddTree("", &ignored));
  return w;
}

Status TreeWatcher::AddTree(const std::string& rel, TreeEvents* out) {
  const std::string abs = rel.empty() ? root_ : root_ + "/" + rel;
  int wd = inotify_add_watch(fd_, abs.c_str(), kDirMask);
  if (wd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return Status::OK();  // gone again already
    if (errno == ENOSPC)
      return Status::SourceUnreadable("cannot watch " + abs +
                                      ": the inotify watch limit is reached; raise it (sysctl "
                                      "fs.inotify.max_user_watches=524288)");
    return PosixError("cannot watch " + abs, errno, Code::kSourceUnreadable);
  }
  dirs_[wd] = rel;
  DIR* d = opendir(abs.c_str());
  if (!d) return Status::OK();  // reported by the push that reads it
  std::vector<std::string> subdirs;
  while (struct dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (e->d_type == DT_DIR)
      subdirs.push_back(Join(rel, name));
    else
      out->events.push_back({Join(rel, name), false});
  }
  closedir(d);
  for (const auto& s : subdirs) RETURN_IF_ERROR(AddTree(s, out));
  return Status::OK();
}

void TreeWatcher::Handle(const ::inotify_event* ev, TreeEvents* out) {
  if (ev->mask & IN_Q_OVERFLOW) {
    out->overflow = true;
    return;
  }
  auto it = dirs_.find(ev->wd);
  if (it == dirs_.end()) return;
  if (ev->mask & IN_IGNORED) {
    if (it->second.empty()) out->root_missing = true;
    dirs_.erase(it);
    return;
  }
  if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
    if (it->second.empty()) out->root_missing = true;
    return;
  }
  const std::string path = Join(it->second, ev->len ? ev->name : "");
  if (ev->mask & IN_ISDIR) {
    if (ev->mask & IN_MOVED_FROM) Unwatch(path);  // moved out (or renamed: IN_MOVED_TO re-adds)
    if (ev->mask & (IN_CREATE | IN_MOVED_TO)) {
      Status st = AddTree(path, out);
      if (!st.ok()) out->overflow = true;  // cannot watch it: the rescan still sees it
    }
    out->events.push_back({path, false});  // a directory's own entry (mode, existence)
    return;
  }
  // Written and not closed yet, or a regular file just created (its close
  // follows): still being written. A symlink is whole when it appears.
  bool writing = (ev->mask & IN_MODIFY) != 0;
  if (ev->mask & IN_CREATE) {
    struct stat st;
    writing = lstat((root_ + "/" + path).c_str(), &st) == 0 && S_ISREG(st.st_mode);
  }
  out->events.push_back({path, writing});
}

void TreeWatcher::Unwatch(const std::string& rel) {
  for (const auto& [wd, dir] : dirs_)
    if (dir == rel || dir.rfind(rel + "/", 0) == 0)
      inotify_rm_watch(fd_, wd);  // IN_IGNORED follows
}

Status TreeWatcher::Poll(int timeout_ms, TreeEvents* out) {
  struct pollfd p = {fd_, POLLIN, 0};
  int n = poll(&p, 1, timeout_ms);
  if (n < 0 && errno != EINTR) return PosixError("poll(inotify)", errno, Code::kInternal);
  if (n <= 0) return Status::OK();
  alignas(struct inotify_event) char buf[64 * 1024];
  for (;;) {
    ssize_t len = read(fd_, buf, sizeof buf);
    if (len < 0) {
      if (errno == EAGAIN || errno == EINTR) break;
      return PosixError("read(inotify)", errno, Code::kInternal);
    }
    for (ssize_t off = 0; off < len;) {
      auto* ev = reinterpret_cast<const struct inotify_event*>(buf + off);
      Handle(ev, out);
      off += static_cast<ssize_t>(sizeof(struct inotify_event) + ev->len);
    }
  }
  return Status::OK();
}

std::string TreeWatcher::Describe() const {
  return "watching " + root_ + " (" + std::to_string(dirs_.size()) + " directories)";
}

}  // namespace ferry::daemon
