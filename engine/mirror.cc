#include "engine/mirror.h"

#include <map>

#include "engine/copy_plan.h"
#include "transport/s3_rules.h"
#include "transport/s3_tags.h"
#include "util/glob.h"
#include "util/hex.h"
#include "util/log.h"

namespace ferry {

struct MirrorUploader::FileUpload {
  std::mutex mu;
  std::string buf;  // a small file's bytes, or a large file's unfinished part
  std::string upload_id;
  int next_part = 1;
  std::vector<std::string> etags;  // guarded by mu
  std::map<int, S3Client::PartInfo>
      resumable;             // parts of an interrupted upload (read-only once set)
  int outstanding = 0;       // guarded by mu: parts queued or running
  bool data_done = false;    // guarded by mu
  bool failed = false;       // guarded by mu
  bool completed = false;    // guarded by mu
  bool copy_failed = false;  // guarded by mu: a copied part was not our bytes; Finish resends

  // Chunked (every multipart file the pipeline reads): parts are cut at chunk
  // boundaries and signed with the chunks' SHA-256s; bytes arrive with
  // their chunks (OnChunk). [0, buf_offset) of the file is sent or
  // copied; `buf` holds the pending upload bytes and, after them, an
  // uncommitted run; buf_chunks are the known chunks in `buf`, the first
  // one front_skip bytes in. With previous_chunks, unchanged runs are copied
  // (copy mode). Guarded by chunk_mu.
  bool chunked = false;  // set once, before any OnData
  std::mutex chunk_mu;
  std::deque<ChunkInfo> buf_chunks;
  uint64_t front_skip = 0;
  std::unique_ptr<CopyPlanner> planner;  // which bytes are uploaded, which copied
  uint64_t buf_offset = 0;
  Md5 run_md5;   // a committed run's bytes so far
  Md5 read_md5;  // from_source, large, multipart ETag: the MD5 of the bytes read
};

namespace {
// A multipart upload's ETag ("<md5-of-md5s>-<parts>"): not the MD5 of the bytes.
bool IsMultipartEtag(const std::string& etag) {
  return UnquoteEtag(etag).find('-') != std::string::npos;
}
}  // namespace

ObjectListing ListForChecks(S3Client* client, const std::string& bucket, const std::string& prefix,
                            size_t objects) {
  ObjectListing listing;
  auto listed = client->ListObjectsDetailed(bucket, prefix, std::max<size_t>(4 * objects, 1000));
  if (!listed.ok()) {
    LogInfo("could not list s3://" + bucket + "/" + prefix + " (" + listed.status().message() +
            "); checking each object with HEAD");
    return listing;
  }
  for (auto& o : *listed) listing.emplace(std::move(o.key), std::make_pair(o.size, o.etag));
  return listing;
}

MirrorUploader::MirrorUploader(S3Client* client, std::string bucket, std::string prefix,
                               std::vector<MirrorFile> files, MirrorOptions opts,
                               std::vector<std::pair<std::string, std::string>> metadata)
    : client_(client),
      bucket_(std::move(bucket)),
      prefix_(S3KeyPrefix(std::move(prefix))),
      files_(std::move(files)),
      opts_(opts),
      metadata_(std::move(metadata)),
      limit_(std::max(1u, opts.upload_threads)) {
  objects_.resize(files_.size());
  wrote_.assign(files_.size(), false);
  for (size_t i = 0; i < files_.size(); i++) {
    uploads_.push_back(std::make_unique<FileUpload>());
    const MirrorFile& f = files_[i];
    if (f.previous_sha || f.from_source || f.size <= opts_.part_size) continue;
    FileUpload& u = *uploads_.back();
    u.chunked = true;
    u.planner = std::make_unique<CopyPlanner>(f.previous_chunks, opts_.part_size, kMinPartSize,
                                              kMaxCopyPart);
  }
  for (unsigned i = 0; i < std::max(1u, opts_.upload_threads); i++) {
    threads_.emplace_back([this] {
      std::unique_lock<std::mutex> l(mu_);
      for (;;) {
        // Fewer requests in flight while the server asks us to slow down.
        cv_.wait(l, [&] { return shutdown_ || (!queue_.empty() && running_ < limit_.limit()); });
        if (queue_.empty()) return;
        auto fn = std::move(queue_.front());
        queue_.pop_front();
        running_++;
        l.unlock();
        fn();
        l.lock();
        running_--;
        uint64_t throttled = client_->throttle_count();
        if (throttled > throttle_seen_) {
          throttle_seen_ = throttled;
          limit_.OnThrottle();
        } else {
          limit_.OnSuccess();
        }
        cv_.notify_all();
      }
    });
  }
}

MirrorUploader::~MirrorUploader() {
  {
    std::lock_guard<std::mutex> l(mu_);
    shutdown_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

// Queues an upload of `bytes` bytes; waits while too many bytes are in flight.
// Only upload threads release that capacity, and they never wait for the
// pipeline, so this cannot deadlock.
void MirrorUploader::Enqueue(size_t bytes, std::function<void()> fn) {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [&] {
    return inflight_bytes_ == 0 || inflight_bytes_ + bytes <= opts_.max_inflight_bytes;
  });
  inflight_bytes_ += bytes;
  queue_.push_back([this, bytes, fn = std::move(fn)] {
    fn();
    std::lock_guard<std::mutex> g(mu_);
    inflight_bytes_ -= bytes;
  });
  cv_.notify_all();
}

void MirrorUploader::Fail(const Status& st) {
  std::lock_guard<std::mutex> l(mu_);
  if (error_.ok()) error_ = st;
}

Status MirrorUploader::OnData(size_t index, uint64_t, const uint8_t* data, size_t n) {
  const MirrorFile& f = files_[index];
  if (f.previous_sha) return Status::OK();  // decided once hashed (OnFileDone)
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!error_.ok()) return error_;
  }
  FileUpload& u = *uploads_[index];
  if (u.chunked) return Status::OK();               // the bytes come with their chunks (OnChunk)
  if (f.from_source && f.size > opts_.part_size) {  // copied, not sent: read again if need be
    if (IsMultipartEtag(f.from_source->etag)) u.read_md5.Update(data, n);
    return Status::OK();
  }
  if (u.buf.empty()) u.buf.reserve(std::min<uint64_t>(f.size, opts_.part_size + n));
  u.buf.append(reinterpret_cast<const char*>(data), n);
  if (f.size <= opts_.part_size) return Status::OK();
  if (u.upload_id.empty()) RETURN_IF_ERROR(StartMultipart(index));
  while (u.buf.size() >= opts_.part_size) {
    std::shared_ptr<std::string> part;
    if (u.buf.size() == opts_.part_size) {  // the usual case (parts are whole blocks): no copy
      part = std::make_shared<std::string>(std::move(u.buf));
      u.buf = std::string();
      u.buf.reserve(opts_.part_size + n);
    } else {
      part = std::make_shared<std::string>(u.buf.substr(0, opts_.part_size));
      u.buf.erase(0, opts_.part_size);
    }
    EnqueuePart(index, std::move(part));
  }
  return Status::OK();
}

