#include "engine/walk.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include "engine/bucket_source.h"
#include "util/posix.h"

namespace ferry {

namespace {

// Every failure to read a source is a source error, whatever errno says.
Status SourceError(const std::string& context, int err) {
  return Status::SourceUnreadable(PosixError(context, err).message());
}

int64_t MtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
}

std::string BaseName(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  size_t s = p.find_last_of('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}

Status Add(const std::string& abs, const std::string& rel, const struct stat& st, WalkResult* out) {
  SourceEntry e;
  e.abs_path = abs;
  e.entry.path = rel;
  e.entry.mode = st.st_mode & 07777;
  e.entry.mtime_ns = MtimeNs(st);
  e.stat = FileStat{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
                    static_cast<uint64_t>(st.st_size), e.entry.mtime_ns,
                    static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000LL + st.st_ctim.tv_nsec};
  if (S_ISREG(st.st_mode)) {
    e.entry.type = EntryType::kFile;
    e.entry.size = static_cast<uint64_t>(st.st_size);
  } else if (S_ISLNK(st.st_mode)) {
    e.entry.type = EntryType::kSymlink;
    std::string target(static_cast<size_t>(st.st_size) + 256, '\0');
    ssize_t n = readlink(abs.c_str(), target.data(), target.size());
    if (n < 0) return SourceError("cannot read symlink " + abs, errno);
    target.resize(static_cast<size_t>(n));
    if (target.empty()) return Status::SourceUnreadable("symlink " + abs + " is empty");
    e.entry.link_target = target;
  } else if (S_ISDIR(st.st_mode)) {
    e.entry.type = EntryType::kDir;
  } else {
    out->skipped.push_back(abs);
    out->skipped_paths.push_back(rel);
    return Status::OK();
  }
  out->entries.push_back(std::move(e));
  return Status::OK();
}

Status WalkDir(const std::string& abs, const std::string& rel, WalkResult* out) {
  DIR* d = opendir(abs.c_str());
  if (!d) return SourceError("cannot read directory " + abs, errno);
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* de = readdir(d)) {
    std::string n = de->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
  }
  int err = errno;
  closedir(d);
  if (err) return SourceError("cannot read directory " + abs, err);
  for (const auto& n : names) {
    std::string child_abs = abs + "/" + n;
    std::string child_rel = rel.empty() ? n : rel + "/" + n;
    struct stat st;
    if (lstat(child_abs.c_str(), &st) != 0) return SourceError("cannot stat " + child_abs, errno);
    RETURN_IF_ERROR(Add(child_abs, child_rel, st, out));
    if (S_ISDIR(st.st_mode)) RETURN_IF_ERROR(WalkDir(child_abs, child_rel, out));
  }
  return Status::OK();
}

}  // namespace

Result<WalkResult> WalkSources(const std::vector<std::string>& roots,
                               const StoreOptions& remote_opts) {
  if (roots.empty()) return Status::Usage("no source directory given");
  WalkResult out;
  std::set<std::string> prefixes;
  for (const auto& root : roots) {
    if (IsBucketSource(root)) {
      ASSIGN_OR_RETURN(std::shared_ptr<BucketSource> b, BucketSource::Open(root, remote_opts));
      std::string base;
      if (roots.size() > 1) {
        base = BaseName(b->url());
        if (base.empty() || !prefixes.insert(base).second)
          return Status::Usage("two sources have the same base name '" + base +
                               "'; push them separately");
      }
      RETURN_IF_ERROR(b->List(base, &out));
      out.remotes.push_back(std::move(b));
      continue;
    }
    struct stat st;
    if (stat(root.c_str(), &st) != 0) return SourceError("cannot read source " + root, errno);
    std::string base = BaseName(root);
    if (roots.size() > 1 || !S_ISDIR(st.st_mode)) {
      if (base.empty() || base == "." || base == ".." || base == "/")
        return Status::Usage(
            "cannot name source '" + root +
            "' in the manifest: give it by its directory name, e.g. build/ rather than .");
      if (!prefixes.insert(base).second)
        return Status::Usage("two sources have the same base name '" + base +
                             "'; push them separately");
    }
    if (S_ISDIR(st.st_mode)) {
      std::string rel = roots.size() > 1 ? base : "";
      if (!rel.empty()) RETURN_IF_ERROR(Add(root, rel, st, &out));
      RETURN_IF_ERROR(WalkDir(root, rel, &out));
    } else if (S_ISREG(st.st_mode)) {
      RETURN_IF_ERROR(Add(root, base, st, &out));
    } else {
      return Status::SourceUnreadable("source " + root + " is not a directory or regular file");
    }
  }
  std::sort(out.entries.begin(), out.entries.end(),
            [](const SourceEntry& a, const SourceEntry& b) { return a.entry.path < b.entry.path; });
  // The vector grew by doubling: give back up to half of it (about 100 bytes
  // a file) before the push's buffers are taken.
  out.entries.shrink_to_fit();
  return out;
}

}  // namespace ferry
