// What callers of the operations (ops.h) see of the mirror layout: its
// options and its counters. The uploader itself is engine/mirror.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "transport/object_store.h"
#include "util/cancel.h"

namespace ferry {

// Below this size a whole object is sent rather than copied server-side from
// where the bucket already has it: a copy is three requests (HEAD of the
// source, CopyObject, HEAD of the result) against one PUT, and on this
// machine's RGW sending wins up to about this size (docs/performance.md,
// "Copies only where they pay").
inline constexpr uint64_t kCopyPaysFrom = 1u << 20;

struct MirrorOptions {
  size_t part_size = 8u << 20;  // >= 5 MiB (S3's minimum part)
  size_t max_chunk = 4u << 20;  // the push's largest chunk: buffers are sized by it
  // Whole-object copies (CopyObject) only for objects of at least this many
  // bytes (0: whenever the bytes are in the bucket; UINT64_MAX: never).
  // UploadPartCopy parts are at least 5 MiB and always copied.
  uint64_t copy_min_size = kCopyPaysFrom;
  unsigned upload_threads = kNetworkConcurrency;  // requests in flight
  size_t max_inflight_bytes = 64u << 20;          // queued + running uploads
  // S3 object tags for every object this push writes (PUT, multipart and
  // server-side copies alike); see S3ObjectTags.
  std::vector<std::pair<std::string, std::string>> object_tags;
  // Files the stat cache vouches for are taken as the previous build recorded
  // their objects (ETag, version) without a HEAD each: the daemon between its
  // reconciles (PushOptions::recheck_unchanged). Off: every one is HEADed.
  bool trust_unchanged = false;
  // Content-Type of each object: the first (glob, type) in content_types that
  // matches its path (util/glob.h), else ContentTypeFor its extension; none
  // (S3's default) when set_content_type is false.
  bool set_content_type = true;
  std::vector<std::pair<std::string, std::string>> content_types;
  // Once cancelled: unfinished multipart uploads are left to be resumed.
  const CancelToken* cancel = nullptr;
};

struct MirrorStats {
  uint64_t bytes_sent = 0;
  uint64_t bytes_resumed = 0;  // parts an interrupted push had uploaded, re-verified and kept
  uint64_t uploads_resumed = 0;
  uint64_t throttled = 0;           // 503 SlowDown answers seen
  unsigned lowest_concurrency = 0;  // requests in flight after slowing down (0: never slowed)
  uint64_t objects_put = 0;
  uint64_t files_unchanged = 0;  // not sent: same SHA-256 already there
  uint64_t files_listed = 0;     // of those, found by a listing (no HEAD)
  uint64_t objects_checked_by_put =
      0;                      // single PUTs whose ETag (the MD5 sent) proved them: no HEAD
  uint64_t bytes_copied = 0;  // created by server-side CopyObject/UploadPartCopy, not sent
  // Files read a second time to be sent: a copy from the source that failed,
  // or a file the stat cache vouched for whose object was gone or changed.
  uint64_t bytes_read_again = 0;
  uint64_t objects_copied = 0;
  uint64_t parts_copied = 0;  // UploadPartCopy parts (unchanged runs of a changed large file)
};

}  // namespace ferry
