#include "daemon/daemon.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <thread>

#include "daemon/bucket_poller.h"
#include "daemon/journal.h"
#include "daemon/metrics.h"
#include "daemon/status_server.h"
#include "daemon/watcher.h"
#include "engine/bucket_source.h"
#include "engine/destination.h"
#include "transport/s3_rules.h"
#include "util/clock.h"
#include "util/hex.h"
#include "util/log.h"
#include "util/posix.h"

namespace ferry::daemon {

namespace {

// sd_notify(3)'s protocol, without libsystemd: one datagram to $NOTIFY_SOCKET.
void SdNotify(const std::string& msg) {
  const char* path = getenv("NOTIFY_SOCKET");
  if (!path || !*path) return;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::string p = path;
  if (p.size() >= sizeof addr.sun_path) {
    close(fd);
    return;
  }
  std::memcpy(addr.sun_path, p.data(), p.size());
  if (p[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  sendto(fd, msg.data(), msg.size(), MSG_NOSIGNAL, reinterpret_cast<struct sockaddr*>(&addr),
         static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + p.size()));
  close(fd);
}

// Whether the tree holds a regular file anywhere (an empty tree records no
// build: a ref never moves to an empty build because a directory was emptied).
// Whether the tree holds a file the filter keeps (paths relative to root).
bool HasFiles(const std::string& root, const PathFilter& filter) {
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
    if (it->is_regular_file(ec) && !it->is_symlink(ec) &&
        filter.Included(std::filesystem::relative(it->path(), root, ec).generic_string()))
      return true;
  return false;
}

// --merge: changes one cycle takes at most (memory stays bounded with a
// backlog of any size: docs/daemon.md).
constexpr size_t kMaxBatch = 10000;

class Job {
 public:
  Job(const JobOptions& o, const CancelToken* cancel, MetricsRegistry* registry)
      : o_(o), cancel_(cancel), scheduler_(o.schedule), metrics_(registry, o.job) {}

  Status Start();
  void Loop();  // until cancelled
  // This job's part of /health; h->ok false if it is failing.
  nlohmann::json HealthJson(Health* h);
  void UpdateGauges(double now);

 private:
  void CycleLoop();
  Status Cycle(const std::set<std::string>& held, const std::vector<std::string>* batch,
               bool reconcile, CycleRecord* rec);
  // --merge: the settled changes this cycle takes (at most kMaxBatch; the
  // rest wait for the next cycle), or none for the whole source. *clear gets
  // what a success clears: the batch, and pending paths given up on.
  std::optional<std::vector<std::string>> TakeBatch(const std::set<std::string>& held,
                                                    std::vector<std::string>* clear);  // under mu_
  // `batch`: a --merge cycle's paths to clear (TakeBatch), else null;
  // `full_batch`: it took kMaxBatch changes (more may be waiting).
  void Finished(const Status& st, double begun, const std::set<std::string>& held,
                const std::vector<std::string>* batch, bool full_batch, bool reconcile,
                CycleRecord rec);
  void Observe(const TreeEvents& ev, double now);
  Result<std::unique_ptr<ChangeFeed>> OpenFeed();
  void SettleFeed();                                             // loop thread
  void CountFailures(const std::vector<std::string>& failed);    // under mu_
  void GiveUp(const std::string& path, const std::string& why);  // under mu_

  JobOptions o_;
  const CancelToken* cancel_;
  std::unique_ptr<Journal> journal_;
  bool bucket_ = false;  // the source is an s3:// prefix: these are its parts
  std::string source_bucket_, source_prefix_;
  StoreOptions source_store_;
  std::unique_ptr<ChangeFeed> feed_;
  std::vector<std::unique_ptr<Destination>> dests_;  // cycle thread only

  std::mutex mu_;
  std::condition_variable cv_;
  Scheduler scheduler_;  // guarded by mu_
  Metrics metrics_;
  double last_reconcile_ = -1;  // cycle thread only
  // Objects whose reads failed, cycles in a row; those given up on. Under mu_.
  std::map<std::string, unsigned> failures_;
  std::set<std::string> poisoned_;
  std::mt19937_64 rng_{std::random_device{}()};
};

Result<std::unique_ptr<ChangeFeed>> Job::OpenFeed() {
  if (bucket_ && !o_.broker.url.empty()) {
    ASSIGN_OR_RETURN(auto f,
                     AmqpFeed::Open(o_.broker, source_bucket_, source_prefix_, o_.reconcile_every));
    return std::unique_ptr<ChangeFeed>(std::move(f));
  }
  if (bucket_) {
    ASSIGN_OR_RETURN(auto p, BucketPoller::Open(o_.watch, source_store_, o_.poll_every));
    return std::unique_ptr<ChangeFeed>(std::move(p));
  }
  ASSIGN_OR_RETURN(auto w, TreeWatcher::Open(o_.watch));
  return std::unique_ptr<ChangeFeed>(std::move(w));
}

Status Job::Start() {
  if (o_.watch.empty()) return Status::Usage("daemon needs --watch DIR");
  if (o_.tos.empty()) return Status::Usage("daemon needs at least one --to STORE");
  if (o_.ref.empty())
    return Status::Usage("daemon needs --ref NAME (its builds are recorded there)");
  if (o_.state_dir.empty())
    return Status::Usage("daemon needs --state DIR (its journal and stat cache)");
  RETURN_IF_ERROR(ValidateRefName(o_.ref));
  bucket_ = IsBucketSource(o_.watch);
  if (bucket_ && !ParseS3Url(o_.watch, &source_bucket_, &source_prefix_))
    return Status::Usage("--watch '" + o_.watch + "' is not an s3://bucket/prefix/ URL");
  if (!o_.broker.url.empty()) {
    if (o_.broker.queue.empty()) o_.broker.queue = "ferry-" + o_.job;
    if (!bucket_)
      return Status::Usage("--broker feeds bucket sources: give --watch s3://bucket/prefix/");
    RETURN_IF_ERROR(ValidateBrokerOptions(o_.broker));
  }
  RETURN_IF_ERROR(CheckSourceIsNotDestination({o_.watch}, o_.tos, o_.source_endpoint_url.empty()));
  if (o_.push.merge) {
    if (o_.push.propagate_deletes)
      return Status::Usage(
          "--merge keeps every file of the ref's latest build: it cannot --delete");
    for (const auto& to : o_.tos)
      if (to.rfind("s3://", 0) == 0 && o_.layout != "store")
        return Status::Usage("--merge is for store-layout destinations: add --layout store for " +
                             to + " (docs/merge.md)");
  }
  source_store_ = SourceStoreOptions(o_.store, o_.source_endpoint_url);
  std::error_code ec;
  std::filesystem::create_directories(o_.state_dir + "/cache", ec);
  if (ec)
    return Status::TargetUnwritable("cannot create the state directory " + o_.state_dir + ": " +
                                    ec.message());
  ASSIGN_OR_RETURN(journal_, Journal::Open(o_.state_dir + "/journal.db"));
  auto feed = OpenFeed();
  bool missing = false;
  if (feed.ok()) {
    feed_ = std::move(*feed);
  } else if (bucket_ &&
             (feed.status().code() == Code::kSourceUnreadable ||
              feed.status().code() == Code::kStoreUnavailable) &&
             o_.broker.url.empty()) {
    // The primary region being down is what DR is for: start, say so, retry.
    LogWarn("daemon: job " + o_.job + ": " + feed.status().message() +
            "; starting anyway and retrying");
    missing = true;
  } else {
    return feed.take_status();
  }
  ASSIGN_OR_RETURN(auto pending, journal_->LoadPending());
  const double now = UnixNowSeconds();
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& [path, p] : pending) scheduler_.Restore(path, p);
    scheduler_.Changed(kWholeTree, now);  // what changed while no daemon watched
    scheduler_.SetSourceMissing(missing);
  }
  RETURN_IF_ERROR(journal_->AddPending({{kWholeTree, {now, now, false}}}));
  LogInfo("daemon: job " + o_.job + ": " + (feed_ ? feed_->Describe() : o_.watch) + " -> ref " +
          o_.ref +
          (pending.empty()
               ? ""
               : "; " + std::to_string(pending.size()) + " change(s) pending from before"));
  return Status::OK();
}

nlohmann::json Job::HealthJson(Health* out) {
  const double now = UnixNowSeconds();
  nlohmann::json j;
  Health h;
  {
    std::lock_guard<std::mutex> l(mu_);
    h = scheduler_.Evaluate(now);
    j["lag_seconds"] = scheduler_.Lag(now);
    j["pending"] = scheduler_.pending();
    double ls = scheduler_.last_success();
    j["last_success"] = ls < 0 ? nlohmann::json(nullptr) : nlohmann::json(ls);
  }
  j["status"] = h.ok ? "ok" : "failing";
  j["job"] = o_.job;
  j["ref"] = o_.ref;
  j["reasons"] = h.reasons;
  out->ok &= h.ok;
  for (auto& r : h.reasons) out->reasons.push_back(o_.job + ": " + r);
  return j;
}

void Job::UpdateGauges(double now) {
  std::lock_guard<std::mutex> l(mu_);
  metrics_.SetLag(scheduler_.Lag(now));
  metrics_.SetPending(scheduler_.pending());
  metrics_.SetHealthy(scheduler_.Evaluate(now).ok);
}

void Job::Observe(const TreeEvents& ev, double now) {
  std::map<std::string, Pending> delta;
  std::lock_guard<std::mutex> l(mu_);
  if (ev.overflow) scheduler_.Changed(kWholeTree, now);
  for (const auto& e : ev.events) {
    if (!o_.filter.Included(e.path)) continue;  // never replicated: never pending
    if (poisoned_.erase(e.path)) {              // a new version: try it again
      failures_.erase(e.path);
      metrics_.SetPoisoned(poisoned_.size());
      scheduler_.SetGivenUp(poisoned_.size(), poisoned_.empty() ? "" : *poisoned_.begin());
    }
    if (e.writing)
      scheduler_.Writing(e.path, now);
    else
      scheduler_.Changed(e.path, now);
  }
  const auto& all = scheduler_.pending_changes();
  auto take = [&](const std::string& p) {
    if (auto it = all.find(p); it != all.end()) delta[p] = it->second;
  };
  if (ev.overflow) take(kWholeTree);
  for (const auto& e : ev.events)
    if (o_.filter.Included(e.path)) take(e.path);
  Status st = journal_->AddPending(delta);
  scheduler_.SetJournalError(st.ok() ? "" : st.message());
  if (!delta.empty()) cv_.notify_all();
}

void Job::SettleFeed() {
  if (!feed_) return;
  std::lock_guard<std::mutex> l(mu_);
  const bool all_pending = scheduler_.IsPending(kWholeTree);
  feed_->Settle([&](const std::string& path) {
    if (poisoned_.count(path)) return ChangeFeed::Fate::kPoisoned;
    return all_pending || scheduler_.IsPending(path) ? ChangeFeed::Fate::kPending
                                                     : ChangeFeed::Fate::kReplicated;
  });
  metrics_.SetDeadLettered(feed_->dead_lettered());
}

// A cycle failed reading `failed` (paths): each one failing poison_after
// cycles in a row is given up on, so one unreadable object cannot hold back
// the rest of the prefix for ever.
void Job::CountFailures(const std::vector<std::string>& failed) {
  for (const auto& path : failed) {
    if (++failures_[path] < o_.poison_after) continue;
    failures_.erase(path);
    GiveUp(path, "after " + std::to_string(o_.poison_after) + " failed cycles");
  }
}

// Leaves `path` out of builds until it changes again (under mu_).
void Job::GiveUp(const std::string& path, const std::string& why) {
  if (!poisoned_.insert(path).second) return;
  scheduler_.Forget(path);
  LogWarn("daemon: giving up on " + path + " " + why +
          ": left out of builds until it changes again" +
          (o_.broker.url.empty() ? "" : "; its messages go to the dead-letter queue"));
  metrics_.SetPoisoned(poisoned_.size());
  scheduler_.SetGivenUp(poisoned_.size(), *poisoned_.begin());
}

void Job::Loop() {
  std::thread cycles([this] { CycleLoop(); });
  double next_reopen = 0;
  while (!Cancelled(cancel_)) {
    TreeEvents ev;
    if (feed_) {
      Status st = feed_->Poll(500, &ev);
      if (!st.ok()) LogWarn("daemon: " + st.message());
      std::lock_guard<std::mutex> l(mu_);
      scheduler_.SetFeedError(feed_->failing());
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    const double now = UnixNowSeconds();
    if (ev.root_missing) {
      LogWarn("daemon: " + o_.watch + " is gone or unreachable; nothing is deleted in DR; " +
              "waiting for it");
      feed_.reset();
      std::lock_guard<std::mutex> l(mu_);
      scheduler_.SetSourceMissing(true);
    }
    if (!feed_ && now >= next_reopen) {
      next_reopen = now + (bucket_ ? std::max(2.0, o_.poll_every) : 2);
      auto w = OpenFeed();
      if (w.ok()) {
        feed_ = std::move(*w);
        LogInfo("daemon: " + o_.watch + " is back; rescanning it");
        std::lock_guard<std::mutex> l(mu_);
        scheduler_.SetSourceMissing(false);
        ev.overflow = true;  // rescan
      }
    }
    Observe(ev, now);
    SettleFeed();
    UpdateGauges(now);
  }
  LogInfo("daemon: job " + o_.job + " stopping (the cycle in flight records nothing half-done)");
  cv_.notify_all();
  cycles.join();
}

std::optional<std::vector<std::string>> Job::TakeBatch(const std::set<std::string>& held,
                                                       std::vector<std::string>* clear) {
  if (!o_.push.merge || scheduler_.IsPending(kWholeTree)) return std::nullopt;
  // The oldest changes first (a steady flow must not starve keys late in
  // key order); the rest are a later cycle's (Succeeded clears `clear` only).
  std::vector<std::pair<double, const std::string*>> ready;
  for (const auto& [path, p] : scheduler_.pending_changes()) {
    if (held.count(path)) continue;
    if (poisoned_.count(path))
      clear->push_back(path);
    else
      ready.emplace_back(p.first_seen, &path);
  }
  if (ready.size() > kMaxBatch) {
    std::nth_element(ready.begin(), ready.begin() + kMaxBatch, ready.end());
    ready.resize(kMaxBatch);
  }
  std::sort(ready.begin(), ready.end(),
            [](const auto& a, const auto& b) { return *a.second < *b.second; });
  std::vector<std::string> batch;
  for (const auto& [t, path] : ready) batch.push_back(*path);
  clear->insert(clear->end(), batch.begin(), batch.end());
  return batch;
}

void Job::CycleLoop() {
  while (!Cancelled(cancel_)) {
    std::set<std::string> held;
    std::optional<std::vector<std::string>> batch;
    std::vector<std::string> clear;  // --merge: what a success clears
    double begun;
    bool reconcile;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait_for(l, std::chrono::milliseconds(500));
      if (Cancelled(cancel_)) return;
      begun = UnixNowSeconds();
      if (!scheduler_.Due(begun)) continue;
      held = scheduler_.Begin(begun);
      reconcile = last_reconcile_ < 0 || begun - last_reconcile_ >= o_.reconcile_every;
      if (!reconcile) batch = TakeBatch(held, &clear);
    }
    CycleRecord rec;
    rec.started = begun;
    Status st = Cycle(held, batch ? &*batch : nullptr, reconcile, &rec);
    if (Cancelled(cancel_)) return;  // interrupted: nothing recorded, nothing cleared
    Finished(st, begun, held, batch ? &clear : nullptr, batch && batch->size() == kMaxBatch,
             reconcile, std::move(rec));
  }
}

Status Job::Cycle(const std::set<std::string>& held, const std::vector<std::string>* batch,
                  bool reconcile, CycleRecord* rec) {
  if (dests_.empty()) {
    for (const auto& to : o_.tos) {
      auto d = OpenDestination(to, OpenMode::kCreate, o_.store, o_.layout);
      if (!d.ok()) {
        dests_.clear();
        return d.status().WithContext(to);
      }
      dests_.push_back(std::move(*d));
    }
  }
  if (batch && batch->empty()) return Status::OK();
  if (!batch && !bucket_ && !HasFiles(o_.watch, o_.filter)) {
    LogInfo("daemon: " + o_.watch + " holds no file yet" +
            (o_.filter.empty() ? "" : " that --exclude/--include keep") + "; nothing to record");
    return Status::OK();
  }
  PushOptions p = o_.push;
  p.sources = {o_.watch};
  p.source_store = source_store_;
  p.ref = o_.ref;
  p.cache_dir = o_.state_dir + "/cache";
  p.cancel = cancel_;
  std::set<std::string> poisoned;
  {
    std::lock_guard<std::mutex> l(mu_);
    poisoned = poisoned_;
  }
  p.hold_back = [&](const std::string& path) {
    return held.count(path) > 0 || poisoned.count(path) > 0;
  };
  p.recheck_unchanged = reconcile;
  // --merge from a bucket: of two daemons' versions of a key, the later
  // LastModified (the server's clock) stays. Not for a tree: local mtimes go
  // back (cp -p, tar x, a rollback), and this push's version must win.
  p.merge_keep_newer = bucket_;
  p.only_paths = batch;  // --merge: this cycle's changes alone, laid over the ref's build
  p.filter = &o_.filter;
  std::vector<Destination*> targets;
  for (auto& d : dests_) targets.push_back(d.get());
  std::vector<PushReport> reports;
  Status st = PushMulti(targets, p, &reports);
  // Skipped keys are given up on (Finished) even when nothing is recorded.
  if (!reports.empty()) rec->skipped = reports[0].skipped;
  if (!st.ok() && !reports.empty() && reports[0].empty_source) {
    // A prefix with no object (or none the filter keeps) records no build:
    // the ref never moves to an empty one.
    LogInfo(batch ? "daemon: this cycle's changes hold no file to record (gone from " + o_.watch +
                        ", skipped, or directories and links only)"
                  : "daemon: " + o_.watch + " holds no object yet" +
                        (o_.filter.empty() ? "" : " that --exclude/--include keep") +
                        "; nothing to record");
    return Status::OK();
  }
  if (!reports.empty()) {
    rec->failed_paths = reports[0].failed_paths;
    rec->files = reports[0].files;
    if (reports[0].recorded) rec->manifest = DigestHex(reports[0].manifest_id);
  }
  for (size_t i = 0; st.ok() && i < reports.size(); i++) {
    const PushReport& r = reports[i];
    // Objects this cycle wrote into the destination: new chunks (store),
    // objects uploaded or copied (mirror); bytes: new bytes before
    // compression (store), bytes sent or copied (mirror).
    const uint64_t objects = r.chunks_new + r.mirror.objects_put + r.mirror.objects_copied;
    const uint64_t bytes = r.bytes_new + r.mirror.bytes_copied;
    metrics_.Replicated(o_.tos[i], objects, bytes);
    if (o_.push.propagate_deletes) metrics_.Deleted(o_.tos[i], r.objects_deleted);
    if (i == 0) metrics_.SourceRead(r.bytes_read);   // one read for every destination...
    metrics_.SourceRead(r.mirror.bytes_read_again);  // ...and files read again to be sent
    rec->objects += objects;
    rec->bytes += bytes;
  }
  if (!st.ok() && (st.code() == Code::kStoreUnavailable || st.code() == Code::kAuth))
    dests_.clear();  // opened again next time
  return st;
}

void Job::Finished(const Status& st, double begun, const std::set<std::string>& held,
                   const std::vector<std::string>* batch, bool full_batch, bool reconcile,
                   CycleRecord rec) {
  const double now = UnixNowSeconds();
  rec.finished = now;
  std::vector<std::string> done;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (st.ok()) {
      std::vector<double> first_seen;
      done = scheduler_.Succeeded(begun, held, now, batch, &first_seen);
      for (size_t i = 0; i < done.size(); i++)
        if (done[i] != kWholeTree) metrics_.Latency(now - first_seen[i]);
      if (full_batch) scheduler_.RunNextSoon();
      failures_.clear();
      // Keys the push skipped (not a safe path; a file that is also a
      // directory) are never in DR: say so rather than let them pass.
      if (bucket_) {
        const std::string base = "s3://" + source_bucket_ + "/" + source_prefix_;
        for (const auto& s : rec.skipped)
          if (s.rfind(base, 0) == 0)
            GiveUp(s.substr(base.size()), "(its key cannot be a file in DR)");
      }
    } else {
      rec.error = st.ToString();
      CountFailures(rec.failed_paths);
      std::uniform_real_distribution<double> jitter(0, 1);
      scheduler_.Failed(st.message(), now, jitter(rng_));
    }
  }
  if (st.ok()) {
    if (!rec.manifest.empty()) metrics_.BuildRecorded(now);
    if (reconcile) {
      last_reconcile_ = begun;
      metrics_.Reconciled(now);
    }
    LogInfo("daemon: build " +
            (rec.manifest.empty() ? std::string("(none)") : rec.manifest.substr(0, 12)) +
            " recorded: " + std::to_string(done.size()) + " change(s) replicated (" +
            std::to_string(rec.objects) + " object(s) written), " + std::to_string(held.size()) +
            " held back, " + std::to_string(now - begun) + " s");
  } else {
    metrics_.Failed(CodeName(st.code()));
    LogWarn("daemon: replication failed (retrying): " + st.message());
  }
  Status j = journal_->RemovePending(done);
  if (j.ok()) j = journal_->AddCycle(rec);
  std::lock_guard<std::mutex> l(mu_);
  scheduler_.SetJournalError(j.ok() ? "" : j.message());
}

}  // namespace

