// Evidence: what every drill and audit report carries (who, where, which
// Ferry), signing it, checking a signature, and keeping it in a store.
// Formats: docs/evidence.md.
#pragma once

#include <string>
#include <vector>

#include "crypto/sign.h"
#include "manifest/signature.h"
#include "tools/cli.h"

namespace ferry {
class Destination;
}

namespace ferry::cli {

inline constexpr const char* kFerryVersion = "0.1.0";
inline constexpr int kReportFormat = 1;

// Adds report_format, ferry_version, host, os_user and identity (for any
// s3:// URL among `urls`: the credentials' source and access key ID, never a
// secret; null otherwise) to report `j`.
void AddEvidenceHeader(const Context& ctx, const std::vector<std::string>& urls, json* j);

// Signs report `j` with `key` (nothing if null): sets j["report_signature"]
// to {algorithm, key, signature} over the canonical form (docs/evidence.md).
void SignReport(const SigningKey* key, json* j);

// A report file's JSON; kUntrusted if it is not JSON or an object gives a
// key twice (the signature would cover only one of the values).
Result<json> ParseReport(const std::string& text, const std::string& name);

// kUntrusted unless report `j` carries a signature by a trusted key over its
// canonical form; `key_id` gets the signer's key ID when there is one.
Status CheckReportSignature(const json& j, const TrustedKeys& trusted, std::string* key_id);

// Stores report `j` in `meta` at <dir>/<YYYYMMDDTHHMMSS.nnnnnnnnnZ>[-<tag>].json
// (the time `unix_ns`, so keys sort by it; create-only, never over another
// report), with (*j)[field] set to the key (null if it fails) and signed with
// `key` if given, the stored and the returned report alike.
Status StoreReport(ObjectStore* meta, const std::string& dir, int64_t unix_ns,
                   const std::string& tag, const char* field, const SigningKey* key, json* j);

// --sign-key FILE: the key, or nullptr for "".
Result<std::unique_ptr<SigningKey>> LoadReportKey(const std::string& path);

// An audit's --evidence-to STORE and --sign-key KEY: opened before any work
// (a bad store or key fails first), applied to the finished report.
class Evidence {
 public:
  Evidence();
  ~Evidence();
  Status Open(const Context& ctx, const std::string& store_url, const std::string& key_path);
  ObjectStore* store() const;  // null without --evidence-to
  // Adds the evidence header (for `urls`) and `finished`, then stores the
  // report at audits/<started> (with "evidence" set to its key) if there is
  // a store, and signs it if there is a key. The storing error, if any.
  Status Finish(const Context& ctx, const std::vector<std::string>& urls, int64_t started_ns,
                json* j);

 private:
  std::string url_;
  std::unique_ptr<Destination> dest_;
  std::unique_ptr<SigningKey> key_;
};

}  // namespace ferry::cli
