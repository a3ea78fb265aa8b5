// Credentials that come from another service and expire: container
// credentials (ECS, CodeBuild, EKS Pod Identity), EC2 instance metadata
// (IMDSv2), STS AssumeRoleWithWebIdentity (GitHub and GitLab OIDC, EKS
// IRSA), and credential_process. Each answers kNotFound, saying why, when
// its source is not configured here, so the chain can name every source it
// tried.
#include <sys/wait.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <pugixml.hpp>
#include <sstream>

#include "crypto/hash.h"
#include "transport/aws/config.h"
#include "transport/aws/credentials.h"
#include "transport/aws/http.h"
#include "transport/sigv4.h"

namespace ferry {

namespace {

std::string UrlEncode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// The JSON credentials document that containers, instance metadata and
// credential_process answer with ("Token" or "SessionToken").
Result<Credentials> FromJson(const std::string& body, const std::string& source) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("AccessKeyId") || !j.contains("SecretAccessKey"))
    return Status::Auth(source + " answered without AccessKeyId and SecretAccessKey");
  Credentials c;
  c.source = source;
  c.keys.access_key_id = j.value("AccessKeyId", "");
  c.keys.secret_access_key = j.value("SecretAccessKey", "");
  c.keys.session_token = j.value("Token", j.value("SessionToken", ""));
  if (j.contains("Expiration") && j["Expiration"].is_string()) {
    auto t = ParseAwsTime(j["Expiration"].get<std::string>());
    if (!t.ok()) return t.status().WithContext(source);
    c.expiry = *t;
  }
  return c;
}

bool LoopbackOrContainerHost(const std::string& url) {
  for (const char* p : {"http://127.", "http://localhost:", "http://localhost/", "http://[::1]",
                        "http://169.254.170.2", "http://169.254.170.23"})
    if (url.rfind(p, 0) == 0) return true;
  return false;
}

class Container final : public CredentialsProvider {
 public:
  Result<Credentials> Fetch() override {
    std::string url;
    if (!Env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").empty())
      url = "http://169.254.170.2" + Env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    else
      url = Env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    if (url.empty())
      return Status::NotFound(
          "container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and _FULL_URI are not set");
    if (url.rfind("https://", 0) != 0 && !LoopbackOrContainerHost(url))
      return Status::Auth("container: AWS_CONTAINER_CREDENTIALS_FULL_URI " + url +
                          " must be https, or http on a loopback or container-agent address");
    std::vector<std::pair<std::string, std::string>> headers;
    std::string token = Env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    if (const std::string file = Env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"); !file.empty()) {
      std::ifstream in(file);
      if (!in)
        return Status::Auth("container: cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE " +
                            file);
      std::getline(in, token);  // read again at every refresh: the agent rotates it
    }
    if (!token.empty()) headers.emplace_back("Authorization", token);
    ASSIGN_OR_RETURN(HttpReply r, HttpRequest("GET", url, headers, "", 2000));
    if (r.status != 200)
      return Status::Auth("container credentials endpoint " + url + " answered HTTP " +
                          std::to_string(r.status));
    return FromJson(r.body, Describe());
  }
  std::string Describe() const override { return "container credentials"; }
};

class InstanceMetadata final : public CredentialsProvider {
 public:
  Result<Credentials> Fetch() override {
    if (Env("AWS_EC2_METADATA_DISABLED") == "true")
      return Status::NotFound("instance metadata: AWS_EC2_METADATA_DISABLED=true");
    std::string base = Env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    if (base.empty()) base = "http://169.254.169.254";
    while (!base.empty() && base.back() == '/') base.pop_back();
    // IMDSv2: a session token first (short timeouts: off EC2 this ends fast).
    auto tok = HttpRequest("PUT", base + "/latest/api/token",
                           {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}}, "", 1000);
    if (!tok.ok() || tok->status != 200)
      return Status::NotFound("instance metadata: no IMDSv2 answer from " + base +
                              " within 1 s (not on EC2, or the hop limit is too low)");
    const std::vector<std::pair<std::string, std::string>> h = {
        {"X-aws-ec2-metadata-token", tok->body}};
    const std::string list = base + "/latest/meta-data/iam/security-credentials/";
    ASSIGN_OR_RETURN(HttpReply roles, HttpRequest("GET", list, h, "", 1000));
    if (roles.status == 404)
      return Status::NotFound("instance metadata: no IAM role is attached to this instance");
    std::string role = roles.body.substr(0, roles.body.find('\n'));
    if (roles.status != 200 || role.empty())
      return Status::Auth("instance metadata: " + list + " answered HTTP " +
                          std::to_string(roles.status));
    ASSIGN_OR_RETURN(HttpReply r, HttpRequest("GET", list + role, h, "", 1000));
    if (r.status != 200)
      return Status::Auth("instance metadata: the credentials of role " + role + " answered HTTP " +
                          std::to_string(r.status));
    return FromJson(r.body, "instance metadata (role " + role + ")");
  }
  std::string Describe() const override { return "instance metadata (IMDSv2)"; }
};

