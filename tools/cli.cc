#include "tools/cli.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "util/log.h"

namespace ferry::cli {

std::string Human(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    u++;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

json ErrorJson(const Status& st) {
  return json{{"code", CodeName(st.code())},
              {"exit_code", static_cast<int>(st.code())},
              {"message", st.message()}};
}

json ErrorsJson(const std::vector<Status>& errors) {
  json a = json::array();
  for (const auto& e : errors) a.push_back(ErrorJson(e));
  return a;
}

void Output::PrintJson(const json& j) {
  std::cout << j.dump(2) << std::endl;
  json_pending_ = false;
}

int Output::Fail(const Status& st) {
  if (json_pending_) PrintJson(json{{"status", "error"}, {"error", ErrorJson(st)}});
  if (GetLogFormat() == LogFormat::kJson)
    Log(LogLevel::kError, (command_.empty() ? "" : command_ + ": ") + st.message());
  else
    std::fprintf(stderr, "ferry%s%s: error: %s\n", command_.empty() ? "" : " ", command_.c_str(),
                 st.message().c_str());
  return static_cast<int>(st.code());
}

Progress::Progress(bool enabled, uint64_t total, std::atomic<uint64_t>* done)
    : enabled_(enabled && isatty(STDERR_FILENO)), total_(total), done_(done) {
  if (enabled_) thread_ = std::thread([this] { Loop(); });
}

Progress::~Progress() {
  if (!enabled_) return;
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  std::fprintf(stderr, "\r\033[K");
}

void Progress::Loop() {
  auto t0 = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> l(mu_);
  while (!cv_.wait_for(l, std::chrono::milliseconds(200), [&] { return stop_; })) {
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    uint64_t d = done_->load();
    std::fprintf(stderr, "\r\033[Kferry: %s of %s (%.0f%%), %s/s", Human(d).c_str(),
                 Human(total_).c_str(), total_ ? 100.0 * d / total_ : 100.0,
                 Human(static_cast<uint64_t>(d / std::max(s, 1e-3))).c_str());
  }
}

Status ParseTags(const std::vector<std::string>& args,
                 std::vector<std::pair<std::string, std::string>>* tags) {
  for (const auto& t : args) {
    size_t eq = t.find('=');
    if (eq == std::string::npos || eq == 0)
      return Status::Usage("--tag takes key=value (got '" + t + "')");
    tags->emplace_back(t.substr(0, eq), t.substr(eq + 1));
  }
  return Status::OK();
}

}  // namespace ferry::cli
