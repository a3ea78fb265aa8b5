#include "daemon/status_server.h"

#include <httplib.h>

namespace ferry::daemon {

Result<std::unique_ptr<StatusServer>> StatusServer::Start(const std::string& listen, Endpoints e) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return Status::Usage("--listen takes HOST:PORT (for example 127.0.0.1:9464), got '" + listen +
                         "'");
  std::string host = listen.substr(0, colon);
  int port = 0;
  try {
    port = std::stoi(listen.substr(colon + 1));
  } catch (...) {
    port = -1;
  }
  if (port < 0 || port > 65535) return Status::Usage("--listen: bad port in '" + listen + "'");
  std::unique_ptr<StatusServer> s(new StatusServer());
  s->server_ = std::make_unique<httplib::Server>();
  auto serve = [](std::function<Reply()> f) {
    return [f](const httplib::Request&, httplib::Response& res) {
      Reply r = f();
      res.status = r.code;
      res.set_content(r.body, r.type.c_str());
    };
  };
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, which would let a
  // second daemon bind the same port and silently share its probes.
  s->server_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  s->server_->Get("/health", serve(e.health));
  s->server_->Get("/health/live", serve([] {
                    return Reply{200, "application/json", "{\"status\":\"alive\"}\n"};
                  }));
  s->server_->Get("/metrics", serve(e.metrics));
  if (port == 0) {
    s->port_ = s->server_->bind_to_any_port(host);
    if (s->port_ < 0) return Status::Usage("cannot listen on " + listen);
  } else {
    if (!s->server_->bind_to_port(host, port))
      return Status::Usage("cannot listen on " + listen +
                           " (in use, or not an address of this machine): choose another --listen");
    s->port_ = port;
  }
  httplib::Server* srv = s->server_.get();
  s->thread_ = std::thread([srv] { srv->listen_after_bind(); });
  return s;
}

StatusServer::~StatusServer() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace ferry::daemon
