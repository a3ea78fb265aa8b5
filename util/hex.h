// Lower-case hex encoding of byte strings (hash IDs in keys and reports).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ferry {

std::string ToHex(const uint8_t* data, size_t n);
inline std::string ToHex(std::string_view s) {
  return ToHex(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}
// Decodes lower- or upper-case hex; nullopt on odd length or a non-hex char.
std::optional<std::string> FromHex(std::string_view hex);

// Every byte but [A-Za-z0-9._-] as %XX (upper-case): a name that is safe as
// one file name or key component and in a space-separated line.
std::string PercentEncode(std::string_view s);
// The inverse; nullopt on a '%' not followed by two hex digits.
std::optional<std::string> PercentDecode(std::string_view s);

}  // namespace ferry