// Continues the newest unfinished upload of this key (a push that was killed),
// aborting older ones, or starts a new one.
Status MirrorUploader::StartMultipart(size_t index) {
  FileUpload& u = *uploads_[index];
  const std::string key = Key(index);
  auto uploads = client_->ListMultipartUploads(bucket_, key);
  if (uploads.ok()) {
    const S3Client::UploadInfo* newest = nullptr;
    for (const auto& up : *uploads)
      if (up.key == key && (!newest || up.initiated > newest->initiated)) newest = &up;
    for (const auto& up : *uploads) {
      if (up.key != key || &up == newest) continue;
      Status st = client_->AbortMultipartUpload(bucket_, key, up.upload_id);
      if (!st.ok()) LogWarn("could not abort a stale upload of " + key + ": " + st.message());
    }
    if (newest) {
      auto parts = client_->ListParts(bucket_, key, newest->upload_id);
      if (parts.ok()) {
        u.upload_id = newest->upload_id;
        for (const auto& p : *parts) u.resumable[p.number] = p;
        uploads_resumed_++;
        LogInfo("resuming the interrupted upload of s3://" + bucket_ + "/" + key + " (" +
                std::to_string(parts->size()) + " parts there)");
        return Status::OK();
      }
    }
  }
  auto headers = Headers(index);
  headers.emplace_back("x-amz-meta-ferry-size", std::to_string(files_[index].size));
  auto id = client_->CreateMultipartUpload(bucket_, key, headers);
  if (!id.ok()) return id.take_status();
  u.upload_id = *id;
  return Status::OK();
}

