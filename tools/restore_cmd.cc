// ferry restore: write a build back out, byte-identical and verified.
#include "engine/destination.h"
#include "engine/ops.h"
#include "tools/cli.h"
#include "util/hex.h"

namespace ferry::cli {
namespace {

struct RestoreArgs {
  std::string from;
  bool json = false;
  std::string tag;                      // --tag key=value: the newest build carrying it
  std::vector<std::string> trust_keys;  // --trust-key
  RestoreOptions opts;                  // what, --to, --threads, --delete, --keep-setuid
};

int RunRestore(const RestoreArgs& a, const Context& ctx, Output* out) {
  const bool quiet = ctx.quiet;
  RestoreOptions opts = a.opts;
  opts.cancel = ctx.cancel;
  if (opts.what.empty() && a.tag.empty())
    return out->Fail(Status::Usage("restore takes a ref, a manifest ID or --tag key=value"));
  auto dest = OpenDestination(a.from, OpenMode::kExisting, ctx.store);
  if (!dest.ok()) return out->Fail(dest.status());
  if (Status t = SelectBuildByTag((*dest)->meta(), a.tag, &opts.what); !t.ok()) return out->Fail(t);
  json signature;
  if (Status t = CheckTrust((*dest)->meta(), a.trust_keys, &opts.what, &signature); !t.ok())
    return out->Fail(t);
  const std::string& to = opts.target;
  RestoreReport r;
  ProgressMeter meter;
  opts.progress = &meter;
  Status st;
  {
    Progress p(ctx, "restore", &meter);
    st = Restore(dest->get(), opts, &r);
  }
  json j;
  j["status"] = st.ok() ? "ok" : "error";
  j["manifest"] = DigestHex(r.manifest_id);
  j["target"] = to;
  j["files_written"] = r.files_written;
  j["files_unchanged"] = r.files_unchanged;
  j["files_replaced"] = r.files_replaced;
  j["temp_files_removed"] = r.temp_files_removed;
  j["setuid_dropped"] = r.setuid_dropped;
  j["extras"] = r.extras;
  j["extras_deleted"] = r.extras_deleted;
  j["dirs"] = r.dirs;
  j["symlinks"] = r.symlinks;
  j["bytes_written"] = r.bytes_written;
  j["seconds"] = r.seconds;
  j["errors"] = ErrorsJson(r.errors);
  j.update(signature);
  if (!st.ok()) j["error"] = ErrorJson(st);
  ReportToCi("restore", j, "");
  if (a.json) out->PrintJson(j);
  for (const auto& e : r.errors) std::fprintf(stderr, "ferry restore: %s\n", e.message().c_str());
  if (!r.extras.empty() && !r.extras_deleted && !quiet)
    std::fprintf(stderr,
                 "ferry restore: %zu entr%s in %s %s not part of the build and %s kept (first: "
                 "%s); --delete removes them\n",
                 r.extras.size(), r.extras.size() == 1 ? "y" : "ies", to.c_str(),
                 r.extras.size() == 1 ? "is" : "are", r.extras.size() == 1 ? "was" : "were",
                 r.extras[0].c_str());
  if (r.setuid_dropped > 0 && !quiet)
    std::fprintf(stderr,
                 "ferry restore: set-uid/set-gid bits dropped from %llu file(s) (--keep-setuid "
                 "keeps them)\n",
                 static_cast<unsigned long long>(r.setuid_dropped));
  if (!st.ok()) return out->Fail(st);
  if (quiet) return 0;
  std::fprintf(stderr,
               "ferry restore: %llu files written (%s; %llu replaced a different file), %llu "
               "already identical, all verified against manifest %s\n",
               static_cast<unsigned long long>(r.files_written), Human(r.bytes_written).c_str(),
               static_cast<unsigned long long>(r.files_replaced),
               static_cast<unsigned long long>(r.files_unchanged),
               DigestHex(r.manifest_id).c_str());
  if (r.extras_deleted && !r.extras.empty())
    std::fprintf(stderr, "  removed %zu entr%s not in the build (--delete)\n", r.extras.size(),
                 r.extras.size() == 1 ? "y" : "ies");
  if (r.temp_files_removed > 0)
    std::fprintf(stderr, "  removed %llu .ferry-tmp-* file(s) left by an interrupted restore\n",
                 static_cast<unsigned long long>(r.temp_files_removed));
  return 0;
}

}  // namespace

Runner AddRestoreCommand(CLI::App* app, const Context* ctx) {
  auto* restore =
      app->add_subcommand("restore", "Write a build back out, byte-identical and verified");
  auto a = std::make_shared<RestoreArgs>();
  restore->add_option("build", a->opts.what,
                      "Ref name, manifest ID or its first 6+ hex digits (with --tag: the ref "
                      "whose history is searched)");
  restore->add_option("--tag", a->tag,
                      "The newest build carrying tag key=value (e.g. commit=$GIT_COMMIT)");
  restore->add_option("--from", a->from, "Store: a directory, file:///path or s3://bucket/prefix/")
      ->required();
  restore->add_option("--to", a->opts.target, "Target directory (created if missing)")->required();
  restore->add_flag("--json", a->json, "Print a JSON report on stdout");
  restore
      ->add_option("--trust-key", a->trust_keys,
                   "Refuse a build not signed by this public key (repeatable; PEM, ssh-ed25519, "
                   "or a file of ssh-ed25519 lines)")
      ->allow_extra_args(false);
  restore->add_option("--threads", a->opts.threads, "Parallel files (default: two per core)");
  restore->add_flag("--delete", a->opts.delete_extras,
                    "Remove files and directories in the target that are not in the build");
  restore->add_flag("--keep-setuid", a->opts.keep_setuid,
                    "Restore set-uid/set-gid bits (dropped by default)");

  return [a, ctx](Output* out) { return RunRestore(*a, *ctx, out); };
}

}  // namespace ferry::cli
