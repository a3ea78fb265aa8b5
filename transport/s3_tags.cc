#include "transport/s3_tags.h"

#include <map>

#include "crypto/hash.h"
#include "transport/sigv4.h"

namespace ferry {

bool IsS3TagText(std::string_view s, size_t max_chars) {
  if (max_chars == 128 && (s.empty() || s.rfind("aws:", 0) == 0)) return false;
  size_t chars = 0;
  for (unsigned char c : s) {
    if ((c & 0xc0) != 0x80) chars++;  // not a UTF-8 continuation byte
    if (c >= 0x80 || std::isalnum(c)) continue;
    if (std::string_view(" +-=._:/@").find(static_cast<char>(c)) == std::string_view::npos)
      return false;
  }
  return chars <= max_chars;
}

std::string MetadataName(std::string_view key) {
  std::string name;
  for (unsigned char c : key)
    name += std::isalnum(c) && c < 0x80 ? static_cast<char>(std::tolower(c)) : '-';
  return name;
}

std::string MetadataValue(std::string_view value) {
  bool ascii = true;
  for (unsigned char c : value) ascii &= c >= 0x20 && c < 0x7f;
  if (ascii) return std::string(value);
  return "=?UTF-8?B?" + Base64(value) + "?=";
}

namespace {
bool HasControl(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}
}  // namespace

Status ValidateTags(const std::vector<std::pair<std::string, std::string>>& tags, bool metadata,
                    const std::vector<std::pair<std::string, std::string>>& extra) {
  std::map<std::string, std::string> names;  // metadata name -> tag key
  size_t bytes = 0;
  for (const auto& [k, v] : extra) bytes += k.size() + v.size();
  for (const auto& [k, v] : tags) {
    if (k.empty()) return Status::Usage("--tag needs key=value with a non-empty key");
    if (k.rfind("ferry.", 0) == 0)
      return Status::Usage("--tag " + k + ": keys starting with 'ferry.' are Ferry's own");
    if (HasControl(k) || HasControl(v))
      return Status::Usage("--tag " + k +
                           ": the key or value holds a newline or other control character, "
                           "which S3 metadata cannot carry; remove it (e.g. tr -d '\\n')");
    auto [it, fresh] = names.emplace(MetadataName(k), k);
    if (!fresh)
      return Status::Usage("--tag " + k + " and --tag " + it->second +
                           " would both be the object metadata x-amz-meta-" + it->first +
                           "; rename one");
    bytes += MetadataName(k).size() + MetadataValue(v).size();
  }
  if (metadata && bytes > kMaxS3MetadataBytes)
    return Status::Usage("the tags take " + std::to_string(bytes) +
                         " bytes of S3 object metadata, more than the " +
                         std::to_string(kMaxS3MetadataBytes) +
                         " S3 keeps on an object; shorten or drop some --tag values");
  return Status::OK();
}

std::vector<std::pair<std::string, std::string>> S3ObjectTags(
    const std::vector<std::pair<std::string, std::string>>& tags,
    std::vector<std::string>* omitted) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [k, v] : tags) {
    if (!IsS3TagText(k, 128) || !IsS3TagText(v, 256)) {
      if (omitted) omitted->push_back(k + " (S3 tags allow letters, digits, spaces and +-=._:/@)");
    } else if (out.size() == kMaxS3Tags) {
      if (omitted) omitted->push_back(k + " (past S3's 10 tags an object)");
    } else {
      out.emplace_back(k, v);
    }
  }
  return out;
}

std::string TaggingHeader(const std::vector<std::pair<std::string, std::string>>& tags) {
  std::string h;
  for (const auto& [k, v] : tags)
    h += (h.empty() ? "" : "&") + UriEncode(k, true) + "=" + UriEncode(v, true);
  return h;
}

std::vector<std::pair<std::string, std::string>> MetadataHeaders(
    const std::vector<std::pair<std::string, std::string>>& tags, const std::string& ref) {
  std::vector<std::pair<std::string, std::string>> h;
  for (const auto& [k, v] : tags) h.emplace_back("x-amz-meta-" + MetadataName(k), MetadataValue(v));
  if (!ref.empty()) h.emplace_back("x-amz-meta-ferry-ref", ref);
  return h;
}

}  // namespace ferry
