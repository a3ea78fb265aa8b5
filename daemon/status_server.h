// The daemon's HTTP endpoints (cpp-httplib), for probes and Prometheus:
//   GET /health       200 + JSON when every job runs and is caught up within
//                     its RPO target; 503 + JSON with the reasons otherwise
//   GET /health/live  200 while the process serves requests
//   GET /metrics      the Prometheus text format
// Binds 127.0.0.1 unless told otherwise.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "util/status.h"

namespace httplib {
class Server;
}

namespace ferry::daemon {

struct Reply {
  int code = 200;
  std::string type = "application/json";
  std::string body;
};

struct Endpoints {
  std::function<Reply()> health, metrics;
};

class StatusServer {
 public:
  // `listen` is HOST:PORT (PORT 0: any free port; see port()). kUsage naming
  // the address if it is malformed or cannot be bound (in use).
  static Result<std::unique_ptr<StatusServer>> Start(const std::string& listen, Endpoints e);
  ~StatusServer();  // stops serving and joins
  int port() const { return port_; }

 private:
  StatusServer() = default;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace ferry::daemon
