// AWS credentials behind one interface, so that credentials that expire
// (web identity, containers, instance metadata, credential_process; a later
// issue) drop in beside today's sources: the environment and a profile in
// ~/.aws/credentials. The S3 client asks a CredentialsCache for credentials
// on every request; the cache refreshes them before they expire.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "transport/sigv4.h"
#include "util/status.h"

namespace ferry {

using Clock = std::chrono::system_clock;

struct Credentials {
  AwsCredentials keys;
  std::optional<Clock::time_point> expiry;  // none: valid until replaced
  std::string source;                       // where they came from, for messages (never a secret)
};

class CredentialsProvider {
 public:
  virtual ~CredentialsProvider() = default;
  // Fresh credentials, or kNotFound if this source has none (the chain then
  // asks the next), or another error if it has some that cannot be used.
  virtual Result<Credentials> Fetch() = 0;
  // "environment", "profile dev in /home/u/.aws/credentials", ...
  virtual std::string Describe() const = 0;
};

// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN.
std::unique_ptr<CredentialsProvider> EnvironmentProvider();
// aws_access_key_id, aws_secret_access_key, aws_session_token of `profile`
// in the shared credentials file at `path` (read again on every Fetch).
std::unique_ptr<CredentialsProvider> ProfileProvider(std::string path, std::string profile);
// Fixed credentials (tests, and callers that already hold keys).
std::unique_ptr<CredentialsProvider> StaticProvider(AwsCredentials keys);
// The first provider that has credentials. A provider's error other than
// kNotFound stops the chain (a broken source is reported, not skipped).
std::unique_ptr<CredentialsProvider> ChainProvider(
    std::vector<std::unique_ptr<CredentialsProvider>> providers);

// Caches what a provider fetched and fetches again `refresh_before` ahead of
// the expiry, so no request is signed with credentials about to lapse. If a
// refresh fails while the old credentials are still valid they are used
// (with a warning) until they expire. Thread-safe.
class CredentialsCache {
 public:
  explicit CredentialsCache(std::unique_ptr<CredentialsProvider> provider,
                            std::chrono::seconds refresh_before = std::chrono::minutes(5),
                            std::function<Clock::time_point()> now = Clock::now);
  Result<AwsCredentials> Get();
  std::string Describe() const { return provider_->Describe(); }
  uint64_t fetches() const;  // how often the provider was asked (for tests and metrics)

 private:
  std::unique_ptr<CredentialsProvider> provider_;
  const std::chrono::seconds refresh_before_;
  const std::function<Clock::time_point()> now_;
  mutable std::mutex mu_;
  std::optional<Credentials> cached_;  // guarded by mu_
  uint64_t fetches_ = 0;               // guarded by mu_
};

std::shared_ptr<CredentialsCache> StaticCredentials(AwsCredentials keys);

}  // namespace ferry
