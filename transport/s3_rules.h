// S3 protocol rules that several layers need: URLs, key prefixes, part sizes
// and ETags. (Tags and metadata: transport/s3_tags.h.)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ferry {

// Splits "s3://bucket/prefix" into the bucket and a key prefix (empty or
// ending in '/'); false if it is not an s3:// URL with a bucket.
bool ParseS3Url(const std::string& url, std::string* bucket, std::string* prefix);

// A key prefix: empty, or ending in '/'.
inline std::string S3KeyPrefix(std::string prefix) {
  if (!prefix.empty() && prefix.back() != '/') prefix += '/';
  return prefix;
}

// S3's smallest part (all but the last part of a multipart upload).
inline constexpr uint64_t kMinPartSize = 5ull << 20;
// UploadPartCopy parts Ferry makes are at most this large (S3 allows 5 GiB;
// smaller ones retry better).
inline constexpr uint64_t kMaxCopyPart = 512ull << 20;
// The largest object CopyObject copies in one request (S3's limit).
inline constexpr uint64_t kMaxCopyObject = 5ull << 30;

// An ETag without its quotes (servers send it quoted, some not).
std::string UnquoteEtag(std::string etag);

// The ETag S3 gives a multipart object: the MD5 of its parts' binary MD5s,
// then "-" and the number of parts. Empty if a part ETag is not hex.
std::string MultipartEtag(const std::vector<std::string>& part_etags);

// The Content-Type an object gets from its name's extension (case-insensitive),
// as web servers and the AWS CLI assign them, so a DR bucket can serve a
// static site or a Helm repository; "application/octet-stream" if unknown.
std::string ContentTypeFor(const std::string& path);

}  // namespace ferry
