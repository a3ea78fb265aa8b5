// A small S3 client over libcurl: SigV4-signed requests with the payload's
// real SHA-256, S3 error responses mapped onto Ferry's Status codes, and
// retries with exponential backoff and jitter for what can succeed later.
// Thread-safe: callers block while one thread drives every transfer through
// libcurl's multi interface (CurlLoop), on a shared pool of kept-alive connections.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/hash.h"
#include "transport/aws/credentials.h"
#include "transport/curl_loop.h"
#include "transport/sigv4.h"
#include "util/cancel.h"
#include "util/rate_limiter.h"
#include "util/status.h"

namespace ferry {

struct S3Config {
  std::string endpoint;  // "http://127.0.0.1:7480" or "https://s3.eu-west-1.amazonaws.com"
  std::string region = "us-east-1";
  std::shared_ptr<CredentialsCache> credentials;  // asked on every request (refreshes)
  bool path_style = true;      // bucket in the path (non-AWS servers), else in the host name
  std::string ca_bundle;       // empty: the system's
  bool verify_tls = true;      // off only with --no-verify-ssl (warns)
  int max_attempts = 6;        // 1 + retries
  long timeout_seconds = 300;  // per request
  long max_connections = 32;   // kept-alive connections to the endpoint
  // Once cancelled: no new request or retry starts, transfers in flight are
  // aborted, and every call returns kInterrupted. Multipart uploads are left
  // as they are (resumable), like after a kill.
  const CancelToken* cancel = nullptr;
  // --bwlimit: every transfer's bytes in each direction go through these
  // (request bodies of 64 KiB or more, and every response body). Null: none.
  std::shared_ptr<RateLimiter> upload_limit, download_limit;
  // Only GET and HEAD requests (a dry run): any other fails with kInternal
  // before it is signed or sent.
  bool read_only = false;
};

struct HttpResponse {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
};

// S3 error codes that mean "try again later" (and 5xx in general).
bool IsRetryableS3Error(long http_status, const std::string& code);
// Maps an S3 error response to a Status naming the bucket/key and the fix.
Status S3ErrorStatus(long http_status, const std::string& body, const std::string& what);

// Adjusts how many requests may run at once: halves on throttling (never
// below 1), then adds one back after every `recover_after` successes without
// new throttling, up to `max`. Thread-safe.
class AdaptiveLimit {
 public:
  explicit AdaptiveLimit(unsigned max, unsigned recover_after = 16)
      : max_(max), limit_(max), recover_after_(recover_after) {}
  void OnThrottle();
  void OnSuccess();
  unsigned limit() const { return limit_.load(); }
  unsigned lowest() const { return lowest_.load(); }

 private:
  const unsigned max_;
  std::atomic<unsigned> limit_;
  std::atomic<unsigned> lowest_{~0u};
  const unsigned recover_after_;
  std::atomic<unsigned> successes_{0};
};

// curl's send buffer for chunk-signed bodies, per request in flight.
inline constexpr long kCurlUploadBuffer = 512 << 10;

// A piece of a body signed in chunks: its size and SHA-256.
struct StreamChunk {
  size_t size = 0;
  Digest sha256{};
};

class S3Client {
 public:
  explicit S3Client(S3Config config);

  struct Request {
    std::string method = "GET";
    std::string bucket, key;
    std::vector<std::pair<std::string, std::string>> query;
    std::vector<std::pair<std::string, std::string>> headers;  // extra, signed
    std::string_view body;
    std::string body_sha256_hex;  // computed if empty
    // Chunked signing (kStreamingPayload): the body's pieces in order with
    // their SHA-256s, which are signed instead of the whole body's.
    std::vector<StreamChunk> stream_chunks;
    // The reply is S3 XML that may be an <Error> document although the status
    // is 200 (CompleteMultipartUpload, CopyObject, UploadPartCopy; listings).
    // Only then is a 2xx body parsed for one; object bytes never are.
    bool xml_reply = false;
  };
  // Sends with retries; any 2xx is OK, any other status becomes a Status.
  Result<HttpResponse> Send(const Request& req);

  // PUT signed with the body's SHA-256 (given, or computed) and carrying it as
  // x-amz-checksum-sha256, so both RGW and AWS reject a body changed in flight.
  // *etag, if given, gets the server's ETag; *version_id the version the PUT
  // created ("" on an unversioned bucket).
  Status PutObject(const std::string& bucket, const std::string& key, std::string_view data,
                   const std::vector<std::pair<std::string, std::string>>& headers = {},
                   const Digest* sha = nullptr, std::string* etag = nullptr,
                   std::string* version_id = nullptr);
  // *etag, if given, gets the object's ETag.
  Result<std::string> GetObject(const std::string& bucket, const std::string& key,
                                std::string* etag = nullptr);
  struct ObjectInfo {
    uint64_t size = 0;
    std::string etag;
    std::string version_id;  // x-amz-version-id: empty on an unversioned bucket
    std::map<std::string, std::string> headers;
  };
  // The object, or with `version_id` that version of it.
  Result<ObjectInfo> HeadObject(const std::string& bucket, const std::string& key,
                                const std::string& version_id = "");
  Status DeleteObject(const std::string& bucket, const std::string& key);
  // Every key under prefix, following continuation tokens.
  Result<std::vector<std::string>> ListObjects(const std::string& bucket,
                                               const std::string& prefix);
  // The same listing with each object's size and ETag (unquoted).
  struct ListedObject {
    std::string key;
    uint64_t size = 0;
    std::string etag;
    int64_t mtime_ns = 0;  // LastModified (whole seconds), 0 if unreadable
  };
  // With `max_objects`, stops after the page that reaches it (a prefix of
  // the listing, in key order; under 1,000, pages are that small).
  Result<std::vector<ListedObject>> ListObjectsDetailed(const std::string& bucket,
                                                        const std::string& prefix,
                                                        size_t max_objects = 0);

