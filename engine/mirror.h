// Mirror layout: every pushed file lands at <prefix>/<relative path> in the
// bucket as an ordinary object, byte-identical, so any S3 client can deploy
// from it. The bytes come from the pipeline's single read (FileSink), never
// from a second read of the file.
//
//   - a file of at most part_size bytes: one PUT once it is hashed, signed with
//     its SHA-256 (the server checks the body) and x-amz-checksum-sha256;
//   - a larger file: multipart, parts cut at chunk boundaries and signed
//     chunk by chunk (aws-chunked) with the SHA-256s the pipeline computed,
//     so no part is hashed twice; uploaded in parallel while the file is
//     still being read;
//   - a new version of a large file: runs of >= 5 MiB that the previous
//     version at this key has too (at any offset: content-defined chunks)
//     are UploadPartCopy'd from it, each checked by its MD5;
//   - afterwards every object is HEADed: size, and ETag (the part ETags'
//     md5-of-md5s for multipart), before the file counts as replicated.
// A file whose size, mtime and path are unchanged since the previous manifest
// of the ref is not sent again if its SHA-256 matches and the object is there.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/copy_plan.h"
#include "engine/mirror_options.h"
#include "engine/ops.h"
#include "engine/pipeline.h"
#include "manifest/repo.h"
#include "transport/object_store.h"
#include "transport/s3_client.h"
#include "transport/s3_rules.h"

namespace ferry {

// HEADs s3://bucket/key (its version `expected.version_id`, if given) and
// checks it against what Ferry knows of it: `size`; if `sha` is given, the
// x-amz-meta-ferry-sha256 that Ferry stores on every object it sends in one
// PUT (a different one is data loss; none at all, on an object of at most
// `part_size` bytes, means another client replaced it); and `expected.etag`
// if not empty (a multipart object's identity: the md5-of-md5s of its parts).
// A missing object is kNotFound. *found, if given, gets its ETag and version.
Status CheckMirrorObject(S3Client* client, const std::string& bucket, const std::string& key,
                         uint64_t size, const Digest* sha, const MirrorObject& expected,
                         size_t part_size, MirrorObject* found = nullptr);

struct MirrorFile {
  std::string rel_path;
  SourceFile source;  // to read again only if an "unchanged" guess was wrong
  uint64_t size = 0;
  std::optional<Digest> previous_sha;  // same size and mtime in the previous manifest...
  std::string previous_key;            // ...whose object is this key (this file's own
                                       // key: unchanged; another: a rename or an earlier prefix)
  // A large file with an earlier version (changed, renamed, or in an earlier
  // build's prefix): that version's chunks and the key of its object. Runs of
  // at least kMinPartSize that the new file shares with it, at any offset,
  // become UploadPartCopy parts from it instead of uploads.
  std::vector<ChunkInfo> previous_chunks;
  std::string previous_chunks_key;
  // What the previous build recorded of the object at previous_key (its ETag
  // is checked too, so a same-size object swapped behind Ferry's back is
  // never taken for this file's bytes).
  MirrorObject previous_object;
  // An object of a bucket on the destination's endpoint (an s3:// source):
  // read for its hashes only, then copied server-side from that very version
  // (x-amz-copy-source-if-match), nothing sent; read and sent if the copy
  // fails or its result is not that version's bytes.
  std::optional<S3CopySource> from_source;
};

// What MirrorUploader would do with `files` (push --dry-run), from the read's
// digests (digests[i] is files[i]'s) and HEAD requests only: planned[i] says
// whether files[i] would be uploaded (and which bytes part-copied from its
// earlier version), copied server-side from an object already there (`known`:
// SHA-256 -> key, as AddKnownObject), or found unchanged. Writes nothing. It
// assumes part copies succeed and counts no resumed upload.
MirrorStats PreviewMirrorPush(S3Client* client, const std::string& bucket,
                              const std::string& prefix, const std::vector<MirrorFile>& files,
                              std::map<Digest, std::string> known, const MirrorOptions& opts,
                              const std::vector<FileDigest>& digests,
                              std::vector<PlannedFile>* planned);

// A prefix's objects as a listing shows them: key -> (size, unquoted ETag).
using ObjectListing = std::unordered_map<std::string, std::pair<uint64_t, std::string>>;

// The listing of `prefix` that checks of `objects` objects under it use
// instead of a HEAD each: at most 4x that many keys (at least 1,000), so a
// prefix holding much else costs a bounded number of pages. Empty (logged)
// if the listing fails: every object is then HEADed.
ObjectListing ListForChecks(S3Client* client, const std::string& bucket, const std::string& prefix,
                            size_t objects);

class MirrorUploader final : public FileSink {
 public:
  MirrorUploader(S3Client* client, std::string bucket, std::string prefix,
                 std::vector<MirrorFile> files, MirrorOptions opts,
                 std::vector<std::pair<std::string, std::string>> metadata);
  ~MirrorUploader() override;

