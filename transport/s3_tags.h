// S3's rules for user metadata and object tags, and how Ferry's --tag
// key=value pairs are carried by them (docs/store-format.md, "Tags on S3").
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/status.h"

namespace ferry {

// S3 keeps at most 10 tags on an object.
inline constexpr size_t kMaxS3Tags = 10;
// S3 keeps at most 2 KB of user metadata (names and values) on an object.
inline constexpr size_t kMaxS3MetadataBytes = 2048;

// Whether S3 accepts `s` as an object tag key (max_chars 128, non-empty) or
// value (max_chars 256, may be empty): letters (any non-ASCII UTF-8 counts as
// one), digits, spaces and + - = . _ : / @; keys starting with "aws:" are AWS's.
bool IsS3TagText(std::string_view s, size_t max_chars);

// The x-amz-meta-<name> a tag key becomes: lower-case letters and digits, any
// other byte '-'.
std::string MetadataName(std::string_view key);

// A value as an HTTP header value: as it is if printable ASCII, else RFC 2047
// encoded (=?UTF-8?B?...?=), as S3 asks for non-ASCII user metadata.
std::string MetadataValue(std::string_view value);

// --tag k=v as object metadata (x-amz-meta-k) for every object of a push,
// and x-amz-meta-ferry-ref if `ref` is not empty.
std::vector<std::pair<std::string, std::string>> MetadataHeaders(
    const std::vector<std::pair<std::string, std::string>>& tags, const std::string& ref);

// Checks --tag pairs before any request: a usage error naming the tag for an
// empty key, a control character (newline, tab) in a key or value, two keys
// that become the same metadata name, or (mirrors: `metadata` true) more user
// metadata than S3 keeps. `extra` is metadata Ferry adds itself.
Status ValidateTags(const std::vector<std::pair<std::string, std::string>>& tags, bool metadata,
                    const std::vector<std::pair<std::string, std::string>>& extra = {});

// The tags S3 object tags can carry: the first kMaxS3Tags that IsS3TagText
// accepts; `omitted` gets "key (why)" for each of the others.
std::vector<std::pair<std::string, std::string>> S3ObjectTags(
    const std::vector<std::pair<std::string, std::string>>& tags,
    std::vector<std::string>* omitted);

// The x-amz-tagging header value for `tags` ("k=v&k2=v2", URL-encoded).
std::string TaggingHeader(const std::vector<std::pair<std::string, std::string>>& tags);

}  // namespace ferry
