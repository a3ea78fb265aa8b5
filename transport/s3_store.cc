#include "transport/s3_store.h"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>

#include "crypto/hash.h"
#include "transport/aws/config.h"
#include "transport/aws/credentials.h"
#include "transport/s3_rules.h"
#include "util/log.h"
#include "util/units.h"

namespace ferry {

Status ParseBwLimit(const std::string& text, double* up, double* down) {
  auto one = [&](const std::string& t, double* out) -> Status {
    if (t.empty() || t == "off") {
      *out = 0;
      return Status::OK();
    }
    if (!ParseWithUnit(t, {{'K', 1024.0}, {'M', 1024.0 * 1024}, {'G', 1024.0 * 1024 * 1024}}, out))
      return Status::Usage(
          "--bwlimit takes a rate in bytes per second such as 50M, 512K or UP:DOWN (got '" + text +
          "')");
    return Status::OK();
  };
  const size_t colon = text.find(':');
  RETURN_IF_ERROR(one(text.substr(0, colon), up));
  return one(colon == std::string::npos ? text : text.substr(colon + 1), down);
}

Result<S3Config> S3ConfigFromEnvironment(const StoreOptions& opts) {
  S3Config c;
  double up = 0, down = 0;
  RETURN_IF_ERROR(ParseBwLimit(opts.bwlimit, &up, &down));
  if (up > 0) c.upload_limit = std::make_shared<RateLimiter>(up);
  if (down > 0) c.download_limit = std::make_shared<RateLimiter>(down);
  const AwsFiles files = AwsFilesFromEnvironment();
  const std::string& profile = files.profile;
  auto conf = ReadIni(files.config_path);
  c.region = !Env("AWS_REGION").empty()           ? Env("AWS_REGION")
             : !Env("AWS_DEFAULT_REGION").empty() ? Env("AWS_DEFAULT_REGION")
             : !conf[profile]["region"].empty()   ? conf[profile]["region"]
                                                  : "us-east-1";
  c.credentials = std::make_shared<CredentialsCache>(DefaultChain(files, c.region));
  // Fail before anything is opened or created, naming every source tried.
  RETURN_IF_ERROR(c.credentials->Get().status());
  LogDebug("AWS credentials from " + c.credentials->source());
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
  c.cancel = opts.cancel;
  c.read_only = opts.read_only;
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

Result<std::string> S3Store::GetRange(std::string_view key, uint64_t offset, uint64_t n) {
  if (n == 0) return std::string();
  return client_->GetRange(bucket_, Key(key), offset, n);
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
  // RGW 16 matches If-Match only against the ETag without its quotes (AWS
  // takes the quoted form). The form that worked once is tried first after.
  const std::string bare = UnquoteEtag(etag);
  const bool bare_first = bare_if_match_.load() && bare != etag;
  Status st = client_->PutObject(bucket_, Key(key), data, {{"if-match", bare_first ? bare : etag}});
  if (st.code() != Code::kConflict) return st;
  // A 412: if the object is still the one read, try the other form.
  std::string again;
  auto still = client_->GetObject(bucket_, Key(key), &again);
  if (!still.ok() || again != etag || *still != *now) return st;
  if (bare != etag) {
    st = client_->PutObject(bucket_, Key(key), data, {{"if-match", bare_first ? etag : bare}});
    if (st.ok()) bare_if_match_ = !bare_first;
  }
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

Status S3Store::SweepAbandoned(double older_than, bool dry_run, std::vector<Abandoned>* found) {
  ASSIGN_OR_RETURN(auto uploads, client_->ListMultipartUploads(bucket_, prefix_));
  const auto now = Clock::now();
  for (const auto& u : uploads) {
    auto started = ParseAwsTime(u.initiated);
    if (!started.ok()) continue;  // an age unknown is never old enough
    const double age = std::chrono::duration<double>(now - *started).count();
    if (age < older_than) continue;
    found->push_back({"s3://" + bucket_ + "/" + u.key + " (upload " + u.upload_id + ")", 0, age});
    if (!dry_run) RETURN_IF_ERROR(client_->AbortMultipartUpload(bucket_, u.key, u.upload_id));
  }
  return Status::OK();
}

}  // namespace ferry