// The credentials in an STS answer (AssumeRole, AssumeRoleWithWebIdentity),
// or an auth error with STS's own code and message.
Result<Credentials> StsCredentials(const HttpReply& r, const std::string& action,
                                   const std::string& sts, const std::string& role,
                                   const std::string& source) {
  pugi::xml_document doc;
  doc.load_string(r.body.c_str());
  if (r.status != 200) {
    auto err = doc.select_node("//Error");
    std::string code = err ? err.node().child_value("Code") : "";
    std::string msg = err ? err.node().child_value("Message") : "";
    return Status::Auth("STS " + action + " at " + sts + " for " + role + " failed: HTTP " +
                        std::to_string(r.status) + (code.empty() ? "" : " " + code) +
                        (msg.empty() ? "" : ": " + msg));
  }
  auto cn = doc.select_node("//Credentials");
  if (!cn) return Status::Auth("STS at " + sts + " answered without Credentials");
  Credentials c;
  c.source = source;
  c.keys.access_key_id = cn.node().child_value("AccessKeyId");
  c.keys.secret_access_key = cn.node().child_value("SecretAccessKey");
  c.keys.session_token = cn.node().child_value("SessionToken");
  if (c.keys.access_key_id.empty() || c.keys.secret_access_key.empty())
    return Status::Auth("STS at " + sts + " answered without AccessKeyId or SecretAccessKey");
  if (std::string e = cn.node().child_value("Expiration"); !e.empty()) {
    ASSIGN_OR_RETURN(c.expiry, ParseAwsTime(e));
  }
  return c;
}

class WebIdentity final : public CredentialsProvider {
 public:
  WebIdentity(std::string token_file, std::string role_arn, std::string session, std::string sts,
              std::string where)
      : token_file_(std::move(token_file)),
        role_arn_(std::move(role_arn)),
        session_(std::move(session)),
        sts_(std::move(sts)),
        where_(std::move(where)) {}

  Result<Credentials> Fetch() override {
    if (token_file_.empty())
      return Status::NotFound("web identity: AWS_WEB_IDENTITY_TOKEN_FILE is not set");
    if (role_arn_.empty())
      return Status::Auth("web identity (" + where_ + "): a token file is set but no role ARN " +
                          "(AWS_ROLE_ARN or role_arn)");
    std::ifstream in(token_file_);  // read again at every refresh: the token rotates
    std::stringstream ss;
    ss << in.rdbuf();
    std::string token = ss.str();
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
    if (!in || token.empty())
      return Status::Auth("web identity: cannot read the token file " + token_file_);
    const std::string body =
        "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=" + UrlEncode(role_arn_) +
        "&RoleSessionName=" + UrlEncode(session_) + "&WebIdentityToken=" + UrlEncode(token);
    ASSIGN_OR_RETURN(
        HttpReply r,
        HttpRequest("POST", sts_, {{"Content-Type", "application/x-www-form-urlencoded"}}, body,
                    10000));
    return StsCredentials(r, "AssumeRoleWithWebIdentity", sts_, role_arn_, Describe());
  }
  std::string Describe() const override {
    return "web identity (" + where_ + (role_arn_.empty() ? "" : ", role " + role_arn_) + ")";
  }

 private:
  std::string token_file_, role_arn_, session_, sts_, where_;
};

// STS AssumeRole, signed (SigV4, service "sts") with the source's credentials.
class AssumeRole final : public CredentialsProvider {
 public:
  AssumeRole(std::unique_ptr<CredentialsProvider> source, std::string role_arn, std::string session,
             std::string external_id, std::string sts, std::string region, std::string where)
      : source_(std::move(source)),
        role_arn_(std::move(role_arn)),
        session_(std::move(session)),
        external_id_(std::move(external_id)),
        sts_(std::move(sts)),
        region_(std::move(region)),
        where_(std::move(where)) {}

