// ferry audit: the verify-only mode. With --source, the source of truth
// against a DR copy (any DR copy: one Ferry wrote, or CRR, aws s3 sync,
// rclone), object by object, both sides hashed. Without, the DR copy against
// its own manifests (verify, read-only). Writes nothing.

#include <cctype>
#include <climits>
#include <cstdlib>

#include "engine/audit.h"
#include "engine/destination.h"
#include "tools/cli.h"
#include "tools/evidence.h"
#include "util/clock.h"
#include "util/hex.h"
#include "util/text.h"
#include "util/units.h"

namespace ferry::cli {
namespace {

struct AuditArgs {
  std::string source, against, junit, evidence_to, budget, cycle, sign_key;
  bool json = false;
  unsigned threads = 0;
  std::vector<std::string> refs, trust_keys;
  bool all = false, allow_empty = false, reread_source = false;
  PathFilter filter;
  Status filter_error;
};

json AuditJson(const AuditArgs& a, const AuditReport& r, const Status& st) {
  json j;
  const bool partial = r.coverage && r.coverage->objects_not_reached > 0;
  j["status"] = st.ok()                            ? (partial ? "no-differences" : "identical")
                : st.code() == Code::kVerifyFailed ? "differences"
                                                   : "failed";
  j["mode"] = "source-against-dr";
  j["source"] = a.source;
  j["against"] = a.against;
  j["read_only"] = true;
  j["source_objects"] = r.source_objects;
  j["dr_objects"] = r.dr_objects;
  j["identical"] = r.identical;
  j["bytes_verified"] = r.bytes_verified;
  j["bytes_hashed_source"] = r.bytes_hashed_source;
  j["bytes_hashed_dr"] = r.bytes_hashed_dr;
  j["objects_recorded_source"] = r.objects_recorded_source;
  j["bytes_recorded_source"] = r.bytes_recorded_source;
  j["seconds"] = r.seconds;
  j["filtered"] = r.filtered;
  j["skipped"] = r.skipped;
  j["differences"] = json::array();
  for (const auto& d : r.differences) {
    json x = {{"path", d.path}, {"kind", DifferenceName(d.kind)}};
    x["source_size"] = d.source_size ? json(*d.source_size) : json(nullptr);
    x["dr_size"] = d.dr_size ? json(*d.dr_size) : json(nullptr);
    if (d.source_sha256) x["source_sha256"] = DigestHex(*d.source_sha256);
    if (d.dr_sha256) x["dr_sha256"] = DigestHex(*d.dr_sha256);
    if (!d.error.ok()) x["error"] = ErrorJson(d.error);
    j["differences"].push_back(std::move(x));
  }
  if (r.coverage) {
    const CoverageSummary& c = *r.coverage;
    j["coverage"] = {{"budget", a.budget.empty() ? json(nullptr) : json(a.budget)},
                     {"cycle", a.cycle.empty() ? json(nullptr) : json(a.cycle)},
                     {"objects_verified", c.objects_verified},
                     {"bytes_verified", c.bytes_verified},
                     {"fraction_this_run", c.fraction_this_run},
                     {"fraction_within_cycle",
                      c.fraction_within_cycle ? json(*c.fraction_within_cycle) : json(nullptr)},
                     {"objects_not_reached", c.objects_not_reached},
                     {"oldest_unverified_seconds", c.oldest_unverified_seconds},
                     {"never_verified_objects", c.never_verified_objects},
                     {"cycle_over_budget", c.cycle_over_budget},
                     {"cursor", nullptr}};
  }
  if (!st.ok()) j["error"] = ErrorJson(st);
  return j;
}

// --budget BYTES|DURATION and --cycle DURATION into a policy.
Status ParseCoverage(const AuditArgs& a, CoveragePolicy* p) {
  if (!a.budget.empty() && !ParseBytes(a.budget, &p->budget_bytes)) {
    // A duration has its unit (plain digits are bytes: too many of them here).
    const bool unit = std::string("smhd").find(std::tolower(a.budget.back())) != std::string::npos;
    auto d = unit ? ParseDuration("--budget", a.budget) : Result<double>(Status::Usage(""));
    if (!d.ok() || *d <= 0)
      return Status::Usage(
          "--budget takes bytes (500MiB, 2GiB, 10GB, plain bytes) or a duration "
          "(90s, 20m, 2h) (got '" +
          a.budget + "')");
    p->budget_seconds = *d;
  } else if (!a.budget.empty() && p->budget_bytes == 0) {
    return Status::Usage("--budget must be at least 1 byte (got '" + a.budget + "')");
  }
  if (!a.cycle.empty()) {
    ASSIGN_OR_RETURN(p->cycle_seconds, ParseDuration("--cycle", a.cycle));
    if (p->cycle_seconds <= 0) return Status::Usage("--cycle must be longer than 0");
  }
  if (p->bounded() && a.evidence_to.empty())
    return Status::Usage(
        "--budget/--cycle keep a coverage cursor where the evidence goes: add --evidence-to STORE "
        "(the DR store itself if this auditor may write there, or a Ferry store of its own)");
  return Status::OK();
}

std::string DifferenceLine(const AuditDifference& d) {
  std::string line = std::string(DifferenceName(d.kind)) + ": " + d.path;
  if (d.kind == AuditDifference::Kind::kDifferent) {
    if (!d.error.ok())
      line += " (" + d.error.message() + ")";
    else if (d.source_size != d.dr_size)
      line += " (" + std::to_string(*d.source_size) + " bytes at the source, " +
              std::to_string(*d.dr_size) + " in the DR copy)";
    else
      line += " (same size, other bytes: SHA-256 " + DigestHex(*d.source_sha256).substr(0, 16) +
              "... at the source, " + DigestHex(*d.dr_sha256).substr(0, 16) + "... in the DR copy)";
  }
  return line;
}

// A directory as an absolute path, so that a report names it and a coverage
// cursor keys on it wherever the audit is run from; URLs as given.
std::string Absolute(const std::string& url) {
  if (url.empty() || url.rfind("s3://", 0) == 0) return url;
  const std::string path = url.rfind("file://", 0) == 0 ? url.substr(7) : url;
  char* real = realpath(path.c_str(), nullptr);
  if (!real) return url;  // opening it says what is wrong
  std::string out = real;
  free(real);
  return out;
}

int RunAudit(const AuditArgs& given, const Context& ctx, Output* out) {
  AuditArgs a = given;
  a.source = Absolute(a.source);
  if (!a.source.empty()) a.against = Absolute(a.against);
  if (!a.filter_error.ok()) return out->Fail(a.filter_error);
  if (a.source.empty() && a.refs.empty() && !a.all)
    return out->Fail(Status::Usage(
        "audit takes --source DIR|s3://bucket/prefix/ (the source against the DR copy), or "
        "--ref NAME (repeatable) or --all (the DR copy against its own manifests)"));
  if (a.source.empty()) {  // the DR copy against its own manifests
    if (!a.filter.empty() || !a.budget.empty() || !a.cycle.empty())
      return out->Fail(Status::Usage(
          "--exclude/--include and --budget/--cycle are for --source audits (for now)"));
    VerifyArgs v;
    v.evidence_to = a.evidence_to;
    v.sign_key = a.sign_key;
    v.store = a.against;
    v.json = a.json;
    v.junit = a.junit;
    v.opts.refs = a.refs;
    v.opts.all = a.all;
    v.opts.threads = a.threads;
    v.opts.read_only = true;
    v.trust_keys = a.trust_keys;
    return RunVerify(v, ctx, out, "audit");
  }
  CoveragePolicy policy;
  if (Status p = ParseCoverage(a, &policy); !p.ok()) return out->Fail(p);
  if (!a.refs.empty() || a.all || !a.trust_keys.empty())
    return out->Fail(Status::Usage("--ref/--all/--trust-key are for audits without --source"));
  auto source = OpenAuditTree(a.source, AuditSide::kSource, ctx.store, a.reread_source);
  if (!source.ok()) return out->Fail(source.status().WithContext("--source"));
  auto dr = OpenAuditTree(a.against, AuditSide::kDr, ctx.store);
  if (!dr.ok()) return out->Fail(dr.status().WithContext("--against"));
  // The one place an audit writes, when asked, opened before any byte is read.
  Evidence evidence;
  if (Status e = evidence.Open(ctx, a.evidence_to, a.sign_key); !e.ok()) return out->Fail(e);
  const int64_t started = UnixNowNs();
  AuditOptions o;
  const std::string cursor_key = CoverageKey(a.source, a.against, a.filter.Describe());
  StoredCoverage cursor;
  if (policy.bounded()) {
    auto loaded = LoadCoverage(evidence.store(), cursor_key,
                               CoverageCursor{a.source, a.against, a.filter.Describe()});
    if (!loaded.ok()) return out->Fail(loaded.status().WithContext("--evidence-to"));
    cursor = std::move(*loaded);
    o.coverage = policy;
    o.cursor = &cursor.cursor;
    o.now_ns = started;
  }
  o.threads = a.threads;
  o.filter = &a.filter;
  o.allow_empty = a.allow_empty;
  o.cancel = ctx.cancel;
  ProgressMeter meter;
  o.progress = &meter;
  AuditReport r;
  Status st;
  {
    Progress p(ctx, "audit", &meter);
    st = Audit(source->get(), dr->get(), o, &r);
  }
  json j = AuditJson(a, r, st);
  if (r.coverage) {
    Status c = SaveCoverage(evidence.store(), cursor_key, cursor, *o.cursor);
    if (c.ok()) {
      j["coverage"]["cursor"] = cursor_key;
    } else if (c.code() == Code::kConflict) {
      std::fprintf(stderr,
                   "ferry audit: another audit of this scope updated the coverage cursor %s at the "
                   "same time; this run's verifications are not recorded (those objects are taken "
                   "again sooner, never later)\n",
                   cursor_key.c_str());
    } else {
      std::fprintf(stderr, "ferry audit: could not store the coverage cursor in %s: %s\n",
                   a.evidence_to.c_str(), c.message().c_str());
      if (st.ok()) st = c.WithContext("--evidence-to");
    }
    if (r.coverage->cycle_over_budget)
      std::fprintf(stderr,
                   "ferry audit: warning: the cycle needed more than --budget %s this run (objects "
                   "due before the next run were all taken): raise the budget or run more often\n",
                   a.budget.c_str());
  }
  if (Status e = evidence.Finish(ctx, {a.source, a.against}, started, &j); !e.ok() && st.ok())
    st = e;
  ReportToCi("audit", j, a.junit);
  if (a.json) out->PrintJson(j);
  for (const auto& d : r.differences)
    std::fprintf(stderr, "ferry audit: %s\n", DifferenceLine(d).c_str());
  if (!st.ok()) return out->Fail(st);
  if (!ctx.quiet && r.coverage)
    std::fprintf(stderr,
                 "ferry audit: no difference: %llu objects on both sides; %llu (%s, %.1f %% of the "
                 "bytes) hashed on both sides and identical this run in %.2f s, %llu left for "
                 "later runs; oldest unverified byte: %.0f s old\n",
                 static_cast<unsigned long long>(r.source_objects),
                 static_cast<unsigned long long>(r.coverage->objects_verified),
                 Human(r.coverage->bytes_verified).c_str(), 100 * r.coverage->fraction_this_run,
                 r.seconds, static_cast<unsigned long long>(r.coverage->objects_not_reached),
                 r.coverage->oldest_unverified_seconds);
  else if (!ctx.quiet)
    std::fprintf(
        stderr,
        "ferry audit: identical: %llu objects, %s, %s in %.2f s; nothing missing, "
        "nothing extra\n",
        static_cast<unsigned long long>(r.identical), Human(r.bytes_verified).c_str(),
        r.objects_recorded_source
            ? ("every DR byte hashed; at the source " + std::to_string(r.objects_recorded_source) +
               " objects by the SHA-256 Ferry recorded for them (ETag unchanged; "
               "--reread-source reads them), the rest hashed")
                  .c_str()
            : "every byte hashed on both sides",
        r.seconds);
  return 0;
}

}  // namespace

Runner AddAuditCommand(CLI::App* app, const Context* ctx) {
  auto* audit = app->add_subcommand(
      "audit", "Verify-only: the source against a DR copy, or a DR copy against its manifests");
  auto a = std::make_shared<AuditArgs>();
  audit->add_option("--source", a->source,
                    "The source of truth: a directory or s3://bucket/prefix/ (omit to check the "
                    "DR copy against its own manifests)");
  audit
      ->add_option("--against", a->against,
                   "The DR copy: a directory or s3://bucket/prefix/ (need not be written by Ferry)")
      ->required();
  audit->add_option("--ref", a->refs, "Without --source: the build(s) to check (repeatable)")
      ->allow_extra_args(false);
  audit->add_flag("--all", a->all, "Without --source: every build in the store");
  audit
      ->add_option("--trust-key", a->trust_keys,
                   "Without --source: refuse builds not signed by this public key (repeatable)")
      ->allow_extra_args(false);
  audit
      ->add_option_function<std::string>(
          "--exclude", [a](const std::string& p) { a->filter.Exclude(p); },
          "Leave out paths matching this glob, on both sides (docs/filters.md)")
      ->trigger_on_parse()
      ->allow_extra_args(false);
  audit
      ->add_option_function<std::string>(
          "--include", [a](const std::string& p) { a->filter.Include(p); },
          "Take paths matching this glob back in")
      ->trigger_on_parse()
      ->allow_extra_args(false);
  audit->add_flag("--json", a->json, "Print a JSON report on stdout");
  audit->add_flag("--reread-source", a->reread_source,
                  "Read every source object, also those of a Ferry mirror whose recorded SHA-256 "
                  "and unchanged ETag vouch for them");
  audit->add_flag("--allow-empty", a->allow_empty,
                  "Accept a source with no object (refused by default: usually a wrong path)");
  audit->add_option("--evidence-to", a->evidence_to,
                    "Also store the JSON report in this Ferry store (audits/), the one thing an "
                    "audit writes");
  audit->add_option("--budget", a->budget,
                    "Per run, stop taking objects once this much is taken (the last one may "
                    "overshoot), oldest-verified first: bytes (50GiB, 500MB) or a duration (20m, "
                    "2h); needs --evidence-to for the coverage cursor");
  audit->add_option("--cycle", a->cycle,
                    "Verify every byte within this duration (30d), beyond --budget if it must");
  audit->add_option("--sign-key", a->sign_key,
                    "Sign the report with this private key (ferry key generate)");
  audit->add_option("--junit", a->junit, "Write a JUnit XML report here");
  audit->add_option("--threads", a->threads, "Objects hashed at once (default: 16 for S3)");
  return [a, ctx](Output* out) { return RunAudit(*a, *ctx, out); };
}

}  // namespace ferry::cli
