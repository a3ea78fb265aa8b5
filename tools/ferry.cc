// The `ferry` command: push, verify, restore.
// Exit codes: docs/exit-codes.md (the numeric value of ferry::Code).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "engine/destination.h"
#include "engine/ops.h"
#include "engine/stat_cache.h"
#include "transport/s3_store.h"
#include "util/hex.h"
#include "util/log.h"

namespace ferry {
namespace {

using json = nlohmann::ordered_json;

const StoreOptions* g_store_opts = nullptr;  // set by Main before any command runs

std::string Human(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    u++;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

json ErrorJson(const Status& st) {
  return json{{"code", CodeName(st.code())},
              {"exit_code", static_cast<int>(st.code())},
              {"message", st.message()}};
}

json ErrorsJson(const std::vector<Status>& errors) {
  json a = json::array();
  for (const auto& e : errors) a.push_back(ErrorJson(e));
  return a;
}

// With --json, an error before the command's own report is a JSON report
// too: {"status": "error", "error": {...}}. Cleared once a report is printed.
bool g_json_error = false;

void PrintJson(const json& j) {
  std::cout << j.dump(2) << std::endl;
  g_json_error = false;
}

int Fail(const Status& st, const std::string& command) {
  if (g_json_error) PrintJson(json{{"status", "error"}, {"error", ErrorJson(st)}});
  std::fprintf(stderr, "ferry%s%s: error: %s\n", command.empty() ? "" : " ", command.c_str(),
               st.message().c_str());
  return static_cast<int>(st.code());
}

// A "\r"-rewritten progress line on a TTY stderr, updated every 200 ms.
class Progress {
 public:
  Progress(bool enabled, uint64_t total, std::atomic<uint64_t>* done)
      : enabled_(enabled && isatty(STDERR_FILENO)), total_(total), done_(done) {
    if (enabled_) thread_ = std::thread([this] { Loop(); });
  }
  ~Progress() {
    if (!enabled_) return;
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    std::fprintf(stderr, "\r\033[K");
  }

 private:
  void Loop() {
    auto t0 = std::chrono::steady_clock::now();
    std::unique_lock<std::mutex> l(mu_);
    while (!cv_.wait_for(l, std::chrono::milliseconds(200), [&] { return stop_; })) {
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      uint64_t d = done_->load();
      std::fprintf(stderr, "\r\033[Kferry: %s of %s (%.0f%%), %s/s", Human(d).c_str(),
                   Human(total_).c_str(), total_ ? 100.0 * d / total_ : 100.0,
                   Human(static_cast<uint64_t>(d / std::max(s, 1e-3))).c_str());
    }
  }
  bool enabled_;
  uint64_t total_;
  std::atomic<uint64_t>* done_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

uint64_t TotalSize(const std::vector<std::string>& roots);

int RunPush(PushOptions opts, const std::vector<std::string>& sources,
            const std::vector<std::string>& tos, const std::string& ref,
            const std::vector<std::string>& tag_args, bool as_json, int level,
            const std::string& chunk_spec, size_t memory_mib, unsigned threads,
            const std::string& io, bool progress, const std::string& layout, bool quiet) {
  opts.sources = sources;
  opts.ref = ref;
  opts.zstd_level = level;
  for (const auto& t : tag_args) {
    size_t eq = t.find('=');
    if (eq == std::string::npos || eq == 0)
      return Fail(Status::Usage("--tag takes key=value (got '" + t + "')"), "push");
    opts.tags.emplace_back(t.substr(0, eq), t.substr(eq + 1));
  }
  if (!chunk_spec.empty()) {
    auto p = ParseChunkerParams(chunk_spec);
    if (!p.ok()) return Fail(p.status(), "push");
    opts.pipeline.chunking = *p;
  }
  opts.pipeline.memory_budget = memory_mib << 20;
  opts.pipeline.threads = threads;
  opts.pipeline.io = io == "uring"   ? IoBackend::kUring
                     : io == "pread" ? IoBackend::kPread
                                     : IoBackend::kAuto;
  // A missing or empty build output fails before any store is created.
  if (Status src = CheckPushSources(opts); !src.ok()) return Fail(src, "push");
  // Every destination is opened (and checked) before a byte is read.
  std::vector<Destination> dests;
  std::vector<PushMirror> mirrors(tos.size());
  std::vector<PushTarget> targets;
  for (size_t i = 0; i < tos.size(); i++) {
    auto dest = OpenDestination(tos[i], /*create=*/true, *g_store_opts, layout);
    if (!dest.ok()) return Fail(dest.status().WithContext(tos[i]), "push");
    dests.push_back(std::move(*dest));
  }
  for (size_t i = 0; i < dests.size(); i++) {
    PushTarget t{dests[i].meta.get(), nullptr};
    if (dests[i].layout == Layout::kMirror) {
      mirrors[i].client = dests[i].s3.get();
      mirrors[i].bucket = dests[i].bucket;
      mirrors[i].prefix = dests[i].prefix;
      t.mirror = &mirrors[i];
    }
    targets.push_back(t);
  }

  std::atomic<uint64_t> done{0};
  opts.progress_bytes = &done;
  std::vector<PushReport> reports;
  Status st;
  {
    Progress p(progress, progress ? TotalSize(sources) : 0, &done);
    st = PushMulti(targets, opts, &reports);
  }
  // One shape for any number of destinations: the build and the totals at
  // the top, each destination's own figures in "destinations".
  auto counters = [](const PushReport& r, json* j) {
    (*j)["bytes_new"] = r.bytes_new;
    (*j)["bytes_deduplicated"] = r.bytes_dedup;
    (*j)["bytes_stored"] = r.bytes_stored;
    (*j)["bytes_sent"] = r.bytes_sent;
    (*j)["objects_put"] = r.objects_put;
    (*j)["files_unchanged"] = r.files_unchanged;
    (*j)["bytes_resumed"] = r.bytes_resumed;
    (*j)["throttled"] = r.throttled;
    (*j)["bytes_copied"] = r.bytes_copied;
    (*j)["objects_copied"] = r.objects_copied;
    (*j)["parts_copied"] = r.parts_copied;
    (*j)["chunks_new"] = r.chunks_new;
  };
  json j;
  j["status"] = st.ok() ? "ok" : "error";
  std::optional<Digest> same_id = reports[0].manifest_id;
  for (const auto& r : reports)
    if (!r.recorded || r.manifest_id != reports[0].manifest_id) same_id.reset();
  j["manifest"] = same_id ? json(DigestHex(*same_id)) : json(nullptr);
  j["parent"] = same_id && reports[0].parent ? json(DigestHex(*reports[0].parent)) : json(nullptr);
  j["ref"] = ref.empty() ? json(nullptr) : json(ref);
  j["tags"] = json::object();
  for (const auto& [k, v] : opts.tags) j["tags"][k] = v;
  j["files"] = reports[0].files;
  j["dirs"] = reports[0].dirs;
  j["symlinks"] = reports[0].symlinks;
  j["bytes_read"] = reports[0].bytes_read;
  j["files_cached"] = reports[0].files_cached;
  j["bytes_cached"] = reports[0].bytes_cached;
  j["chunks"] = reports[0].chunks;
  // Totals: each counter summed over the destinations.
  json destinations = json::array();
  json totals = json::object();
  double seconds = 0;
  for (size_t i = 0; i < reports.size(); i++) {
    const PushReport& r = reports[i];
    json c;
    counters(r, &c);
    for (const auto& [k, v] : c.items()) totals[k] = totals.value(k, uint64_t{0}) + v.get<uint64_t>();
    json d;
    d["store"] = tos[i];
    d["layout"] = dests[i].layout == Layout::kMirror ? "mirror" : "store";
    d["status"] = r.recorded ? "ok" : "error";
    d["manifest"] = r.recorded ? json(DigestHex(r.manifest_id)) : json(nullptr);
    d["parent"] = r.recorded && r.parent ? json(DigestHex(*r.parent)) : json(nullptr);
    d.update(c);
    d["seconds"] = r.seconds;
    destinations.push_back(d);
    seconds = std::max(seconds, r.seconds);
  }
  j.update(totals);
  j["seconds"] = seconds;
  j["io_backend"] = reports[0].io_backend;
  j["skipped"] = reports[0].skipped;
  j["errors"] = ErrorsJson(reports[0].file_errors);
  j["destinations"] = std::move(destinations);
  if (!st.ok()) j["error"] = ErrorJson(st);
  if (as_json) PrintJson(j);
  for (const auto& s : reports[0].skipped)
    LogWarn("skipped " + s + " (not a regular file, symlink or directory)");
  for (const auto& e : reports[0].file_errors)
    std::fprintf(stderr, "ferry push: %s\n", e.message().c_str());
  if (!st.ok()) return Fail(st, "push");
  for (size_t i = 0; i < reports.size() && !quiet; i++) {
    const PushReport& r = reports[i];
    double mbps = r.seconds > 0 ? r.bytes_read / r.seconds / 1e6 : 0;
    std::fprintf(stderr, "ferry push: %llu files, %s read once in %.2f s (%.0f MB/s, %s) -> %s\n",
                 static_cast<unsigned long long>(r.files), Human(r.bytes_read).c_str(), r.seconds,
                 mbps, r.io_backend.c_str(), tos[i].c_str());
    if (r.files_cached > 0)
      std::fprintf(stderr,
                   "  not read: %llu files (%s) untouched since the last push of the ref "
                   "(stat cache; --rehash reads them)\n",
                   static_cast<unsigned long long>(r.files_cached), Human(r.bytes_cached).c_str());
    if (targets[i].mirror) {
      std::fprintf(stderr,
                   "  mirror: %llu objects uploaded (%s sent), %llu objects and %llu parts copied "
                   "server-side (%s), all checked with HEAD; %llu files already there\n",
                   static_cast<unsigned long long>(r.objects_put), Human(r.bytes_sent).c_str(),
                   static_cast<unsigned long long>(r.objects_copied),
                   static_cast<unsigned long long>(r.parts_copied), Human(r.bytes_copied).c_str(),
                   static_cast<unsigned long long>(r.files_unchanged));
    } else {
      std::fprintf(stderr, "  new: %s in %llu of %llu chunks, stored as %s; deduplicated: %s\n",
                   Human(r.bytes_new).c_str(), static_cast<unsigned long long>(r.chunks_new),
                   static_cast<unsigned long long>(r.chunks), Human(r.bytes_stored).c_str(),
                   Human(r.bytes_dedup).c_str());
    }
    std::fprintf(stderr, "  manifest %s%s%s\n", DigestHex(r.manifest_id).c_str(),
                 ref.empty() ? "" : " -> ref ", ref.c_str());
  }
  return 0;
}

uint64_t TotalSize(const std::vector<std::string>& roots) {
  // Only for the progress line; the push itself walks the trees once more.
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& r : roots) {
    if (std::filesystem::is_regular_file(r, ec)) {
      total += std::filesystem::file_size(r, ec);
      continue;
    }
    for (auto it = std::filesystem::recursive_directory_iterator(r, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
      if (it->is_regular_file(ec) && !it->is_symlink(ec)) total += it->file_size(ec);
  }
  return total;
}

int RunVerify(const std::string& store_url, const std::vector<std::string>& refs, bool all,
              bool as_json, unsigned threads, bool quick, bool read_only, bool quiet) {
  if (all == !refs.empty())
    return Fail(Status::Usage("verify takes either --ref NAME (repeatable) or --all"), "verify");
  auto dest = OpenDestination(store_url, /*create=*/false, *g_store_opts);
  if (!dest.ok()) return Fail(dest.status(), "verify");
  auto source = MakeChunkSource(*dest);
  VerifyOptions opts;
  opts.refs = refs;
  opts.all = all;
  opts.threads = threads;
  opts.quick = quick;
  opts.read_only = read_only;
  VerifyReport r;
  Status st = Verify(dest->meta.get(), source.get(), opts, &r);
  json j;
  j["status"] = !st.ok() ? "failed" : quick ? "present" : "verified";
  j["quick"] = quick;
  j["store"] = store_url;
  j["layout"] = dest->layout == Layout::kMirror ? "mirror" : "store";
  j["manifests"] = json::array();
  for (const auto& m : r.manifests) j["manifests"].push_back(DigestHex(m));
  j["chunks_checked"] = r.chunks_checked;
  j["bytes_checked"] = r.bytes_checked;
  j["seconds"] = r.seconds;
  j["manifest_problems"] = ErrorsJson(r.manifest_problems);
  j["chunk_problems"] = json::array();
  for (const auto& p : r.chunk_problems) {
    j["chunk_problems"].push_back(
        json{{"chunk", DigestHex(p.id)},
             {"problem", p.status.code() == Code::kNotFound ? "missing" : "corrupt"},
             {"message", p.status.message()},
             {"files", p.files},
             {"moved_aside", p.moved_aside}});
  }
  j["superseded"] = json::array();
  for (const auto& [id, by] : r.superseded)
    j["superseded"].push_back(json{{"manifest", DigestHex(id)}, {"superseded_by", DigestHex(by)}});
  if (!st.ok()) j["error"] = ErrorJson(st);
  if (as_json) PrintJson(j);
  for (const auto& p : r.manifest_problems)
    std::fprintf(stderr, "ferry verify: %s\n", p.message().c_str());
  if (!r.superseded.empty() && !quiet)
    std::fprintf(stderr,
                 "ferry verify: %zu superseded build(s) not checked: later pushes replaced their "
                 "objects in place (the bucket is not versioned; versioning keeps every build)\n",
                 r.superseded.size());
  for (const auto& p : r.chunk_problems) {
    std::string files;
    for (const auto& f : p.files) files += (files.empty() ? "" : ", ") + f;
    std::fprintf(stderr, "ferry verify: %s; used by: %s%s\n", p.status.message().c_str(),
                 files.c_str(),
                 p.moved_aside ? " (moved aside to damaged/: the next push of that source "
                                 "stores it again)"
                               : "");
  }
  if (!st.ok()) return Fail(st, "verify");
  if (quiet) return 0;
  if (quick) {
    std::fprintf(
        stderr,
        "ferry verify --quick: all present: %zu manifest(s), %llu %s checked with HEAD in %.2f s "
        "(sizes and stored checksums only; no byte was read: run without --quick to verify)\n",
        r.manifests.size(), static_cast<unsigned long long>(r.chunks_checked),
        dest->layout == Layout::kMirror ? "objects" : "chunks", r.seconds);
    return 0;
  }
  std::fprintf(stderr, "ferry verify: OK: %zu manifest(s), %llu chunks, %s rehashed in %.2f s\n",
               r.manifests.size(), static_cast<unsigned long long>(r.chunks_checked),
               Human(r.bytes_checked).c_str(), r.seconds);
  return 0;
}

int RunRestore(RestoreOptions opts, const std::string& from, bool as_json, bool quiet) {
  auto dest = OpenDestination(from, /*create=*/false, *g_store_opts);
  if (!dest.ok()) return Fail(dest.status(), "restore");
  auto source = MakeChunkSource(*dest);
  const std::string& to = opts.target;
  RestoreReport r;
  Status st = Restore(dest->meta.get(), source.get(), opts, &r);
  json j;
  j["status"] = st.ok() ? "ok" : "error";
  j["manifest"] = DigestHex(r.manifest_id);
  j["target"] = to;
  j["files_written"] = r.files_written;
  j["files_unchanged"] = r.files_unchanged;
  j["files_replaced"] = r.files_replaced;
  j["temp_files_removed"] = r.temp_files_removed;
  j["setuid_dropped"] = r.setuid_dropped;
  j["extras"] = r.extras;
  j["extras_deleted"] = r.extras_deleted;
  j["dirs"] = r.dirs;
  j["symlinks"] = r.symlinks;
  j["bytes_written"] = r.bytes_written;
  j["seconds"] = r.seconds;
  j["errors"] = ErrorsJson(r.errors);
  if (!st.ok()) j["error"] = ErrorJson(st);
  if (as_json) PrintJson(j);
  for (const auto& e : r.errors) std::fprintf(stderr, "ferry restore: %s\n", e.message().c_str());
  if (!r.extras.empty() && !r.extras_deleted && !quiet)
    std::fprintf(stderr,
                 "ferry restore: %zu entr%s in %s %s not part of the build and %s kept (first: "
                 "%s); --delete removes them\n",
                 r.extras.size(), r.extras.size() == 1 ? "y" : "ies", to.c_str(),
                 r.extras.size() == 1 ? "is" : "are", r.extras.size() == 1 ? "was" : "were",
                 r.extras[0].c_str());
  if (r.setuid_dropped > 0 && !quiet)
    std::fprintf(stderr,
                 "ferry restore: set-uid/set-gid bits dropped from %llu file(s) (--keep-setuid "
                 "keeps them)\n",
                 static_cast<unsigned long long>(r.setuid_dropped));
  if (!st.ok()) return Fail(st, "restore");
  if (quiet) return 0;
  std::fprintf(stderr,
               "ferry restore: %llu files written (%s; %llu replaced a different file), %llu "
               "already identical, all verified against manifest %s\n",
               static_cast<unsigned long long>(r.files_written), Human(r.bytes_written).c_str(),
               static_cast<unsigned long long>(r.files_replaced),
               static_cast<unsigned long long>(r.files_unchanged),
               DigestHex(r.manifest_id).c_str());
  if (r.extras_deleted && !r.extras.empty())
    std::fprintf(stderr, "  removed %zu entr%s not in the build (--delete)\n", r.extras.size(),
                 r.extras.size() == 1 ? "y" : "ies");
  if (r.temp_files_removed > 0)
    std::fprintf(stderr, "  removed %llu .ferry-tmp-* file(s) left by an interrupted restore\n",
                 static_cast<unsigned long long>(r.temp_files_removed));
  return 0;
}

int Main(int argc, char** argv) {
  CLI::App app{
      "ferry: replicate CI/CD build artifacts to a DR store and prove they arrived intact"};
  app.require_subcommand(1);
  bool quiet = false, verbose = false;
  app.add_flag("-q,--quiet", quiet, "Only errors on stderr");
  app.add_flag("-v,--verbose", verbose, "Debug logging");
  app.set_version_flag("--version", "ferry 0.1.0");
  app.fallthrough();  // store options may come after the subcommand
  StoreOptions store_opts;
  app.add_option("--endpoint-url", store_opts.endpoint_url,
                 "S3 endpoint (else AWS_ENDPOINT_URL, the profile, AWS)");
  app.add_option("--ca-bundle", store_opts.ca_bundle,
                 "CA certificates for TLS (else AWS_CA_BUNDLE, the system's)");
  app.add_flag("--no-verify-ssl", store_opts.no_verify_ssl,
               "Do not verify TLS certificates (warns)");
  app.add_option("--meta-prefix", store_opts.meta_prefix,
                 "s3:// mirrors: keep manifests and refs under this key prefix of the bucket "
                 "(e.g. ferry/), shared by all builds, so a build in a new prefix copies what "
                 "the previous one already sent");
  g_store_opts = &store_opts;

  // push
  auto* push = app.add_subcommand("push", "Chunk, hash and store build output; move a ref");
  std::vector<std::string> sources, tags;
  std::vector<std::string> tos;
  std::string ref, chunk_spec, io = "auto";
  bool json_out = false, no_progress = false;
  int level = 3;
  size_t memory_mib = 256;
  unsigned threads = 0;
  push->add_option("dirs", sources, "Directories (or files) to push")->required();
  push->add_option("--to", tos,
                   "Destination: a directory, file:///path or s3://bucket/prefix/ (repeat for "
                   "several; the sources are read once)")
      ->required()
      ->allow_extra_args(false);
  push->add_option("--ref", ref, "Point this ref (e.g. app/main) at the new manifest");
  push->add_option("--tag", tags, "Build metadata key=value (repeatable): commit, pipeline, build")
      ->allow_extra_args(false);
  push->add_flag("--json", json_out, "Print a JSON report on stdout");
  push->add_option("--compression", level, "zstd level for stored chunks, 0 = none")
      ->capture_default_str()
      ->check(CLI::Range(0, 19));
  push->add_option("--chunk-size", chunk_spec, "MIN,AVG,MAX chunk sizes (default 256K,1M,4M)");
  push->add_option("--memory", memory_mib, "Buffer memory budget in MiB")
      ->capture_default_str()
      ->check(CLI::Range(16, 1 << 20));
  push->add_option("--threads", threads, "Worker threads (default: one per core)");
  push->add_option("--io", io, "Read backend: auto, uring, pread")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "uring", "pread"}));
  push->add_flag("--no-progress", no_progress, "No progress line");
  PushOptions push_opts;
  push_opts.cache_dir = DefaultCacheDir();
  push->add_flag("--allow-empty", push_opts.allow_empty,
                 "Record a build with no files (refused by default: an empty build output is "
                 "usually a wrong path)");
  push->add_flag("--rehash", push_opts.rehash,
                 "Read and hash every file, even those the stat cache says are unchanged");
  push->add_option("--cache-dir", push_opts.cache_dir,
                   "Stat cache directory (default: $FERRY_CACHE_DIR, else ~/.cache/ferry)");
  std::string layout;
  push->add_option("--layout", layout,
                   "s3://: mirror (default: each file an object) or store (chunks)")
      ->check(CLI::IsMember({"mirror", "store"}));

  // verify
  auto* verify = app.add_subcommand("verify", "Re-read and rehash every stored chunk of a build");
  std::string store_url;
  std::vector<std::string> vrefs;
  bool all = false, vjson = false;
  unsigned vthreads = 0;
  verify
      ->add_option("--store", store_url, "Store: a directory, file:///path or s3://bucket/prefix/")
      ->required();
  verify->add_option("--ref", vrefs, "Ref or manifest ID to verify (repeatable)")
      ->allow_extra_args(false);
  verify->add_flag("--all", all, "Every manifest and ref in the store");
  verify->add_flag("--json", vjson, "Print a JSON report on stdout");
  verify->add_option("--threads", vthreads, "Parallel reads (default: two per core)");
  bool quick = false;
  verify->add_flag("--quick", quick,
                   "HEAD only: existence, size, stored checksums (no bytes read)");
  bool vread_only = false;
  verify->add_flag("--read-only", vread_only,
                   "Write nothing: corrupt chunks are reported but not moved aside");

  // restore
  auto* restore =
      app.add_subcommand("restore", "Write a build back out, byte-identical and verified");
  std::string from;
  RestoreOptions ropts;
  bool rjson = false;
  restore->add_option("ref-or-manifest-id", ropts.what, "Ref name or manifest ID")->required();
  restore->add_option("--from", from, "Store: a directory, file:///path or s3://bucket/prefix/")
      ->required();
  restore->add_option("--to", ropts.target, "Target directory (created if missing)")->required();
  restore->add_flag("--json", rjson, "Print a JSON report on stdout");
  restore->add_option("--threads", ropts.threads, "Parallel files (default: two per core)");
  restore->add_flag("--delete", ropts.delete_extras,
                    "Remove files and directories in the target that are not in the build");
  restore->add_flag("--keep-setuid", ropts.keep_setuid,
                    "Restore set-uid/set-gid bits (dropped by default)");

  // --json anywhere: errors, usage errors included, come as JSON on stdout too.
  for (int i = 1; i < argc; i++) g_json_error |= std::string_view(argv[i]) == "--json";
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string msg = e.what();
    if (app.get_subcommands().empty()) {
      // The first word that is not an option: a command Ferry does not have?
      for (int i = 1; i < argc; i++) {
        std::string_view a = argv[i];
        if (a.empty() || a[0] == '-') {
          if (a.find('=') == std::string_view::npos &&
              (a == "--endpoint-url" || a == "--ca-bundle" || a == "--meta-prefix"))
            i++;  // its value
          continue;
        }
        msg = "unknown command '" + std::string(a) + "'; the commands are push, verify, restore "
              "(ferry --help)";
        break;
      }
    }
    std::string cmd = app.get_subcommands().empty() ? "" : app.get_subcommands()[0]->get_name();
    return Fail(Status::Usage(msg + (cmd.empty() ? "" : " (ferry " + cmd + " --help)")),
                cmd.empty() ? "" : cmd);
  }
  if (quiet) SetLogLevel(LogLevel::kError);
  if (verbose) SetLogLevel(LogLevel::kDebug);
  if (*push)
    return RunPush(push_opts, sources, tos, ref, tags, json_out, level, chunk_spec, memory_mib,
                   threads, io, !no_progress && !quiet, layout, quiet);
  if (*verify)
    return RunVerify(store_url, vrefs, all, vjson, vthreads, quick, vread_only, quiet);
  if (*restore) return RunRestore(ropts, from, rjson, quiet);
  return static_cast<int>(Code::kUsage);
}

}  // namespace
}  // namespace ferry

int main(int argc, char** argv) { return ferry::Main(argc, argv); }
