// The daemon's Prometheus metrics (prometheus-cpp's registry and text
// format), named as S3 Replication's are, per job and destination:
//   ferry_replication_lag_seconds         age of the oldest change not yet in DR (0: caught up)
//   ferry_pending_objects                 changes waiting
//   ferry_replicated_objects_total        objects written into a destination: new chunks
//                                         (store layout), objects uploaded or copied (mirror)
//   ferry_replicated_bytes_total          new bytes (store, before compression), bytes
//                                         sent or copied (mirror)
//   ferry_deleted_objects_total           --delete: objects of files gone from the source
//                                         deleted in a destination (mirror)
//   ferry_source_bytes_read_total         bytes read from the source
//   ferry_replication_failures_total      failed cycles, by reason (an exit-code name;
//                                         too-many-deletes: over --max-delete)
//   ferry_replication_latency_seconds     per change: first event -> recorded in DR
//   ferry_builds_recorded_total           builds (manifests + ref) recorded
//   ferry_last_success_timestamp_seconds  when the last build was recorded everywhere
//   ferry_last_reconcile_timestamp_seconds  when every object was last rechecked
//   ferry_healthy                         1 if /health answers 200
//   ferry_poisoned_objects                objects given up on after failing too many cycles
//   ferry_dead_lettered_messages_total    broker messages moved to the dead-letter queue
#pragma once

#include <memory>
#include <string>

namespace prometheus {
class Registry;
}

namespace ferry::daemon {

// The metrics of every job of one daemon, served as one /metrics page.
class MetricsRegistry {
 public:
  MetricsRegistry();
  std::string Text() const;  // the Prometheus text exposition format

 private:
  friend class Metrics;
  std::shared_ptr<prometheus::Registry> registry_;
};

// One job's series (labelled job="...") in `registry`.
class Metrics {
 public:
  Metrics(MetricsRegistry* registry, const std::string& job);
  ~Metrics();
  void SetLag(double seconds);
  void SetPending(size_t n);
  void SetHealthy(bool ok);
  void Replicated(const std::string& destination, uint64_t objects, uint64_t bytes);
  void Deleted(const std::string& destination, uint64_t objects);
  // Bytes read from the job's source (a bucket source: GETs from the primary).
  void SourceRead(uint64_t bytes);
  void Failed(const std::string& reason);
  void Latency(double seconds);
  void BuildRecorded(double now);
  void Reconciled(double now);
  void SetPoisoned(size_t n);
  void SetDeadLettered(uint64_t total);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::daemon
