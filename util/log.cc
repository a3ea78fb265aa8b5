#include "util/log.h"

#include <sys/time.h>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>

namespace ferry {

static std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
static std::atomic<int> g_format{static_cast<int>(LogFormat::kText)};
static std::mutex g_mu;

namespace {

// JSON string escaping (RFC 8259): quotes, backslashes, control characters.
std::string JsonEscape(const std::string& s) {
  std::string out;
  out.reserve(s.size() + 2);
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string UtcNow() {
  struct timeval tv;
  gettimeofday(&tv, nullptr);
  struct tm tm;
  gmtime_r(&tv.tv_sec, &tm);
  char buf[40];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(tv.tv_usec / 1000));
  return buf;
}

}  // namespace

void SetLogLevel(LogLevel level) { g_level = static_cast<int>(level); }
LogLevel GetLogLevel() { return static_cast<LogLevel>(g_level.load()); }
void SetLogFormat(LogFormat format) { g_format = static_cast<int>(format); }
LogFormat GetLogFormat() { return static_cast<LogFormat>(g_format.load()); }

void Log(LogLevel level, const std::string& msg) {
  if (static_cast<int>(level) < g_level.load()) return;
  static const char* kNames[] = {"debug", "info", "warning", "error"};
  const char* name = kNames[static_cast<int>(level)];
  if (g_format.load() == static_cast<int>(LogFormat::kJson)) {
    std::string line = "{\"time\":\"" + UtcNow() + "\",\"level\":\"" + name + "\",\"msg\":\"" +
                       JsonEscape(msg) + "\"}\n";
    std::lock_guard<std::mutex> lock(g_mu);
    std::fputs(line.c_str(), stderr);
    return;
  }
  std::lock_guard<std::mutex> lock(g_mu);
  std::fprintf(stderr, "ferry: %s: %s\n", name, msg.c_str());
}

}  // namespace ferry
