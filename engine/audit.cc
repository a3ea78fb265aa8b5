#include "engine/audit.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>

#include "engine/destination.h"
#include "engine/walk.h"
#include "manifest/repo.h"
#include "transport/s3_client.h"
#include "transport/s3_rules.h"
#include "util/clock.h"
#include "util/parallel.h"
#include "util/posix.h"

namespace ferry {

namespace {

constexpr size_t kReadPiece = 8u << 20;   // bytes per ranged GET
constexpr size_t kLocalPiece = 1u << 20;  // bytes per read of a local file

class LocalTree final : public AuditTree {
 public:
  explicit LocalTree(std::string root) : root_(std::move(root)) {}
  std::string Describe() const override { return root_; }
  Result<std::vector<AuditObject>> List(std::vector<std::string>* skipped) override {
    ASSIGN_OR_RETURN(WalkResult w, WalkSources({root_}));
    std::vector<AuditObject> out;
    for (const auto& e : w.entries) {
      if (e.type == EntryType::kFile) out.push_back({e.path, e.size, std::to_string(e.mtime_ns)});
      if (e.type == EntryType::kSymlink) skipped->push_back(e.path + " (symlink)");
    }
    for (const auto& s : w.skipped) skipped->push_back(s);
    return out;
  }
  Result<Digest> Hash(const AuditObject& o, std::atomic<uint64_t>* bytes) override {
    const std::string path = root_ + "/" + o.path;
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      Status st = PosixError("cannot read " + path, errno);
      return errno == ENOENT ? Status::NotFound(st.message()) : st;
    }
    Sha256 h;
    std::string buf(std::min<uint64_t>(kLocalPiece, std::max<uint64_t>(o.size, 1)), '\0');
    uint64_t total = 0;
    for (;;) {
      ssize_t n = read(fd, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        Status st = PosixError("cannot read " + path, errno);
        close(fd);
        return st;
      }
      if (n == 0) break;
      h.Update(buf.data(), n);
      total += n;
      *bytes += n;
    }
    close(fd);
    if (total != o.size)
      return Status::VerifyFailed(path + " changed size while it was read (" +
                                  std::to_string(o.size) + " -> " + std::to_string(total) + ")");
    return h.Finish();
  }
  unsigned Concurrency() const override { return 4; }

 private:
  std::string root_;
};

class S3Tree final : public AuditTree {
 public:
  S3Tree(std::shared_ptr<S3Client> s3, std::string bucket, std::string prefix)
      : s3_(std::move(s3)), bucket_(std::move(bucket)), prefix_(std::move(prefix)) {}
  std::string Describe() const override { return "s3://" + bucket_ + "/" + prefix_; }
  Result<std::vector<AuditObject>> List(std::vector<std::string>*) override {
    ASSIGN_OR_RETURN(auto listed, s3_->ListObjectsDetailed(bucket_, prefix_));
    std::vector<AuditObject> out;
    for (auto& o : listed) {
      std::string rel = o.key.substr(prefix_.size());
      if (rel.empty() || rel.rfind(".ferry/", 0) == 0) continue;  // a Ferry mirror's own records
      if (rel.back() == '/' && o.size == 0) continue;             // a "folder" placeholder
      out.push_back({std::move(rel), o.size, o.etag});
    }
    return out;
  }
  Result<Digest> Hash(const AuditObject& o, std::atomic<uint64_t>* bytes) override {
    Sha256 h;
    for (uint64_t off = 0; off < o.size;) {
      const uint64_t n = std::min<uint64_t>(kReadPiece, o.size - off);
      auto piece = s3_->GetRange(bucket_, prefix_ + o.path, off, n);
      if (!piece.ok()) return piece.take_status();
      if (piece->size() != n)
        return Status::VerifyFailed(Describe() + o.path + " is shorter than listed");
      h.Update(*piece);
      *bytes += n;
      off += n;
    }
    return h.Finish();
  }
  unsigned Concurrency() const override { return kNetworkConcurrency; }
  std::optional<Digest> RecordedHash(const AuditObject& o) const override {
    auto it = recorded_.find({o.path, o.version});
    if (it == recorded_.end() || it->second.second != o.size) return std::nullopt;
    return it->second.first;
  }
  size_t recorded_hashes() const override { return recorded_.size(); }

