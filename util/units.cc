#include "util/units.h"

#include <cctype>

namespace ferry {

bool ParseWithUnit(std::string text, const std::vector<std::pair<char, double>>& units,
                   double* out) {
  double factor = 1;
  if (!text.empty())
    for (const auto& [letter, f] : units)
      if (std::tolower(static_cast<unsigned char>(text.back())) ==
          std::tolower(static_cast<unsigned char>(letter))) {
        factor = f;
        text.pop_back();
        break;
      }
  if (text.empty() || !(std::isdigit(static_cast<unsigned char>(text[0])) || text[0] == '.'))
    return false;
  size_t used = 0;
  double v;
  try {
    v = std::stod(text, &used);
  } catch (...) {
    return false;
  }
  if (used != text.size() || v < 0) return false;
  *out = v * factor;
  return true;
}

Result<double> ParseDuration(const std::string& option, const std::string& text) {
  double v;
  if (!ParseWithUnit(text, {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}}, &v))
    return Status::Usage(option + " takes a duration such as 30s, 5m, 2h or 1d (got '" + text +
                         "')");
  return v;
}

bool ParseBytes(const std::string& text, uint64_t* out) {
  static const std::vector<std::pair<std::string, double>> kUnits = {
      {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"TiB", 1099511627776.0},
      {"KB", 1e3},     {"MB", 1e6},        {"GB", 1e9},           {"TB", 1e12},
      {"B", 1}};
  std::string number = text;
  double factor = 1;
  for (const auto& [suffix, f] : kUnits)
    if (text.size() > suffix.size() && text.ends_with(suffix)) {
      number = text.substr(0, text.size() - suffix.size());
      factor = f;
      break;
    }
  double v;
  if (!ParseWithUnit(number, {}, &v) || v * factor >= 9.2e18) return false;
  *out = static_cast<uint64_t>(v * factor);
  return true;
}

}  // namespace ferry
