// Numbers with a one-letter unit suffix: "5m", "1.5s", "50M".
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "util/status.h"

namespace ferry {

// `text` as a non-negative number, optionally followed by one of the `units`
// letters (matched case-insensitively), times that unit's factor. False if it
// is anything else.
bool ParseWithUnit(std::string text, const std::vector<std::pair<char, double>>& units,
                   double* out);

// A duration such as 30s, 5m, 2h, 1d or plain seconds; kUsage naming
// `option` otherwise.
Result<double> ParseDuration(const std::string& option, const std::string& text);

// An amount of bytes: plain digits, or with KiB/MiB/GiB/TiB (powers of 1024)
// or KB/MB/GB/TB (powers of 1000). False if it is anything else.
bool ParseBytes(const std::string& text, uint64_t* out);

}  // namespace ferry
