#include "engine/coverage.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <tuple>

#include "crypto/hash.h"

namespace ferry {

namespace {

constexpr int kCoverageVersion = 1;
constexpr double kDefaultInterval = 86400;  // until a second run measures it

double Seconds(int64_t ns) { return ns / 1e9; }

// When `e`'s object was last verified, if it is still the object `c` lists
// (same size and versions on both sides); 0 otherwise.
int64_t StillVerified(const CoverageEntry& e, const CoverageCandidate& c) {
  return e.size == c.size && e.source_version == c.source_version && e.dr_version == c.dr_version
             ? e.verified_ns
             : 0;
}

}  // namespace

std::string CoverageKey(const std::string& source, const std::string& against,
                        const std::string& filters) {
  return "audits/coverage/" +
         DigestHex(Sha256::Of(source + "\n" + against + "\n" + filters)).substr(0, 16) + ".json";
}

std::string EncodeCoverage(const CoverageCursor& c) {
  nlohmann::json j = {{"version", kCoverageVersion}, {"source", c.source},
                      {"against", c.against},        {"filters", c.filters},
                      {"last_run", c.last_run_ns},   {"objects", nlohmann::json::object()}};
  for (const auto& [path, e] : c.objects)
    j["objects"][path] = {e.size, e.verified_ns, e.first_seen_ns, e.source_version, e.dr_version};
  return j.dump() + "\n";
}

Result<CoverageCursor> DecodeCoverage(std::string_view body, const std::string& what) {
  auto bad = [&](const std::string& why) {
    return Status::CorruptManifest("the audit coverage cursor " + what + " is unreadable (" + why +
                                   "); remove it to start this scope's coverage over");
  };
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return bad("not JSON");
  if (!j.contains("version") || !j["version"].is_number_integer()) return bad("no version");
  if (j["version"].get<int>() > kCoverageVersion)
    return bad("format version " + std::to_string(j["version"].get<int>()) +
               ", newer than this Ferry's; upgrade Ferry");
  try {
    CoverageCursor c;
    c.source = j.at("source").get<std::string>();
    c.against = j.at("against").get<std::string>();
    c.filters = j.at("filters").get<std::string>();
    c.last_run_ns = j.at("last_run").get<int64_t>();
    for (const auto& [path, v] : j.at("objects").items()) {
      if (!v.is_array() || v.size() != 5) return bad("entry '" + path + "' is not 5 fields");
      c.objects[path] = {v[0].get<uint64_t>(), v[1].get<int64_t>(), v[2].get<int64_t>(),
                         v[3].get<std::string>(), v[4].get<std::string>()};
    }
    return c;
  } catch (const nlohmann::json::exception& e) {
    return bad(e.what());
  }
}

Result<StoredCoverage> LoadCoverage(ObjectStore* store, const std::string& key,
                                    CoverageCursor scope) {
  StoredCoverage out;
  auto body = store->Get(key);
  if (!body.ok() && body.status().code() != Code::kNotFound) return body.take_status();
  if (!body.ok()) {
    out.cursor = std::move(scope);
    return out;
  }
  ASSIGN_OR_RETURN(out.cursor, DecodeCoverage(*body, store->Describe() + "/" + key));
  if (out.cursor.source != scope.source || out.cursor.against != scope.against ||
      out.cursor.filters != scope.filters)
    return Status::CorruptManifest("the audit coverage cursor " + store->Describe() + "/" + key +
                                   " belongs to another scope (" + out.cursor.source + " against " +
                                   out.cursor.against + "); remove it to start over");
  out.raw = std::move(*body);
  return out;
}

Status SaveCoverage(ObjectStore* store, const std::string& key, const StoredCoverage& loaded,
                    const CoverageCursor& updated) {
  return store->ReplaceIf(key, loaded.raw, EncodeCoverage(updated));
}

CoveragePlan PlanCoverage(const std::vector<CoverageCandidate>& candidates,
                          const CoverageCursor& cursor, int64_t now_ns,
                          const CoveragePolicy& policy) {
  CoveragePlan plan;
  plan.interval_seconds = cursor.last_run_ns > 0
                              ? std::max(0.0, Seconds(now_ns - cursor.last_run_ns))
                              : kDefaultInterval;
  if (policy.cycle_seconds > 0)
    plan.interval_seconds = std::min(plan.interval_seconds, policy.cycle_seconds);
  // Sort key: (not due, never verified ? 0 : 1, reference time); due ones by deadline.
  struct Item {
    bool due;
    int rank;
    int64_t when;
    size_t index;
  };
  std::vector<Item> items;
  items.reserve(candidates.size());
  uint64_t total = 0;
  for (size_t i = 0; i < candidates.size(); i++) {
    const auto& c = candidates[i];
    total += c.size;
    int64_t verified = 0, seen = now_ns;
    if (auto it = cursor.objects.find(c.path); it != cursor.objects.end()) {
      seen = it->second.first_seen_ns;
      verified = StillVerified(it->second, c);
    }
    const int64_t since = verified ? verified : seen;
    bool due = false;
    if (policy.cycle_seconds > 0)
      due = Seconds(since - now_ns) + policy.cycle_seconds <= plan.interval_seconds;
    items.push_back({due, verified ? 1 : 0, since, i});
  }
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    if (a.due != b.due) return a.due;
    if (a.due) return std::tie(a.when, a.index) < std::tie(b.when, b.index);
    return std::tie(a.rank, a.when, a.index) < std::tie(b.rank, b.when, b.index);
  });
  uint64_t target = policy.budget_bytes;
  if (policy.cycle_seconds > 0 && !policy.budget_bytes && policy.budget_seconds <= 0)
    target = static_cast<uint64_t>(
        std::ceil(static_cast<double>(total) * plan.interval_seconds / policy.cycle_seconds));
  if (!policy.budget_bytes && policy.budget_seconds > 0) target = total;  // time bounds it
  if (!policy.bounded()) target = total;
  uint64_t taken = 0;
  for (const Item& it : items) {
    const bool within = taken < target || plan.order.empty();
    if (!it.due && !within) break;
    if (it.due) {
      plan.must++;
      if (!within && policy.budget_bytes) plan.cycle_over_budget = true;
    }
    plan.order.push_back(it.index);
    taken += candidates[it.index].size;
  }
  return plan;
}

