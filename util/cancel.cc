#include "util/cancel.h"

#include <signal.h>

#include <cstring>

namespace ferry {

namespace {

CancelToken* g_token = nullptr;
std::atomic<int> g_signals{0};

void OnSignal(int sig) {
  if (g_signals.fetch_add(1) > 0 || !g_token) {
    // The second signal: the user means it. Die as the signal would.
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  g_token->Cancel();
}

}  // namespace

void CancelOnSignals(CancelToken* token) {
  g_token = token;
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

}  // namespace ferry
