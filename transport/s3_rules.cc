#include "transport/s3_rules.h"

#include <cctype>
#include <map>

#include "crypto/hash.h"
#include "util/hex.h"

namespace ferry {

bool ParseS3Url(const std::string& url, std::string* bucket, std::string* prefix) {
  if (url.rfind("s3://", 0) != 0) return false;
  std::string rest = url.substr(5);
  size_t slash = rest.find('/');
  std::string b = rest.substr(0, slash);
  if (b.empty()) return false;
  *bucket = b;
  *prefix = S3KeyPrefix(slash == std::string::npos ? "" : rest.substr(slash + 1));
  return true;
}

std::string UnquoteEtag(std::string s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

std::string MultipartEtag(const std::vector<std::string>& part_etags) {
  std::string concat;
  for (const auto& e : part_etags) {
    auto raw = FromHex(UnquoteEtag(e));
    if (!raw) return "";
    concat += *raw;
  }
  return Md5::Hex(concat) + "-" + std::to_string(part_etags.size());
}

std::string ContentTypeFor(const std::string& path) {
  static const std::map<std::string, std::string> kTypes = {
      {"html", "text/html"},
      {"htm", "text/html"},
      {"css", "text/css"},
      {"js", "text/javascript"},
      {"mjs", "text/javascript"},
      {"json", "application/json"},
      {"map", "application/json"},
      {"xml", "application/xml"},
      {"txt", "text/plain"},
      {"md", "text/markdown"},
      {"csv", "text/csv"},
      {"yaml", "application/yaml"},
      {"yml", "application/yaml"},
      {"svg", "image/svg+xml"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},
      {"webp", "image/webp"},
      {"ico", "image/vnd.microsoft.icon"},
      {"woff", "font/woff"},
      {"woff2", "font/woff2"},
      {"ttf", "font/ttf"},
      {"wasm", "application/wasm"},
      {"pdf", "application/pdf"},
      {"zip", "application/zip"},
      {"gz", "application/gzip"},
      {"tgz", "application/gzip"},
      {"tar", "application/x-tar"},
      {"bz2", "application/x-bzip2"},
      {"xz", "application/x-xz"},
      {"zst", "application/zstd"},
      {"jar", "application/java-archive"},
      {"war", "application/java-archive"},
      {"deb", "application/vnd.debian.binary-package"},
      {"rpm", "application/x-rpm"},
      {"sh", "text/x-shellscript"},
      {"wheel", "application/zip"},
      {"whl", "application/zip"}};
  const size_t slash = path.rfind('/'), dot = path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash))
    return "application/octet-stream";
  std::string ext = path.substr(dot + 1);
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto it = kTypes.find(ext);
  return it == kTypes.end() ? "application/octet-stream" : it->second;
}

}  // namespace ferry
