// ferry drill: a restore drill in one command, with a report an auditor can
// keep (docs/drills.md), and the drills recorded in a store (--history).
#include <unistd.h>

#include <algorithm>

#include "engine/destination.h"
#include "engine/drill.h"
#include "tools/cli.h"
#include "tools/evidence.h"
#include "util/hex.h"
#include "util/text.h"
#include "util/units.h"

namespace ferry::cli {
namespace {

struct DrillArgs {
  std::string what, from, tag, primary, rto, rpo, junit, sign_key;
  std::vector<std::string> trust_keys;
  bool json = false, record = false, history = false;
  DrillOptions opts;  // --to, --scratch-dir, --keep, --exec, --threads
};

const char* DrillStatus(const Status& st) {
  switch (st.code()) {
    case Code::kOk:
      return "passed";
    case Code::kTargetBreached:
      return "target-breached";
    case Code::kSmokeTestFailed:
      return "smoke-test-failed";
    default:
      return "failed";
  }
}

json DrillJson(const DrillArgs& a, const DrillOptions& o, const DrillReport& r, const Status& st) {
  auto opt_target = [](std::optional<double> t) { return t ? json(*t) : json(nullptr); };
  json j;
  j["status"] = DrillStatus(st);
  j["store"] = a.from;
  j["started"] = UtcTime(r.started_unix_ns / 1000000000);
  j["finished"] = UtcTime(r.finished_unix_ns / 1000000000);
  j["build"] = {
      {"manifest", r.manifest_id == Digest{} ? json(nullptr) : json(DigestHex(r.manifest_id))},
      {"ref", r.ref.empty() ? json(nullptr) : json(r.ref)},
      {"created", r.build_created_unix_ns ? json(UtcTime(r.build_created_unix_ns / 1000000000))
                                          : json(nullptr)},
      {"tags", json::object()}};
  for (const auto& [k, v] : r.tags) j["build"]["tags"][k] = v;
  j["target"] = r.target;
  j["scratch"] = r.scratch;
  j["target_removed"] = r.target_removed;
  j["restore"] = {
      {"files_written", r.restore.files_written}, {"files_unchanged", r.restore.files_unchanged},
      {"bytes_written", r.restore.bytes_written}, {"dirs", r.restore.dirs},
      {"symlinks", r.restore.symlinks},           {"errors", ErrorsJson(r.restore.errors)}};
  j["check"] = {{"files", r.files_checked},
                {"bytes", r.bytes_checked},
                {"symlinks", r.symlinks_checked},
                {"problems", ErrorsJson(r.check_problems)}};
  j["smoke_test"] =
      r.exec_run
          ? json{{"command", o.exec}, {"exit_status", r.exec_exit}, {"seconds", r.exec_seconds}}
          : json(nullptr);
  j["rto"] = {{"target_seconds", opt_target(o.rto_target)},
              {"restore_seconds", r.restore_seconds},
              {"achieved_seconds", r.rto_seconds},
              {"breached", r.rto_breached}};
  j["rpo"] = {
      {"target_seconds", opt_target(o.rpo_target)},
      {"achieved_seconds", r.rpo_seconds},
      {"measured_as", r.rpo_from_primary ? "lag behind the primary" : "age of the build"},
      {"primary", a.primary.empty() ? json(nullptr) : json(a.primary)},
      {"primary_latest", r.primary_latest ? json(DigestHex(*r.primary_latest)) : json(nullptr)},
      {"breached", r.rpo_breached}};
  j["recorded"] = nullptr;
  if (!st.ok()) j["error"] = ErrorJson(st);
  return j;
}

// drills/<started>-<manifest ID prefix>.json in the DR store (docs/store-format.md).
Status RecordDrill(ObjectStore* meta, const DrillReport& r, const SigningKey* key, json* j) {
  return StoreReport(meta, "drills", r.started_unix_ns, DigestHex(r.manifest_id).substr(0, 12),
                     "recorded", key, j);
}

// A recorded report's signature, as --history shows it.
json SignatureState(const json& d, const TrustedKeys& trusted) {
  if (!d.contains("report_signature")) return "unsigned";
  if (trusted.empty()) return "signed, not checked (no --trust-key)";
  std::string key;
  Status st = CheckReportSignature(d, trusted, &key);
  return st.ok() ? json("trusted") : json("untrusted: " + st.message());
}

int RunHistory(const DrillArgs& a, ObjectStore* meta, Output* out) {
  TrustedKeys trusted;
  for (const auto& f : a.trust_keys)
    if (Status t = trusted.Add(f); !t.ok()) return out->Fail(t);
  auto keys = meta->List("drills/");
  if (!keys.ok()) return out->Fail(keys.status());
  std::sort(keys->begin(), keys->end());
  json list = json::array();
  for (const auto& k : *keys) {
    auto body = meta->Get(k);
    auto parsed = body.ok() ? ParseReport(*body, k) : Result<json>(body.status());
    json d = parsed.ok() ? std::move(*parsed) : json();
    if (!parsed.ok()) {
      list.push_back(json{{"key", k}, {"unreadable", true}});
      continue;
    }
    d["report_signature_state"] = SignatureState(d, trusted);
    d["key"] = k;
    list.push_back(std::move(d));
  }
  size_t untrusted = 0;
  for (const auto& d : list)
    if (!trusted.empty() && d.value("report_signature_state", "") != "trusted") untrusted++;
  const Status verdict =
      untrusted ? Status::Untrusted(std::to_string(untrusted) +
                                    " recorded drill report(s) not signed by a trusted key")
                : Status::OK();
  if (a.json) {
    json j{{"status", verdict.ok() ? "ok" : "untrusted"}, {"store", a.from}, {"drills", list}};
    if (!verdict.ok()) j["error"] = ErrorJson(verdict);
    out->PrintJson(j);
    return verdict.ok() ? 0 : out->Fail(verdict);
  }
  if (list.empty())
    std::fprintf(stderr, "ferry drill: no drills recorded in %s (drill --record keeps one)\n",
                 a.from.c_str());
  for (const auto& d : list) {
    if (d.value("unreadable", false)) {
      std::printf("%s  unreadable drill record\n", d["key"].get<std::string>().c_str());
      continue;
    }
    const json& b = d["build"];
    const std::string sig = d["report_signature_state"].get<std::string>();
    std::printf("%s  %-17s  %s  RTO %.1f s  RPO %.0f s%s  (%s)\n", d.value("started", "?").c_str(),
                d.value("status", "?").c_str(),
                b["manifest"].is_string() ? b["manifest"].get<std::string>().substr(0, 12).c_str()
                                          : "------------",
                d["rto"].value("achieved_seconds", 0.0), d["rpo"].value("achieved_seconds", 0.0),
                d["smoke_test"].is_object() ? "  smoke test run" : "",
                sig.rfind("signed,", 0) == 0 ? "signed, not checked" : sig.c_str());
  }
  return verdict.ok() ? 0 : out->Fail(verdict);
}

void PrintDrill(const DrillOptions& o, const DrillReport& r, const Status& st) {
  std::fprintf(stderr, "ferry drill: %s: build %s%s%s\n", DrillStatus(st),
               DigestHex(r.manifest_id).substr(0, 12).c_str(), r.ref.empty() ? "" : " of ",
               r.ref.c_str());
  std::fprintf(stderr,
               "  restored %llu files (%s written, %llu already identical) into %s%s; read back "
               "and checked: %llu files, %s\n",
               static_cast<unsigned long long>(r.restore.files_written + r.restore.files_unchanged),
               Human(r.restore.bytes_written).c_str(),
               static_cast<unsigned long long>(r.restore.files_unchanged), r.target.c_str(),
               r.target_removed ? " (removed afterwards)" : "",
               static_cast<unsigned long long>(r.files_checked), Human(r.bytes_checked).c_str());
  if (r.exec_run)
    std::fprintf(stderr, "  smoke test exited %d in %.1f s\n", r.exec_exit, r.exec_seconds);
  std::fprintf(stderr, "  RTO %.1f s%s; RPO %.0f s (%s)%s\n", r.rto_seconds,
               o.rto_target ? (r.rto_breached ? " (target missed)" : " (target met)") : "",
               r.rpo_seconds, r.rpo_from_primary ? "lag behind the primary" : "age of the build",
               o.rpo_target ? (r.rpo_breached ? " (target missed)" : " (target met)") : "");
}

int RunDrill(const DrillArgs& a, const Context& ctx, Output* out) {
  DrillOptions o = a.opts;
  o.what = a.what;
  o.cancel = ctx.cancel;
  for (auto [text, seconds, name] :
       {std::tuple{&a.rto, &o.rto_target, "--rto"}, std::tuple{&a.rpo, &o.rpo_target, "--rpo"}}) {
    if (text->empty()) continue;
    auto d = ParseDuration(name, *text);
    if (!d.ok()) return out->Fail(d.status());
    *seconds = *d;
  }
  if (a.history && (!o.what.empty() || !a.tag.empty() || !o.exec.empty() || a.record ||
                    !a.rto.empty() || !a.rpo.empty() || !a.primary.empty() || !a.sign_key.empty()))
    return out->Fail(
        Status::Usage("drill --history lists recorded drills and takes only --from, "
                      "--trust-key (checks each report's signature) and --json"));
  auto sign_key = LoadReportKey(a.sign_key);
  if (!sign_key.ok()) return out->Fail(sign_key.status());
  if (!a.history && o.what.empty() && a.tag.empty())
    return out->Fail(Status::Usage("drill takes a ref, a manifest ID or --tag key=value"));
  auto dest = OpenDestination(a.from, OpenMode::kExisting, ctx.store);
  if (!dest.ok()) return out->Fail(dest.status());
  if (a.history) return RunHistory(a, (*dest)->meta(), out);
  if (Status t = SelectBuildByTag((*dest)->meta(), a.tag, &o.what); !t.ok()) return out->Fail(t);
  json signature;
  if (Status t = CheckTrust((*dest)->meta(), a.trust_keys, &o.what, &signature); !t.ok())
    return out->Fail(t);
  std::unique_ptr<Destination> primary;
  if (!a.primary.empty()) {
    auto p = OpenDestination(a.primary, OpenMode::kExisting, ctx.store);
    if (!p.ok()) return out->Fail(p.status().WithContext("--primary"));
    primary = std::move(*p);
    o.primary = primary.get();
  }
  DrillReport r;
  ProgressMeter meter;
  o.progress = &meter;
  Status st;
  {
    Progress p(ctx, "drill", &meter);
    st = Drill(dest->get(), o, &r);
  }
  json j = DrillJson(a, o, r, st);
  j["build"].update(signature);
  AddEvidenceHeader(ctx, {a.from, a.primary}, &j);
  SignReport(sign_key->get(), &j);
  if (a.record && r.manifest_id != Digest{}) {
    if (Status rec = RecordDrill((*dest)->meta(), r, sign_key->get(), &j); !rec.ok())
      std::fprintf(stderr, "ferry drill: could not record the report in the store: %s\n",
                   rec.message().c_str());
  }
  ReportToCi("drill", j, a.junit);
  if (a.json) out->PrintJson(j);
  for (const auto& p : r.check_problems)
    std::fprintf(stderr, "ferry drill: %s\n", p.message().c_str());
  // The summary of a drill that got as far as a checked restore.
  const bool checked =
      st.ok() || st.code() == Code::kTargetBreached || st.code() == Code::kSmokeTestFailed;
  if (!ctx.quiet && checked) PrintDrill(o, r, st);
  if (!st.ok()) return out->Fail(st);
  return 0;
}

}  // namespace

Runner AddDrillCommand(CLI::App* app, const Context* ctx) {
  auto* drill = app->add_subcommand(
      "drill",
      "Restore a build into a scratch directory, verify it, smoke-test it, measure RTO/RPO");
  auto a = std::make_shared<DrillArgs>();
  drill->add_option("build", a->what,
                    "Ref name, manifest ID or its first 6+ hex digits (with --tag: the ref "
                    "whose history is searched)");
  drill->add_option("--from", a->from, "DR store: a directory, file:///path or s3://bucket/prefix/")
      ->required();
  drill->add_option("--tag", a->tag, "The newest build carrying tag key=value");
  drill->add_option("--to", a->opts.target,
                    "Restore here and keep it (default: a scratch directory, removed afterwards)");
  drill->add_option("--scratch-dir", a->opts.scratch_parent,
                    "Where the scratch directory is made (default: $TMPDIR, else /tmp)");
  drill->add_flag("--keep", a->opts.keep, "Keep the scratch directory");
  drill->add_option("--exec", a->opts.exec,
                    "Smoke test: a shell command run inside the restored tree (exit 0 = pass); "
                    "FERRY_DRILL_DIR and FERRY_DRILL_MANIFEST are set");
  drill->add_option("--rto", a->rto, "RTO target: start to a passing smoke test (e.g. 15m)");
  drill->add_option("--rpo", a->rpo,
                    "RPO target: the build's age, or with --primary its lag (e.g. 24h)");
  drill->add_option(
      "--primary", a->primary,
      "The primary store: RPO is how far the DR copy lags its newest build of the ref");
  drill->add_flag("--record", a->record,
                  "Store the report in the DR store (drills/), listed by --history");
  drill->add_flag("--history", a->history, "List the drills recorded in the store");
  drill->add_flag("--json", a->json, "Print a JSON report on stdout");
  drill
      ->add_option("--trust-key", a->trust_keys,
                   "Refuse a build not signed by this public key (repeatable); with --history, "
                   "check each recorded report's signature")
      ->allow_extra_args(false);
  drill->add_option("--sign-key", a->sign_key,
                    "Sign the report with this private key (ferry key generate)");
  drill->add_option("--junit", a->junit, "Write a JUnit XML report here");
  drill->add_option("--threads", a->opts.threads, "Parallel files (default: two per core)");
  return [a, ctx](Output* out) { return RunDrill(*a, *ctx, out); };
}

}  // namespace ferry::cli
