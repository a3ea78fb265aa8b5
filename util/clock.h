// The wall clock, as Ferry records times: Unix nanoseconds.
#pragma once

#include <chrono>
#include <cstdint>

namespace ferry {

inline int64_t UnixNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline double UnixNowSeconds() { return UnixNowNs() / 1e9; }

}  // namespace ferry
