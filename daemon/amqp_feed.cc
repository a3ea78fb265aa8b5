#include "daemon/amqp_feed.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "util/clock.h"
#include "util/log.h"

namespace ferry::daemon {

struct AmqpFeed::Conn {
  amqp_connection_state_t state = nullptr;
  bool broken = false;  // after a library error: no close handshake on a dead socket
  ~Conn() {
    if (!state) return;
    if (!broken) {
      amqp_channel_close(state, 1, AMQP_REPLY_SUCCESS);
      amqp_connection_close(state, AMQP_REPLY_SUCCESS);
    }
    amqp_destroy_connection(state);
  }
};

namespace {

constexpr amqp_channel_t kChannel = 1;

std::string Str(amqp_bytes_t b) { return std::string(static_cast<const char*>(b.bytes), b.len); }

// A failed RPC as a Status naming what was being done.
Status RpcError(const amqp_rpc_reply_t& r, const std::string& what) {
  switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return Status::OK();
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return Status::StoreUnavailable(what + ": " + amqp_error_string2(r.library_error));
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        auto* m = static_cast<amqp_connection_close_t*>(r.reply.decoded);
        if (m->reply_code == 403)
          return Status::Auth(what + ": the broker refused the login (" + Str(m->reply_text) +
                              "): check the user and password of the amqp:// URL");
        return Status::StoreUnavailable(what + ": the broker closed the connection (" +
                                        std::to_string(m->reply_code) + " " + Str(m->reply_text) +
                                        ")");
      }
      if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        auto* m = static_cast<amqp_channel_close_t*>(r.reply.decoded);
        return Status::Usage(what + ": the broker refused it (" + std::to_string(m->reply_code) +
                             " " + Str(m->reply_text) +
                             "): an existing queue declared with other arguments?");
      }
      return Status::StoreUnavailable(what + ": unexpected reply from the broker");
    default:
      return Status::StoreUnavailable(what + ": no reply from the broker");
  }
}

amqp_table_entry_t Entry(const char* key, const std::string& value) {
  amqp_table_entry_t e;
  e.key = amqp_cstring_bytes(key);
  e.value.kind = AMQP_FIELD_KIND_UTF8;
  e.value.value.bytes = amqp_cstring_bytes(value.c_str());
  return e;
}

amqp_table_entry_t Entry(const char* key, int64_t value) {
  amqp_table_entry_t e;
  e.key = amqp_cstring_bytes(key);
  e.value.kind = AMQP_FIELD_KIND_I64;
  e.value.value.i64 = value;
  return e;
}

// Declares a durable quorum queue (with `extra` arguments).
Status DeclareQueue(amqp_connection_state_t c, const std::string& name,
                    std::vector<amqp_table_entry_t> extra) {
  const std::string quorum = "quorum";
  extra.push_back(Entry("x-queue-type", quorum));
  amqp_table_t args{static_cast<int>(extra.size()), extra.data()};
  amqp_queue_declare(c, kChannel, amqp_cstring_bytes(name.c_str()), 0, 1, 0, 0, args);
  return RpcError(amqp_get_rpc_reply(c), "declaring queue " + name);
}

