#include "daemon/config.h"

#include <toml++/toml.h>

#include <set>

#include "util/units.h"

namespace ferry::daemon {

namespace {

// Where a value came from, for messages: "ferry.toml:12: job 'art': rpo".
std::string At(const std::string& path, const toml::node& n, const std::string& what) {
  return path + ":" + std::to_string(n.source().begin.line) + ": " + what;
}

Status Unknown(const std::string& path, const toml::table& t, const std::set<std::string>& known,
               const std::string& where) {
  for (auto&& [k, v] : t)
    if (!known.count(std::string(k.str())))
      return Status::Usage(
          At(path, v,
             where + "unknown key '" + std::string(k.str()) + "' (known: see docs/daemon.md)"));
  return Status::OK();
}

Result<std::string> String(const std::string& path, const toml::node& n, const std::string& what) {
  if (auto s = n.value<std::string>()) return *s;
  return Status::Usage(At(path, n, what + " must be a string"));
}

// A duration, given as a string ("5m") or a number of seconds.
Result<double> Duration(const std::string& path, const toml::node& n, const std::string& what) {
  if (auto d = n.value<double>()) {
    if (*d >= 0) return *d;
  }
  if (auto s = n.value<std::string>()) return ParseDuration(At(path, n, what), *s);
  return Status::Usage(At(path, n, what + " must be a duration such as \"30s\" or \"5m\""));
}

Result<int64_t> Integer(const std::string& path, const toml::node& n, const std::string& what,
                        int64_t lo, int64_t hi) {
  auto i = n.value<int64_t>();
  if (!i || *i < lo || *i > hi)
    return Status::Usage(
        At(path, n,
           what + " must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi)));
  return *i;
}

// A string or an array of strings.
Status StringList(const std::string& path, const toml::node& n, const std::string& what,
                  std::vector<std::string>* out) {
  out->clear();
  if (auto* arr = n.as_array()) {
    for (const auto& el : *arr) {
      ASSIGN_OR_RETURN(auto s, String(path, el, what));
      out->push_back(s);
    }
    return Status::OK();
  }
  ASSIGN_OR_RETURN(auto s, String(path, n, what));
  out->push_back(s);
  return Status::OK();
}

Status ReadJob(const std::string& path, const toml::table& t, const std::string& base_state,
               JobOptions* o) {
  RETURN_IF_ERROR(Unknown(
      path, t,
      {"name",         "watch",    "to",          "ref",         "state",    "settle",
       "interval",     "rpo",      "stall_after", "reconcile",   "layout",   "compression",
       "memory",       "threads",  "tags",        "exclude",     "poll",     "source_endpoint_url",
       "broker",       "exchange", "queue",       "routing_key", "prefetch", "delivery_limit",
       "poison_after", "delete",   "max_delete",  "merge"},
      "job: "));
  if (!t.contains("name"))
    return Status::Usage(At(path, t, "a [[job]] without a name (name = \"artifacts\")"));
  ASSIGN_OR_RETURN(o->job, String(path, *t.get("name"), "name"));
  const std::string w = "job '" + o->job + "': ";
  for (const char* key : {"watch", "to", "ref"})
    if (!t.contains(key)) return Status::Usage(At(path, t, w + "needs " + key));
  ASSIGN_OR_RETURN(o->watch, String(path, *t.get("watch"), w + "watch"));
  ASSIGN_OR_RETURN(o->ref, String(path, *t.get("ref"), w + "ref"));
  const toml::node& to = *t.get("to");
  RETURN_IF_ERROR(StringList(path, to, w + "to", &o->tos));
  if (const auto* n = t.get("exclude")) {
    std::vector<std::string> patterns;
    RETURN_IF_ERROR(StringList(path, *n, w + "exclude", &patterns));
    for (auto& p : patterns) o->filter.Exclude(std::move(p));
  }
  if (o->tos.empty()) return Status::Usage(At(path, to, w + "to names no destination"));
  if (const auto* n = t.get("state")) {
    ASSIGN_OR_RETURN(o->state_dir, String(path, *n, w + "state"));
  } else if (!base_state.empty()) {
    o->state_dir = base_state + "/" + o->job;
  } else {
    return Status::Usage(At(path, t, w + "needs state (or a top-level state directory)"));
  }
  struct {
    const char* key;
    double* out;
  } durations[] = {{"settle", &o->schedule.settle},    {"interval", &o->schedule.interval},
                   {"rpo", &o->schedule.rpo},          {"stall_after", &o->schedule.stall_after},
                   {"reconcile", &o->reconcile_every}, {"poll", &o->poll_every}};
  for (auto& d : durations)
    if (const auto* n = t.get(d.key)) {
      ASSIGN_OR_RETURN(*d.out, Duration(path, *n, w + d.key));
    }
  if (const auto* n = t.get("poll"); n && o->poll_every < 1)
    return Status::Usage(At(path, *n, w + "poll must be at least 1s"));
  struct {
    const char* key;
    std::string* out;
  } strings[] = {{"source_endpoint_url", &o->source_endpoint_url},
                 {"broker", &o->broker.url},
                 {"exchange", &o->broker.exchange},
                 {"queue", &o->broker.queue},
                 {"routing_key", &o->broker.routing_key}};
  for (auto& k : strings)
    if (const auto* n = t.get(k.key)) {
      ASSIGN_OR_RETURN(*k.out, String(path, *n, w + k.key));
    }
  struct {
    const char* key;
    int64_t lo, hi;
    unsigned* out;
  } counts[] = {{"prefetch", 1, 65535, &o->broker.prefetch},
                {"delivery_limit", 1, 1000, &o->broker.delivery_limit},
                {"poison_after", 1, 1000, &o->poison_after}};
  for (auto& k : counts)
    if (const auto* n = t.get(k.key)) {
      ASSIGN_OR_RETURN(auto v, Integer(path, *n, w + k.key, k.lo, k.hi));
      *k.out = static_cast<unsigned>(v);
    }
  if (const auto* n = t.get("delete")) {
    const auto* b = n->as_boolean();
    if (!b) return Status::Usage(At(path, *n, w + "delete must be true or false"));
    o->push.propagate_deletes = b->get();
  }
  if (const auto* n = t.get("merge")) {
    const auto* b = n->as_boolean();
    if (!b) return Status::Usage(At(path, *n, w + "merge must be true or false"));
    o->push.merge = b->get();
  }
  if (const auto* n = t.get("max_delete")) {
    ASSIGN_OR_RETURN(auto v, Integer(path, *n, w + "max_delete", 0, int64_t{1} << 40));
    o->push.max_delete = static_cast<uint64_t>(v);
  }
  if (const auto* n = t.get("layout")) {
    ASSIGN_OR_RETURN(o->layout, String(path, *n, w + "layout"));
    if (o->layout != "mirror" && o->layout != "store")
      return Status::Usage(At(path, *n, w + "layout is \"mirror\" or \"store\""));
  }
  if (const auto* n = t.get("compression")) {
    ASSIGN_OR_RETURN(auto v, Integer(path, *n, w + "compression", 0, 19));
    o->push.zstd_level = static_cast<int>(v);
  }
  if (const auto* n = t.get("memory")) {
    ASSIGN_OR_RETURN(auto v, Integer(path, *n, w + "memory (MiB)", 16, 1 << 20));
    o->push.pipeline.memory_budget = static_cast<size_t>(v) << 20;
  }
  if (const auto* n = t.get("threads")) {
    ASSIGN_OR_RETURN(auto v, Integer(path, *n, w + "threads", 0, 1024));
    o->push.pipeline.threads = static_cast<unsigned>(v);
  }
  if (const auto* n = t.get("tags")) {
    const auto* tags = n->as_table();
    if (!tags) return Status::Usage(At(path, *n, w + "tags must be a table: tags = { k = \"v\" }"));
    for (auto&& [k, v] : *tags) {
      ASSIGN_OR_RETURN(auto s, String(path, v, w + "tags." + std::string(k.str())));
      o->push.tags.emplace_back(std::string(k.str()), s);
    }
  }
  return Status::OK();
}

}  // namespace

Result<DaemonOptions> LoadConfig(const std::string& path, const JobOptions& defaults) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return Status::Usage(path + ":" + std::to_string(e.source().begin.line) + ": " +
                         std::string(e.description()));
  }
  RETURN_IF_ERROR(Unknown(path, root, {"listen", "state", "job"}, ""));
  DaemonOptions d;
  std::string base_state;
  if (const auto* n = root.get("listen")) {
    ASSIGN_OR_RETURN(d.listen, String(path, *n, "listen"));
  }
  if (const auto* n = root.get("state")) {
    ASSIGN_OR_RETURN(base_state, String(path, *n, "state"));
  }
  const auto* jobs = root.get("job") ? root.get("job")->as_array() : nullptr;
  if (!jobs || jobs->empty())
    return Status::Usage(path + ": no [[job]] (each needs name, watch, to and ref)");
  for (const auto& el : *jobs) {
    const auto* t = el.as_table();
    if (!t) return Status::Usage(At(path, el, "job must be a table ([[job]])"));
    JobOptions o = defaults;
    RETURN_IF_ERROR(ReadJob(path, *t, base_state, &o));
    d.jobs.push_back(std::move(o));
  }
  return d;
}

}  // namespace ferry::daemon
