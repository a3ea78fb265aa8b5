// The S3 store: Ferry's content-addressed layout (docs/store-format.md) under
// s3://bucket/prefix. Every PUT is signed with the body's SHA-256, so the
// server rejects a body changed in flight; x-amz-checksum-sha256 is sent too
// (AWS checks it; RGW 16 ignores it, which is why we never rely on it alone).
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "transport/object_store.h"
#include "transport/s3_client.h"

namespace ferry {

struct StoreOptions {
  std::string endpoint_url;  // --endpoint-url; else AWS_ENDPOINT_URL(_S3), the profile, AWS
  std::string ca_bundle;     // --ca-bundle; else AWS_CA_BUNDLE
  bool no_verify_ssl = false;
  // --meta-prefix: a mirror's manifests and refs under this key prefix of
  // its bucket instead of <prefix>/.ferry/, shared by every prefix that uses it.
  std::string meta_prefix;
  // Every S3 request checks it (S3Config::cancel).
  const CancelToken* cancel = nullptr;
  // --bwlimit: "RATE" for both directions or "UP:DOWN", bytes per second with
  // K, M, G (binary) suffixes ("50M", "10M:0"); "" or "0": no limit.
  std::string bwlimit;
  // Only GET and HEAD requests (S3Config::read_only): set by OpenMode::kDryRun.
  bool read_only = false;
};

// Parses a --bwlimit value: bytes per second for uploads and downloads (0:
// none). kUsage naming the value if malformed.
Status ParseBwLimit(const std::string& text, double* up, double* down);

// Builds an S3Config from the AWS environment and config files:
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, else
// AWS_PROFILE (default "default") in ~/.aws/credentials; region from
// AWS_REGION / AWS_DEFAULT_REGION / ~/.aws/config; endpoint from options,
// AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, ~/.aws/config endpoint_url, else AWS.
Result<S3Config> S3ConfigFromEnvironment(const StoreOptions& opts);

class S3Store final : public ObjectStore {
 public:
  S3Store(std::shared_ptr<S3Client> client, std::string bucket, std::string prefix);

  std::string Describe() const override { return "s3://" + bucket_ + "/" + prefix_; }
  Status Put(std::string_view key, std::string_view data) override;
  Result<std::string> Get(std::string_view key) override;
  Result<std::string> GetRange(std::string_view key, uint64_t offset, uint64_t n) override;
  Result<uint64_t> Size(std::string_view key) override;
  Result<std::vector<std::string>> List(std::string_view prefix) override;
  Status Delete(std::string_view key) override;
  Status ReplaceIf(std::string_view key, const std::optional<std::string>& expected,
                   std::string_view data) override;
  unsigned PreferredConcurrency() const override { return kNetworkConcurrency; }
  Status SweepAbandoned(double older_than, bool dry_run, std::vector<Abandoned>* found) override;

 private:
  std::string Key(std::string_view key) const { return prefix_ + std::string(key); }
  std::shared_ptr<S3Client> client_;
  std::string bucket_, prefix_;  // prefix_ is "" or ends with '/'
  // The server matched If-Match only against the unquoted ETag (RGW 16).
  std::atomic<bool> bare_if_match_{false};
};

}  // namespace ferry