// Queues part number next_part of files[index] (called in part order).
void MirrorUploader::EnqueuePart(size_t index, std::shared_ptr<std::string> part,
                                 std::vector<StreamChunk> pieces) {
  FileUpload& u = *uploads_[index];
  int number = u.next_part++;
  {
    std::lock_guard<std::mutex> l(u.mu);
    u.outstanding++;
    if (u.etags.size() < static_cast<size_t>(number)) u.etags.resize(static_cast<size_t>(number));
  }
  Enqueue(part->size(), [this, index, number, part, pieces = std::move(pieces)] {
    FileUpload& up = *uploads_[index];
    // A part the interrupted push already uploaded is kept only if the server's
    // MD5 of it (its ETag) is the MD5 of the bytes we have now.
    auto kept = up.resumable.find(number);
    if (kept != up.resumable.end() && kept->second.size == part->size()) {
      if (UnquoteEtag(kept->second.etag) == Md5::Hex(*part)) {
        {
          std::lock_guard<std::mutex> l(up.mu);
          up.etags[static_cast<size_t>(number) - 1] = kept->second.etag;
        }
        bytes_resumed_ += part->size();
        PartDone(index);
        return;
      }
    }
    auto etag = client_->UploadPart(bucket_, Key(index), up.upload_id, number, *part, pieces);
    {
      std::lock_guard<std::mutex> l(up.mu);
      if (etag.ok()) {
        up.etags[static_cast<size_t>(number) - 1] = *etag;
      } else {
        up.failed = true;
      }
    }
    if (etag.ok()) {
      bytes_sent_ += part->size();
    } else {
      Fail(etag.status());
    }
    PartDone(index);
  });
}

void MirrorUploader::PartDone(size_t index) {
  FileUpload& u = *uploads_[index];
  bool go;
  {
    std::lock_guard<std::mutex> l(u.mu);
    u.outstanding--;
    go = u.outstanding == 0 && u.data_done && !u.failed && !u.completed;
    if (go) u.completed = true;
  }
  if (go) Complete(index);
}

void MirrorUploader::Complete(size_t index) {
  FileUpload& u = *uploads_[index];
  std::vector<std::string> etags;
  {
    std::lock_guard<std::mutex> l(u.mu);
    etags = u.etags;
  }
  auto r = client_->CompleteMultipartUpload(bucket_, Key(index), u.upload_id, etags);
  Status st = r.ok() ? CheckObject(index, MultipartEtag(etags)) : r.take_status();
  if (st.ok()) st = PutTags(index);
  if (!st.ok()) {
    std::lock_guard<std::mutex> l(u.mu);
    u.failed = true;
    u.completed = false;  // so Finish aborts it
    Fail(st);
    return;
  }
  objects_put_++;
}

Status CheckMirrorObject(S3Client* client, const std::string& bucket, const std::string& key,
                         uint64_t size, const Digest* sha, const MirrorObject& expected,
                         size_t part_size, MirrorObject* found) {
  std::string what = "s3://" + bucket + "/" + key +
                     (expected.version_id.empty() ? "" : " (version " + expected.version_id + ")");
  const std::string& expected_etag = expected.etag;
  auto info = client->HeadObject(bucket, key, expected.version_id);
  if (!info.ok()) {
    if (info.status().code() == Code::kNotFound)
      return Status::NotFound("object " + what + " is missing");
    return info.take_status();
  }
  if (info->size != size)
    return Status::VerifyFailed(what + " is " + std::to_string(info->size) + " bytes, expected " +
                                std::to_string(size))
        .SetDataLoss();
  auto meta = info->headers.find("x-amz-meta-ferry-sha256");
  if (sha && meta != info->headers.end() && meta->second != DigestHex(*sha))
    return Status::VerifyFailed(what + " carries another SHA-256 than the manifest's")
        .SetDataLoss();
  if (sha && meta == info->headers.end() && size <= part_size)
    return Status::VerifyFailed(what +
                                " was not written by Ferry (no x-amz-meta-ferry-sha256): "
                                "run verify without --quick to check its bytes");
  if (!expected_etag.empty() && UnquoteEtag(info->etag) != UnquoteEtag(expected_etag))
    return Status::VerifyFailed(what + " has ETag " + UnquoteEtag(info->etag) + ", expected " +
                                UnquoteEtag(expected_etag) +
                                " (it was replaced by other bytes of the same size)")
        .SetDataLoss();
  if (found) *found = MirrorObject{UnquoteEtag(info->etag), info->version_id};
  return Status::OK();
}

Status MirrorUploader::PutTags(size_t index) {
  if (opts_.object_tags.empty()) return Status::OK();
  return client_->PutObjectTagging(bucket_, Key(index), opts_.object_tags);
}

std::vector<std::pair<std::string, std::string>> MirrorUploader::Headers(size_t index) const {
  auto headers = metadata_;
  if (opts_.set_content_type) {
    const std::string& path = files_[index].rel_path;
    std::string type;
    for (const auto& [glob, t] : opts_.content_types)
      if (PathFilter::MatchesPath(glob, path)) {
        type = t;
        break;
      }
    headers.emplace_back("content-type", type.empty() ? ContentTypeFor(path) : type);
  }
  if (!opts_.object_tags.empty())
    headers.emplace_back("x-amz-tagging", TaggingHeader(opts_.object_tags));
  return headers;
}

