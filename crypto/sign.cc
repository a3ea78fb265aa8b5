#include "crypto/sign.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <fstream>
#include <sstream>

#include "crypto/hash.h"
#include "util/hex.h"

namespace ferry {

namespace {

EVP_PKEY* Key(void* p) { return static_cast<EVP_PKEY*>(p); }

std::string KeyId(EVP_PKEY* pkey) {
  unsigned char raw[32];
  size_t n = sizeof raw;
  if (EVP_PKEY_get_raw_public_key(pkey, raw, &n) != 1) return "";
  return DigestHex(Sha256::Of(raw, n)).substr(0, 16);
}

std::string BioString(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string s(data, n);
  BIO_free(bio);
  return s;
}

Result<std::string> ReadAll(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::Usage("cannot read key file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool IsEd25519(EVP_PKEY* k) { return k && EVP_PKEY_get_id(k) == EVP_PKEY_ED25519; }

// An OpenSSH public key line: "ssh-ed25519 <base64 of (string type, string key)>".
EVP_PKEY* ParseOpenSsh(const std::string& text) {
  std::istringstream in(text);
  std::string type, b64;
  in >> type >> b64;
  std::string blob;
  if (type != "ssh-ed25519" || !Base64Decode(b64, &blob)) return nullptr;
  auto field = [&](size_t* at, std::string* out) {
    if (*at + 4 > blob.size()) return false;
    uint32_t n = (uint8_t(blob[*at]) << 24) | (uint8_t(blob[*at + 1]) << 16) |
                 (uint8_t(blob[*at + 2]) << 8) | uint8_t(blob[*at + 3]);
    if (*at + 4 + n > blob.size()) return false;
    *out = blob.substr(*at + 4, n);
    *at += 4 + n;
    return true;
  };
  size_t at = 0;
  std::string t, raw;
  if (!field(&at, &t) || t != "ssh-ed25519" || !field(&at, &raw) || raw.size() != 32)
    return nullptr;
  return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                     reinterpret_cast<const unsigned char*>(raw.data()), 32);
}

}  // namespace

std::string Base64Encode(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  out.resize(n);
  return out;
}

bool Base64Decode(const std::string& text, std::string* bytes) {
  if (text.empty() || text.size() % 4 != 0) return false;
  std::string out(3 * text.size() / 4 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()), text.size());
  if (n < 0) return false;
  size_t pad = 0;
  for (size_t i = text.size(); i > 0 && text[i - 1] == '='; i--) pad++;
  out.resize(n - pad);
  *bytes = std::move(out);
  return true;
}

SigningKey::SigningKey(void* pkey) : pkey_(pkey), id_(KeyId(Key(pkey))) {}
SigningKey::~SigningKey() { EVP_PKEY_free(Key(pkey_)); }

Result<std::unique_ptr<SigningKey>> SigningKey::Generate() {
  EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (!k) return Status::Internal("OpenSSL could not generate an Ed25519 key");
  return std::unique_ptr<SigningKey>(new SigningKey(k));
}

Result<std::unique_ptr<SigningKey>> SigningKey::LoadPrivate(const std::string& path) {
  ASSIGN_OR_RETURN(std::string pem, ReadAll(path));
  BIO* bio = BIO_new_mem_buf(pem.data(), pem.size());
  EVP_PKEY* k = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!IsEd25519(k)) {
    EVP_PKEY_free(k);
    return Status::Usage(path + " is not an Ed25519 private key (PKCS#8 PEM, as `ferry key " +
                         "generate` writes)");
  }
  return std::unique_ptr<SigningKey>(new SigningKey(k));
}

std::string SigningKey::PrivatePem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, Key(pkey_), nullptr, nullptr, 0, nullptr, nullptr);
  return BioString(bio);
}

std::string SigningKey::PublicPem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, Key(pkey_));
  return BioString(bio);
}

std::string SigningKey::Sign(const std::string& message) const {
  std::string sig(64, '\0');
  size_t n = sig.size();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, Key(pkey_));
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &n,
                 reinterpret_cast<const unsigned char*>(message.data()), message.size());
  EVP_MD_CTX_free(ctx);
  sig.resize(n);
  return sig;
}

PublicKey::PublicKey(void* pkey) : pkey_(pkey), id_(KeyId(Key(pkey))) {}
PublicKey::~PublicKey() { EVP_PKEY_free(Key(pkey_)); }

Result<std::unique_ptr<PublicKey>> PublicKey::Parse(const std::string& text,
                                                    const std::string& name) {
  EVP_PKEY* k = nullptr;
  if (text.rfind("ssh-ed25519 ", 0) == 0) {
    k = ParseOpenSsh(text);
  } else {
    BIO* bio = BIO_new_mem_buf(text.data(), text.size());
    k = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
  }
  if (!IsEd25519(k)) {
    EVP_PKEY_free(k);
    return Status::Usage(name +
                         " is not an Ed25519 public key (PEM, or an OpenSSH ssh-ed25519 line)");
  }
  return std::unique_ptr<PublicKey>(new PublicKey(k));
}

Result<std::unique_ptr<PublicKey>> PublicKey::Load(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadAll(path));
  return Parse(text, path);
}

bool PublicKey::Verify(const std::string& message, const std::string& signature) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, Key(pkey_)) == 1 &&
            EVP_DigestVerify(
                ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

}  // namespace ferry
