#include "transport/sigv4.h"

#include <algorithm>
#include <ctime>

#include "crypto/hash.h"
#include "util/hex.h"

namespace ferry {

namespace {

std::string Hmac(const std::string& key, const std::string& data) { return HmacSha256(key, data); }

std::string Trim(const std::string& v) {
  // Trim, and collapse runs of spaces to one (SigV4 canonical header values).
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

std::string UriEncode(const std::string& s, bool encode_slash) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (c == '/' && !encode_slash)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

namespace {

std::string Scope(const std::string& amz_date, const std::string& region,
                  const std::string& service) {
  return amz_date.substr(0, 8) + "/" + region + "/" + service + "/aws4_request";
}

std::string SigningKey(const AwsCredentials& creds, const std::string& amz_date,
                       const std::string& region, const std::string& service) {
  std::string key = Hmac("AWS4" + creds.secret_access_key, amz_date.substr(0, 8));
  key = Hmac(key, region);
  key = Hmac(key, service);
  return Hmac(key, "aws4_request");
}

}  // namespace

std::string SignV4Chunk(const std::string& previous_signature, const std::string& chunk_sha256_hex,
                        const AwsCredentials& creds, const std::string& region,
                        const std::string& service, const std::string& amz_date) {
  static const std::string empty_sha = DigestHex(Sha256::Of("", 0));
  std::string to_sign = "AWS4-HMAC-SHA256-PAYLOAD\n" + amz_date + "\n" +
                        Scope(amz_date, region, service) + "\n" + previous_signature + "\n" +
                        empty_sha + "\n" + chunk_sha256_hex;
  return ToHex(Hmac(SigningKey(creds, amz_date, region, service), to_sign));
}

std::string AmzDate(long long unix_seconds) {
  time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

SigV4Result SignV4(const SigV4Request& req, const AwsCredentials& creds, const std::string& region,
                   const std::string& service, const std::string& amz_date) {
  SigV4Result r;
  // Query: encoded key=value pairs sorted by key, then value.
  std::vector<std::pair<std::string, std::string>> q;
  for (const auto& [k, v] : req.query) q.emplace_back(UriEncode(k, true), UriEncode(v, true));
  std::sort(q.begin(), q.end());
  std::string query;
  for (const auto& [k, v] : q) query += (query.empty() ? "" : "&") + k + "=" + v;
  // Headers: lower-case names, trimmed values, sorted by name.
  std::vector<std::pair<std::string, std::string>> h;
  for (const auto& [k, v] : req.headers) h.emplace_back(Lower(k), Trim(v));
  std::sort(h.begin(), h.end());
  std::string canonical_headers, signed_headers;
  for (const auto& [k, v] : h) {
    canonical_headers += k + ":" + v + "\n";
    signed_headers += (signed_headers.empty() ? "" : ";") + k;
  }
  std::string path = req.path.empty() ? "/" : req.path;
  r.canonical_request = req.method + "\n" + UriEncode(path, false) + "\n" + query + "\n" +
                        canonical_headers + "\n" + signed_headers + "\n" + req.payload_sha256_hex;
  std::string scope = Scope(amz_date, region, service);
  r.string_to_sign = "AWS4-HMAC-SHA256\n" + amz_date + "\n" + scope + "\n" +
                     DigestHex(Sha256::Of(r.canonical_request));
  r.signature = ToHex(Hmac(SigningKey(creds, amz_date, region, service), r.string_to_sign));
  r.authorization = "AWS4-HMAC-SHA256 Credential=" + creds.access_key_id + "/" + scope +
                    ", SignedHeaders=" + signed_headers + ", Signature=" + r.signature;
  return r;
}

}  // namespace ferry
