// ferry prune: --dry-run, which builds a retention policy would keep and
// drop (docs/gc.md; dropping builds and collecting what only they used is
// designed there but not built: with --keep-* and without --dry-run prune
// refuses); --sweep-abandoned, what interrupted writes left behind.
#include <set>

#include "engine/destination.h"
#include "engine/retention.h"
#include "manifest/repo.h"
#include "tools/cli.h"
#include "util/text.h"
#include "util/units.h"

namespace ferry::cli {
namespace {

struct PruneArgs {
  std::string store;
  std::vector<std::string> refs, keep_tags;
  size_t keep_last = 0, keep_hourly = 0, keep_daily = 0, keep_weekly = 0, keep_monthly = 0;
  std::string keep_within, abandoned_after = "24h";
  bool dry_run = false, json = false, sweep = false;
};

Result<RetentionPolicy> Policy(const PruneArgs& a) {
  RetentionPolicy p;
  p.keep_last = a.keep_last;
  p.keep_hourly = a.keep_hourly;
  p.keep_daily = a.keep_daily;
  p.keep_weekly = a.keep_weekly;
  p.keep_monthly = a.keep_monthly;
  if (!a.keep_within.empty()) {
    ASSIGN_OR_RETURN(double s, ParseDuration("--keep-within", a.keep_within));
    p.keep_within_ns = static_cast<int64_t>(s * 1e9);
  }
  for (const auto& t : a.keep_tags) {
    const size_t eq = t.find('=');
    if (eq == 0 || t.empty())
      return Status::Usage("--keep-tag " + t + ": give KEY or KEY=GLOB (release=*, env=prod)");
    p.keep_tags.emplace_back(t.substr(0, eq), eq == std::string::npos ? "*" : t.substr(eq + 1));
  }
  if (p.empty() && !a.sweep)
    return Status::Usage(
        "prune needs a policy: --keep-last, --keep-hourly/daily/weekly/monthly, --keep-within "
        "or --keep-tag (it never drops every build by default), or --sweep-abandoned");
  if (!a.dry_run && !p.empty())
    return Status::Usage(
        "prune deletes nothing yet: dropping builds and collecting what only they used is "
        "designed (docs/gc.md) but not built. Run it with --dry-run to see what the policy "
        "keeps and drops");
  return p;
}

// --sweep-abandoned: temporary files and multipart uploads that interrupted
// writes left, older than --abandoned-after.
Status Sweep(const PruneArgs& a, Destination* dest, json* j) {
  ASSIGN_OR_RETURN(double age, ParseDuration("--abandoned-after", a.abandoned_after));
  std::vector<ObjectStore::Abandoned> found;
  Status st = dest->SweepAbandoned(age, a.dry_run, &found);
  uint64_t bytes = 0;
  json list = json::array();
  for (const auto& f : found) {
    bytes += f.bytes;
    list.push_back({{"what", f.what}, {"bytes", f.bytes}, {"age_seconds", f.age_s}});
    if (!a.json)
      std::printf("%s %s (%.0f h old)\n", a.dry_run ? "(dry run) would remove" : "removed",
                  f.what.c_str(), f.age_s / 3600);
  }
  (*j)["abandoned"] = {{"older_than_seconds", age}, {"found", list}, {"bytes", bytes}};
  if (!a.json)
    std::printf("%s %zu abandoned temporary file(s) and upload(s) older than %s (%s)\n",
                a.dry_run ? "(dry run) would remove" : "removed", found.size(),
                a.abandoned_after.c_str(), Human(bytes).c_str());
  return st;
}

int RunPrune(const PruneArgs& a, const Context& ctx, Output* out) {
  auto policy = Policy(a);
  if (!policy.ok()) return out->Fail(policy.status());
  auto dest = OpenDestination(a.store, OpenMode::kExisting, ctx.store);
  if (!dest.ok()) return out->Fail(dest.status());
  json j = {{"status", "ok"}, {"dry_run", a.dry_run}, {"store", a.store}};
  if (a.sweep) {
    if (Status st = Sweep(a, dest->get(), &j); !st.ok()) return out->Fail(st);
  }
  if (policy->empty()) {
    if (a.json) out->PrintJson(j);
    return 0;
  }
  ObjectStore* meta = (*dest)->meta();
  std::vector<std::string> refs = a.refs;
  if (refs.empty()) {
    auto all = ListRefs(meta);
    if (!all.ok()) return out->Fail(all.status());
    refs = *all;
  }
  j["refs"] = json::array();
  size_t kept = 0, dropped = 0;
  uint64_t dropped_bytes = 0;
  for (const auto& ref : refs) {
    auto history = RefHistory(meta, ref);
    if (!history.ok()) return out->Fail(history.status().WithContext("ref " + ref));
    auto decisions = ApplyRetention(*history, *policy);
    json r = {{"ref", ref}, {"builds", json::array()}};
    if (!a.json) std::printf("%s\n", ref.c_str());
    for (size_t i = 0; i < history->size(); i++) {
      const BuildSummary& b = (*history)[i];
      const RetentionDecision& d = decisions[i];
      (d.keep ? kept : dropped)++;
      if (!d.keep) dropped_bytes += b.bytes;
      std::string reasons;
      for (const auto& why : d.reasons) reasons += (reasons.empty() ? "" : ", ") + why;
      r["builds"].push_back({{"manifest", DigestHex(b.id)},
                             {"created", UtcTime(b.created_unix_ns / 1000000000)},
                             {"action", d.keep ? "keep" : "drop"},
                             {"reasons", d.reasons},
                             {"bytes", b.bytes}});
      if (!a.json)
        std::printf("  %s %s  %s  %s\n", d.keep ? "keep" : "drop",
                    DigestHex(b.id).substr(0, 12).c_str(),
                    UtcTime(b.created_unix_ns / 1000000000).c_str(), reasons.c_str());
    }
    j["refs"].push_back(std::move(r));
  }
  j["kept"] = kept;
  j["dropped"] = dropped;
  j["dropped_file_bytes"] = dropped_bytes;
  if (a.json) {
    out->PrintJson(j);
  } else {
    std::printf(
        "(dry run) would drop %zu of %zu builds (%s of files; what that frees depends on what "
        "kept builds share). Nothing was changed: prune cannot drop builds yet (docs/gc.md)\n",
        dropped, kept + dropped, Human(dropped_bytes).c_str());
  }
  return 0;
}

}  // namespace

Runner AddPruneCommand(CLI::App* app, const Context* ctx) {
  auto* c = app->add_subcommand(
      "prune",
      "Show which builds a retention policy keeps and drops (--dry-run; dropping is "
      "not built yet)");
  auto a = std::make_shared<PruneArgs>();
  c->add_option("--store", a->store, "Store: a directory, file:///path or s3://bucket/prefix/")
      ->required();
  c->add_option("--ref", a->refs, "Only these refs (repeatable; default: every ref)");
  c->add_option("--keep-last", a->keep_last, "Keep the N newest builds of each ref");
  c->add_option("--keep-hourly", a->keep_hourly,
                "Keep the newest build of each of the last N hours");
  c->add_option("--keep-daily", a->keep_daily, "... of each of the last N days (UTC)");
  c->add_option("--keep-weekly", a->keep_weekly, "... of each of the last N ISO weeks");
  c->add_option("--keep-monthly", a->keep_monthly, "... of each of the last N months");
  c->add_option("--keep-within", a->keep_within,
                "Keep builds created less than this before the ref's newest (30d, 12h)");
  c->add_option("--keep-tag", a->keep_tags, "Keep builds tagged KEY (any value) or KEY=GLOB");
  c->add_flag("--sweep-abandoned", a->sweep,
              "Remove temporary files and multipart uploads that interrupted writes left "
              "(with --dry-run: list them)");
  c->add_option("--abandoned-after", a->abandoned_after,
                "--sweep-abandoned: only what is older than this")
      ->capture_default_str();
  c->add_flag("--dry-run", a->dry_run,
              "Report only (required with --keep-*: prune cannot drop builds yet)");
  c->add_flag("--json", a->json, "Print a JSON report on stdout");
  return [a, ctx](Output* out) { return RunPrune(*a, *ctx, out); };
}

}  // namespace ferry::cli
