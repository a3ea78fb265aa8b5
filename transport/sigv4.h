// AWS Signature Version 4 (header-based), with OpenSSL HMAC-SHA256.
// The payload hash is given, not computed here: Ferry signs the SHA-256 its
// engine already has, so the server itself rejects a body changed in flight.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace ferry {

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty unless temporary credentials
};

struct SigV4Request {
  std::string method;                                        // "GET"
  std::string path;                                          // raw (unencoded) path, "/bucket/key"
  std::vector<std::pair<std::string, std::string>> query;    // raw (unencoded) parameters
  std::vector<std::pair<std::string, std::string>> headers;  // must include host and x-amz-date
  std::string payload_sha256_hex;                            // or "UNSIGNED-PAYLOAD"
};

// URI-encodes per SigV4: everything but A-Z a-z 0-9 - _ . ~ ; '/' kept when encode_slash is false.
std::string UriEncode(const std::string& s, bool encode_slash);

// The canonical request, the string to sign, and the Authorization header
// value for `req` at `amz_date` ("20150830T123600Z").
struct SigV4Result {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;      // hex
  std::string authorization;  // header value
};
SigV4Result SignV4(const SigV4Request& req, const AwsCredentials& creds, const std::string& region,
                   const std::string& service, const std::string& amz_date);

// Chunked upload: x-amz-content-sha256 is kStreamingPayload and the body is
// chunks "hex(size);chunk-signature=SIG\r\nDATA\r\n", ending with an empty
// chunk. Each chunk's signature covers its SHA-256 and chains to the previous
// one (the first to the request's own, "seed" signature), so the server
// rejects a chunk changed in flight; Ferry signs the chunk hashes its engine
// already computed, without hashing the part again.
inline constexpr char kStreamingPayload[] = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
std::string SignV4Chunk(const std::string& previous_signature, const std::string& chunk_sha256_hex,
                        const AwsCredentials& creds, const std::string& region,
                        const std::string& service, const std::string& amz_date);

// "20150830T123600Z" for a Unix time.
std::string AmzDate(long long unix_seconds);

}  // namespace ferry
