// ferry daemon: replicate watched directories continuously (docs/daemon.md).
#include "daemon/config.h"
#include "daemon/daemon.h"
#include "tools/cli.h"
#include "util/log.h"

namespace ferry::cli {
namespace {

struct DaemonArgs {
  daemon::JobOptions job;  // from the flags: the one job, or every job's defaults
  std::string config, listen = "127.0.0.1:9464";
  std::vector<std::string> tags;
  std::string settle = "2s", interval = "5s", rpo = "5m", stall_after = "10m", reconcile = "1h",
              poll = "10s";
  int level = 3;
  size_t memory_mib = 256;
  unsigned threads = 0;
  bool json = false;
};

// The job the flags describe (with --config: the defaults every job starts from).
Status JobFromFlags(const DaemonArgs& a, const Context& ctx, daemon::JobOptions* o) {
  *o = a.job;
  o->store = ctx.store;
  struct {
    const char* name;
    const std::string& text;
    double* out;
  } durations[] = {{"--settle", a.settle, &o->schedule.settle},
                   {"--interval", a.interval, &o->schedule.interval},
                   {"--rpo", a.rpo, &o->schedule.rpo},
                   {"--stall-after", a.stall_after, &o->schedule.stall_after},
                   {"--reconcile", a.reconcile, &o->reconcile_every},
                   {"--poll", a.poll, &o->poll_every}};
  for (auto& d : durations) {
    ASSIGN_OR_RETURN(*d.out, daemon::ParseDuration(d.name, d.text));
  }
  if (o->poll_every < 1) return Status::Usage("--poll must be at least 1s (got '" + a.poll + "')");
  RETURN_IF_ERROR(ParseTags(a.tags, &o->push.tags));
  o->push.zstd_level = a.level;
  o->push.pipeline.memory_budget = a.memory_mib << 20;
  o->push.pipeline.threads = a.threads;
  return Status::OK();
}

Result<daemon::DaemonOptions> Resolve(const DaemonArgs& a, const Context& ctx) {
  daemon::JobOptions flags;
  RETURN_IF_ERROR(JobFromFlags(a, ctx, &flags));
  const bool job_flags =
      !a.job.watch.empty() || !a.job.tos.empty() || !a.job.ref.empty() || !a.job.state_dir.empty();
  if (a.config.empty()) {
    if (a.job.watch.empty() || a.job.tos.empty() || a.job.ref.empty() || a.job.state_dir.empty())
      return Status::Usage(
          "daemon needs --watch DIR --to STORE --ref NAME --state DIR, or --config FILE");
    return daemon::DaemonOptions{a.listen, {flags}};
  }
  if (job_flags)
    return Status::Usage(
        "--config describes the jobs: drop --watch, --to, --ref and --state (or drop --config)");
  ASSIGN_OR_RETURN(auto d, daemon::LoadConfig(a.config, flags));
  if (a.listen != "127.0.0.1:9464") d.listen = a.listen;  // the flag wins over the file
  return d;
}

int RunDaemonCommand(const DaemonArgs& a, const Context& ctx, Output* out) {
  auto opts = Resolve(a, ctx);
  if (!opts.ok()) return out->Fail(opts.status());
  int port = 0;
  Status st = daemon::RunDaemon(*opts, ctx.cancel, [&](int p) {
    port = p;
    if (a.json) {
      // One line once serving, for scripts that start it in the background.
      json jobs = json::array();
      for (const auto& j : opts->jobs)
        jobs.push_back({{"job", j.job}, {"watch", j.watch}, {"ref", j.ref}});
      json j = {{"status", "ready"}, {"port", p}, {"jobs", jobs}};
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
      "daemon", "Replicate directories continuously; /health and /metrics over HTTP");
  auto a = std::make_shared<DaemonArgs>();
  auto& o = a->job;
  d->add_option("--config", a->config,
                "TOML file with the jobs (docs/daemon.md); else one job from the flags below");
  d->add_option("--watch", o.watch,
                "Directory to replicate (watched with inotify), or s3://bucket/prefix/ (polled)");
  d->add_option("--poll", a->poll, "s3:// sources: list the prefix this often for changes")
      ->capture_default_str();
  d->add_option("--broker", o.broker.url,
                "s3:// sources: consume their bucket notifications from this RabbitMQ "
                "(amqp://host:port/vhost) instead of polling (docs/daemon.md)");
  d->add_option("--exchange", o.broker.exchange, "--broker: the topic exchange events arrive on")
      ->capture_default_str();
  d->add_option("--queue", o.broker.queue,
                "--broker: this job's quorum queue (default ferry-JOB; its dead letters go to "
                "QUEUE.dead)");
  d->add_option("--routing-key", o.broker.routing_key,
                "--broker: the routing key the queue is bound with (RGW: the topic name)")
      ->capture_default_str();
  d->add_option("--prefetch", o.broker.prefetch, "--broker: unacknowledged messages held at most")
      ->capture_default_str();
  d->add_option("--delivery-limit", o.broker.delivery_limit,
                "--broker: deliveries of one message before the broker dead-letters it")
      ->capture_default_str();
  d->add_option("--poison-after", o.poison_after,
                "Give up on an object whose read fails this many cycles in a row (left out of "
                "builds until it changes; its messages dead-lettered)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  d->add_flag("--merge", o.push.merge,
              "Store layout: each cycle pushes only what changed, merged onto the ref's latest "
              "build, so daemons on one queue split its work (docs/merge.md)");
  d->add_flag("--delete", o.push.propagate_deletes,
              "Mirror destinations: delete the objects of files gone from the source once a "
              "build without them is recorded (docs/deletes.md)");
  d->add_option("--max-delete", o.push.max_delete,
                "--delete: a cycle that would delete more objects than this from one destination "
                "records nothing and fails /health until the limit is raised or the source fixed")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  d->add_option("--source-endpoint-url", o.source_endpoint_url,
                "s3:// sources: their S3 endpoint, if not the destinations' (--endpoint-url)");
  d->add_option("--to", o.tos,
                "Destination: a directory, file:///path or s3://bucket/prefix/ (repeatable)")
      ->allow_extra_args(false);
  d->add_option("--ref", o.ref, "Ref the daemon's builds are recorded under (e.g. ci/artifacts)");
  d->add_option("--state", o.state_dir, "State directory: the journal and the stat cache");
  d->add_option("--listen", a->listen, "HOST:PORT for /health and /metrics (port 0: any free)")
      ->capture_default_str();
  d->add_option("--job", o.job, "Name of this job in metrics and logs")->capture_default_str();
  d->add_option("--settle", a->settle, "A file is taken once closed and unchanged this long")
      ->capture_default_str();
  d->add_option("--interval", a->interval,
                "At most one build this often (a change waits at most settle + interval)")
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
  AddFilterOptions(d, a, &a->job.filter);  // neither replicated nor pending
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
