#include "transport/aws/credentials.h"

#include "transport/aws/config.h"
#include "util/log.h"

namespace ferry {

namespace {

class Environment final : public CredentialsProvider {
 public:
  Result<Credentials> Fetch() override {
    Credentials c;
    c.keys = {Env("AWS_ACCESS_KEY_ID"), Env("AWS_SECRET_ACCESS_KEY"), Env("AWS_SESSION_TOKEN")};
    c.source = Describe();
    if (c.keys.access_key_id.empty() && c.keys.secret_access_key.empty())
      return Status::NotFound("environment: AWS_ACCESS_KEY_ID is not set");
    if (c.keys.access_key_id.empty() || c.keys.secret_access_key.empty())
      return Status::Auth(std::string("the environment sets ") +
                          (c.keys.access_key_id.empty() ? "AWS_SECRET_ACCESS_KEY but not "
                                                          "AWS_ACCESS_KEY_ID"
                                                        : "AWS_ACCESS_KEY_ID but not "
                                                          "AWS_SECRET_ACCESS_KEY") +
                          ": set both");
    return c;
  }
  std::string Describe() const override { return "environment (AWS_ACCESS_KEY_ID)"; }
};

class Profile final : public CredentialsProvider {
 public:
  Profile(std::string path, std::string profile)
      : path_(std::move(path)), profile_(std::move(profile)) {}
  Result<Credentials> Fetch() override {
    IniFile ini = ReadIni(path_);
    auto it = ini.find(profile_);
    if (it == ini.end()) return Status::NotFound("profile " + profile_ + ": not in " + path_);
    auto& p = it->second;
    Credentials c;
    c.keys = {p["aws_access_key_id"], p["aws_secret_access_key"], p["aws_session_token"]};
    c.source = Describe();
    if (c.keys.access_key_id.empty() || c.keys.secret_access_key.empty())
      return Status::Auth("profile " + profile_ + " in " + path_ +
                          " lacks aws_access_key_id or aws_secret_access_key");
    return c;
  }
  std::string Describe() const override { return "profile " + profile_ + " in " + path_; }

 private:
  std::string path_, profile_;
};

class Fixed final : public CredentialsProvider {
 public:
  explicit Fixed(AwsCredentials keys) : keys_(std::move(keys)) {}
  Result<Credentials> Fetch() override { return Credentials{keys_, std::nullopt, Describe()}; }
  std::string Describe() const override { return "given credentials"; }

 private:
  AwsCredentials keys_;
};

class Chain final : public CredentialsProvider {
 public:
  explicit Chain(std::vector<std::unique_ptr<CredentialsProvider>> providers)
      : providers_(std::move(providers)) {}
  Result<Credentials> Fetch() override {
    std::string tried;
    for (const auto& p : providers_) {
      auto c = p->Fetch();
      if (c.ok() || c.status().code() != Code::kNotFound) return c;
      tried += "\n  - " + c.status().message();
    }
    return Status::Auth(
        "no AWS credentials found; tried, in order:" + tried +
        "\nset AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run where a role is "
        "provided (web identity, container, instance)");
  }
  std::string Describe() const override {
    std::string d;
    for (const auto& p : providers_) d += (d.empty() ? "" : ", ") + p->Describe();
    return d;
  }

 private:
  std::vector<std::unique_ptr<CredentialsProvider>> providers_;
};

class SharedFiles final : public CredentialsProvider {
 public:
  SharedFiles(AwsFiles files, std::string region, int depth = 0)
      : files_(std::move(files)), region_(std::move(region)), depth_(depth) {}
  Result<Credentials> Fetch() override {
    auto st = ProfileProvider(files_.credentials_path, files_.profile)->Fetch();
    if (st.ok() || st.status().code() != Code::kNotFound) return st;
    IniFile conf = ReadIni(files_.config_path);
    auto it = conf.find(files_.profile);
    if (it == conf.end())
      return Status::NotFound("profile " + files_.profile + ": not in " + files_.credentials_path +
                              " or " + files_.config_path);
    auto& p = it->second;
    const std::string where = "profile " + files_.profile + " in " + files_.config_path;
    if (!p["role_arn"].empty() && p["web_identity_token_file"].empty()) return AssumeRole(p, where);
    if (!p["aws_access_key_id"].empty())
      return ProfileProvider(files_.config_path, files_.profile)->Fetch();
    if (!p["credential_process"].empty())
      return ProcessProvider(p["credential_process"], where)->Fetch();
    if (!p["web_identity_token_file"].empty())
      return WebIdentityProvider(p["web_identity_token_file"], p["role_arn"],
                                 p["role_session_name"], StsEndpoint(region_), where)
          ->Fetch();
    return Status::NotFound(where + ": no credentials, credential_process or web identity");
  }
  std::string Describe() const override { return "profile " + files_.profile; }

