// ferry ls: the refs of a store and the build each points to.
#include "engine/destination.h"
#include "tools/cli.h"

namespace ferry::cli {
namespace {

struct LsArgs {
  std::string store;
  bool json = false;
};

int RunLs(const LsArgs& a, const Context& ctx, Output* out) {
  auto dest = OpenDestination(a.store, OpenMode::kExisting, ctx.store);
  if (!dest.ok()) return out->Fail(dest.status());
  auto builds = ListRefBuilds((*dest)->meta());
  if (!builds.ok()) return out->Fail(builds.status());
  if (a.json) {
    json j = {{"status", "ok"}, {"store", a.store}, {"layout", LayoutName((*dest)->layout())}};
    j["refs"] = json::array();
    for (const auto& b : *builds) j["refs"].push_back(BuildJson(b));
    out->PrintJson(j);
    return 0;
  }
  size_t width = 3;
  for (const auto& b : *builds) width = std::max(width, b.ref.size());
  if (builds->empty() && !ctx.quiet)
    std::fprintf(stderr, "ferry ls: no refs in %s (push --ref NAME makes one)\n", a.store.c_str());
  for (const auto& b : *builds)
    std::printf("%-*s  %s\n", static_cast<int>(width), b.ref.c_str(), BuildLine(b).c_str());
  return 0;
}

}  // namespace

Runner AddLsCommand(CLI::App* app, const Context* ctx) {
  auto* ls = app->add_subcommand("ls", "List the refs of a store with the build each points to");
  auto a = std::make_shared<LsArgs>();
  ls->add_option("--store", a->store, "Store: a directory, file:///path or s3://bucket/prefix/")
      ->required();
  ls->add_flag("--json", a->json, "Print a JSON report on stdout");
  return [a, ctx](Output* out) { return RunLs(*a, *ctx, out); };
}

}  // namespace ferry::cli
