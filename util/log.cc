#include "util/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace ferry {

static std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
static std::mutex g_mu;

void SetLogLevel(LogLevel level) { g_level = static_cast<int>(level); }
LogLevel GetLogLevel() { return static_cast<LogLevel>(g_level.load()); }

void Log(LogLevel level, const std::string& msg) {
  if (static_cast<int>(level) < g_level.load()) return;
  static const char* kNames[] = {"debug", "info", "warning", "error"};
  std::lock_guard<std::mutex> lock(g_mu);
  std::fprintf(stderr, "ferry: %s: %s\n", kNames[static_cast<int>(level)], msg.c_str());
}

}  // namespace ferry
