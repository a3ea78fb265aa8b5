#include "tools/cli.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "manifest/repo.h"
#include "manifest/signature.h"
#include "util/hex.h"
#include "util/log.h"
#include "util/text.h"

namespace ferry::cli {

void AddFilterOptions(CLI::App* app, std::shared_ptr<void> owner, PathFilter* filter) {
  app->add_option_function<std::string>(
         "--exclude", [owner, filter](const std::string& p) { filter->Exclude(p); },
         "Leave out paths matching this glob (repeatable; *, **, ?, [..]; docs/filters.md)")
      ->trigger_on_parse()
      ->allow_extra_args(false);
  app->add_option_function<std::string>(
         "--include", [owner, filter](const std::string& p) { filter->Include(p); },
         "Take paths matching this glob back in (after an --exclude; repeatable)")
      ->trigger_on_parse()
      ->allow_extra_args(false);
}

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

namespace {

std::string Scalar(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "-";
  return v.dump();
}

// Every problem a report lists: its error, file errors, manifest and chunk problems.
std::vector<std::string> Problems(const json& r) {
  std::vector<std::string> out;
  if (r.contains("error") && r["error"].is_object()) out.push_back(Scalar(r["error"]["message"]));
  for (const char* k : {"errors", "manifest_problems", "chunk_problems"})
    if (r.contains(k) && r[k].is_array())
      for (const auto& e : r[k])
        out.push_back(e.is_object() ? Scalar(e.value("message", json())) : Scalar(e));
  return out;
}

std::string Markdown(const std::string& command, const json& r) {
  std::string md = "### ferry " + command + ": " + Scalar(r.value("status", json("?"))) + "\n\n";
  md += "| | |\n|---|---|\n";
  // Zero counters and empty fields are left out: a summary, not the report.
  auto blank = [](const json& v) { return v.is_null() || (v.is_number() && v == 0); };
  for (const auto& [k, v] : r.items())
    if (!v.is_structured() && k != "status" && !blank(v))
      md += "| " + k + " | " + Scalar(v) + " |\n";
  if (r.contains("destinations") && r["destinations"].is_array() && !r["destinations"].empty()) {
    const json& d = r["destinations"];
    std::vector<std::string> cols;
    for (const auto& [k, v] : d[0].items()) {
      bool any = false;
      for (const auto& row : d) any |= !blank(row.value(k, json()));
      if (!v.is_structured() && any) cols.push_back(k);
    }
    md += "\n|";
    for (const auto& c : cols) md += " " + c + " |";
    md += "\n|";
    for (size_t i = 0; i < cols.size(); i++) md += "---|";
    md += "\n";
    for (const auto& row : d) {
      md += "|";
      for (const auto& c : cols) md += " " + Scalar(row.value(c, json())) + " |";
      md += "\n";
    }
  }
  auto problems = Problems(r);
  if (!problems.empty()) {
    md += "\n**Problems**\n\n";
    for (const auto& p : problems) md += "- " + p + "\n";
  }
  return md + "\n";
}

std::string Junit(const std::string& command, const json& r) {
  struct Case {
    std::string name, failure;
  };
  std::vector<Case> cases;
  if (r.contains("destinations") && r["destinations"].is_array() && !r["destinations"].empty()) {
    for (const auto& d : r["destinations"]) {
      std::string fail;
      if (d.value("status", "") != "ok")
        fail = r.contains("error") ? Scalar(r["error"]["message"]) : "not recorded";
      cases.push_back({command + " " + Scalar(d.value("store", json())), fail});
    }
  } else {
    std::string what = r.contains("store") ? Scalar(r["store"]) : Scalar(r.value("target", json()));
    std::string fail;
    for (const auto& p : Problems(r)) fail += (fail.empty() ? "" : "\n") + p;
    cases.push_back({command + " " + what, fail});
  }
  size_t failures = 0;
  for (const auto& c : cases) failures += !c.failure.empty();
  std::string x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"ferry " + command +
                  "\" tests=\"" + std::to_string(cases.size()) + "\" failures=\"" +
                  std::to_string(failures) + "\" time=\"" + Scalar(r.value("seconds", json(0))) +
                  "\">\n";
  for (const auto& c : cases) {
    x += "  <testcase classname=\"ferry." + command + "\" name=\"" + XmlEscape(c.name) + "\"";
    if (c.failure.empty()) {
      x += "/>\n";
    } else {
      x += ">\n    <failure message=\"" + XmlEscape(c.failure.substr(0, c.failure.find('\n'))) +
           "\">" + XmlEscape(c.failure) + "</failure>\n  </testcase>\n";
    }
  }
  return x + "</testsuite>\n";
}

void WriteOrWarn(const std::string& path, const std::string& text, bool append, const char* what) {
  FILE* f = std::fopen(path.c_str(), append ? "a" : "w");
  if (!f || std::fputs(text.c_str(), f) < 0 || std::fclose(f) != 0)
    LogWarn(std::string("could not write the ") + what + " " + path);
}

}  // namespace

void ReportToCi(const std::string& command, const json& report, const std::string& junit_path) {
  if (const char* summary = getenv("GITHUB_STEP_SUMMARY"); summary && *summary)
    WriteOrWarn(summary, Markdown(command, report), /*append=*/true, "step summary");
  if (!junit_path.empty()) WriteOrWarn(junit_path, Junit(command, report), false, "JUnit report");
}

json BuildJson(const BuildSummary& b) {
  json j;
  if (!b.ref.empty()) j["ref"] = b.ref;
  j["manifest"] = b.id == Digest{} ? json(nullptr) : json(DigestHex(b.id));
  if (!b.problem.ok()) {
    j["error"] = ErrorJson(b.problem);
    return j;
  }
  j["created"] = UtcTime(b.created_unix_ns / 1000000000);
  j["created_unix_ns"] = b.created_unix_ns;
  j["parent"] = b.parent ? json(DigestHex(*b.parent)) : json(nullptr);
  j["tags"] = json::object();
  for (const auto& [k, v] : b.tags) j["tags"][k] = v;
  j["files"] = b.files;
  j["bytes"] = b.bytes;
  j["signed"] = b.has_signature;  // a statement is stored; --trust-key checks it
  j["superseded_by"] = b.superseded_by ? json(DigestHex(*b.superseded_by)) : json(nullptr);
  return j;
}

std::string BuildLine(const BuildSummary& b) {
  std::string id = b.id == Digest{} ? std::string(12, '-') : DigestHex(b.id).substr(0, 12);
  if (!b.problem.ok()) return id + "  " + b.problem.message();
  char buf[96];
  std::snprintf(buf, sizeof buf, "%s  %s  %6llu files  %10s", id.c_str(),
                UtcTime(b.created_unix_ns / 1000000000).c_str(),
                static_cast<unsigned long long>(b.files), Human(b.bytes).c_str());
  std::string line = buf;
  for (const auto& [k, v] : b.tags) line += "  " + k + "=" + v;
  if (b.has_signature) line += "  (signed)";
  if (b.superseded_by)
    line += "  (superseded by " + DigestHex(*b.superseded_by).substr(0, 12) + ")";
  return line;
}

Status CheckTrust(ObjectStore* meta, const std::vector<std::string>& key_files, std::string* what,
                  json* report) {
  auto resolved = ResolveManifest(meta, *what);
  if (!resolved.ok()) return resolved.status();
  if (key_files.empty()) {
    auto st = GetStatement(meta, *resolved);
    (*report)["signature"] = st.ok() && *st ? "signed, not checked (no --trust-key)" : "unsigned";
    return Status::OK();
  }
  TrustedKeys trusted;
  for (const auto& f : key_files) RETURN_IF_ERROR(trusted.Add(f));
  // Named through a ref: the ref's signed history is checked too (rollback).
  auto ref =
      ValidateRefName(*what).ok() ? ReadRef(meta, *what) : Result<Digest>(Status::NotFound(""));
  const std::string via = ref.ok() && *ref == *resolved ? *what : "";
  BuildStatement statement;
  Status st = CheckSignedBuild(meta, *resolved, via, trusted, &statement);
  if (!st.ok()) {
    (*report)["signature"] = json{{"status", "untrusted"}, {"message", st.message()}};
    return st;
  }
  (*report)["signature"] = json{{"status", "trusted"},
                                {"key", statement.key_id},
                                {"sequence", statement.sequence},
                                {"signed_at", UtcTime(statement.time_unix_ns / 1000000000)}};
  *what = DigestHex(*resolved);  // pinned: the build that was checked is the one used
  return Status::OK();
}

Status SelectBuildByTag(ObjectStore* meta, const std::string& tag, std::string* what) {
  if (tag.empty()) return Status::OK();
  std::vector<std::pair<std::string, std::string>> kv;
  RETURN_IF_ERROR(ParseTags({tag}, &kv));
  ASSIGN_OR_RETURN(Digest id, FindBuildByTag(meta, kv[0].first, kv[0].second, *what));
  *what = DigestHex(id);
  return Status::OK();
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