  Status OnData(size_t index, uint64_t offset, const uint8_t* data, size_t n) override;
  void OnFileDone(size_t index, const FileDigest& digest) override;
  bool WantsChunks(size_t index) const override;
  void OnChunk(size_t index, uint64_t offset, const ChunkInfo& chunk,
               const std::vector<std::string_view>& data) override;

  // files[index] was not read: the stat cache vouches for `digest`. Checked
  // like an unchanged file (HEAD), and read and sent by Finish if that fails;
  // with MirrorOptions::trust_unchanged, taken as the previous build recorded
  // its object, without a request.
  void OnUnchanged(size_t index, const FileDigest& digest);

  // Uploads empty files and mispredicted "unchanged" files, waits for every
  // upload, aborts unfinished multipart uploads after a failure. Returns the
  // first error. `digests` are the pipeline's results.
  Status Finish(const std::vector<FileDigest>& digests);

  // An object in the bucket (from an earlier build) that holds `sha`: files
  // with the same bytes are copied from it server-side, if it vouches for
  // them (its stored SHA-256) when the copy is made.
  void AddKnownObject(const Digest& sha, const std::string& key);

  // A listing of (part of) the prefix, key -> (size, unquoted ETag), set
  // before any data: an unchanged file whose object it shows with the size
  // and ETag the previous build recorded is taken as that object without a
  // HEAD (the ETag names the bytes Ferry checked when it recorded them).
  void SetListing(ObjectListing listing) { listing_ = std::move(listing); }

  // Whether files[index], if its bytes are what the previous manifest says,
  // needs no read: its object is checked (HEAD) or copied whole. False for a
  // large file in another prefix, which is copied part by part from its bytes.
  bool CanSkipRead(size_t index) const { return files_[index].previous_sha.has_value(); }

  MirrorStats stats() const;
  // After Finish: the object each file now is (ETag and version as the
  // server reported them), and whether this push wrote it (an upload or a
  // copy) rather than finding it there.
  MirrorObject object(size_t index) const;
  bool wrote(size_t index) const;
  std::string Key(size_t index) const { return prefix_ + files_[index].rel_path; }