  Result<Credentials> Fetch() override {
    auto src = source_->Fetch();
    if (!src.ok())
      return Status::Auth(where_ + ": the credentials to assume " + role_arn_ + " with (" +
                          source_->Describe() + "): " + src.status().message());
    std::string body = "Action=AssumeRole&Version=2011-06-15&RoleArn=" + UrlEncode(role_arn_) +
                       "&RoleSessionName=" + UrlEncode(session_);
    if (!external_id_.empty()) body += "&ExternalId=" + UrlEncode(external_id_);
    const std::string rest =
        sts_.substr(sts_.find("://") == std::string::npos ? 0 : sts_.find("://") + 3);
    const std::string host = rest.substr(0, rest.find('/'));
    const std::string path =
        rest.find('/') == std::string::npos ? "/" : rest.substr(rest.find('/'));
    const std::string date = AmzDate(time(nullptr));
    SigV4Request req{"POST",
                     path,
                     {},
                     {{"content-type", "application/x-www-form-urlencoded"},
                      {"host", host},
                      {"x-amz-date", date}},
                     DigestHex(Sha256::Of(body))};
    if (!src->keys.session_token.empty())
      req.headers.emplace_back("x-amz-security-token", src->keys.session_token);
    SigV4Result sig = SignV4(req, src->keys, region_, "sts", date);
    std::vector<std::pair<std::string, std::string>> headers;
    for (const auto& [k, v] : req.headers)
      if (k != "host") headers.emplace_back(k, v);
    headers.emplace_back("Authorization", sig.authorization);
    ASSIGN_OR_RETURN(HttpReply r, HttpRequest("POST", sts_, headers, body, 10000));
    return StsCredentials(r, "AssumeRole", sts_, role_arn_, Describe());
  }
  std::string Describe() const override {
    return "assumed role " + role_arn_ + " (" + where_ + ")";
  }

 private:
  std::unique_ptr<CredentialsProvider> source_;
  std::string role_arn_, session_, external_id_, sts_, region_, where_;
};

class Process final : public CredentialsProvider {
 public:
  Process(std::string command, std::string where)
      : command_(std::move(command)), where_(std::move(where)) {}
  Result<Credentials> Fetch() override {
    FILE* p = popen(command_.c_str(), "r");
    if (!p) return Status::Auth("credential_process (" + where_ + ") could not be started");
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int st = pclose(p);
    if (st != 0)
      return Status::Auth("credential_process (" + where_ + ") exited with status " +
                          std::to_string(WIFEXITED(st) ? WEXITSTATUS(st) : st) +
                          "; run it by hand to see why");
    return FromJson(out, Describe());
  }
  std::string Describe() const override { return "credential_process (" + where_ + ")"; }

 private:
  std::string command_, where_;
};

}  // namespace

Result<Clock::time_point> ParseAwsTime(const std::string& s) {
  struct tm tm = {};
  int y, mo, d, h, mi;
  double sec;
  char z = 0;
  if (std::sscanf(s.c_str(), "%d-%d-%dT%d:%d:%lf%c", &y, &mo, &d, &h, &mi, &sec, &z) < 6 ||
      (z != 'Z' && z != '+' && z != 0))
    return Status::Auth("unreadable expiration time '" + s + "' (want 2026-12-02T08:00:00Z)");
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = static_cast<int>(sec);
  return Clock::from_time_t(timegm(&tm));
}

std::unique_ptr<CredentialsProvider> ContainerProvider() { return std::make_unique<Container>(); }
std::unique_ptr<CredentialsProvider> InstanceMetadataProvider() {
  return std::make_unique<InstanceMetadata>();
}
std::unique_ptr<CredentialsProvider> WebIdentityProvider(std::string token_file,
                                                         std::string role_arn,
                                                         std::string session_name,
                                                         std::string sts_endpoint,
                                                         std::string where) {
  if (session_name.empty()) session_name = "ferry-" + std::to_string(time(nullptr));
  return std::make_unique<WebIdentity>(std::move(token_file), std::move(role_arn),
                                       std::move(session_name), std::move(sts_endpoint),
                                       std::move(where));
}
std::unique_ptr<CredentialsProvider> AssumeRoleProvider(
    std::unique_ptr<CredentialsProvider> source, std::string role_arn, std::string session_name,
    std::string external_id, std::string sts_endpoint, std::string region, std::string where) {
  if (session_name.empty()) session_name = "ferry-" + std::to_string(time(nullptr));
  return std::make_unique<AssumeRole>(std::move(source), std::move(role_arn),
                                      std::move(session_name), std::move(external_id),
                                      std::move(sts_endpoint), std::move(region), std::move(where));
}
std::unique_ptr<CredentialsProvider> ProcessProvider(std::string command, std::string where) {
  return std::make_unique<Process>(std::move(command), std::move(where));
}

std::string StsEndpoint(const std::string& region) {
  if (!Env("AWS_ENDPOINT_URL_STS").empty()) return Env("AWS_ENDPOINT_URL_STS");
  if (!Env("AWS_ENDPOINT_URL").empty()) return Env("AWS_ENDPOINT_URL");
  return "https://sts." + region + ".amazonaws.com";
}

}  // namespace ferry