Status RunDaemon(const DaemonOptions& opts, const CancelToken* cancel,
                 const std::function<void(int)>& ready) {
  if (opts.jobs.empty()) return Status::Usage("daemon has no job: give --watch ... or --config");
  std::set<std::string> names, states;
  for (const auto& j : opts.jobs) {
    if (!names.insert(j.job).second)
      return Status::Usage("two jobs are named '" + j.job + "': give each its own name");
    if (!states.insert(j.state_dir).second)
      return Status::Usage("jobs " + j.job + " and another share the state directory " +
                           j.state_dir + ": give each its own");
  }
  MetricsRegistry registry;
  std::vector<std::unique_ptr<Job>> jobs;
  for (const auto& o : opts.jobs) {
    jobs.push_back(std::make_unique<Job>(o, cancel, &registry));
    RETURN_IF_ERROR(jobs.back()->Start().WithContext("job " + o.job));
  }
  Endpoints e;
  e.health = [&jobs] {
    Health all;
    nlohmann::json j;
    j["jobs"] = nlohmann::json::array();
    for (auto& job : jobs) j["jobs"].push_back(job->HealthJson(&all));
    j["status"] = all.ok ? "ok" : "failing";
    j["reasons"] = all.reasons;
    // Totals over the jobs: the oldest lag and every pending change.
    double lag = 0;
    uint64_t pending = 0;
    for (const auto& jj : j["jobs"]) {
      lag = std::max(lag, jj["lag_seconds"].get<double>());
      pending += jj["pending"].get<uint64_t>();
    }
    j["lag_seconds"] = lag;
    j["pending"] = pending;
    if (jobs.size() == 1)  // one job: its name and ref at the top too
      for (const char* k : {"job", "ref", "last_success"}) j[k] = j["jobs"][0][k];
    return Reply{all.ok ? 200 : 503, "application/json", j.dump() + "\n"};
  };
  e.metrics = [&jobs, &registry] {
    const double now = UnixNowSeconds();
    for (auto& job : jobs) job->UpdateGauges(now);  // current at every scrape
    return Reply{200, "text/plain; version=0.0.4", registry.Text()};
  };
  ASSIGN_OR_RETURN(auto server, StatusServer::Start(opts.listen, e));
  LogInfo("daemon: " + std::to_string(jobs.size()) + " job(s); /health and /metrics on " +
          opts.listen.substr(0, opts.listen.rfind(':')) + ":" + std::to_string(server->port()));
  if (ready) ready(server->port());
  SdNotify("READY=1\nSTATUS=" + std::to_string(jobs.size()) + " job(s) replicating");
  std::vector<std::thread> loops;
  for (auto& job : jobs) loops.emplace_back([&job] { job->Loop(); });
  const char* wd = getenv("WATCHDOG_USEC");
  const double watchdog_every = wd ? std::atof(wd) / 2e6 : 0;
  for (double next_watchdog = 0; !Cancelled(cancel);) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (watchdog_every > 0 && UnixNowSeconds() >= next_watchdog) {
      SdNotify("WATCHDOG=1");
      next_watchdog = UnixNowSeconds() + watchdog_every;
    }
  }
  SdNotify("STOPPING=1");
  for (auto& t : loops) t.join();
  return Status::OK();
}

}  // namespace ferry::daemon