 private:
  struct FileUpload;
  void Enqueue(size_t bytes, std::function<void()> fn);
  void Fail(const Status& st);
  Status PutWhole(size_t index, const std::string& data, const Digest& sha);
  // Every object's metadata headers, with its S3 tags (x-amz-tagging).
  std::vector<std::pair<std::string, std::string>> Headers(size_t index) const;
  // Sets the object's S3 tags after a multipart upload or a copy: RGW 16
  // ignores x-amz-tagging on CreateMultipartUpload and on CopyObject.
  Status PutTags(size_t index);
  // CheckMirrorObject on files[index]'s object; on success records what it
  // is (and, with `wrote`, that this push made it).
  Status CheckObject(size_t index, const std::string& expected_etag,
                     const Digest* expected_sha = nullptr, bool wrote = true);
  // Records files[index]'s object as `object` (and, with `wrote`, that this push made it).
  void Found(size_t index, MirrorObject object, bool wrote);
  // An unchanged file's object: as the listing shows it, else CheckObject (HEAD).
  Status CheckUnchanged(size_t index, const Digest& sha);
  // Queues the next part; `pieces` (its chunks and their SHA-256s) let it be
  // signed without hashing it again, else it is hashed whole.
  void EnqueuePart(size_t index, std::shared_ptr<std::string> part,
                   std::vector<StreamChunk> pieces = {});
  void Consume(size_t index, uint64_t n);
  // Chunked files (every large file read), with the file's chunk_mu held:
  // carries out the CopyPlanner's steps.
  void Apply(size_t index, const std::vector<CopyPlanStep>& steps);
  void FlushUpload(size_t index, uint64_t end);  // sends the buffered bytes before `end`
  void EnqueueCopyPart(size_t index, uint64_t old_offset, uint64_t n, std::string md5_hex);
  bool ReadyForParts(size_t index);
  void PartDone(size_t index);
  void Complete(size_t index);

  S3Client* client_;
  std::string bucket_, prefix_;
  std::vector<MirrorFile> files_;
  MirrorOptions opts_;
  std::vector<std::pair<std::string, std::string>> metadata_;
  std::vector<std::unique_ptr<FileUpload>> uploads_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  size_t inflight_bytes_ = 0;                // guarded by mu_
  size_t running_ = 0;                       // guarded by mu_
  bool shutdown_ = false;                    // guarded by mu_
  Status error_;                             // guarded by mu_
  std::vector<size_t> redo_;                 // guarded by mu_: guessed unchanged, was not
  std::vector<std::thread> threads_;
  AdaptiveLimit limit_;
  uint64_t throttle_seen_ = 0;  // guarded by mu_

  Status StartMultipart(size_t index);
  // trust_unchanged: files[index] (`sha`, unread) is the object the previous
  // build recorded at its own key; records it so. False: check it instead.
  bool TakeOnTrust(size_t index, const Digest& sha);
  // The steps of Finish.
  void SendEmptyFiles(const std::vector<FileDigest>& digests);
  std::vector<size_t> FilesToResend();
  void SendAgain(size_t index, const FileDigest& digest);
  Status AbortUnfinished(const std::vector<FileDigest>& digests);
  // CopyObject from src (a key under the prefix) and the same checks as an upload.
  Status CopyFrom(size_t index, const std::string& src_key, const Digest& sha);
  // MirrorFile::from_source: CopyObject from that object's version, checked.
  Status CopyFromSource(size_t index, const Digest& sha, const std::string& md5);
  // A copy from the source failed: said once as a warning with the fix, then
  // as info; `then` is what happens to the file instead.
  void CopyFailed(const Status& st, const std::string& then);
  // Sends a small file: a copy from its source object (from_source) or of an
  // identical object this push already uploaded, else a PUT.
  void SendWhole(size_t index, std::shared_ptr<std::string> data, const Digest& sha);

  std::atomic<uint64_t> bytes_sent_{0}, objects_put_{0}, files_unchanged_{0}, files_listed_{0};
  std::atomic<uint64_t> checked_by_put_{0};
  ObjectListing listing_;  // read-only once set
  std::atomic<uint64_t> bytes_resumed_{0}, uploads_resumed_{0};
  std::atomic<uint64_t> bytes_copied_{0}, objects_copied_{0}, parts_copied_{0};
  std::atomic<uint64_t> bytes_read_again_{0};
  std::atomic<bool> copy_warned_{false};
  mutable std::mutex done_mu_;
  std::map<Digest, std::string> done_by_sha_;  // guarded by done_mu_: uploaded whole, checked
  std::vector<MirrorObject> objects_;          // guarded by done_mu_: by file index
  std::vector<bool> wrote_;                    // guarded by done_mu_
};

}  // namespace ferry
