#include "daemon/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace ferry::daemon {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

MetricsRegistry::MetricsRegistry() : registry_(std::make_shared<prometheus::Registry>()) {}

std::string MetricsRegistry::Text() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

// Families are registered once per name: a second job's Build...().Register
// finds the first's (the registry's Merge behaviour) and adds its own series.
struct Metrics::Impl {
  std::string job;
  std::shared_ptr<prometheus::Registry> registry;
  prometheus::Family<prometheus::Gauge>& lag = BuildGauge()
                                                   .Name("ferry_replication_lag_seconds")
                                                   .Help("Age of the oldest change not yet in DR")
                                                   .Register(*registry);
  prometheus::Family<prometheus::Gauge>& pending =
      BuildGauge().Name("ferry_pending_objects").Help("Changes waiting").Register(*registry);
  prometheus::Family<prometheus::Gauge>& healthy =
      BuildGauge().Name("ferry_healthy").Help("1 if /health answers 200").Register(*registry);
  prometheus::Family<prometheus::Counter>& objects =
      BuildCounter()
          .Name("ferry_replicated_objects_total")
          .Help("Files sent or copied into a destination")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& bytes = BuildCounter()
                                                       .Name("ferry_replicated_bytes_total")
                                                       .Help("Bytes sent or copied")
                                                       .Register(*registry);
  prometheus::Family<prometheus::Counter>& deleted =
      BuildCounter()
          .Name("ferry_deleted_objects_total")
          .Help("--delete: objects of files gone from the source deleted in a destination")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& source_read =
      BuildCounter()
          .Name("ferry_source_bytes_read_total")
          .Help("Bytes read from the source (a bucket source: transfer out of the primary)")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& failures =
      BuildCounter()
          .Name("ferry_replication_failures_total")
          .Help("Failed replication cycles by reason")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& builds =
      BuildCounter()
          .Name("ferry_builds_recorded_total")
          .Help("Builds recorded in every destination")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& latency =
      BuildHistogram()
          .Name("ferry_replication_latency_seconds")
          .Help("Per change: first event to recorded in DR")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& last_success =
      BuildGauge()
          .Name("ferry_last_success_timestamp_seconds")
          .Help("When the last build was recorded everywhere")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& last_reconcile =
      BuildGauge()
          .Name("ferry_last_reconcile_timestamp_seconds")
          .Help("When every object was last rechecked in DR")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& poisoned =
      BuildGauge()
          .Name("ferry_poisoned_objects")
          .Help("Objects given up on after failing too many cycles (left out of builds)")
          .Register(*registry);
  // A counter (a _total is one): the feed counts for itself, and each report
  // of its count adds what is new since the last (dead_lettered_seen).
  prometheus::Family<prometheus::Counter>& dead_lettered =
      BuildCounter()
          .Name("ferry_dead_lettered_messages_total")
          .Help("Broker messages moved to the dead-letter queue")
          .Register(*registry);
  uint64_t dead_lettered_seen = 0;
  prometheus::Histogram& latency_job = latency.Add(
      {{"job", job}}, prometheus::Histogram::BucketBoundaries{0.25, 0.5, 1, 1.5, 2, 3, 4, 5, 7.5,
                                                              10, 15, 20, 30, 60, 120, 300, 1800});

  Impl(std::shared_ptr<prometheus::Registry> r, std::string j)
      : job(std::move(j)), registry(std::move(r)) {}
};

Metrics::Metrics(MetricsRegistry* registry, const std::string& job)
    : impl_(std::make_unique<Impl>(registry->registry_, job)) {
  // Present from the start, so a scrape never finds a series missing.
  SetLag(0);
  SetPending(0);
  SetPoisoned(0);
  impl_->builds.Add({{"job", job}});
}
Metrics::~Metrics() = default;

void Metrics::SetLag(double s) { impl_->lag.Add({{"job", impl_->job}}).Set(s); }
void Metrics::SetPending(size_t n) {
  impl_->pending.Add({{"job", impl_->job}}).Set(static_cast<double>(n));
}
void Metrics::SetHealthy(bool ok) { impl_->healthy.Add({{"job", impl_->job}}).Set(ok ? 1 : 0); }
void Metrics::Replicated(const std::string& dest, uint64_t objects, uint64_t bytes) {
  impl_->objects.Add({{"job", impl_->job}, {"destination", dest}})
      .Increment(static_cast<double>(objects));
  impl_->bytes.Add({{"job", impl_->job}, {"destination", dest}})
      .Increment(static_cast<double>(bytes));
}
void Metrics::Deleted(const std::string& dest, uint64_t objects) {
  impl_->deleted.Add({{"job", impl_->job}, {"destination", dest}})
      .Increment(static_cast<double>(objects));
}
void Metrics::SourceRead(uint64_t bytes) {
  impl_->source_read.Add({{"job", impl_->job}}).Increment(static_cast<double>(bytes));
}
void Metrics::Failed(const std::string& reason) {
  impl_->failures.Add({{"job", impl_->job}, {"reason", reason}}).Increment();
}
void Metrics::Latency(double s) { impl_->latency_job.Observe(s); }
void Metrics::BuildRecorded(double now) {
  impl_->builds.Add({{"job", impl_->job}}).Increment();
  impl_->last_success.Add({{"job", impl_->job}}).Set(now);
}
void Metrics::SetPoisoned(size_t n) {
  impl_->poisoned.Add({{"job", impl_->job}}).Set(static_cast<double>(n));
}
void Metrics::SetDeadLettered(uint64_t total) {
  auto& c = impl_->dead_lettered.Add({{"job", impl_->job}});  // present from the first report
  // A feed opened again (its source went missing and came back) counts from 0.
  if (total < impl_->dead_lettered_seen) impl_->dead_lettered_seen = 0;
  if (total > impl_->dead_lettered_seen)
    c.Increment(static_cast<double>(total - impl_->dead_lettered_seen));
  impl_->dead_lettered_seen = total;
}
void Metrics::Reconciled(double now) { impl_->last_reconcile.Add({{"job", impl_->job}}).Set(now); }

}  // namespace ferry::daemon
