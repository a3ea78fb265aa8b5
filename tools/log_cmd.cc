// ferry log: a ref's builds, newest first.
#include "engine/destination.h"
#include "tools/cli.h"

namespace ferry::cli {
namespace {

struct LogArgs {
  std::string ref, store;
  size_t max = 0;
  bool json = false;
};

int RunLog(const LogArgs& a, const Context& ctx, Output* out) {
  auto dest = OpenDestination(a.store, OpenMode::kExisting, ctx.store);
  if (!dest.ok()) return out->Fail(dest.status());
  auto builds = RefHistory((*dest)->meta(), a.ref, a.max);
  if (!builds.ok()) return out->Fail(builds.status());
  if (a.json) {
    json j = {{"status", "ok"}, {"store", a.store}, {"ref", a.ref}};
    j["builds"] = json::array();
    for (const auto& b : *builds) j["builds"].push_back(BuildJson(b));
    out->PrintJson(j);
    return 0;
  }
  for (const auto& b : *builds) std::printf("%s\n", BuildLine(b).c_str());
  return 0;
}

}  // namespace

Runner AddLogCommand(CLI::App* app, const Context* ctx) {
  auto* log = app->add_subcommand("log", "Show a ref's builds, newest first");
  auto a = std::make_shared<LogArgs>();
  log->add_option("ref", a->ref, "Ref name")->required();
  log->add_option("--store", a->store, "Store: a directory, file:///path or s3://bucket/prefix/")
      ->required();
  log->add_option("-n,--max-count", a->max, "Show at most this many builds (default: all)");
  log->add_flag("--json", a->json, "Print a JSON report on stdout");
  return [a, ctx](Output* out) { return RunLog(*a, *ctx, out); };
}

}  // namespace ferry::cli
