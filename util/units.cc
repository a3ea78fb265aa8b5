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

}  // namespace ferry
