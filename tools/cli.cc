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

Progress::Progress(const Context& ctx, std::string command, const ProgressMeter* meter,
                   bool enabled)
    : every_(std::max(ctx.progress_every, 0.2)), command_(std::move(command)), meter_(meter) {
  if (!enabled || ctx.quiet || ctx.progress == "none") return;
  if (ctx.progress == "tty" || (ctx.progress == "auto" && isatty(STDERR_FILENO)))
    mode_ = Mode::kTty;
  else
    mode_ = Mode::kLines;
  thread_ = std::thread([this] { Loop(); });
}

Progress::~Progress() {
  if (mode_ == Mode::kNone) return;
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  if (mode_ == Mode::kTty) std::fprintf(stderr, "\r\033[K");
}

std::string Progress::Line(double s) const {
  const uint64_t d = meter_->done.load(), total = meter_->total.load();
  const bool bytes = meter_->bytes.load();
  auto amount = [&](uint64_t v) { return bytes ? Human(v) : std::to_string(v) + " objects"; };
  const double rate = d / std::max(s, 1e-3);
  std::string line = amount(d);
  if (total > 0) {
    char pct[16];
    std::snprintf(pct, sizeof pct, " (%.0f%%)", 100.0 * std::min(d, total) / total);
    line += " of " + amount(total) + pct;
  }
  line +=
      ", " +
      (bytes ? Human(static_cast<uint64_t>(rate)) : std::to_string(static_cast<uint64_t>(rate))) +
      "/s";
  if (total > d && rate > 0) {
    char eta[32];
    std::snprintf(eta, sizeof eta, ", ETA %.0f s", (total - d) / rate);
    line += eta;
  }
  return line;
}

void Progress::Loop() {
  auto t0 = std::chrono::steady_clock::now();
  auto period = mode_ == Mode::kTty ? std::chrono::milliseconds(200)
                                    : std::chrono::milliseconds(static_cast<int>(every_ * 1000));
  std::unique_lock<std::mutex> l(mu_);
  while (!cv_.wait_for(l, period, [&] { return stop_; })) {
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (mode_ == Mode::kTty)
      std::fprintf(stderr, "\r\033[Kferry %s: %s", command_.c_str(), Line(s).c_str());
    else
      LogInfo(command_ + ": " + Line(s));
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