Status MirrorUploader::CheckObject(size_t index, const std::string& expected_etag,
                                   const Digest* expected_sha, bool wrote) {
  MirrorObject found;
  RETURN_IF_ERROR(CheckMirrorObject(client_, bucket_, Key(index), files_[index].size, expected_sha,
                                    MirrorObject{expected_etag, ""}, opts_.part_size, &found));
  Found(index, std::move(found), wrote);
  return Status::OK();
}

void MirrorUploader::Found(size_t index, MirrorObject object, bool wrote) {
  std::lock_guard<std::mutex> l(done_mu_);
  objects_[index] = std::move(object);
  wrote_[index] = wrote;
}

Status MirrorUploader::CheckUnchanged(size_t index, const Digest& sha) {
  const MirrorFile& f = files_[index];
  auto it = listing_.find(Key(index));
  if (it != listing_.end() && !f.previous_object.etag.empty() && it->second.first == f.size &&
      it->second.second == UnquoteEtag(f.previous_object.etag)) {
    Found(index, f.previous_object, /*wrote=*/false);
    files_listed_++;
    return Status::OK();
  }
  return CheckObject(index, f.previous_object.etag, &sha, /*wrote=*/false);
}

MirrorObject MirrorUploader::object(size_t index) const {
  std::lock_guard<std::mutex> l(done_mu_);
  return objects_[index];
}

bool MirrorUploader::wrote(size_t index) const {
  std::lock_guard<std::mutex> l(done_mu_);
  return wrote_[index];
}

Status MirrorUploader::PutWhole(size_t index, const std::string& data, const Digest& sha) {
  auto headers = Headers(index);
  headers.emplace_back("x-amz-meta-ferry-sha256", DigestHex(sha));
  std::string etag, version;
  RETURN_IF_ERROR(client_->PutObject(bucket_, Key(index), data, headers, &sha, &etag, &version));
  // The PUT's answer proves the object when its ETag is the MD5 of what was
  // sent (a single PUT without SSE-KMS; the body was also signed with its
  // SHA-256, which the server checked): then no HEAD. Otherwise, HEAD it.
  if (!etag.empty() && UnquoteEtag(etag) == Md5::Hex(data)) {
    Found(index, MirrorObject{UnquoteEtag(etag), version}, /*wrote=*/true);
    checked_by_put_++;
  } else {
    RETURN_IF_ERROR(CheckObject(index, etag));
  }
  bytes_sent_ += data.size();
  objects_put_++;
  return Status::OK();
}

void MirrorUploader::AddKnownObject(const Digest& sha, const std::string& key) {
  std::lock_guard<std::mutex> l(done_mu_);
  done_by_sha_.emplace(sha, key);
}

Status MirrorUploader::CopyFrom(size_t index, const std::string& src_key, const Digest& sha) {
  if (files_[index].size > kMaxCopyObject) return Status::Usage("too large for CopyObject");
  // The copy is labelled with `sha`, so the source must vouch for its bytes
  // first: the SHA-256 Ferry stored with it when it sent it whole.
  // (No size exempts it from carrying that SHA-256: part_size = SIZE_MAX.)
  RETURN_IF_ERROR(
      CheckMirrorObject(client_, bucket_, src_key, files_[index].size, &sha, {}, SIZE_MAX));
  auto headers = Headers(index);
  // This build's metadata and tags, not the source's.
  headers.emplace_back("x-amz-metadata-directive", "REPLACE");
  headers.emplace_back("x-amz-tagging-directive", "REPLACE");
  headers.emplace_back("x-amz-meta-ferry-sha256", DigestHex(sha));
  RETURN_IF_ERROR(client_->CopyObject(bucket_, src_key, Key(index), headers));
  RETURN_IF_ERROR(PutTags(index));
  RETURN_IF_ERROR(CheckObject(index, "", &sha));
  bytes_copied_ += files_[index].size;
  objects_copied_++;
  return Status::OK();
}