  // Multipart upload. Parts are signed with their SHA-256 (given, or computed).
  Result<std::string> CreateMultipartUpload(
      const std::string& bucket, const std::string& key,
      const std::vector<std::pair<std::string, std::string>>& headers);
  // Returns the part's ETag as the server computed it. With `chunks` (the
  // part's pieces and their SHA-256s, as the engine hashed them) the part is
  // signed chunk by chunk and never hashed whole.
  Result<std::string> UploadPart(const std::string& bucket, const std::string& key,
                                 const std::string& upload_id, int part_number,
                                 std::string_view data,
                                 const std::vector<StreamChunk>& chunks = {});
  // Part `part_number` made server-side from bytes [offset, offset+n) of
  // `src_key` (same bucket); only if the source's ETag is still `src_etag`
  // (if not empty). Returns the part's ETag (the MD5 of the copied bytes).
  Result<std::string> UploadPartCopy(const std::string& bucket, const std::string& key,
                                     const std::string& upload_id, int part_number,
                                     const std::string& src_key, uint64_t offset, uint64_t n,
                                     const std::string& src_etag = "");
  // `etags[i]` is part i+1's ETag. Returns the object's ETag from the response (may be empty on
  // RGW).
  Result<std::string> CompleteMultipartUpload(const std::string& bucket, const std::string& key,
                                              const std::string& upload_id,
                                              const std::vector<std::string>& etags);
  Status AbortMultipartUpload(const std::string& bucket, const std::string& key,
                              const std::string& upload_id);
  struct UploadInfo {
    std::string key, upload_id, initiated;
  };
  // Unfinished multipart uploads whose key starts with `prefix`.
  Result<std::vector<UploadInfo>> ListMultipartUploads(const std::string& bucket,
                                                       const std::string& prefix);
  struct PartInfo {
    int number = 0;
    std::string etag;
    uint64_t size = 0;
  };
  // The parts an unfinished upload already holds (all pages).
  Result<std::vector<PartInfo>> ListParts(const std::string& bucket, const std::string& key,
                                          const std::string& upload_id);

  // Server-side copy within a bucket (objects up to 5 GiB); metadata is copied.
  Status CopyObject(const std::string& bucket, const std::string& src_key,
                    const std::string& dst_key,
                    const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    return CopyObjectFrom(bucket, src_key, bucket, dst_key, headers);
  }
  // The same from another bucket of this endpoint (the credentials must be
  // allowed to read it). x-amz-copy-source-if-match in `headers` pins the
  // source's version: another one is kConflict (412).
  Status CopyObjectFrom(const std::string& src_bucket, const std::string& src_key,
                        const std::string& bucket, const std::string& dst_key,
                        const std::vector<std::pair<std::string, std::string>>& headers = {});

  // Replaces the object's S3 tags (RGW ignores x-amz-tagging on
  // CreateMultipartUpload, so multipart objects get theirs this way).
  Status PutObjectTagging(const std::string& bucket, const std::string& key,
                          const std::vector<std::pair<std::string, std::string>>& tags);

  // Bytes [offset, offset+n) of an object (of that version, if given; only
  // while its ETag is `if_match`, if given, else kConflict).
  Result<std::string> GetRange(const std::string& bucket, const std::string& key, uint64_t offset,
                               uint64_t n, const std::string& version_id = "",
                               const std::string& if_match = "");

  // The bucket's versioning state: "Enabled", "Suspended", or "" (never enabled).
  Result<std::string> GetBucketVersioning(const std::string& bucket);

  const S3Config& config() const { return config_; }
  // Responses that asked us to slow down (503 SlowDown and other 503s), so far.
  uint64_t throttle_count() const { return throttled_.load(); }

 private:
  // `what` names the request in errors ("PUT s3://bucket/key").
  Result<HttpResponse> SendOnce(const Request& req, const std::string& amz_date,
                                const std::string& what);
  S3Config config_;
  std::unique_ptr<CurlLoop> loop_;  // libcurl multi: every transfer, one connection pool
  std::string scheme_, host_;       // from endpoint
  std::atomic<uint64_t> throttled_{0};
};

}  // namespace ferry
