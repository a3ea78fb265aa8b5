// libcurl's multi interface behind a blocking call: one thread drives every
// transfer of one S3Client, so many requests are in flight on one shared
// pool of kept-alive connections, whatever thread asked for them.
#pragma once

#include <curl/curl.h>

#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

namespace ferry {

class CurlLoop {
 public:
  // At most `max_host_connections` connections to one host (0: no limit).
  explicit CurlLoop(long max_host_connections);
  ~CurlLoop();
  CurlLoop(const CurlLoop&) = delete;
  CurlLoop& operator=(const CurlLoop&) = delete;

  // A reset easy handle from the pool, to set up for one transfer.
  CURL* Acquire();
  void Release(CURL* h);

  // Runs the transfer set up on `h` on the loop thread and waits for it. The
  // handle's callbacks run on that thread; their buffers must outlive this call.
  CURLcode Perform(CURL* h);

 private:
  struct Transfer {
    CURL* h;
    std::promise<CURLcode> done;
  };
  void Loop();

  CURLM* multi_;
  std::mutex mu_;
  std::deque<Transfer*> incoming_;  // guarded by mu_
  std::vector<CURL*> free_;         // guarded by mu_
  bool stop_ = false;               // guarded by mu_
  std::thread thread_;
};

}  // namespace ferry