  // What the mirror records of the builds at this prefix say: (path, ETag)
  // -> (SHA-256, size). Nothing if it is not a Ferry mirror.
  Status LoadRecorded(const StoreOptions& options) {
    auto dest = OpenDestination(Describe(), OpenMode::kExisting, options);
    if (!dest.ok() || (*dest)->layout() != Layout::kMirror) return Status::OK();
    ObjectStore* meta = (*dest)->meta();
    auto builds = BuildsAtLocation(meta, Describe());
    if (!builds.ok())
      return builds.status().code() == Code::kNotFound ? Status::OK() : builds.status();
    std::mutex mu;
    Status failed;
    ParallelFor(builds->size(), kNetworkConcurrency, [&](size_t i) {
      const Digest id = (*builds)[i].id;
      auto record = GetMirrorRecord(meta, id);
      auto m = record.ok() ? LoadManifest(meta, id) : Result<Manifest>(record.status());
      std::lock_guard<std::mutex> l(mu);
      if (!m.ok()) {
        if (m.status().code() != Code::kNotFound && failed.ok()) failed = m.status();
        return;
      }
      for (const auto& f : m->files) {
        auto o = record->objects.find(f.path);
        if (f.type == EntryType::kFile && o != record->objects.end() && !o->second.etag.empty())
          recorded_[{f.path, o->second.etag}] = {f.sha256, f.size};
      }
    });
    return failed;
  }

 private:
  std::shared_ptr<S3Client> s3_;
  std::string bucket_, prefix_;
  std::map<std::pair<std::string, std::string>, std::pair<Digest, uint64_t>> recorded_;
};

// One object on both sides, of the same size: hash both.
bool CompareContent(AuditTree* source, AuditTree* dr, const AuditObject& s, const AuditObject& d,
                    AuditReport* r, std::mutex* mu, std::atomic<uint64_t>* done_source,
                    std::atomic<uint64_t>* done_dr) {
  const std::optional<Digest> recorded = source->RecordedHash(s);
  auto hs = recorded ? Result<Digest>(*recorded) : source->Hash(s, done_source);
  auto hd = hs.ok() ? dr->Hash(d, done_dr) : Result<Digest>(Status::OK());
  std::lock_guard<std::mutex> l(*mu);
  if (recorded) {
    r->objects_recorded_source++;
    r->bytes_recorded_source += s.size;
  }
  if (hs.ok() && hd.ok() && *hs == *hd) {
    r->identical++;
    r->bytes_verified += s.size;
    return true;
  }
  AuditDifference diff{AuditDifference::Kind::kDifferent, s.path, s.size, d.size};
  if (!hs.ok()) {
    diff.error = hs.status().WithContext("source");
  } else if (!hd.ok()) {
    diff.error = hd.status().WithContext("DR copy");
    diff.source_sha256 = *hs;
    if (hd.status().code() == Code::kNotFound) diff.kind = AuditDifference::Kind::kMissing;
  } else {
    diff.source_sha256 = *hs;
    diff.dr_sha256 = *hd;
  }
  r->differences.push_back(std::move(diff));
  return false;
}

using ObjectPair = std::pair<const AuditObject*, const AuditObject*>;

// Hashes both sides of `pairs`, in the coverage plan's order when there is a
// cursor (then stopping at the time budget, past the due ones), and updates it.
void CompareAll(AuditTree* source, AuditTree* dr, const std::vector<ObjectPair>& pairs,
                const AuditOptions& opts, AuditReport* r) {
  std::vector<CoverageCandidate> candidates;
  CoveragePlan plan;
  const int64_t now = opts.now_ns ? opts.now_ns : UnixNowNs();
  if (opts.cursor) {
    for (const auto& [s, d] : pairs)
      candidates.push_back({s->path, s->size, s->version, d->version});
    plan = PlanCoverage(candidates, *opts.cursor, now, opts.coverage);
  } else {
    for (size_t i = 0; i < pairs.size(); i++) plan.order.push_back(i);
  }
  if (opts.progress)
    for (size_t i : plan.order) opts.progress->total += 2 * pairs[i].first->size;
  std::vector<CheckOutcome> outcome(pairs.size(), CheckOutcome::kNotReached);
  std::mutex mu;
  std::atomic<uint64_t> done_source{0}, done_dr{0};
  const auto t0 = std::chrono::steady_clock::now();
  const double time_budget = opts.cursor ? opts.coverage.budget_seconds : 0;
  const unsigned threads =
      opts.threads ? opts.threads : std::max(source->Concurrency(), dr->Concurrency());
  ParallelFor(
      plan.order.size(), threads,
      [&](size_t k) {
        if (time_budget > 0 && k >= plan.must &&
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() >
                time_budget)
          return;
        const size_t i = plan.order[k];
        outcome[i] = CompareContent(source, dr, *pairs[i].first, *pairs[i].second, r, &mu,
                                    &done_source, &done_dr)
                         ? CheckOutcome::kIdentical
                         : CheckOutcome::kDifferent;
        if (opts.progress) opts.progress->done = done_source + done_dr;
      },
      opts.cancel);
  r->bytes_hashed_source = done_source;
  r->bytes_hashed_dr = done_dr;
  if (opts.cursor && !Cancelled(opts.cancel))
    r->coverage = RecordCoverage(candidates, outcome, now, opts.coverage, plan, opts.cursor);
}

}  // namespace

