// Minimal leveled logging to stderr. Messages must never contain secrets.
#pragma once

#include <string>

namespace ferry {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kQuiet = 4 };

enum class LogFormat { kText, kJson };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
void SetLogFormat(LogFormat format);
LogFormat GetLogFormat();
// Thread-safe; writes one whole line: "ferry: <level>: msg\n", or with
// kJson {"time":"2026-12-02T06:56:07.123Z","level":"info","msg":"..."}.
void Log(LogLevel level, const std::string& msg);

inline void LogInfo(const std::string& m) { Log(LogLevel::kInfo, m); }
inline void LogWarn(const std::string& m) { Log(LogLevel::kWarn, m); }
inline void LogDebug(const std::string& m) { Log(LogLevel::kDebug, m); }

}  // namespace ferry
