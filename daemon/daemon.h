// `ferry daemon`: continuous replication of a watched directory to one or
// more destinations (docs/daemon.md). Each replication cycle is a push of the
// tree (the stat cache keeps it to what changed) recorded as a build under
// the job's ref, so verify, restore and everything later work on it as on
// any push.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "daemon/amqp_feed.h"
#include "daemon/scheduler.h"
#include "engine/ops.h"
#include "transport/s3_store.h"
#include "util/cancel.h"
#include "util/glob.h"
#include "util/status.h"

namespace ferry::daemon {

// One replication job: a watched tree, its destinations, its ref.
struct JobOptions {
  std::string job = "default";  // the metrics' and logs' name for it
  std::string watch;            // the directory replicated, or s3://bucket/prefix/
  // Bucket sources: listed every `poll_every` seconds (daemon/bucket_poller.h),
  // at `source_endpoint_url` if not the destinations' endpoint.
  double poll_every = 10;
  std::string source_endpoint_url;
  // Bucket sources: their bucket notifications from RabbitMQ instead of
  // polling (daemon/amqp_feed.h), when broker.url is set.
  BrokerOptions broker;
  // An object whose read fails this many cycles in a row is given up on
  // (poisoned): left out of builds until it changes again, its broker
  // messages dead-lettered, counted in ferry_poisoned_objects.
  unsigned poison_after = 5;
  std::vector<std::string> tos;
  std::string layout;     // for new s3:// destinations ("" = mirror)
  std::string ref;        // builds are recorded under it
  std::string state_dir;  // journal.db, stat cache
  std::string listen = "127.0.0.1:9464";
  SchedulerOptions schedule;
  // Between reconciles, files the stat cache vouches for are not rechecked
  // in a mirror (their objects as the last build recorded them); every
  // `reconcile_every` seconds (and at start) every object is checked again.
  double reconcile_every = 3600;
  StoreOptions store;
  PushOptions push;  // compression, pipeline, tags (sources, ref: from above)
  // Paths (as in a manifest) neither replicated nor counted as pending:
  // --exclude / --include, exclude = [...] in the config (util/glob.h rules).
  PathFilter filter;
};

struct DaemonOptions {
  std::string listen = "127.0.0.1:9464";  // /health, /health/live, /metrics for every job
  std::vector<JobOptions> jobs;
};

// Runs every job until `cancel` fires (SIGTERM, SIGINT), then stops taking
// work, lets the cycles in flight stop (a push records nothing half-done and leaves
// multipart uploads to resume) and returns OK. Errors that prevent a start
// (bad options, a state directory that cannot be written, a source that is
// not a directory, an address that cannot be bound) are returned at once.
// `ready`, if given, is called once serving, with the bound HTTP port.
// /health answers 200 only if every job is healthy.
Status RunDaemon(const DaemonOptions& opts, const CancelToken* cancel,
                 const std::function<void(int port)>& ready = nullptr);

}  // namespace ferry::daemon