 private:
  // role_arn with source_profile or credential_source: STS AssumeRole.
  Result<Credentials> AssumeRole(std::map<std::string, std::string>& p, const std::string& where) {
    std::unique_ptr<CredentialsProvider> source;
    if (!p["source_profile"].empty()) {
      if (depth_ >= 4)
        return Status::Auth(where + ": source_profile chains more than 4 deep (a loop?)");
      AwsFiles src = files_;
      src.profile = p["source_profile"];
      // A source profile's own role_arn is assumed too (role chaining), but
      // one that names itself uses its static keys (as the AWS CLI does).
      if (src.profile == files_.profile)
        source = ProfileProvider(files_.credentials_path, src.profile);
      else
        source = std::make_unique<SharedFiles>(src, region_, depth_ + 1);
    } else if (p["credential_source"] == "Environment") {
      source = EnvironmentProvider();
    } else if (p["credential_source"] == "Ec2InstanceMetadata") {
      source = InstanceMetadataProvider();
    } else if (p["credential_source"] == "EcsContainer") {
      source = ContainerProvider();
    } else {
      return Status::Auth(where +
                          " sets role_arn without source_profile or a credential_source "
                          "of Environment, Ec2InstanceMetadata or EcsContainer");
    }
    return AssumeRoleProvider(std::move(source), p["role_arn"], p["role_session_name"],
                              p["external_id"], StsEndpoint(region_), region_, where)
        ->Fetch();
  }

  AwsFiles files_;
  std::string region_;
  int depth_;
};

class EnvWebIdentity final : public CredentialsProvider {
 public:
  explicit EnvWebIdentity(std::string region) : region_(std::move(region)) {}
  Result<Credentials> Fetch() override {
    return WebIdentityProvider(Env("AWS_WEB_IDENTITY_TOKEN_FILE"), Env("AWS_ROLE_ARN"),
                               Env("AWS_ROLE_SESSION_NAME"), StsEndpoint(region_),
                               "AWS_WEB_IDENTITY_TOKEN_FILE")
        ->Fetch();
  }
  std::string Describe() const override { return "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)"; }

 private:
  std::string region_;
};

}  // namespace

std::unique_ptr<CredentialsProvider> EnvironmentProvider() {
  return std::make_unique<Environment>();
}
std::unique_ptr<CredentialsProvider> ProfileProvider(std::string path, std::string profile) {
  return std::make_unique<Profile>(std::move(path), std::move(profile));
}
std::unique_ptr<CredentialsProvider> StaticProvider(AwsCredentials keys) {
  return std::make_unique<Fixed>(std::move(keys));
}
std::unique_ptr<CredentialsProvider> SharedFilesProvider(const AwsFiles& files,
                                                         const std::string& region) {
  return std::make_unique<SharedFiles>(files, region);
}
std::unique_ptr<CredentialsProvider> DefaultChain(const AwsFiles& files,
                                                  const std::string& region) {
  std::vector<std::unique_ptr<CredentialsProvider>> chain;
  chain.push_back(EnvironmentProvider());
  chain.push_back(std::make_unique<EnvWebIdentity>(region));
  chain.push_back(SharedFilesProvider(files, region));
  chain.push_back(ContainerProvider());
  chain.push_back(InstanceMetadataProvider());
  return ChainProvider(std::move(chain));
}
std::unique_ptr<CredentialsProvider> ChainProvider(
    std::vector<std::unique_ptr<CredentialsProvider>> providers) {
  return std::make_unique<Chain>(std::move(providers));
}

CredentialsCache::CredentialsCache(std::unique_ptr<CredentialsProvider> provider,
                                   std::chrono::seconds refresh_before,
                                   std::function<Clock::time_point()> now)
    : provider_(std::move(provider)), refresh_before_(refresh_before), now_(std::move(now)) {}

Result<AwsCredentials> CredentialsCache::Get() {
  std::lock_guard<std::mutex> l(mu_);
  const Clock::time_point now = now_();
  if (cached_ && (!cached_->expiry || now < *cached_->expiry - refresh_before_))
    return cached_->keys;
  fetches_++;
  auto fresh = provider_->Fetch();
  if (fresh.ok()) {
    cached_ = std::move(*fresh);
    return cached_->keys;
  }
  if (cached_ && now < *cached_->expiry) {
    LogWarn("could not refresh AWS credentials from " + cached_->source + " (" +
            fresh.status().message() + "); using the current ones until they expire");
    return cached_->keys;
  }
  Status st = fresh.take_status();
  if (st.code() == Code::kNotFound) st = Status::Auth(st.message());
  return st;
}

std::string CredentialsCache::source() const {
  std::lock_guard<std::mutex> l(mu_);
  return cached_ ? cached_->source : "";
}

std::optional<Clock::time_point> CredentialsCache::expiry() const {
  std::lock_guard<std::mutex> l(mu_);
  return cached_ ? cached_->expiry : std::nullopt;
}

uint64_t CredentialsCache::fetches() const {
  std::lock_guard<std::mutex> l(mu_);
  return fetches_;
}

std::shared_ptr<CredentialsCache> StaticCredentials(AwsCredentials keys) {
  return std::make_shared<CredentialsCache>(StaticProvider(std::move(keys)));
}

}  // namespace ferry
