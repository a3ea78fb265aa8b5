#include "transport/s3_rules.h"

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

}  // namespace ferry
