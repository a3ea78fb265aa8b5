#include "engine/retention.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <set>

#include "util/glob.h"

namespace ferry {

namespace {

enum class Span { kHour, kDay, kWeek, kMonth };

// The UTC bucket of a creation time: "2026-12-04 13h", "2026-12-04",
// "2026-W49" (ISO week), "2026-12".
std::string Bucket(int64_t unix_ns, Span span) {
  const time_t t = static_cast<time_t>(unix_ns / 1000000000);
  struct tm tm;
  gmtime_r(&t, &tm);
  static const char* const kFormat[] = {"%Y-%m-%d %Hh", "%Y-%m-%d", "%G-W%V", "%Y-%m"};
  char buf[32];
  std::strftime(buf, sizeof buf, kFormat[static_cast<int>(span)], &tm);
  return buf;
}

bool HasTag(const BuildSummary& b, const std::pair<std::string, std::string>& want) {
  for (const auto& [k, v] : b.tags)
    if (k == want.first && GlobMatch(want.second, v)) return true;
  return false;
}

}  // namespace

std::vector<RetentionDecision> ApplyRetention(const std::vector<BuildSummary>& history,
                                              const RetentionPolicy& policy) {
  std::vector<RetentionDecision> out(history.size());
  auto keep = [&](size_t i, std::string why) {
    out[i].keep = true;
    out[i].reasons.push_back(std::move(why));
  };
  int64_t newest = 0;
  for (const auto& b : history)
    if (b.problem.ok()) newest = std::max(newest, b.created_unix_ns);
  size_t last = 0;
  const struct {
    size_t n;
    Span span;
    const char* name;
  } spans[] = {{policy.keep_hourly, Span::kHour, "hourly"},
               {policy.keep_daily, Span::kDay, "daily"},
               {policy.keep_weekly, Span::kWeek, "weekly"},
               {policy.keep_monthly, Span::kMonth, "monthly"}};
  std::set<std::string> seen[4];
  for (size_t i = 0; i < history.size(); i++) {
    const BuildSummary& b = history[i];
    if (i == 0) keep(i, "ref head");
    if (!b.problem.ok()) {
      keep(i, "unreadable manifest");
      continue;
    }
    for (const auto& tag : policy.keep_tags)
      if (HasTag(b, tag)) keep(i, "tag " + tag.first + "=" + tag.second);
    if (policy.keep_within_ns > 0 && newest - b.created_unix_ns < policy.keep_within_ns)
      keep(i, "within");
    if (b.superseded_by) continue;  // no slot: it cannot be restored whole
    if (last < policy.keep_last) keep(i, "last " + std::to_string(++last));
    for (int s = 0; s < 4; s++) {
      if (seen[s].size() >= spans[s].n) continue;
      std::string bucket = Bucket(b.created_unix_ns, spans[s].span);
      if (seen[s].insert(bucket).second) keep(i, std::string(spans[s].name) + " " + bucket);
    }
  }
  return out;
}

}  // namespace ferry
