// Bucket notifications through RabbitMQ as a job's change feed
// (docs/daemon.md, "Bucket notifications"): RGW (or anything that speaks the
// S3 event format) publishes ObjectCreated/ObjectRemoved events to a topic
// exchange; each job consumes its own quorum queue with manual
// acknowledgements and a bounded prefetch. A message is acknowledged only
// once every change it names is recorded in every destination (or left out
// by the job's filter, or about another bucket or prefix); a daemon that
// dies leaves its messages unacknowledged, and the broker redelivers them.
// A message that cannot be parsed, or whose object failed too many cycles
// (poisoned), is rejected into the dead-letter queue <queue>.dead; a message
// redelivered more than `delivery_limit` times goes there by itself
// (x-delivery-limit). Events are hints: each cycle pushes the prefix as a
// listing shows it (docs/sources.md), so a lost event costs latency, never
// data, and a reconnect to the broker rescans the whole prefix.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "daemon/watcher.h"
#include "util/status.h"

namespace ferry::daemon {

struct BrokerOptions {
  std::string url;                 // amqp://[user[:password]@]host[:port][/vhost]
  std::string exchange = "ferry";  // the topic exchange events are published to
  std::string queue;               // this job's queue (declared: quorum, durable)
  std::string routing_key = "#";   // what the queue is bound to (RGW: the topic's name)
  unsigned prefetch = 500;         // unacknowledged messages held at most
  unsigned delivery_limit = 5;     // deliveries before the broker dead-letters a message
};

// Checks the options (kUsage naming what is wrong); secrets are never echoed.
Status ValidateBrokerOptions(const BrokerOptions& o);

// The URL without its password, for logs and /health.
std::string RedactedBrokerUrl(const std::string& url);

class AmqpFeed final : public ChangeFeed {
 public:
  ~AmqpFeed() override;
  // Connects, declares the exchange, the queue and its dead-letter queue,
  // binds and starts consuming. kStoreUnavailable if the broker cannot be
  // reached, kAuth if it refuses the login. Only events about s3://bucket/prefix
  // become changes (`prefix` is "" or ends with '/').
  // Every `rescan_every` seconds the whole prefix is reported changed too
  // (events lost while nobody listened are picked up then).
  static Result<std::unique_ptr<AmqpFeed>> Open(const BrokerOptions& o, std::string bucket,
                                                std::string prefix, double rescan_every);

  Status Poll(int timeout_ms, TreeEvents* out) override;
  std::string Describe() const override;
  void Settle(const std::function<Fate(const std::string&)>& fate) override;
  uint64_t dead_lettered() const override { return dead_lettered_; }
  std::string failing() const override { return conn_ ? "" : last_error_; }

  // One message body as changes (paths below the prefix); false if it is
  // not an S3 event document. Exposed for tests.
  static bool ParseEvent(const std::string& body, const std::string& bucket,
                         const std::string& prefix, std::vector<std::string>* paths);

 private:
  struct Conn;
  AmqpFeed(BrokerOptions o, std::string bucket, std::string prefix, double rescan_every);
  Status Connect();
  void Disconnect();

  BrokerOptions o_;
  std::string bucket_, prefix_;
  std::unique_ptr<Conn> conn_;
  struct Held {
    uint64_t tag;
    std::vector<std::string> paths;
  };
  std::vector<Held> held_;  // delivered, not yet acknowledged or rejected
  uint64_t dead_lettered_ = 0;
  double next_connect_ = 0;
  std::string last_error_;  // why the connection was lost or refused
  double rescan_every_, next_rescan_;
};

}  // namespace ferry::daemon
