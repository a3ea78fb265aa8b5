// Cancellation: a token that an operation checks at safe points, and that a
// signal handler (or the daemon's shutdown) sets. Once cancelled it stays so.
// Operations given a cancelled token stop reading and sending, record
// nothing half-done, and return kInterrupted (docs/exit-codes.md).
#pragma once

#include <atomic>
#include <string>

#include "util/status.h"

namespace ferry {

class CancelToken {
 public:
  // Async-signal-safe.
  void Cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

  // kInterrupted naming `what` if cancelled, else OK.
  Status Check(const std::string& what) const {
    if (!cancelled()) return Status::OK();
    return Status::Interrupted(what + " was interrupted (SIGINT/SIGTERM); run it again");
  }

 private:
  std::atomic<bool> cancelled_{false};
  static_assert(std::atomic<bool>::is_always_lock_free);
};

// Whether `token` (may be null) is cancelled.
inline bool Cancelled(const CancelToken* token) { return token && token->cancelled(); }

// SIGINT and SIGTERM cancel `token` (which must outlive the process's use of
// it); a second one ends the process at once, as the default action would.
// SIGPIPE is ignored (a closed socket is an error, not a death).
void CancelOnSignals(CancelToken* token);

}  // namespace ferry