// The object the file was read from, copied server-side (that version
// only), then HEADed: its ETag must be the source's (S3 keeps a single-part
// object's MD5, RGW a multipart one's too) or the MD5 of the bytes read (`md5`:
// AWS gives a copied multipart object its MD5).
Status MirrorUploader::CopyFromSource(size_t index, const Digest& sha, const std::string& md5) {
  const MirrorFile& f = files_[index];
  const S3CopySource& src = *f.from_source;
  const std::string what = "the server-side copy of s3://" + src.bucket + "/" + src.key;
  auto headers = Headers(index);
  headers.emplace_back("x-amz-metadata-directive", "REPLACE");
  headers.emplace_back("x-amz-tagging-directive", "REPLACE");
  headers.emplace_back("x-amz-meta-ferry-sha256", DigestHex(sha));
  headers.emplace_back("x-amz-copy-source-if-match", "\"" + UnquoteEtag(src.etag) + "\"");
  Status st = client_->CopyObjectFrom(src.bucket, src.key, bucket_, Key(index), headers);
  if (!st.ok()) return st.WithContext(what);
  RETURN_IF_ERROR(PutTags(index));
  MirrorObject found;
  st = CheckMirrorObject(client_, bucket_, Key(index), f.size, &sha, {}, opts_.part_size, &found);
  if (!st.ok()) return st.WithContext(what);
  const std::string etag = UnquoteEtag(found.etag);
  if (etag.empty() || (etag != UnquoteEtag(src.etag) && etag != md5))
    return Status::VerifyFailed(
        what + " to " + Key(index) + " has ETag '" + etag + "', neither the source's (" +
        UnquoteEtag(src.etag) + ")" +
        (md5.empty() ? "" : " nor the MD5 of the bytes read (" + md5 + ")"));
  Found(index, found, true);
  bytes_copied_ += f.size;
  objects_copied_++;
  return Status::OK();
}

void MirrorUploader::CopyFailed(const Status& st, const std::string& then) {
  if (copy_warned_.exchange(true)) {
    LogInfo(st.message() + "; " + then);
    return;
  }
  LogWarn(st.message() + "; " + then +
          ". Objects whose copy fails are sent instead (those over the part size read from the "
          "source a second time): if the destination's credentials cannot read the source "
          "bucket, allow them s3:GetObject on it, or push with --server-copy never");
}

void MirrorUploader::SendWhole(size_t index, std::shared_ptr<std::string> data, const Digest& sha) {
  if (files_[index].from_source) {  // the bytes are kept to PUT if need be
    Status st = CopyFromSource(index, sha, Md5::Hex(*data));
    if (st.ok()) return;
    CopyFailed(st, "sending it");
  }
  std::string twin;
  {
    std::lock_guard<std::mutex> l(done_mu_);
    auto it = done_by_sha_.find(sha);
    if (it != done_by_sha_.end() && !data->empty() && data->size() >= opts_.copy_min_size)
      twin = it->second;
  }
  // The same bytes are already in the bucket: copy them there, send nothing.
  if (!twin.empty() && CopyFrom(index, twin, sha).ok()) return;
  Status st = PutWhole(index, *data, sha);
  if (!st.ok()) {
    Fail(st);
    return;
  }
  std::lock_guard<std::mutex> l(done_mu_);
  done_by_sha_.emplace(sha, Key(index));
}

void MirrorUploader::OnFileDone(size_t index, const FileDigest& digest) {
  const MirrorFile& f = files_[index];
  FileUpload& u = *uploads_[index];
  if (!digest.status.ok()) {
    std::lock_guard<std::mutex> l(u.mu);
    u.failed = true;
    u.data_done = true;
    return;
  }
  if (f.previous_sha) {
    if (*f.previous_sha != digest.sha256) {
      std::lock_guard<std::mutex> l(mu_);
      redo_.push_back(index);
      return;
    }
    Digest sha = digest.sha256;
    Enqueue(0, [this, index, sha] {
      const MirrorFile& mf = files_[index];
      // Same path: is the object still there, intact? Renamed: copy it over.
      const bool own = mf.previous_key == Key(index);
      Status st = own ? CheckUnchanged(index, sha) : CopyFrom(index, mf.previous_key, sha);
      if (st.ok()) {
        if (own) files_unchanged_++;
        AddKnownObject(sha, Key(index));
      } else {
        LogInfo(st.message() + "; sending it again");
        std::lock_guard<std::mutex> l(mu_);
        redo_.push_back(index);  // missing, changed or not copyable: send it again
      }
    });
    return;
  }
  if (f.from_source && f.size > opts_.part_size) {
    Digest sha = digest.sha256;
    std::string md5 = IsMultipartEtag(f.from_source->etag) ? u.read_md5.HexAndReset() : "";
    Enqueue(0, [this, index, sha, md5] {
      Status st = CopyFromSource(index, sha, md5);
      if (st.ok()) return;
      CopyFailed(st, "reading it again to send it");
      std::lock_guard<std::mutex> l(mu_);
      redo_.push_back(index);
    });
    return;
  }
  if (f.size <= opts_.part_size) {
    auto data = std::make_shared<std::string>(std::move(u.buf));
    Digest sha = digest.sha256;
    Enqueue(data->size(), [this, index, data, sha] { SendWhole(index, data, sha); });
    return;
  }
  if (u.chunked) {
    std::lock_guard<std::mutex> l(u.chunk_mu);
    std::vector<CopyPlanStep> steps;
    u.planner->Finish(&steps);
    Apply(index, steps);
  }
  if (!u.buf.empty()) {
    // The last part: OnData keeps whole parts flowing, so this is what is left.
    auto part = std::make_shared<std::string>(std::move(u.buf));
    EnqueuePart(index, std::move(part));
  }
  std::string().swap(u.buf);  // a file read to its end holds no buffer (it held a part's worth)
  bool go;
  {
    std::lock_guard<std::mutex> l(u.mu);
    u.data_done = true;
    go = u.outstanding == 0 && !u.failed && !u.completed;
    if (go) u.completed = true;
  }
  if (go) Enqueue(0, [this, index] { Complete(index); });
}

