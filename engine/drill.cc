#include "engine/drill.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <thread>

#include "engine/destination.h"
#include "manifest/builds.h"
#include "manifest/repo.h"
#include "util/clock.h"
#include "util/hex.h"
#include "util/posix.h"

namespace ferry {

namespace {

// A new empty directory for the drill, under `parent` ($TMPDIR or /tmp).
Result<std::string> MakeScratch(std::string parent) {
  if (parent.empty()) parent = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  std::string tmpl = parent + "/ferry-drill-XXXXXX";
  if (!mkdtemp(tmpl.data()))
    return Status::TargetUnwritable(
        PosixError("cannot make a scratch directory in " + parent, errno).message() +
        " (--scratch-dir or --to chooses another place)");
  return tmpl;
}

// Reads every restored file back and compares it with the manifest: size and
// SHA-256 for files (one read through the pipeline), the target for symlinks,
// the type for directories. Independent of the restore's own check.
Status CheckRestoredTree(const Manifest& m, const std::string& root, const DrillOptions& opts,
                         DrillReport* r) {
  std::vector<SourceFile> files;
  std::vector<const FileEntry*> entries;
  for (const auto& e : m.files) {
    const std::string path = root + "/" + e.path;
    struct stat st;
    if (lstat(path.c_str(), &st) != 0) {
      r->check_problems.push_back(Status::VerifyFailed(path + " is missing after the restore"));
      continue;
    }
    if (e.type == EntryType::kDir) {
      if (!S_ISDIR(st.st_mode))
        r->check_problems.push_back(Status::VerifyFailed(path + " is not a directory"));
    } else if (e.type == EntryType::kSymlink) {
      std::string target(4096, '\0');
      ssize_t n = readlink(path.c_str(), target.data(), target.size());
      if (!S_ISLNK(st.st_mode) || n < 0 || target.substr(0, n) != e.link_target)
        r->check_problems.push_back(
            Status::VerifyFailed(path + " is not the symlink to " + e.link_target));
      r->symlinks_checked++;
    } else if (!S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) != e.size) {
      r->check_problems.push_back(
          Status::VerifyFailed(path + " is not a " + std::to_string(e.size) + "-byte file"));
    } else {
      files.push_back(
          SourceFile{path, e.size, st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec});
      entries.push_back(&e);
    }
  }
  PipelineOptions popts;
  popts.chunking = m.chunking;
  popts.cancel = opts.cancel;
  HashOnlySink hash_only;
  std::vector<FileDigest> digests;
  PipelineStats stats;
  RETURN_IF_ERROR(RunPipeline(files, popts, &hash_only, &digests, &stats));
  for (size_t i = 0; i < files.size(); i++) {
    if (!digests[i].status.ok()) {
      r->check_problems.push_back(digests[i].status);
    } else if (digests[i].sha256 != entries[i]->sha256) {
      r->check_problems.push_back(Status::VerifyFailed(
          files[i].path + " does not read back as its SHA-256 in the manifest (" +
          DigestHex(entries[i]->sha256).substr(0, 16) + "...)"));
    } else {
      r->files_checked++;
      r->bytes_checked += files[i].size;
    }
  }
  if (r->check_problems.empty()) return Status::OK();
  return Status::VerifyFailed(std::to_string(r->check_problems.size()) +
                              " restored entr(ies) did not match the manifest (first: " +
                              r->check_problems[0].message() + ")");
}

// `sh -c cmd` in `dir`, its output on our stderr (stdout stays the report's),
// with FERRY_DRILL_DIR and FERRY_DRILL_MANIFEST set. Cancelled: the command's
// process group gets SIGTERM. The exit status, or 128 + the signal.
Result<int> RunSmokeTest(const std::string& cmd, const std::string& dir, const Digest& id,
                         const CancelToken* cancel) {
  pid_t pid = fork();
  if (pid < 0) return PosixError("cannot start the smoke test", errno);
  if (pid == 0) {
    setpgid(0, 0);
    dup2(2, 1);
    if (chdir(dir.c_str()) != 0) _exit(127);
    setenv("FERRY_DRILL_DIR", dir.c_str(), 1);
    setenv("FERRY_DRILL_MANIFEST", DigestHex(id).c_str(), 1);
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  bool signalled = false;
  for (;;) {
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) return PosixError("waiting for the smoke test", errno);
    if (Cancelled(cancel) && !signalled) {
      kill(-pid, SIGTERM);
      signalled = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (signalled) return cancel->Check("the smoke test");
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// RPO: with a primary, how far the DR copy's build lags the primary's newest
// build of the ref (their creation times; 0 if it is that build); else the
// restored build's age.
Status MeasureRpo(const DrillOptions& opts, int64_t now_ns, DrillReport* r) {
  r->rpo_seconds = (now_ns - r->build_created_unix_ns) / 1e9;
  if (!opts.primary) return Status::OK();
  if (r->ref.empty())
    return Status::Usage(
        "--primary compares a ref's newest builds, and this build was pushed without a ref: "
        "drill a ref, or leave out --primary");
  auto history = RefHistory(opts.primary->meta(), r->ref, 1);
  if (!history.ok())
    return history.status().WithContext("--primary " + opts.primary->meta()->Describe());
  if (history->empty() || !(*history)[0].problem.ok())
    return Status::CorruptManifest("--primary: the newest build of ref " + r->ref + " in " +
                                   opts.primary->meta()->Describe() + " cannot be read");
  const auto& newest = (*history)[0];
  r->rpo_from_primary = true;
  r->rpo_seconds = 0;
  r->primary_latest = newest.id;
  if (newest.id != r->manifest_id)
    r->rpo_seconds = std::max<int64_t>(0, newest.created_unix_ns - r->build_created_unix_ns) / 1e9;
  return Status::OK();
}

std::string Secs(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", s);
  return buf;
}

Status RunDrill(Destination* dr, const DrillOptions& opts, DrillReport* r) {
  const auto t0 = std::chrono::steady_clock::now();
  auto since = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  ASSIGN_OR_RETURN(r->manifest_id, ResolveManifest(dr->meta(), opts.what));
  ASSIGN_OR_RETURN(Manifest m, LoadManifest(dr->meta(), r->manifest_id));
  r->ref = m.ref;
  r->tags = m.tags;
  r->build_created_unix_ns = m.created_unix_ns;
  // RPO first: a --primary that cannot answer fails the drill before a byte is restored.
  RETURN_IF_ERROR(MeasureRpo(opts, r->started_unix_ns, r));
  r->scratch = opts.target.empty();
  if (r->scratch) {
    ASSIGN_OR_RETURN(r->target, MakeScratch(opts.scratch_parent));
  } else {
    r->target = opts.target;
  }
  RestoreOptions ro;
  ro.what = DigestHex(r->manifest_id);
  ro.target = r->target;
  ro.threads = opts.threads;
  ro.cancel = opts.cancel;
  ro.progress = opts.progress;
  Status st = Restore(dr, ro, &r->restore);
  if (st.ok()) st = CheckRestoredTree(m, r->target, opts, r);
  r->restore_seconds = since();
  r->rto_seconds = r->restore_seconds;
  if (st.ok() && !opts.exec.empty()) {
    r->exec_run = true;
    const double before = since();
    auto code = RunSmokeTest(opts.exec, r->target, r->manifest_id, opts.cancel);
    r->exec_seconds = since() - before;
    r->rto_seconds = since();
    if (!code.ok()) {
      st = code.take_status();
    } else {
      r->exec_exit = *code;
      if (*code != 0)
        st = Status(Code::kSmokeTestFailed,
                    "the smoke test '" + opts.exec + "' exited " + std::to_string(*code) +
                        " in the restored tree" +
                        (r->scratch && !opts.keep ? " (removed afterwards; --keep keeps it)"
                                                  : " " + r->target));
    }
  }
  r->rto_breached = opts.rto_target && r->rto_seconds > *opts.rto_target;
  r->rpo_breached = opts.rpo_target && r->rpo_seconds > *opts.rpo_target;
  if (r->scratch && !opts.keep) {
    std::error_code ec;
    std::filesystem::remove_all(r->target, ec);
    r->target_removed = !ec;
  }
  if (!st.ok()) return st;
  if (r->rto_breached || r->rpo_breached)
    return Status(Code::kTargetBreached,
                  std::string("the build was restored and verified, but ") +
                      (r->rto_breached ? "RTO " + Secs(r->rto_seconds) + " exceeds the target of " +
                                             Secs(*opts.rto_target)
                                       : "") +
                      (r->rto_breached && r->rpo_breached ? " and " : "") +
                      (r->rpo_breached ? "RPO " + Secs(r->rpo_seconds) + " exceeds the target of " +
                                             Secs(*opts.rpo_target)
                                       : ""));
  return Status::OK();
}

}  // namespace

Status Drill(Destination* dr, const DrillOptions& opts, DrillReport* r) {
  r->started_unix_ns = UnixNowNs();
  Status st = RunDrill(dr, opts, r);
  r->finished_unix_ns = UnixNowNs();
  return st;
}

}  // namespace ferry
