// Signed builds (docs/signatures.md): a small statement per build, signed
// with Ed25519 and stored beside the manifest at signatures/<manifest ID>,
// so manifest IDs do not change. It binds the manifest ID to its ref, a
// per-ref sequence number and the previous build, so that a rewritten
// manifest, a build signed by another key, and a ref pointed back at an
// older build (rollback) are all detected.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "crypto/hash.h"
#include "crypto/sign.h"
#include "transport/object_store.h"
#include "util/status.h"

namespace ferry {

struct BuildStatement {
  Digest manifest{};
  std::string ref;        // "" if pushed without one
  uint64_t sequence = 0;  // one more than any earlier statement of the ref (1 for the first)
  std::optional<Digest> previous;
  int64_t time_unix_ns = 0;
  std::string key_id;
  std::string signature;     // 64 bytes over Body()
  std::string Body() const;  // the signed text
};

std::string SignatureKey(const Digest& manifest);  // signatures/<hex>

// Signs build `id` (pushed to `ref` on top of `previous`) and stores the
// statement; its sequence is one more than any statement of the ref so far.
Status SignBuild(ObjectStore* store, const Digest& id, const std::string& ref,
                 const std::optional<Digest>& previous, const SigningKey& key);

// The statement of build `id`: nullopt if it is unsigned; kCorruptManifest if
// it cannot be read.
Result<std::optional<BuildStatement>> GetStatement(ObjectStore* store, const Digest& id);

// Every readable statement about ref `ref` in the store, but build `except`'s.
Result<std::vector<BuildStatement>> StatementsOfRef(ObjectStore* store, const std::string& ref,
                                                    const Digest& except);

class TrustedKeys {
 public:
  // Each path: a public key file (PEM or ssh-ed25519), or a file of several
  // ssh-ed25519 lines (a trusted-keys file; # comments).
  Status Add(const std::string& path);
  bool empty() const { return keys_.empty(); }
  const PublicKey* Find(const std::string& id) const;

 private:
  std::vector<std::unique_ptr<PublicKey>> keys_;
};

// kUntrusted unless build `id` carries a statement about this very manifest
// signed by a trusted key; named through `ref` (empty: by ID), also unless
// the statement is about that ref and no statement in the store for the ref
// has a higher sequence (the ref was pointed back at an older build).
Status CheckSignedBuild(ObjectStore* store, const Digest& id, const std::string& ref,
                        const TrustedKeys& trusted, BuildStatement* statement = nullptr);

}  // namespace ferry
