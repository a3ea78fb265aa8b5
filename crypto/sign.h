// Ed25519 signing keys (OpenSSL 3): `ferry key generate`, signed builds.
// Private keys are PKCS#8 PEM; public keys PEM (SubjectPublicKeyInfo) or an
// OpenSSH "ssh-ed25519 AAAA... comment" line. A key's ID is the first 16 hex
// digits of the SHA-256 of its raw 32-byte public key.
#pragma once

#include <memory>
#include <string>

#include "util/status.h"

namespace ferry {

class SigningKey {
 public:
  ~SigningKey();
  SigningKey(const SigningKey&) = delete;
  SigningKey& operator=(const SigningKey&) = delete;

  static Result<std::unique_ptr<SigningKey>> Generate();
  // A PKCS#8 PEM private key file; kUsage naming the file if it is not one.
  static Result<std::unique_ptr<SigningKey>> LoadPrivate(const std::string& path);

  std::string PrivatePem() const;
  std::string PublicPem() const;
  std::string id() const { return id_; }
  std::string Sign(const std::string& message) const;  // 64 bytes

 private:
  explicit SigningKey(void* pkey);
  void* pkey_;  // EVP_PKEY*
  std::string id_;
};

class PublicKey {
 public:
  ~PublicKey();
  PublicKey(const PublicKey&) = delete;
  PublicKey& operator=(const PublicKey&) = delete;
  // A PEM public key or an OpenSSH ssh-ed25519 line (text), or a file holding one.
  static Result<std::unique_ptr<PublicKey>> Parse(const std::string& text, const std::string& name);
  static Result<std::unique_ptr<PublicKey>> Load(const std::string& path);
  std::string id() const { return id_; }
  bool Verify(const std::string& message, const std::string& signature) const;

 private:
  explicit PublicKey(void* pkey);
  void* pkey_;  // EVP_PKEY*
  std::string id_;
};

std::string Base64Encode(const std::string& bytes);
// False if `text` is not valid base64.
bool Base64Decode(const std::string& text, std::string* bytes);

}  // namespace ferry
