// Minimal leveled logging to stderr. Messages must never contain secrets.
#pragma once

#include <string>

namespace ferry {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kQuiet = 4 };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// Thread-safe; writes one whole line "ferry: <level>: msg\n".
void Log(LogLevel level, const std::string& msg);

inline void LogInfo(const std::string& m) { Log(LogLevel::kInfo, m); }
inline void LogWarn(const std::string& m) { Log(LogLevel::kWarn, m); }
inline void LogDebug(const std::string& m) { Log(LogLevel::kDebug, m); }

}  // namespace ferry
