// ferry verify: re-read and rehash what a store holds of its builds.
#include "engine/destination.h"
#include "engine/ops.h"
#include "manifest/repo.h"
#include "tools/cli.h"
#include "tools/evidence.h"
#include "util/clock.h"
#include "util/hex.h"

namespace ferry::cli {
namespace {}  // namespace

int RunVerify(const VerifyArgs& a, const Context& ctx, Output* out, const char* command) {
  const std::string& store_url = a.store;
  const bool quick = a.opts.quick, quiet = ctx.quiet;
  if (a.opts.all == (!a.opts.refs.empty() || !a.tag.empty()))
    return out->Fail(
        Status::Usage("verify takes --ref NAME (repeatable), --tag key=value, or --all"));
  auto dest = OpenDestination(store_url, OpenMode::kExisting, ctx.store);
  if (!dest.ok()) return out->Fail(dest.status());
  const bool audit = std::string(command) == "audit";
  Evidence evidence;  // audit's: every report carries it; stored or signed if asked
  if (Status e = evidence.Open(ctx, a.evidence_to, a.sign_key); !e.ok()) return out->Fail(e);
  const int64_t started = UnixNowNs();
  VerifyOptions opts = a.opts;
  if (!a.tag.empty()) {
    std::string id;  // searched in the whole store
    if (Status t = SelectBuildByTag((*dest)->meta(), a.tag, &id); !t.ok()) return out->Fail(t);
    opts.refs.push_back(id);
  }
  // --trust-key: every build to check must be signed by a trusted key, and
  // each ref not rolled back; the builds checked are pinned by ID.
  json signatures = json::array();
  if (!a.trust_keys.empty()) {
    std::vector<std::string> names = opts.refs;
    if (opts.all) {
      auto ids = ListManifests((*dest)->meta());
      if (!ids.ok()) return out->Fail(ids.status());
      for (const auto& id : *ids) names.push_back(DigestHex(id));
    }
    for (auto& name : names) {
      json sig;
      std::string what = name;
      Status t = CheckTrust((*dest)->meta(), a.trust_keys, &what, &sig);
      sig["build"] = name;
      signatures.push_back(sig);
      if (!t.ok()) return out->Fail(t);
    }
  }
  opts.cancel = ctx.cancel;
  VerifyReport r;
  ProgressMeter meter;
  opts.progress = &meter;
  Status st;
  {
    Progress p(ctx, command, &meter);
    st = Verify(dest->get(), opts, &r);
  }
  json j;
  j["status"] = !st.ok() ? "failed" : quick ? "present" : "verified";
  j["quick"] = quick;
  j["store"] = store_url;
  j["layout"] = LayoutName((*dest)->layout());
  j["manifests"] = json::array();
  for (const auto& m : r.manifests) j["manifests"].push_back(DigestHex(m));
  j["chunks_checked"] = r.chunks_checked;
  j["bytes_checked"] = r.bytes_checked;
  if (quick) j["checked_by_listing"] = r.checked_by_listing;
  j["seconds"] = r.seconds;
  j["manifest_problems"] = ErrorsJson(r.manifest_problems);
  j["chunk_problems"] = json::array();
  for (const auto& p : r.chunk_problems) {
    j["chunk_problems"].push_back(
        json{{"chunk", DigestHex(p.id)},
             {"problem", p.status.code() == Code::kNotFound ? "missing" : "corrupt"},
             {"message", p.status.message()},
             {"files", p.files},
             {"moved_aside", p.moved_aside}});
  }
  j["superseded"] = json::array();
  for (const auto& [id, by] : r.superseded)
    j["superseded"].push_back(json{{"manifest", DigestHex(id)}, {"superseded_by", DigestHex(by)}});
  if (!a.trust_keys.empty()) j["signatures"] = signatures;
  if (!st.ok()) j["error"] = ErrorJson(st);
  if (audit) {  // the report is final (and signed) after this
    j["mode"] = "dr-against-manifests";
    j["read_only"] = opts.read_only;
    if (Status e = evidence.Finish(ctx, {store_url}, started, &j); !e.ok() && st.ok()) st = e;
  }
  ReportToCi(command, j, a.junit);
  if (a.json) out->PrintJson(j);
  for (const auto& p : r.manifest_problems)
    std::fprintf(stderr, "ferry %s: %s\n", command, p.message().c_str());
  if (!r.superseded.empty() && !quiet)
    std::fprintf(stderr,
                 "ferry %s: %zu superseded build(s) not checked: later pushes replaced or "
                 "deleted their objects in place (the bucket is not versioned; versioning keeps "
                 "every build)\n",
                 command, r.superseded.size());
  for (const auto& p : r.chunk_problems) {
    std::string files;
    for (const auto& f : p.files) files += (files.empty() ? "" : ", ") + f;
    std::fprintf(stderr, "ferry %s: %s; used by: %s%s\n", command, p.status.message().c_str(),
                 files.c_str(),
                 p.moved_aside ? " (moved aside to damaged/: the next push of that source "
                                 "stores it again)"
                               : "");
  }
  if (!st.ok()) return out->Fail(st);
  if (quiet) return 0;
  if (quick) {
    std::fprintf(
        stderr,
        "ferry verify --quick: all present: %zu manifest(s), %llu %s checked with HEAD in %.2f s "
        "(sizes and stored checksums only; no byte was read: run without --quick to verify)\n",
        r.manifests.size(), static_cast<unsigned long long>(r.chunks_checked),
        (*dest)->layout() == Layout::kMirror ? "objects" : "chunks", r.seconds);
    return 0;
  }
  std::fprintf(stderr, "ferry %s: OK: %zu manifest(s), %llu chunks, %s rehashed in %.2f s\n",
               command, r.manifests.size(), static_cast<unsigned long long>(r.chunks_checked),
               Human(r.bytes_checked).c_str(), r.seconds);
  return 0;
}

Runner AddVerifyCommand(CLI::App* app, const Context* ctx) {
  auto* verify = app->add_subcommand("verify", "Re-read and rehash every stored chunk of a build");
  auto a = std::make_shared<VerifyArgs>();
  verify->add_option("--store", a->store, "Store: a directory, file:///path or s3://bucket/prefix/")
      ->required();
  verify
      ->add_option("--ref", a->opts.refs,
                   "Ref, manifest ID or its first 6+ hex digits, to verify (repeatable)")
      ->allow_extra_args(false);
  verify->add_option("--tag", a->tag, "Verify the newest build carrying tag key=value");
  verify
      ->add_option("--trust-key", a->trust_keys,
                   "Refuse builds not signed by this public key, and rolled-back refs "
                   "(repeatable)")
      ->allow_extra_args(false);
  verify->add_flag("--all", a->opts.all, "Every manifest and ref in the store");
  verify->add_flag("--json", a->json, "Print a JSON report on stdout");
  verify->add_option("--junit", a->junit, "Write a JUnit XML report here");
  verify->add_option("--threads", a->opts.threads, "Parallel reads (default: two per core)");
  verify->add_flag("--quick", a->opts.quick,
                   "HEAD only: existence, size, stored checksums (no bytes read)");
  verify->add_flag("--read-only", a->opts.read_only,
                   "Write nothing: corrupt chunks are reported but not moved aside");

  return [a, ctx](Output* out) { return RunVerify(*a, *ctx, out, "verify"); };
}

}  // namespace ferry::cli