bool MirrorUploader::WantsChunks(size_t index) const { return uploads_[index]->chunked; }

// Copy mode, one chunk at a time in file order. A run is a sequence of chunks
// that sit back to back in the old object too. A run of kMinPartSize or more
// becomes a copy part (committed: its bytes are dropped, only their MD5 kept);
// anything else is uploaded, in parts of at least part_size except the last.
void MirrorUploader::OnChunk(size_t index, uint64_t offset, const ChunkInfo& c,
                             const std::vector<std::string_view>& data) {
  FileUpload& u = *uploads_[index];
  std::lock_guard<std::mutex> l(u.chunk_mu);
  // Once, for the most it holds (a part and two chunks): never grown by doubling.
  if (u.buf.capacity() == 0)
    u.buf.reserve(opts_.part_size + 2 * std::max(opts_.max_chunk, size_t{c.size}));
  for (auto piece : data) u.buf.append(piece);
  u.buf_chunks.push_back(c);
  std::vector<CopyPlanStep> steps;
  u.planner->Add(offset, c, &steps);
  Apply(index, steps);
}

void MirrorUploader::Apply(size_t index, const std::vector<CopyPlanStep>& steps) {
  FileUpload& u = *uploads_[index];
  for (const auto& s : steps) {
    switch (s.kind) {
      case CopyPlanStep::Kind::kUpload:
        FlushUpload(index, s.end);
        break;
      case CopyPlanStep::Kind::kCopyBytes:  // the buffer starts at them
        u.run_md5.Update(u.buf.data(), static_cast<size_t>(s.length));
        Consume(index, s.length);
        break;
      case CopyPlanStep::Kind::kCopyPart:
        EnqueueCopyPart(index, s.old_offset, s.length, u.run_md5.HexAndReset());
        break;
    }
  }
}

void MirrorUploader::FlushUpload(size_t index, uint64_t end) {
  FileUpload& u = *uploads_[index];
  size_t n = static_cast<size_t>(end - u.buf_offset);
  auto part = std::make_shared<std::string>(u.buf.substr(0, n));
  // The part's pieces: whole chunks with the SHA-256 the pipeline computed,
  // and a part of a chunk (where a copied run begins) hashed here.
  std::vector<StreamChunk> pieces;
  size_t at = 0, skip = static_cast<size_t>(u.front_skip);
  for (const auto& c : u.buf_chunks) {
    if (at == n) break;
    size_t len = std::min<size_t>(c.size - skip, n - at);
    pieces.push_back(len == c.size ? StreamChunk{len, c.id}
                                   : StreamChunk{len, Sha256::Of(part->data() + at, len)});
    at += len;
    skip = 0;
  }
  // Chunks S3 takes are at least 8 KiB but the last; else sign the part whole.
  for (size_t i = 0; i + 1 < pieces.size(); i++)
    if (pieces[i].size < (8u << 10)) pieces.clear();
  if (at != n) pieces.clear();
  Consume(index, n);
  if (ReadyForParts(index)) EnqueuePart(index, std::move(part), std::move(pieces));
}

// Drops `n` bytes (and their chunks) from the front of a chunked file's buffer.
void MirrorUploader::Consume(size_t index, uint64_t n) {
  FileUpload& u = *uploads_[index];
  u.buf.erase(0, static_cast<size_t>(n));
  u.buf_offset += n;
  while (n > 0 && !u.buf_chunks.empty()) {
    uint64_t left = u.buf_chunks.front().size - u.front_skip;
    if (n < left) {
      u.front_skip += n;
      return;
    }
    n -= left;
    u.buf_chunks.pop_front();
    u.front_skip = 0;
  }
}

