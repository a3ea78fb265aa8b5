// ferry daemon: replicate a watched directory continuously (docs/daemon.md).
#include "daemon/daemon.h"
#include "engine/stat_cache.h"
#include "tools/cli.h"
#include "util/log.h"

namespace ferry::cli {
namespace {

struct DaemonArgs {
  daemon::DaemonOptions opts;
  std::vector<std::string> tags;
  std::string settle = "2s", max_delay = "30s", rpo = "5m", stall_after = "10m", reconcile = "1h";
  int level = 3;
  size_t memory_mib = 256;
  unsigned threads = 0;
  bool json = false;
};

Status Resolve(const DaemonArgs& a, daemon::DaemonOptions* o) {
  struct {
    const char* name;
    const std::string& text;
    double* out;
  } durations[] = {{"--settle", a.settle, &o->schedule.settle},
                   {"--max-delay", a.max_delay, &o->schedule.max_delay},
                   {"--rpo", a.rpo, &o->schedule.rpo},
                   {"--stall-after", a.stall_after, &o->schedule.stall_after},
                   {"--reconcile", a.reconcile, &o->reconcile_every}};
  for (auto& d : durations) {
    ASSIGN_OR_RETURN(*d.out, ParseDuration(d.name, d.text));
  }
  RETURN_IF_ERROR(ParseTags(a.tags, &o->push.tags));
  o->push.zstd_level = a.level;
  o->push.pipeline.memory_budget = a.memory_mib << 20;
  o->push.pipeline.threads = a.threads;
  return Status::OK();
}

int RunDaemonCommand(const DaemonArgs& a, const Context& ctx, Output* out) {
  daemon::DaemonOptions o = a.opts;
  o.store = ctx.store;
  if (Status st = Resolve(a, &o); !st.ok()) return out->Fail(st);
  int port = 0;
  Status st = daemon::RunDaemon(o, ctx.cancel, [&](int p) {
    port = p;
    if (a.json) {
      // One line once serving, for scripts that start it in the background.
      json j = {{"status", "ready"}, {"port", p}, {"watch", o.watch}, {"ref", o.ref}};
      std::printf("%s\n", j.dump().c_str());
      std::fflush(stdout);
    }
  });
  if (!st.ok()) return out->Fail(st);
  if (a.json) {
    json j = {{"status", "stopped"}, {"port", port}};
    std::printf("%s\n", j.dump().c_str());
  }
  return 0;  // stopped by SIGTERM/SIGINT, as asked
}

}  // namespace

Runner AddDaemonCommand(CLI::App* app, const Context* ctx) {
  auto* d = app->add_subcommand(
      "daemon", "Replicate a directory continuously; /health and /metrics over HTTP");
  auto a = std::make_shared<DaemonArgs>();
  auto& o = a->opts;
  d->add_option("--watch", o.watch, "Directory to replicate (watched with inotify)")->required();
  d->add_option("--to", o.tos,
                "Destination: a directory, file:///path or s3://bucket/prefix/ (repeatable)")
      ->required()
      ->allow_extra_args(false);
  d->add_option("--ref", o.ref, "Ref the daemon's builds are recorded under (e.g. ci/artifacts)")
      ->required();
  d->add_option("--state", o.state_dir, "State directory: the journal and the stat cache")
      ->required();
  d->add_option("--listen", o.listen, "HOST:PORT for /health and /metrics (port 0: any free)")
      ->capture_default_str();
  d->add_option("--job", o.job, "Name of this job in metrics and logs")->capture_default_str();
  d->add_option("--settle", a->settle, "A file is taken once closed and unchanged this long")
      ->capture_default_str();
  d->add_option("--max-delay", a->max_delay,
                "While changes keep flowing, record a build at least this often")
      ->capture_default_str();
  d->add_option("--rpo", a->rpo, "RPO target: /health fails while the lag is over it")
      ->capture_default_str();
  d->add_option("--stall-after", a->stall_after,
                "Pending work and nothing replicated this long: /health says stalled")
      ->capture_default_str();
  d->add_option("--reconcile", a->reconcile,
                "Recheck every object in DR this often (and at start); between, unchanged "
                "files are trusted to the last check")
      ->capture_default_str();
  d->add_option("--layout", o.layout, "New s3:// destinations: mirror (default) or store")
      ->check(CLI::IsMember({"mirror", "store"}));
  d->add_option("--tag", a->tags, "Build metadata key=value for every build (repeatable)")
      ->allow_extra_args(false);
  d->add_option("--compression", a->level, "zstd level for stored chunks, 0 = none")
      ->capture_default_str()
      ->check(CLI::Range(0, 19));
  d->add_option("--memory", a->memory_mib, "Buffer memory budget in MiB per cycle")
      ->capture_default_str()
      ->check(CLI::Range(16, 1 << 20));
  d->add_option("--threads", a->threads, "Worker threads (default: one per core)");
  d->add_flag("--json", a->json,
              "Print one JSON line when serving (with the port) and one when stopped");
  return [a, ctx](Output* out) { return RunDaemonCommand(*a, *ctx, out); };
}

}  // namespace ferry::cli
