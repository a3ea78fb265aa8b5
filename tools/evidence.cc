#include "tools/evidence.h"

#include <pwd.h>
#include <unistd.h>

#include <set>

#include "engine/destination.h"
#include "transport/s3_store.h"
#include "util/clock.h"
#include "util/text.h"

namespace ferry::cli {

namespace {

// What is signed: the report without its signature, with object keys
// sorted (nlohmann::json, not the ordered_json reports are built in) and no
// whitespace, which parsing and dumping reproduces.
std::string Canonical(json j) {
  j.erase("report_signature");
  return nlohmann::json::parse(j.dump()).dump();
}

json Identity(const Context& ctx, const std::vector<std::string>& urls) {
  bool s3 = false;
  for (const auto& u : urls) s3 |= u.rfind("s3://", 0) == 0;
  if (!s3) return nullptr;
  auto config = S3ConfigFromEnvironment(ctx.store);
  if (!config.ok()) return json{{"error", config.status().message()}};
  auto keys = config->credentials->Get();
  if (!keys.ok()) return json{{"error", keys.status().message()}};
  return json{{"credentials", config->credentials->source()},
              {"access_key_id", keys->access_key_id},
              {"temporary", !keys->session_token.empty()},
              {"endpoint", config->endpoint}};
}

}  // namespace

void AddEvidenceHeader(const Context& ctx, const std::vector<std::string>& urls, json* j) {
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  const passwd* pw = getpwuid(geteuid());
  (*j)["report_format"] = kReportFormat;
  (*j)["ferry_version"] = kFerryVersion;
  (*j)["host"] = host;
  (*j)["os_user"] = pw ? pw->pw_name : std::to_string(geteuid());
  (*j)["identity"] = Identity(ctx, urls);
}

void SignReport(const SigningKey* key, json* j) {
  if (!key) return;
  j->erase("report_signature");
  const std::string body = Canonical(*j);
  (*j)["report_signature"] = {
      {"algorithm", "ed25519"}, {"key", key->id()}, {"signature", Base64Encode(key->Sign(body))}};
}

Result<json> ParseReport(const std::string& text, const std::string& name) {
  // A key given twice in one object is refused: a reader could see the other value.
  std::vector<std::set<std::string>> keys;
  bool duplicate = false;
  auto cb = [&](int, nlohmann::ordered_json::parse_event_t e, nlohmann::ordered_json& v) {
    using E = nlohmann::ordered_json::parse_event_t;
    if (e == E::object_start) keys.emplace_back();
    if (e == E::object_end && !keys.empty()) keys.pop_back();
    if (e == E::key && !keys.empty() && !keys.back().insert(v.get<std::string>()).second)
      duplicate = true;
    return true;
  };
  json j = json::parse(text, cb, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::Untrusted(name + " is not a JSON report");
  if (duplicate)
    return Status::Untrusted(name +
                             " has a key given twice in one object: not a report Ferry wrote");
  return j;
}

Status CheckReportSignature(const json& j, const TrustedKeys& trusted, std::string* key_id) {
  if (!j.is_object() || !j.contains("report_signature"))
    return Status::Untrusted("the report is not signed");
  const json& s = j["report_signature"];
  if (!s.is_object() || s.value("algorithm", "") != "ed25519" || !s.contains("key") ||
      !s["key"].is_string() || !s.contains("signature") || !s["signature"].is_string())
    return Status::Untrusted("the report's signature is malformed");
  *key_id = s["key"].get<std::string>();
  const PublicKey* pub = trusted.Find(*key_id);
  if (!pub)
    return Status::Untrusted("the report is signed by key " + *key_id + ", not a trusted one");
  std::string sig;
  if (!Base64Decode(s["signature"].get<std::string>(), &sig) || !pub->Verify(Canonical(j), sig))
    return Status::Untrusted("the report was altered after key " + *key_id +
                             " signed it (its signature does not verify)");
  return Status::OK();
}

Status StoreReport(ObjectStore* meta, const std::string& dir, int64_t unix_ns,
                   const std::string& tag, const char* field, const SigningKey* key, json* j) {
  std::string when = UtcTime(unix_ns / 1000000000);
  std::erase_if(when, [](char c) { return c == '-' || c == ':'; });
  char ns[16];
  std::snprintf(ns, sizeof ns, ".%09lld", static_cast<long long>(unix_ns % 1000000000));
  when.insert(when.size() - 1, ns);
  const std::string k = dir + "/" + when + (tag.empty() ? "" : "-" + tag) + ".json";
  (*j)[field] = k;
  SignReport(key, j);
  Status st = meta->ReplaceIf(k, std::nullopt, j->dump(2) + "\n");
  if (!st.ok()) {
    (*j)[field] = nullptr;
    SignReport(key, j);
  }
  return st;
}

Result<std::unique_ptr<SigningKey>> LoadReportKey(const std::string& path) {
  if (path.empty()) return std::unique_ptr<SigningKey>();
  auto k = SigningKey::LoadPrivate(path);
  if (!k.ok()) return k.status().WithContext("--sign-key");
  return std::move(*k);
}

Evidence::Evidence() = default;
Evidence::~Evidence() = default;

Status Evidence::Open(const Context& ctx, const std::string& store_url,
                      const std::string& key_path) {
  ASSIGN_OR_RETURN(key_, LoadReportKey(key_path));
  url_ = store_url;
  if (store_url.empty()) return Status::OK();
  auto d = OpenDestination(store_url, OpenMode::kExisting, ctx.store);
  if (!d.ok()) return d.status().WithContext("--evidence-to");
  dest_ = std::move(*d);
  return Status::OK();
}

ObjectStore* Evidence::store() const { return dest_ ? dest_->meta() : nullptr; }

Status Evidence::Finish(const Context& ctx, const std::vector<std::string>& urls,
                        int64_t started_ns, json* j) {
  (*j)["started"] = UtcTime(started_ns / 1000000000);
  (*j)["finished"] = UtcTime(UnixNowNs() / 1000000000);
  std::vector<std::string> all = urls;
  all.push_back(url_);
  AddEvidenceHeader(ctx, all, j);
  if (!dest_) {
    SignReport(key_.get(), j);
    return Status::OK();
  }
  (*j)["evidence"] = nullptr;
  Status st = StoreReport(store(), "audits", started_ns, "", "evidence", key_.get(), j);
  if (!st.ok())
    std::fprintf(stderr, "ferry audit: could not store the evidence in %s: %s\n", url_.c_str(),
                 st.message().c_str());
  return st.WithContext("--evidence-to");
}

}  // namespace ferry::cli
