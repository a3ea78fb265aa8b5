// Hashes and MACs every layer uses (the lowest layer above util/).
//   Sha256:  content identity of chunks, files and manifests (OpenSSL EVP).
//   Xxh3_128: fast local change detection (xxhash), stored in canonical
//             big-endian form as xxHash specifies.
//   Md5:     what S3 reports as a part's or a single-PUT object's ETag.
//   HmacSha256, Base64: for request signing and S3 headers.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

struct evp_md_ctx_st;
struct XXH3_state_s;

namespace ferry {

using Digest = std::array<uint8_t, 32>;  // SHA-256
using Xxh128 = std::array<uint8_t, 16>;  // XXH3-128, canonical (big-endian)

std::string DigestHex(const Digest& d);
std::string_view DigestBytes(const Digest& d);

// For unordered containers of digests (SHA-256 bytes are uniform already).
struct DigestHash {
  size_t operator()(const Digest& d) const {
    size_t h;
    std::memcpy(&h, d.data(), sizeof h);
    return h;
  }
};

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(const void* data, size_t n);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  // Returns the digest and resets for reuse.
  Digest Finish();

  static Digest Of(const void* data, size_t n);
  static Digest Of(std::string_view s) { return Of(s.data(), s.size()); }

 private:
  evp_md_ctx_st* ctx_;
};

class Xxh3 {
 public:
  Xxh3();
  ~Xxh3();
  Xxh3(const Xxh3&) = delete;
  Xxh3& operator=(const Xxh3&) = delete;

  void Update(const void* data, size_t n);
  Xxh128 Finish();  // resets for reuse

  static Xxh128 Of(const void* data, size_t n);

 private:
  XXH3_state_s* state_;
};

class Md5 {
 public:
  Md5();
  ~Md5();
  Md5(const Md5&) = delete;
  Md5& operator=(const Md5&) = delete;

  void Update(const void* data, size_t n);
  std::string HexAndReset();  // lower-case hex, and resets for reuse

  static std::string Hex(const void* data, size_t n);
  static std::string Hex(std::string_view s) { return Hex(s.data(), s.size()); }

 private:
  evp_md_ctx_st* ctx_;
};

// Raw 32-byte HMAC-SHA256 of `data` under `key`.
std::string HmacSha256(std::string_view key, std::string_view data);

// Standard Base64 with padding (RFC 4648, section 4).
std::string Base64(const void* data, size_t n);
inline std::string Base64(std::string_view s) { return Base64(s.data(), s.size()); }

}  // namespace ferry
