// Status and Result<T>: Ferry's one error type.
//
// A Status is either OK (no allocation) or carries a Code, a message naming the
// thing that failed and how to fix it, and two flags taken from rocksdb's
// IOStatus:
//   retryable(): the same call may succeed later (timeouts, 503 SlowDown).
//   data_loss(): bytes did not match their hash. Never retried silently,
//                always surfaced to the user.
// Codes map one-to-one onto the process exit codes in docs/exit-codes.md; the
// numbering below is pinned: append only, never renumber.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace ferry {

enum class Code : int {
  kOk = 0,
  kInternal = 1,           // a bug in Ferry
  kUsage = 2,              // bad command line or option value
  kSourceUnreadable = 3,   // a source file/directory could not be read
  kStoreUnavailable = 4,   // the store could not be opened, read or written
  kVerifyFailed = 5,       // stored data is missing or does not match its hash
  kPartial = 6,            // some items succeeded, some failed
  kNotFound = 7,           // ref, manifest or object does not exist
  kCorruptManifest = 8,    // manifest unreadable: bad magic, version, truncation, hash
  kUnsafePath = 9,         // restore refused a path outside its target
  kNoSpace = 10,           // ENOSPC / EDQUOT / quota exceeded
  kAuth = 11,              // credentials rejected
  kInterrupted = 12,       // SIGINT/SIGTERM
  kTargetUnwritable = 13,  // restore target could not be written
  kConflict = 14,          // another writer changed the object first (a ref moved); retry
  kTargetBreached = 15,    // drill: restored and verified, but slower or older than its target
  kSmokeTestFailed = 16,   // drill: the smoke test run in the restored tree failed
  kUntrusted = 17,  // --trust-key: a build unsigned, signed by another key, altered, rolled back
  kTooManyDeletes = 18,  // push --delete: more deletions than --max-delete; nothing sent
};

// Short, stable name of a code ("verify-failed"), used in JSON reports.
const char* CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(Code code, std::string msg);
  Status(const Status& other);
  Status& operator=(const Status& other);
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  static Status OK() { return Status(); }
  static Status Internal(std::string m) { return Status(Code::kInternal, std::move(m)); }
  static Status Usage(std::string m) { return Status(Code::kUsage, std::move(m)); }
  static Status SourceUnreadable(std::string m) {
    return Status(Code::kSourceUnreadable, std::move(m));
  }
  static Status StoreUnavailable(std::string m) {
    return Status(Code::kStoreUnavailable, std::move(m));
  }
  static Status VerifyFailed(std::string m) { return Status(Code::kVerifyFailed, std::move(m)); }
  static Status NotFound(std::string m) { return Status(Code::kNotFound, std::move(m)); }
  static Status CorruptManifest(std::string m) {
    return Status(Code::kCorruptManifest, std::move(m));
  }
  static Status UnsafePath(std::string m) { return Status(Code::kUnsafePath, std::move(m)); }
  static Status NoSpace(std::string m) { return Status(Code::kNoSpace, std::move(m)); }
  static Status Auth(std::string m) { return Status(Code::kAuth, std::move(m)); }
  static Status Interrupted(std::string m) { return Status(Code::kInterrupted, std::move(m)); }
  static Status TargetUnwritable(std::string m) {
    return Status(Code::kTargetUnwritable, std::move(m));
  }
  static Status Conflict(std::string m) { return Status(Code::kConflict, std::move(m)); }
  static Status Untrusted(std::string m) { return Status(Code::kUntrusted, std::move(m)); }
  static Status TooManyDeletes(std::string m) {
    return Status(Code::kTooManyDeletes, std::move(m));
  }

  bool ok() const { return state_ == nullptr; }
  Code code() const { return state_ ? state_->code : Code::kOk; }
  const std::string& message() const;
  bool retryable() const { return state_ && state_->retryable; }
  bool data_loss() const { return state_ && state_->data_loss; }

  Status& SetRetryable(bool v = true);
  Status& SetDataLoss(bool v = true);
  // Prefixes the message with "context: ", keeping code and flags.
  Status WithContext(const std::string& context) const;

  // "verify-failed: chunk ab12.. is corrupt" (or "ok").
  std::string ToString() const;

 private:
  struct State {
    Code code;
    std::string msg;
    bool retryable = false;
    bool data_loss = false;
  };
  std::unique_ptr<State> state_;
};

// Result<T>: a T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  Status take_status() { return ok() ? Status() : std::move(std::get<Status>(v_)); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T operator*() && { return std::move(value()); }

 private:
  std::variant<T, Status> v_;
};

#define FERRY_CONCAT_INNER(a, b) a##b
#define FERRY_CONCAT(a, b) FERRY_CONCAT_INNER(a, b)

// Returns the Status of `expr` from the enclosing function if it is not OK.
#define RETURN_IF_ERROR(expr)     \
  do {                            \
    ::ferry::Status _st = (expr); \
    if (!_st.ok()) return _st;    \
  } while (0)

// ASSIGN_OR_RETURN(auto x, FunctionReturningResult());
#define ASSIGN_OR_RETURN(lhs, expr) ASSIGN_OR_RETURN_IMPL(FERRY_CONCAT(_res_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.take_status();    \
  lhs = std::move(tmp).value()

}  // namespace ferry
