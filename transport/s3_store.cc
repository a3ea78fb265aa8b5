#include "transport/s3_store.h"

#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>

#include "crypto/hash.h"
#include "util/log.h"

namespace ferry {

namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// Minimal INI reader for ~/.aws/{credentials,config}: section -> key -> value.
std::map<std::string, std::map<std::string, std::string>> ReadIni(const std::string& path) {
  std::map<std::string, std::map<std::string, std::string>> out;
  std::ifstream in(path);
  std::string line, section;
  auto trim = [](std::string s) {
    size_t a = s.find_first_not_of(" \t\r"), b = s.find_last_not_of(" \t\r");
    return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
  };
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      section = trim(line.substr(1, line.size() - 2));
      if (section.rfind("profile ", 0) == 0) section = trim(section.substr(8));
      continue;
    }
    size_t eq = line.find('=');
    if (eq != std::string::npos) out[section][trim(line.substr(0, eq))] = trim(line.substr(eq + 1));
  }
  return out;
}

}  // namespace

Result<S3Config> S3ConfigFromEnvironment(const StoreOptions& opts) {
  S3Config c;
  std::string home = Env("HOME");
  std::string profile = Env("AWS_PROFILE").empty() ? "default" : Env("AWS_PROFILE");
  std::string cred_file = Env("AWS_SHARED_CREDENTIALS_FILE").empty()
                              ? home + "/.aws/credentials"
                              : Env("AWS_SHARED_CREDENTIALS_FILE");
  std::string conf_file =
      Env("AWS_CONFIG_FILE").empty() ? home + "/.aws/config" : Env("AWS_CONFIG_FILE");
  auto creds = ReadIni(cred_file);
  auto conf = ReadIni(conf_file);
  c.creds.access_key_id = Env("AWS_ACCESS_KEY_ID");
  c.creds.secret_access_key = Env("AWS_SECRET_ACCESS_KEY");
  c.creds.session_token = Env("AWS_SESSION_TOKEN");
  if (c.creds.access_key_id.empty()) {
    auto& p = creds[profile];
    c.creds.access_key_id = p["aws_access_key_id"];
    c.creds.secret_access_key = p["aws_secret_access_key"];
    c.creds.session_token = p["aws_session_token"];
  }
  if (c.creds.access_key_id.empty() || c.creds.secret_access_key.empty())
    return Status::Auth(
        "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE "
        "with " +
        cred_file);
  c.region = !Env("AWS_REGION").empty()           ? Env("AWS_REGION")
             : !Env("AWS_DEFAULT_REGION").empty() ? Env("AWS_DEFAULT_REGION")
             : !conf[profile]["region"].empty()   ? conf[profile]["region"]
                                                  : "us-east-1";
  c.endpoint = !opts.endpoint_url.empty()               ? opts.endpoint_url
               : !Env("AWS_ENDPOINT_URL_S3").empty()    ? Env("AWS_ENDPOINT_URL_S3")
               : !Env("AWS_ENDPOINT_URL").empty()       ? Env("AWS_ENDPOINT_URL")
               : !conf[profile]["endpoint_url"].empty() ? conf[profile]["endpoint_url"]
                                                        : "";
  if (c.endpoint.empty()) {
    c.endpoint = "https://s3." + c.region + ".amazonaws.com";
    c.path_style = false;  // AWS: virtual-hosted buckets
  } else {
    c.path_style = true;  // other servers: bucket in the path
  }
  c.ca_bundle = !opts.ca_bundle.empty() ? opts.ca_bundle : Env("AWS_CA_BUNDLE");
  c.verify_tls = !opts.no_verify_ssl;
  if (!c.verify_tls)
    LogWarn(
        "TLS certificate verification is OFF (--no-verify-ssl): anyone on the path can read and "
        "change what is sent");
  return c;
}

S3Store::S3Store(std::shared_ptr<S3Client> client, std::string bucket, std::string prefix)
    : client_(std::move(client)), bucket_(std::move(bucket)), prefix_(std::move(prefix)) {
  if (!prefix_.empty() && prefix_.back() != '/') prefix_ += '/';
}

Status S3Store::Put(std::string_view key, std::string_view data) {
  return client_->PutObject(bucket_, Key(key), data);
}

Result<std::string> S3Store::Get(std::string_view key) {
  return client_->GetObject(bucket_, Key(key));
}

Result<uint64_t> S3Store::Size(std::string_view key) {
  ASSIGN_OR_RETURN(auto info, client_->HeadObject(bucket_, Key(key)));
  return info.size;
}

Result<std::vector<std::string>> S3Store::List(std::string_view prefix) {
  ASSIGN_OR_RETURN(auto keys, client_->ListObjects(bucket_, Key(prefix)));
  for (auto& k : keys) k = k.substr(prefix_.size());
  return keys;
}

Status S3Store::Delete(std::string_view key) { return client_->DeleteObject(bucket_, Key(key)); }

Status S3Store::ReplaceIf(std::string_view key, const std::optional<std::string>& expected,
                          std::string_view data) {
  std::string etag;
  auto current = client_->GetObject(bucket_, Key(key), &etag);
  if (!current.ok() && current.status().code() != Code::kNotFound) return current.take_status();
  std::optional<std::string> now;
  if (current.ok()) now = std::move(*current);
  std::string what = Describe() + std::string(key);
  if (now != expected) return Status::Conflict(what + " was changed by another writer");
  // The write happens only if nobody wrote in between (412 -> kConflict).
  if (!now) return client_->PutObject(bucket_, Key(key), data, {{"if-none-match", "*"}});
  if (etag.empty()) return Status::StoreUnavailable("GET " + what + ": no ETag");
  Status st = client_->PutObject(bucket_, Key(key), data, {{"if-match", etag}});
  if (st.code() != Code::kConflict) return st;
  // RGW 16 matches If-Match only against the ETag without its quotes (AWS
  // takes the quoted form): if the object is still the one read, say it so.
  std::string again;
  auto still = client_->GetObject(bucket_, Key(key), &again);
  if (!still.ok() || again != etag || *still != *now) return st;
  std::string bare = etag;
  if (bare.size() >= 2 && bare.front() == '"' && bare.back() == '"')
    bare = bare.substr(1, bare.size() - 2);
  if (bare != etag) st = client_->PutObject(bucket_, Key(key), data, {{"if-match", bare}});
  if (st.code() != Code::kConflict) return st;
  // Still unchanged, and the server refuses both forms: it does not evaluate
  // If-Match here (RGW 16 on a versioned bucket answers 412 to every one).
  // Write without the condition, and say what that costs.
  still = client_->GetObject(bucket_, Key(key), &again);
  if (!still.ok() || again != etag || *still != *now) return st;
  static std::once_flag warned;
  std::call_once(warned, [&] {
    LogWarn("the server refuses every conditional write to " + what +
            " (RGW 16 does so on versioned buckets): refs there are updated without "
            "compare-and-swap, so two pushes to one ref at the same moment can drop one build "
            "from the ref's history (its manifest stays in the store)");
  });
  return client_->PutObject(bucket_, Key(key), data);
}

}  // namespace ferry
