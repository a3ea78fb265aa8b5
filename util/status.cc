#include "util/status.h"

namespace ferry {

const char* CodeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "ok";
    case Code::kInternal:
      return "internal";
    case Code::kUsage:
      return "usage";
    case Code::kSourceUnreadable:
      return "source-unreadable";
    case Code::kStoreUnavailable:
      return "store-unavailable";
    case Code::kVerifyFailed:
      return "verify-failed";
    case Code::kPartial:
      return "partial";
    case Code::kNotFound:
      return "not-found";
    case Code::kCorruptManifest:
      return "corrupt-manifest";
    case Code::kUnsafePath:
      return "unsafe-path";
    case Code::kNoSpace:
      return "no-space";
    case Code::kAuth:
      return "auth";
    case Code::kInterrupted:
      return "interrupted";
    case Code::kTargetUnwritable:
      return "target-unwritable";
    case Code::kConflict:
      return "conflict";
    case Code::kTargetBreached:
      return "target-breached";
    case Code::kSmokeTestFailed:
      return "smoke-test-failed";
    case Code::kUntrusted:
      return "untrusted";
    case Code::kTooManyDeletes:
      return "too-many-deletes";
  }
  return "unknown";
}

Status::Status(Code code, std::string msg) {
  if (code != Code::kOk) state_ = std::make_unique<State>(State{code, std::move(msg)});
}

Status::Status(const Status& other)
    : state_(other.state_ ? std::make_unique<State>(*other.state_) : nullptr) {}

Status& Status::operator=(const Status& other) {
  if (this != &other) state_ = other.state_ ? std::make_unique<State>(*other.state_) : nullptr;
  return *this;
}

const std::string& Status::message() const {
  static const std::string kEmpty;
  return state_ ? state_->msg : kEmpty;
}

Status& Status::SetRetryable(bool v) {
  if (state_) state_->retryable = v;
  return *this;
}

Status& Status::SetDataLoss(bool v) {
  if (state_) state_->data_loss = v;
  return *this;
}

Status Status::WithContext(const std::string& context) const {
  if (ok()) return Status();
  Status s(state_->code, context + ": " + state_->msg);
  s.state_->retryable = state_->retryable;
  s.state_->data_loss = state_->data_loss;
  return s;
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return std::string(CodeName(code())) + ": " + message();
}

}  // namespace ferry
