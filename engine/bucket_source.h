// An S3 prefix as a push source (`ferry push s3://primary/builds/ --to ...`,
// the daemon's bucket jobs): every object under the prefix is a file whose
// path is its key below the prefix. Objects are read with ranged GETs, each
// only while its ETag is still the one listed (If-Match), so an object
// replaced while it is read fails that file ("changed while it was read")
// instead of mixing two versions. docs/sources.md.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/pipeline.h"
#include "engine/walk.h"
#include "transport/s3_client.h"
#include "transport/s3_store.h"
#include "util/status.h"

namespace ferry {

// Whether a source names a bucket prefix (s3://) rather than a local path.
bool IsBucketSource(const std::string& source);

// The options an s3:// source is opened with: the destinations' (endpoint,
// TLS, --bwlimit, cancel) without --meta-prefix, at `endpoint_url` if given
// (--source-endpoint-url).
StoreOptions SourceStoreOptions(const StoreOptions& destinations, const std::string& endpoint_url);

// kUsage if an s3:// source and an s3:// destination overlap (one bucket,
// one prefix inside the other) on the same endpoint (`same_endpoint`: no
// --source-endpoint-url of its own).
Status CheckSourceIsNotDestination(const std::vector<std::string>& sources,
                                   const std::vector<std::string>& tos, bool same_endpoint);

class BucketSource final : public RemoteReader {
 public:
  // The client is built from the AWS environment with `opts` (the source's
  // endpoint may differ from the destinations'). kUsage for a malformed URL.
  static Result<std::unique_ptr<BucketSource>> Open(const std::string& url,
                                                    const StoreOptions& opts);
  BucketSource(std::shared_ptr<S3Client> client, std::string bucket, std::string prefix);

  // Every object under the prefix, as entries of a walk: files (mode 0644,
  // mtime LastModified) and the directories their keys imply, under `base`
  // if not empty. Keys that cannot be a safe relative path (empty
  // components, "..", a leading '/') and objects whose key is also the
  // directory of other keys (`a` beside `a/b`) go to out->skipped; folder
  // markers (keys ending in '/') are left out. An unreachable bucket is
  // kSourceUnreadable: never an empty source.
  Status List(const std::string& base, WalkResult* out);
  // As List, for these paths below the prefix only (two small listings each,
  // not one of the whole prefix); a path with no object is left out.
  Status ListOnly(const std::string& base, const std::vector<std::string>& paths, WalkResult* out);

  // Every object under the prefix (neither the prefix itself nor a folder
  // marker), in key order. kSourceUnreadable (kAuth for credentials) naming
  // the source (and ending with `advice`) if the listing fails: never an
  // empty list.
  Result<std::vector<S3Client::ListedObject>> ListObjects(const std::string& advice = "");

  // Whether the prefix holds an object that List would take (one small
  // listing request). Errors as List's.
  Result<bool> HasObjects();

  Status ReadAt(const SourceFile& file, uint64_t offset, uint8_t* buf, size_t n) override;
  unsigned PreferredConcurrency() const override { return kNetworkConcurrency; }
  bool CopySourceOf(const SourceFile& file, S3CopySource* out) const override;

  std::string url() const { return "s3://" + bucket_ + "/" + prefix_; }
  const std::string& prefix() const { return prefix_; }  // "" or ends with '/'

  // The stat-cache identity of an object: (size, ETag, LastModified) in
  // FileStat's fields (docs/stat-cache.md).
  static FileStat Identity(const S3Client::ListedObject& o);

 private:
  // The entries of `listed` (in key order) into `out`, as List describes.
  Status AddListed(const std::string& base, std::vector<S3Client::ListedObject> listed,
                   WalkResult* out);

  std::shared_ptr<S3Client> client_;
  std::string bucket_, prefix_;  // prefix_ is "" or ends with '/'
};

}  // namespace ferry
