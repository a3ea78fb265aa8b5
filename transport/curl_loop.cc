#include "transport/curl_loop.h"

namespace ferry {

CurlLoop::CurlLoop(long max_host_connections) : multi_(curl_multi_init()) {
  if (max_host_connections > 0) {
    curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, max_host_connections);
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, max_host_connections);
  }
  thread_ = std::thread([this] { Loop(); });
}

CurlLoop::~CurlLoop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  curl_multi_wakeup(multi_);
  thread_.join();
  for (CURL* h : free_) curl_easy_cleanup(h);
  curl_multi_cleanup(multi_);
}

CURL* CurlLoop::Acquire() {
  CURL* h = nullptr;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!free_.empty()) {
      h = free_.back();
      free_.pop_back();
    }
  }
  if (!h) return curl_easy_init();
  curl_easy_reset(h);
  return h;
}

void CurlLoop::Release(CURL* h) {
  std::lock_guard<std::mutex> l(mu_);
  free_.push_back(h);
}

CURLcode CurlLoop::Perform(CURL* h) {
  Transfer t{h, {}};
  std::future<CURLcode> result = t.done.get_future();
  {
    std::lock_guard<std::mutex> l(mu_);
    incoming_.push_back(&t);
  }
  curl_multi_wakeup(multi_);
  return result.get();
}

void CurlLoop::Loop() {
  int active = 0;
  for (;;) {
    std::deque<Transfer*> added;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stop_ && active == 0 && incoming_.empty()) return;
      added.swap(incoming_);
    }
    for (Transfer* t : added) {
      curl_easy_setopt(t->h, CURLOPT_PRIVATE, t);
      if (curl_multi_add_handle(multi_, t->h) != CURLM_OK) {
        t->done.set_value(CURLE_FAILED_INIT);
        continue;
      }
      active++;
    }
    int running = 0;
    curl_multi_perform(multi_, &running);
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(multi_, &left)) {
      if (m->msg != CURLMSG_DONE) continue;
      Transfer* t = nullptr;
      curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &t);
      CURLcode rc = m->data.result;
      curl_multi_remove_handle(multi_, m->easy_handle);
      active--;
      t->done.set_value(rc);  // the caller may reuse the handle from here on
    }
    curl_multi_poll(multi_, nullptr, 0, 1000, nullptr);
  }
}

}  // namespace ferry
