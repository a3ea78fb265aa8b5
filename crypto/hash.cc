#include "crypto/hash.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <xxhash.h>

#include <cstdlib>

#include "util/hex.h"

namespace ferry {

namespace {
// Fetch the implementation once: EVP_DigestInit_ex with EVP_sha256() does an
// implicit fetch per init in OpenSSL 3, which costs more than hashing a 4 KiB file.
const EVP_MD* Sha256Md() {
  static const EVP_MD* md = [] {
    EVP_MD* m = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return m ? static_cast<const EVP_MD*>(m) : EVP_sha256();
  }();
  return md;
}
}  // namespace

std::string DigestHex(const Digest& d) { return ToHex(d.data(), d.size()); }
std::string_view DigestBytes(const Digest& d) {
  return std::string_view(reinterpret_cast<const char*>(d.data()), d.size());
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex(ctx_, Sha256Md(), nullptr) != 1) std::abort();
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

void Sha256::Update(const void* data, size_t n) {
  if (n) EVP_DigestUpdate(ctx_, data, n);
}

Digest Sha256::Finish() {
  Digest d;
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_, d.data(), &len);
  EVP_DigestInit_ex(ctx_, Sha256Md(), nullptr);
  return d;
}

Digest Sha256::Of(const void* data, size_t n) {
  Digest d;
  unsigned int len = 0;
  EVP_Digest(data, n, d.data(), &len, Sha256Md(), nullptr);
  return d;
}

Xxh3::Xxh3() : state_(XXH3_createState()) {
  if (!state_) std::abort();
  XXH3_128bits_reset(state_);
}

Xxh3::~Xxh3() { XXH3_freeState(state_); }

void Xxh3::Update(const void* data, size_t n) { XXH3_128bits_update(state_, data, n); }

static Xxh128 Canonical(XXH128_hash_t h) {
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, h);
  Xxh128 out;
  static_assert(sizeof(c.digest) == 16);
  for (size_t i = 0; i < 16; i++) out[i] = c.digest[i];
  return out;
}

Xxh128 Xxh3::Finish() {
  Xxh128 out = Canonical(XXH3_128bits_digest(state_));
  XXH3_128bits_reset(state_);
  return out;
}

Xxh128 Xxh3::Of(const void* data, size_t n) { return Canonical(XXH3_128bits(data, n)); }

Md5::Md5() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex(ctx_, EVP_md5(), nullptr) != 1) std::abort();
}

Md5::~Md5() { EVP_MD_CTX_free(ctx_); }

void Md5::Update(const void* data, size_t n) {
  if (n) EVP_DigestUpdate(ctx_, data, n);
}

std::string Md5::HexAndReset() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_, md, &len);
  EVP_DigestInit_ex(ctx_, EVP_md5(), nullptr);
  return ToHex(md, len);
}

std::string Md5::Hex(const void* data, size_t n) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data, n, md, &len, EVP_md5(), nullptr);
  return ToHex(md, len);
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string Base64(const void* data, size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            static_cast<const unsigned char*>(data), static_cast<int>(n));
  out.resize(static_cast<size_t>(len));
  return out;
}

}  // namespace ferry
