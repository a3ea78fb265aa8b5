// The mirror layout's dry run (push --dry-run): the decisions MirrorUploader
// makes for each file, taken from the read's digests and HEAD requests only.
#include <map>

#include "engine/copy_plan.h"
#include "engine/mirror.h"
#include "transport/s3_rules.h"
#include "util/parallel.h"

namespace ferry {

namespace {

using Action = PlannedFile::Action;

// Files whose bytes the previous build holds (same size, mtime and SHA-256):
// unchanged if their own object is intact, copied if it sits at another key,
// sent if neither holds. HEAD requests only, in parallel.
void PlanKnownFiles(S3Client* client, const std::string& bucket, const std::string& prefix,
                    const std::vector<MirrorFile>& files, const MirrorOptions& opts,
                    const std::vector<FileDigest>& digests, std::vector<PlannedFile>* planned,
                    std::vector<bool>* decided) {
  ParallelFor(files.size(), std::max(1u, opts.upload_threads), [&](size_t i) {
    const MirrorFile& f = files[i];
    const Digest& sha = digests[i].sha256;
    if (!digests[i].status.ok() || !f.previous_sha || *f.previous_sha != sha) return;
    PlannedFile& p = (*planned)[i];
    if (f.previous_key == prefix + f.rel_path) {
      const bool trusted = opts.trust_unchanged && !f.previous_object.etag.empty();
      if (!trusted && !CheckMirrorObject(client, bucket, f.previous_key, f.size, &sha,
                                         f.previous_object, opts.part_size)
                           .ok())
        return;  // missing or replaced: sent again
      p.action = Action::kUnchanged;
    } else {
      if (f.size > kMaxCopyObject ||
          !CheckMirrorObject(client, bucket, f.previous_key, f.size, &sha, {}, SIZE_MAX).ok())
        return;
      p.action = Action::kCopy;
      p.from = "s3://" + bucket + "/" + f.previous_key;
      p.bytes_copied = f.size;
    }
    (*decided)[i] = true;
  });
}

// A large file read in chunks: the bytes its earlier version shares in runs
// long enough for UploadPartCopy are copied, the rest sent.
void PlanParts(const MirrorFile& f, const FileDigest& d, const MirrorOptions& opts, PlannedFile* p,
               uint64_t* parts_copied) {
  if (f.previous_chunks.empty()) return;
  CopyPlanner planner(f.previous_chunks, opts.part_size, kMinPartSize, kMaxCopyPart);
  std::vector<CopyPlanStep> steps;
  uint64_t offset = 0;
  for (const auto& c : d.chunks) {
    planner.Add(offset, c, &steps);
    offset += c.size;
  }
  planner.Finish(&steps);
  for (const auto& s : steps)
    if (s.kind == CopyPlanStep::Kind::kCopyPart) {
      p->bytes_copied += s.length;
      (*parts_copied)++;
    }
  if (p->bytes_copied > 0) p->from = f.previous_chunks_key;
}

}  // namespace

MirrorStats PreviewMirrorPush(S3Client* client, const std::string& bucket,
                              const std::string& prefix, const std::vector<MirrorFile>& files,
                              std::map<Digest, std::string> known, const MirrorOptions& opts,
                              const std::vector<FileDigest>& digests,
                              std::vector<PlannedFile>* planned) {
  planned->assign(files.size(), PlannedFile{});
  std::vector<bool> decided(files.size(), false);
  for (size_t i = 0; i < files.size(); i++) {
    (*planned)[i].path = files[i].rel_path;
    (*planned)[i].size = files[i].size;
  }
  PlanKnownFiles(client, bucket, prefix, files, opts, digests, planned, &decided);
  MirrorStats st;
  for (size_t i = 0; i < files.size(); i++)
    if (decided[i]) known.emplace(digests[i].sha256, prefix + files[i].rel_path);
  for (size_t i = 0; i < files.size(); i++) {
    PlannedFile& p = (*planned)[i];
    const MirrorFile& f = files[i];
    if (!digests[i].status.ok()) continue;  // the push fails on it: see file_errors
    if (!decided[i]) {
      auto twin = known.find(digests[i].sha256);
      if (f.from_source) {  // copied from the object it was read from (assumed to succeed)
        p.action = Action::kCopy;
        p.from = "s3://" + f.from_source->bucket + "/" + f.from_source->key;
        p.bytes_copied = f.size;
      } else if (f.size > 0 && f.size <= opts.part_size && f.size >= opts.copy_min_size &&
                 twin != known.end()) {
        p.action = Action::kCopy;  // the same bytes are in the bucket already
        p.from = "s3://" + bucket + "/" + twin->second;
        p.bytes_copied = f.size;
      } else {
        p.action = Action::kUpload;
        if (f.size > opts.part_size) PlanParts(f, digests[i], opts, &p, &st.parts_copied);
        if (p.bytes_copied > 0) p.from = "s3://" + bucket + "/" + p.from;
        p.bytes = f.size - p.bytes_copied;
        known.emplace(digests[i].sha256, prefix + f.rel_path);
      }
    }
    st.files_unchanged += p.action == Action::kUnchanged;
    st.objects_copied += p.action == Action::kCopy;
    st.objects_put += p.action == Action::kUpload;
    st.bytes_sent += p.bytes;
    st.bytes_copied += p.bytes_copied;
  }
  return st;
}

}  // namespace ferry