const char* DifferenceName(AuditDifference::Kind k) {
  switch (k) {
    case AuditDifference::Kind::kMissing:
      return "missing";
    case AuditDifference::Kind::kDifferent:
      return "different";
    case AuditDifference::Kind::kExtra:
      return "extra";
  }
  return "?";
}

Result<std::unique_ptr<AuditTree>> OpenAuditTree(const std::string& url, AuditSide side,
                                                 const StoreOptions& options,
                                                 bool read_everything) {
  if (url.rfind("s3://", 0) == 0) {
    std::string bucket, prefix;
    if (!ParseS3Url(url, &bucket, &prefix))
      return Status::Usage("s3:// URL without a bucket: use s3://bucket/prefix/");
    StoreOptions ro = options;
    ro.read_only = true;  // an audit writes nothing
    ASSIGN_OR_RETURN(S3Config config, S3ConfigFromEnvironment(ro));
    auto tree =
        std::make_unique<S3Tree>(std::make_shared<S3Client>(config), bucket, S3KeyPrefix(prefix));
    if (side == AuditSide::kSource && !read_everything)
      RETURN_IF_ERROR(tree->LoadRecorded(ro).WithContext("the source's Ferry records"));
    return std::unique_ptr<AuditTree>(std::move(tree));
  }
  if (url.find("://") != std::string::npos && url.rfind("file://", 0) != 0)
    return Status::Usage("unknown URL scheme in '" + url +
                         "': use a directory or s3://bucket/prefix/");
  std::string path = url.rfind("file://", 0) == 0 ? url.substr(7) : url;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    const std::string why = path + (errno == ENOENT ? " does not exist" : " is not a directory");
    return side == AuditSide::kSource ? Status::SourceUnreadable("cannot read the source: " + why)
                                      : Status::StoreUnavailable("cannot read the DR copy: " + why);
  }
  return std::unique_ptr<AuditTree>(std::make_unique<LocalTree>(path));
}

Status Audit(AuditTree* source, AuditTree* dr, const AuditOptions& opts, AuditReport* r) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::string> ignored;
  ASSIGN_OR_RETURN(auto src, source->List(&r->skipped));
  ASSIGN_OR_RETURN(auto dst, dr->List(&ignored));
  auto filtered = [&](std::vector<AuditObject>* v) {
    if (!opts.filter || opts.filter->empty()) return;
    const size_t before = v->size();
    std::erase_if(*v, [&](const AuditObject& o) { return !opts.filter->Included(o.path); });
    r->filtered += before - v->size();
  };
  filtered(&src);
  filtered(&dst);
  if (src.empty() && !opts.allow_empty)
    return Status::SourceUnreadable(
        "the source " + source->Describe() +
        " holds no object (a wrong path or prefix, or filters that leave nothing?); nothing was "
        "compared: check it, or pass --allow-empty to audit an empty source");
  r->source_objects = src.size();
  r->dr_objects = dst.size();
  std::map<std::string, const AuditObject*> at_dr;
  for (const auto& d : dst) at_dr[d.path] = &d;
  std::vector<ObjectPair> to_hash;
  for (const auto& s : src) {
    auto it = at_dr.find(s.path);
    if (it == at_dr.end()) {
      r->differences.push_back({AuditDifference::Kind::kMissing, s.path, s.size, std::nullopt});
      continue;
    }
    if (it->second->size != s.size)
      r->differences.push_back(
          {AuditDifference::Kind::kDifferent, s.path, s.size, it->second->size});
    else
      to_hash.emplace_back(&s, it->second);
    at_dr.erase(it);
  }
  for (const auto& [path, d] : at_dr)
    r->differences.push_back({AuditDifference::Kind::kExtra, path, std::nullopt, d->size});
  CompareAll(source, dr, to_hash, opts, r);
  std::sort(r->differences.begin(), r->differences.end(),
            [](const AuditDifference& a, const AuditDifference& b) { return a.path < b.path; });
  r->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (Cancelled(opts.cancel)) return opts.cancel->Check("the audit");
  if (r->differences.empty()) return Status::OK();
  return Status::VerifyFailed(std::to_string(r->differences.size()) + " difference(s) between " +
                              source->Describe() + " and " + dr->Describe() +
                              " (first: " + r->differences[0].path + ", " +
                              DifferenceName(r->differences[0].kind) + ")");
}

}  // namespace ferry