// S3 event keys are URL-encoded by AWS ('+' for space); RGW sends them raw.
std::string DecodeKey(const std::string& k) {
  std::string out;
  for (size_t i = 0; i < k.size(); i++) {
    if (k[i] == '+') {
      out += ' ';
    } else if (k[i] == '%' && i + 2 < k.size() &&
               std::isxdigit(static_cast<unsigned char>(k[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(k[i + 2]))) {
      out += static_cast<char>(std::stoi(k.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += k[i];
    }
  }
  return out;
}

}  // namespace

Status ValidateBrokerOptions(const BrokerOptions& o) {
  std::string url = o.url;
  amqp_connection_info info;
  if (url.rfind("amqp://", 0) != 0 || amqp_parse_url(url.data(), &info) != AMQP_STATUS_OK)
    return Status::Usage("--broker takes amqp://[user[:password]@]host[:port][/vhost] (got '" +
                         RedactedBrokerUrl(o.url) + "'); amqps:// is not supported yet");
  if (o.queue.empty()) return Status::Usage("--broker needs --queue NAME (this job's queue)");
  if (o.exchange.empty()) return Status::Usage("--exchange must not be empty");
  if (o.prefetch == 0 || o.prefetch > 65535)
    return Status::Usage("--prefetch must be between 1 and 65535");
  if (o.delivery_limit == 0) return Status::Usage("--delivery-limit must be at least 1");
  return Status::OK();
}

std::string RedactedBrokerUrl(const std::string& url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  // The user info ends at the last '@' before the path (a password may hold '@').
  const size_t path = url.find('/', scheme + 3);
  const size_t at = url.rfind('@', path == std::string::npos ? std::string::npos : path);
  if (at == std::string::npos || at < scheme + 3) return url;
  const size_t colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

AmqpFeed::AmqpFeed(BrokerOptions o, std::string bucket, std::string prefix, double rescan_every)
    : o_(std::move(o)),
      bucket_(std::move(bucket)),
      prefix_(std::move(prefix)),
      rescan_every_(rescan_every),
      next_rescan_(UnixNowSeconds() + rescan_every) {}

AmqpFeed::~AmqpFeed() = default;

Result<std::unique_ptr<AmqpFeed>> AmqpFeed::Open(const BrokerOptions& o, std::string bucket,
                                                 std::string prefix, double rescan_every) {
  RETURN_IF_ERROR(ValidateBrokerOptions(o));
  std::unique_ptr<AmqpFeed> f(new AmqpFeed(o, std::move(bucket), std::move(prefix), rescan_every));
  RETURN_IF_ERROR(f->Connect());
  return f;
}

Status AmqpFeed::Connect() {
  Disconnect();
  std::string url = o_.url;
  amqp_connection_info info;
  amqp_parse_url(url.data(), &info);  // validated
  const std::string where = "broker " + RedactedBrokerUrl(o_.url);
  auto conn = std::make_unique<Conn>();
  conn->state = amqp_new_connection();
  conn->broken = true;  // until logged in: nothing to close politely
  // No call may block the job's loop for long (a half-open connection).
  struct timeval limit = {10, 0};
  amqp_set_handshake_timeout(conn->state, &limit);
  amqp_set_rpc_timeout(conn->state, &limit);
  amqp_socket_t* socket = amqp_tcp_socket_new(conn->state);
  if (!socket) return Status::Internal("cannot create an AMQP socket");
  struct timeval tv = {5, 0};
  int rc = amqp_socket_open_noblock(socket, info.host, info.port, &tv);
  if (rc != AMQP_STATUS_OK)
    return Status::StoreUnavailable("cannot connect to " + where + ": " + amqp_error_string2(rc));
  RETURN_IF_ERROR(RpcError(amqp_login(conn->state, info.vhost, 0, 131072, 30,
                                      AMQP_SASL_METHOD_PLAIN, info.user, info.password),
                           "logging in to " + where));
  conn->broken = false;
  amqp_channel_open(conn->state, kChannel);
  RETURN_IF_ERROR(RpcError(amqp_get_rpc_reply(conn->state), "opening a channel on " + where));
  amqp_connection_state_t c = conn->state;
  amqp_exchange_declare(c, kChannel, amqp_cstring_bytes(o_.exchange.c_str()),
                        amqp_cstring_bytes("topic"), 0, 1, 0, 0, amqp_empty_table);
  RETURN_IF_ERROR(RpcError(amqp_get_rpc_reply(c), "declaring exchange " + o_.exchange));
  const std::string dead = o_.queue + ".dead";
  RETURN_IF_ERROR(DeclareQueue(c, dead, {}));
  const std::string empty;
  RETURN_IF_ERROR(DeclareQueue(
      c, o_.queue,
      {Entry("x-dead-letter-exchange", empty), Entry("x-dead-letter-routing-key", dead),
       Entry("x-delivery-limit", static_cast<int64_t>(o_.delivery_limit))}));
  amqp_queue_bind(c, kChannel, amqp_cstring_bytes(o_.queue.c_str()),
                  amqp_cstring_bytes(o_.exchange.c_str()),
                  amqp_cstring_bytes(o_.routing_key.c_str()), amqp_empty_table);
  RETURN_IF_ERROR(RpcError(amqp_get_rpc_reply(c), "binding queue " + o_.queue));
  amqp_basic_qos(c, kChannel, 0, static_cast<uint16_t>(o_.prefetch), 0);
  RETURN_IF_ERROR(RpcError(amqp_get_rpc_reply(c), "setting the prefetch"));
  amqp_basic_consume(c, kChannel, amqp_cstring_bytes(o_.queue.c_str()), amqp_empty_bytes, 0, 0, 0,
                     amqp_empty_table);
  RETURN_IF_ERROR(RpcError(amqp_get_rpc_reply(c), "consuming from queue " + o_.queue));
  conn_ = std::move(conn);
  return Status::OK();
}

void AmqpFeed::Disconnect() {
  conn_.reset();
  held_.clear();  // the broker redelivers what was not acknowledged
}

std::string AmqpFeed::Describe() const {
  return "consuming bucket notifications for s3://" + bucket_ + "/" + prefix_ + " from queue " +
         o_.queue + " on " + RedactedBrokerUrl(o_.url) + " (exchange " + o_.exchange + ")";
}

bool AmqpFeed::ParseEvent(const std::string& body, const std::string& bucket,
                          const std::string& prefix, std::vector<std::string>* paths) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("Records") || !j["Records"].is_array())
    return false;
  for (const auto& r : j["Records"]) {
    try {
      const std::string b = r.at("s3").at("bucket").at("name").get<std::string>();
      std::string key = r.at("s3").at("object").at("key").get<std::string>();
      if (r.value("eventSource", "") == "aws:s3") key = DecodeKey(key);
      if (b != bucket || key.size() <= prefix.size() || key.compare(0, prefix.size(), prefix) != 0)
        continue;  // another bucket or prefix: not this job's
      paths->push_back(key.substr(prefix.size()));
    } catch (const nlohmann::json::exception&) {
      return false;
    }
  }
  return true;
}

Status AmqpFeed::Poll(int timeout_ms, TreeEvents* out) {
  const double now = UnixNowSeconds();
  if (now >= next_rescan_) {
    next_rescan_ = now + rescan_every_;
    out->overflow = true;
  }
  if (!conn_) {
    if (now < next_connect_) {
      struct timespec ts = {0, static_cast<long>(std::min(timeout_ms, 500)) * 1000000L};
      nanosleep(&ts, nullptr);
      return Status::OK();
    }
    next_connect_ = now + 2;
    if (Status st = Connect(); !st.ok()) {
      last_error_ = st.message();
      return st;
    }
    LogInfo("daemon: connected to " + RedactedBrokerUrl(o_.url) + " again; rescanning");
    out->overflow = true;  // events may have been lost while disconnected
  }
  amqp_connection_state_t c = conn_->state;
  struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  for (int n = 0; n < 1000; n++) {  // what is there now, then back to the caller
    amqp_maybe_release_buffers(c);
    amqp_envelope_t env;
    amqp_rpc_reply_t r = amqp_consume_message(c, &env, &tv, 0);
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT)
      return Status::OK();
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
      Status st = RpcError(r, "consuming from " + RedactedBrokerUrl(o_.url));
      conn_->broken = r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION;
      Disconnect();
      if (st.ok()) st = Status::StoreUnavailable("the broker connection was lost");
      last_error_ = st.message();
      return st;
    }
    tv = {0, 0};  // then take what else is there without waiting
    std::vector<std::string> paths;
    const std::string body = Str(env.message.body);
    const uint64_t tag = env.delivery_tag;
    amqp_destroy_envelope(&env);
    if (!ParseEvent(body, bucket_, prefix_, &paths)) {
      LogWarn("daemon: a message on queue " + o_.queue +
              " is not an S3 event; moved to the dead-letter queue " + o_.queue + ".dead");
      amqp_basic_reject(c, kChannel, tag, 0);
      dead_lettered_++;
      continue;
    }
    if (paths.empty()) {  // about another bucket or prefix
      amqp_basic_ack(c, kChannel, tag, 0);
      continue;
    }
    for (const auto& p : paths) out->events.push_back({p, false});
    held_.push_back({tag, std::move(paths)});
  }
  return Status::OK();
}

void AmqpFeed::Settle(const std::function<Fate(const std::string&)>& fate) {
  if (!conn_) return;
  std::vector<Held> keep;
  for (auto& h : held_) {
    bool all_done = true, poisoned = false;
    for (const auto& p : h.paths) {
      const Fate f = fate(p);
      all_done &= f == Fate::kReplicated;
      poisoned |= f == Fate::kPoisoned;
    }
    if (poisoned) {
      amqp_basic_reject(conn_->state, kChannel, h.tag, 0);  // to <queue>.dead
      dead_lettered_++;
    } else if (all_done) {
      amqp_basic_ack(conn_->state, kChannel, h.tag, 0);
    } else {
      keep.push_back(std::move(h));
    }
  }
  held_ = std::move(keep);
}

}  // namespace ferry::daemon