CoverageSummary RecordCoverage(const std::vector<CoverageCandidate>& candidates,
                               const std::vector<CheckOutcome>& outcome, int64_t now_ns,
                               const CoveragePolicy& policy, const CoveragePlan& plan,
                               CoverageCursor* cursor) {
  CoverageSummary s;
  s.cycle_over_budget = plan.cycle_over_budget;
  std::map<std::string, CoverageEntry> next;
  uint64_t total = 0, within_cycle = 0;
  int64_t oldest = now_ns;
  for (size_t i = 0; i < candidates.size(); i++) {
    const auto& c = candidates[i];
    total += c.size;
    CoverageEntry e{c.size, 0, now_ns, c.source_version, c.dr_version};
    if (auto it = cursor->objects.find(c.path); it != cursor->objects.end()) {
      e.first_seen_ns = it->second.first_seen_ns;
      e.verified_ns = StillVerified(it->second, c);
    }
    if (outcome[i] == CheckOutcome::kIdentical) {
      e.verified_ns = now_ns;
      s.objects_verified++;
      s.bytes_verified += c.size;
    } else {
      if (outcome[i] == CheckOutcome::kNotReached) s.objects_not_reached++;
      oldest = std::min(oldest, e.verified_ns ? e.verified_ns : e.first_seen_ns);
    }
    if (!e.verified_ns) s.never_verified_objects++;
    if (e.verified_ns && Seconds(now_ns - e.verified_ns) <= policy.cycle_seconds)
      within_cycle += c.size;
    next[c.path] = std::move(e);
  }
  s.fraction_this_run = total ? static_cast<double>(s.bytes_verified) / total : 1;
  if (policy.cycle_seconds > 0)
    s.fraction_within_cycle = total ? static_cast<double>(within_cycle) / total : 1;
  s.oldest_unverified_seconds = Seconds(now_ns - oldest);
  cursor->objects = std::move(next);
  cursor->last_run_ns = now_ns;
  return s;
}

}  // namespace ferry
