#include "engine/walk.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <set>

#include "engine/bucket_source.h"
#include "manifest/manifest.h"
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
  FileEntry e;
  e.path = rel;
  e.mode = st.st_mode & 07777;
  e.mtime_ns = MtimeNs(st);
  const FileStat fs{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
                    static_cast<uint64_t>(st.st_size), e.mtime_ns,
                    static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000LL + st.st_ctim.tv_nsec};
  if (S_ISREG(st.st_mode)) {
    e.type = EntryType::kFile;
    e.size = static_cast<uint64_t>(st.st_size);
    SourceFile read{abs, e.size, e.mtime_ns};
    out->Add(std::move(e), fs, std::move(read));
    return Status::OK();
  }
  if (S_ISLNK(st.st_mode)) {
    e.type = EntryType::kSymlink;
    std::string target(static_cast<size_t>(st.st_size) + 256, '\0');
    ssize_t n = readlink(abs.c_str(), target.data(), target.size());
    if (n < 0) return SourceError("cannot read symlink " + abs, errno);
    target.resize(static_cast<size_t>(n));
    if (target.empty()) return Status::SourceUnreadable("symlink " + abs + " is empty");
    e.link_target = target;
  } else if (S_ISDIR(st.st_mode)) {
    e.type = EntryType::kDir;
  } else {
    out->skipped.push_back(abs);
    out->skipped_paths.push_back(rel);
    return Status::OK();
  }
  out->Add(std::move(e), fs);
  return Status::OK();
}

// v[i] becomes the old v[order[i]] for every i (order is a permutation), in
// place: no second copy of a vector that holds an entry per file.
template <class T>
void Permute(std::vector<uint32_t> order, std::vector<T>* v) {
  for (uint32_t i = 0; i < order.size(); i++) {
    if (order[i] == i) continue;
    T first = std::move((*v)[i]);
    uint32_t j = i;
    while (order[j] != i) {
      const uint32_t k = order[j];
      (*v)[j] = std::move((*v)[k]);
      order[j] = j;
      j = k;
    }
    (*v)[j] = std::move(first);
    order[j] = j;
  }
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

void WalkResult::Add(FileEntry e, const FileStat& st, SourceFile read) {
  if (e.type == EntryType::kFile) {
    file_entry.push_back(static_cast<uint32_t>(entries.size()));
    files.push_back(std::move(read));
  }
  entries.push_back(std::move(e));
  stats.push_back(st);
}

void WalkResult::Sort() {
  std::vector<uint32_t> order(entries.size());
  for (uint32_t i = 0; i < order.size(); i++) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](uint32_t a, uint32_t b) { return entries[a].path < entries[b].path; });
  std::vector<uint32_t> position(order.size());  // where each entry goes
  for (uint32_t i = 0; i < order.size(); i++) position[order[i]] = i;
  Permute(order, &stats);
  Permute(std::move(order), &entries);
  for (auto& fe : file_entry) fe = position[fe];
  std::vector<uint32_t> file_order(files.size());
  for (uint32_t k = 0; k < file_order.size(); k++) file_order[k] = k;
  std::sort(file_order.begin(), file_order.end(),
            [&](uint32_t a, uint32_t b) { return file_entry[a] < file_entry[b]; });
  Permute(file_order, &files);
  Permute(std::move(file_order), &file_entry);
  // The vectors grew by doubling: give back up to half of each before the
  // push's buffers are taken.
  entries.shrink_to_fit();
  stats.shrink_to_fit();
  files.shrink_to_fit();
  file_entry.shrink_to_fit();
}

void WalkResult::KeepIf(const std::function<bool(const FileEntry&)>& keep) {
  size_t kept = 0, kept_files = 0, f = 0;
  for (size_t i = 0; i < entries.size(); i++) {
    const bool is_file = f < file_entry.size() && file_entry[f] == i;
    if (keep(entries[i])) {
      if (is_file) {
        if (kept_files != f) files[kept_files] = std::move(files[f]);
        file_entry[kept_files++] = static_cast<uint32_t>(kept);
      }
      if (kept != i) {
        entries[kept] = std::move(entries[i]);
        stats[kept] = stats[i];
      }
      kept++;
    }
    if (is_file) f++;
  }
  entries.resize(kept);
  stats.resize(kept);
  files.resize(kept_files);
  file_entry.resize(kept_files);
}

namespace {

// WalkSources with `only`: those paths of one root (a directory below them
// walked whole) and the directories above them.
Result<WalkResult> WalkOnly(const std::string& root, const StoreOptions& remote_opts,
                            const std::vector<std::string>& only) {
  WalkResult out;
  if (IsBucketSource(root)) {
    ASSIGN_OR_RETURN(std::shared_ptr<BucketSource> b, BucketSource::Open(root, remote_opts));
    RETURN_IF_ERROR(b->ListOnly("", only, &out));  // unsafe keys skipped, as List does
    out.remotes.push_back(std::move(b));
  } else {
    std::set<std::string> dirs;  // directories above the paths, added once
    for (const auto& rel : only) {
      if (!IsSafeRelativePath(rel)) {  // not from a walk of the tree: said, not taken
        out.skipped.push_back(root + "/" + rel);
        out.skipped_paths.push_back(rel);
        continue;
      }
      // Every directory above must still be one (not a file, not a symlink
      // that would lead out of the tree); else the path is gone.
      std::vector<std::pair<std::string, struct stat>> above;
      bool gone = false;
      for (size_t s = rel.find('/'); s != std::string::npos && !gone; s = rel.find('/', s + 1)) {
        const std::string dir = rel.substr(0, s);
        struct stat ds;
        if (lstat((root + "/" + dir).c_str(), &ds) != 0) {
          if (errno != ENOENT && errno != ENOTDIR)
            return SourceError("cannot stat " + root + "/" + dir, errno);
          gone = true;
        } else if (!S_ISDIR(ds.st_mode)) {
          gone = true;
        } else {
          above.emplace_back(dir, ds);
        }
      }
      struct stat st;
      const std::string abs = root + "/" + rel;
      if (gone) continue;
      if (lstat(abs.c_str(), &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) continue;  // gone since: nothing to take
        return SourceError("cannot stat " + abs, errno);
      }
      for (const auto& [dir, ds] : above)
        if (dirs.insert(dir).second) RETURN_IF_ERROR(Add(root + "/" + dir, dir, ds, &out));
      RETURN_IF_ERROR(Add(abs, rel, st, &out));
      if (S_ISDIR(st.st_mode)) RETURN_IF_ERROR(WalkDir(abs, rel, &out));
    }
  }
  out.Sort();
  // A path given twice, or below a directory also given: once.
  std::optional<std::string> last;  // a copy: KeepIf moves the entries it keeps
  out.KeepIf([&](const FileEntry& e) {
    const bool again = last == e.path;
    last = e.path;
    return !again;
  });
  return out;
}

}  // namespace

Result<WalkResult> WalkSources(const std::vector<std::string>& roots,
                               const StoreOptions& remote_opts,
                               const std::vector<std::string>* only) {
  if (roots.empty()) return Status::Usage("no source directory given");
  if (only) {
    if (roots.size() != 1) return Status::Usage("a push of given paths takes one source");
    return WalkOnly(roots[0], remote_opts, *only);
  }
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
  out.Sort();
  return out;
}

}  // namespace ferry
