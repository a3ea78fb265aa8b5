// A loopback HTTP server for unit tests of the S3 client: it answers each
// request with the next canned response (the last one repeats), one request
// per connection, and counts requests.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ferry::testing {

class FakeServer {
 public:
  explicit FakeServer(std::vector<std::string> responses) : responses_(std::move(responses)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    listen(fd_, 16);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeServer() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  int port() const { return port_; }
  int requests() const { return requests_; }
  // Every request received so far, head and body, as sent.
  std::vector<std::string> received() {
    std::lock_guard<std::mutex> l(mu_);
    return received_;
  }

 private:
  void Serve() {
    while (!stop_) {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      // One request per connection: read the head, then any body, then answer and close.
      std::string req;
      char buf[65536];
      while (req.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = read(c, buf, sizeof buf);
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      size_t cl = req.find("content-length: ");
      if (cl == std::string::npos) cl = req.find("Content-Length: ");
      if (cl != std::string::npos) {
        size_t want = std::stoul(req.substr(cl + 16)) + req.find("\r\n\r\n") + 4;
        while (req.size() < want) {
          ssize_t n = read(c, buf, sizeof buf);
          if (n <= 0) break;
          req.append(buf, static_cast<size_t>(n));
        }
      }
      {
        std::lock_guard<std::mutex> l(mu_);
        received_.push_back(req);
      }
      int i = requests_++;
      const std::string& r =
          responses_[std::min<size_t>(static_cast<size_t>(i), responses_.size() - 1)];
      (void)!write(c, r.data(), r.size());
      close(c);
    }
  }
  std::vector<std::string> responses_;
  int fd_ = -1, port_ = 0;
  std::atomic<int> requests_{0};
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::string> received_;  // guarded by mu_
  std::thread thread_;
};

inline std::string Response(int status, const std::string& reason, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason +
         "\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\nETag: \"abc\"\r\n\r\n" + body;
}

}  // namespace ferry::testing