// Copy mode: whether parts may go out (starting the upload if needed); false
// once the file has failed (Finish resends it whole, or the push failed).
bool MirrorUploader::ReadyForParts(size_t index) {
  FileUpload& u = *uploads_[index];
  {
    std::lock_guard<std::mutex> l(u.mu);
    if (u.failed) return false;
  }
  if (!u.upload_id.empty()) return true;
  Status st = StartMultipart(index);
  if (st.ok()) return true;
  std::lock_guard<std::mutex> l(u.mu);
  u.failed = true;
  Fail(st);
  return false;
}

void MirrorUploader::EnqueueCopyPart(size_t index, uint64_t old_offset, uint64_t n,
                                     std::string md5_hex) {
  FileUpload& u = *uploads_[index];
  if (!ReadyForParts(index)) return;
  int number = u.next_part++;
  {
    std::lock_guard<std::mutex> l(u.mu);
    u.outstanding++;
    if (u.etags.size() < static_cast<size_t>(number)) u.etags.resize(static_cast<size_t>(number));
  }
  Enqueue(0, [this, index, number, old_offset, n, md5_hex] {
    FileUpload& up = *uploads_[index];
    // The source is the earlier version's object (at this key or another). The
    // copy counts only if the server's MD5 of it is the MD5 of our bytes.
    auto etag = client_->UploadPartCopy(bucket_, Key(index), up.upload_id, number,
                                        files_[index].previous_chunks_key, old_offset, n);
    bool ok = etag.ok() && UnquoteEtag(*etag) == md5_hex;
    {
      std::lock_guard<std::mutex> l(up.mu);
      if (ok) {
        up.etags[static_cast<size_t>(number) - 1] = *etag;
      } else {
        up.failed = true;
        up.copy_failed = true;
      }
    }
    if (ok) {
      bytes_copied_ += n;
      parts_copied_++;
    } else {
      LogInfo("could not reuse bytes " + std::to_string(old_offset) + "+" + std::to_string(n) +
              " of " + files_[index].previous_chunks_key + " for " + Key(index) + " (" +
              (etag.ok() ? std::string("other bytes there") : etag.status().message()) +
              "); it will be sent whole");
    }
    PartDone(index);
  });
}

bool MirrorUploader::TakeOnTrust(size_t index, const Digest& sha) {
  const MirrorFile& f = files_[index];
  if (!opts_.trust_unchanged || !f.previous_sha || *f.previous_sha != sha ||
      f.previous_key != Key(index) || f.previous_object.etag.empty())
    return false;
  Found(index, f.previous_object, /*wrote=*/false);
  files_unchanged_++;
  return true;
}

void MirrorUploader::OnUnchanged(size_t index, const FileDigest& digest) {
  const MirrorFile& f = files_[index];
  if (TakeOnTrust(index, digest.sha256)) return;
  if (f.previous_sha && *f.previous_sha == digest.sha256) {
    OnFileDone(index, digest);
    return;
  }
  std::lock_guard<std::mutex> l(mu_);
  redo_.push_back(index);
}

// Empty files never reach OnData/OnFileDone: checked (HEAD) or PUT here.
void MirrorUploader::SendEmptyFiles(const std::vector<FileDigest>& digests) {
  for (size_t i = 0; i < files_.size(); i++) {
    if (files_[i].size != 0 || !digests[i].status.ok()) continue;
    Digest sha = digests[i].sha256;
    if (TakeOnTrust(i, sha)) continue;
    Enqueue(0, [this, i, sha] {
      Status st = files_[i].previous_sha ? CheckUnchanged(i, sha) : Status::OK();
      if (st.ok() && files_[i].previous_sha) {
        files_unchanged_++;
        return;
      }
      st = PutWhole(i, "", sha);
      if (!st.ok()) Fail(st);
    });
  }
}

// Files to send again whole: guessed unchanged and were not, or whose copied
// parts did not hold our bytes (their multipart uploads are aborted here).
std::vector<size_t> MirrorUploader::FilesToResend() {
  std::vector<size_t> redo;
  {
    std::lock_guard<std::mutex> l(mu_);
    redo.swap(redo_);
  }
  for (size_t i = 0; i < uploads_.size(); i++) {
    FileUpload& u = *uploads_[i];
    bool resend;
    {
      std::lock_guard<std::mutex> l(u.mu);
      resend = u.copy_failed && u.outstanding == 0;
    }
    if (!resend) continue;
    Status st = client_->AbortMultipartUpload(bucket_, Key(i), u.upload_id);
    if (!st.ok())
      LogWarn("could not abort the multipart upload of " + Key(i) + ": " + st.message());
    redo.push_back(i);
  }
  return redo;
}

