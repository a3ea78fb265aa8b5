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

#include "transport/aws/config.h"
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
// The profile of `files` in both shared files: static keys in the
// credentials file (or the config file), else in the config file
// credential_process, web_identity_token_file with role_arn, or role_arn with
// source_profile (another profile, up to 4 deep) or credential_source
// (Environment, Ec2InstanceMetadata, EcsContainer): STS AssumeRole.
std::unique_ptr<CredentialsProvider> SharedFilesProvider(const AwsFiles& files,
                                                         const std::string& region);
// AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (ECS, CodeBuild) or _FULL_URI with
// AWS_CONTAINER_AUTHORIZATION_TOKEN or _TOKEN_FILE (EKS Pod Identity); read
// at every Fetch. A FULL_URI over http must be loopback or the agent's.
std::unique_ptr<CredentialsProvider> ContainerProvider();
// EC2 instance metadata, IMDSv2 only (token PUT, then the role's
// credentials), 1 s timeouts. AWS_EC2_METADATA_SERVICE_ENDPOINT moves it,
// AWS_EC2_METADATA_DISABLED=true turns it off.
std::unique_ptr<CredentialsProvider> InstanceMetadataProvider();
// STS AssumeRoleWithWebIdentity at `sts_endpoint` with the token in
// `token_file` (read again at every refresh). `where` names the setting
// ("AWS_WEB_IDENTITY_TOKEN_FILE", "profile ci in ~/.aws/config").
std::unique_ptr<CredentialsProvider> WebIdentityProvider(std::string token_file,
                                                         std::string role_arn,
                                                         std::string session_name,
                                                         std::string sts_endpoint,
                                                         std::string where);
// STS AssumeRole at `sts_endpoint`, SigV4-signed with `source`'s credentials
// (a profile's source_profile or credential_source); `external_id` may be "".
std::unique_ptr<CredentialsProvider> AssumeRoleProvider(
    std::unique_ptr<CredentialsProvider> source, std::string role_arn, std::string session_name,
    std::string external_id, std::string sts_endpoint, std::string region, std::string where);
// Runs `command` (sh -c) and reads the credentials JSON it prints (Version 1).
std::unique_ptr<CredentialsProvider> ProcessProvider(std::string command, std::string where);
// The chain the AWS SDKs use: environment, web identity from the
// environment, the shared files' profile, container, instance metadata.
std::unique_ptr<CredentialsProvider> DefaultChain(const AwsFiles& files, const std::string& region);
// AWS_ENDPOINT_URL_STS, else AWS_ENDPOINT_URL, else https://sts.REGION.amazonaws.com.
std::string StsEndpoint(const std::string& region);
// "2026-12-02T08:00:00Z" (fractions and +00:00 accepted).
Result<Clock::time_point> ParseAwsTime(const std::string& s);
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
  // Where the current credentials came from ("" before the first Get).
  std::string source() const;
  // When they expire (none: they do not).
  std::optional<Clock::time_point> expiry() const;
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