namespace {

// The second read of one file (SendAgain): its bytes go to the uploader as
// files[index]; its digest is kept for the caller to compare.
class ResendSink final : public FileSink {
 public:
  ResendSink(FileSink* uploader, size_t index) : uploader_(uploader), index_(index) {}
  Status OnData(size_t, uint64_t offset, const uint8_t* data, size_t n) override {
    return uploader_->OnData(index_, offset, data, n);
  }
  void OnFileDone(size_t, const FileDigest& digest) override { digest_ = digest; }
  FileDigest digest_;

 private:
  FileSink* uploader_;
  size_t index_;
};

}  // namespace

// Reads files_[i] again (through the pipeline, as the first read) and sends
// it whole: the rare case above. Its bytes must still be the ones the first
// read hashed (`digest`), or the file changed during the push.
void MirrorUploader::SendAgain(size_t i, const FileDigest& digest) {
  MirrorFile& f = files_[i];
  if (f.previous_sha && *f.previous_sha != digest.sha256)
    LogInfo(f.rel_path + " changed although its size and mtime did not; reading it again");
  f.previous_sha.reset();
  f.previous_chunks.clear();
  f.from_source.reset();  // its copy failed: sent this time
  uploads_[i] = std::make_unique<FileUpload>();
  PipelineOptions po;
  po.threads = 1;
  po.memory_budget = 2 * static_cast<size_t>(po.chunking.max_size) + (16u << 20);
  po.cancel = opts_.cancel;
  HashOnlySink hash_only;
  ResendSink resend(this, i);
  std::vector<FileDigest> got;
  PipelineStats stats;
  Status st = RunPipeline({f.source}, po, &hash_only, &got, &stats, nullptr, &resend);
  bytes_read_again_ += stats.bytes_read;
  if (st.ok() && !got.empty()) st = got[0].status;
  if (!st.ok()) {
    Fail(st.code() == Code::kSourceUnreadable || st.code() == Code::kInterrupted
             ? st
             : Status::SourceUnreadable(f.source.path +
                                        " could not be read again: " + st.message()));
    return;
  }
  if (got[0].sha256 != digest.sha256) {
    Fail(Status::SourceUnreadable(
        f.source.path + " changed during the push; re-run when the build has finished writing it"));
    return;
  }
  OnFileDone(i, digest);
}

// Never leave an unfinished multipart upload behind (unless interrupted:
// then the next push resumes them). Returns the first error.
Status MirrorUploader::AbortUnfinished(const std::vector<FileDigest>& digests) {
  Status err;
  {
    std::lock_guard<std::mutex> l(mu_);
    err = error_;
  }
  // Interrupted: the unfinished uploads stay, for the next push to resume.
  if (Cancelled(opts_.cancel)) return opts_.cancel->Check("the upload");
  for (size_t i = 0; i < uploads_.size(); i++) {
    FileUpload& u = *uploads_[i];
    bool abort;
    {
      std::lock_guard<std::mutex> l(u.mu);
      abort = !u.upload_id.empty() && !u.completed;
    }
    if (abort) {
      Status st = client_->AbortMultipartUpload(bucket_, Key(i), u.upload_id);
      if (!st.ok())
        LogWarn("could not abort the multipart upload of " + Key(i) + ": " + st.message());
      // A file that could not be read (or changed while read) is the source's
      // fault, not Ferry's: its own error says so.
      if (err.ok())
        err = i < digests.size() && !digests[i].status.ok()
                  ? digests[i].status
                  : Status::Internal("multipart upload of " + Key(i) + " did not complete");
    }
  }
  return err;
}

Status MirrorUploader::Finish(const std::vector<FileDigest>& digests) {
  auto wait_idle = [&] {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return queue_.empty() && running_ == 0; });
  };
  SendEmptyFiles(digests);
  wait_idle();
  for (size_t i : FilesToResend()) {
    if (Cancelled(opts_.cancel)) break;
    SendAgain(i, digests[i]);
  }
  wait_idle();
  return AbortUnfinished(digests);
}

MirrorStats MirrorUploader::stats() const {
  MirrorStats st;
  st.bytes_sent = bytes_sent_;
  st.bytes_resumed = bytes_resumed_;
  st.uploads_resumed = uploads_resumed_;
  st.objects_put = objects_put_;
  st.files_unchanged = files_unchanged_;
  st.files_listed = files_listed_;
  st.objects_checked_by_put = checked_by_put_;
  st.bytes_copied = bytes_copied_;
  st.bytes_read_again = bytes_read_again_;
  st.objects_copied = objects_copied_;
  st.parts_copied = parts_copied_;
  st.throttled = client_->throttle_count();
  st.lowest_concurrency = limit_.lowest() == ~0u ? 0 : limit_.lowest();
  return st;
}

}  // namespace ferry
