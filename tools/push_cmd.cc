// ferry push: read build output once, send it to every destination, record
// the build (a manifest, and a ref if asked).
#include <algorithm>
#include <filesystem>
#include <optional>

#include "crypto/sign.h"
#include "engine/bucket_source.h"
#include "engine/destination.h"
#include "engine/ops.h"
#include "engine/stat_cache.h"
#include "tools/cli.h"
#include "util/hex.h"
#include "util/log.h"
#include "util/units.h"

namespace ferry::cli {
namespace {

struct PushArgs {
  std::vector<std::string> sources, tos, tags;
  std::string source_endpoint_url;
  std::string ref, chunk_spec, io = "auto", layout;
  bool json = false, no_progress = false;
  std::string junit;
  std::vector<std::string> content_types;  // GLOB=TYPE
  bool no_content_type = false;
  int level = 3;
  size_t memory_mib = 256;
  std::string pack_size = "16MiB", pack_below = "256KiB";
  std::string server_copy = "auto";
  unsigned threads = 0;
  std::string sign_key;  // --sign-key
  PushOptions opts;      // --allow-empty, --rehash, --cache-dir
  PathFilter filter;     // --exclude, --include, --exclude-from, in command-line order
  Status filter_error;
};

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

json PlannedJson(const std::vector<PlannedFile>& planned) {
  json out = json::array();
  for (const auto& p : planned) {
    json f = {{"path", p.path},
              {"action", PlannedActionName(p.action)},
              {"size", p.size},
              {"bytes", p.bytes}};
    if (p.bytes_copied > 0) f["bytes_copied"] = p.bytes_copied;
    if (!p.from.empty()) f["from"] = p.from;
    out.push_back(std::move(f));
  }
  return out;
}

// One shape for any number of destinations: the build and the totals at the
// top, each destination's own figures in "destinations".
json PushJson(const PushArgs& a, const PushOptions& opts,
              const std::vector<std::unique_ptr<Destination>>& dests,
              const std::vector<PushReport>& reports, const Status& st) {
  const auto& tos = a.tos;
  const std::string& ref = a.ref;
  auto counters = [](const PushReport& r, json* j) {
    ForEachPushCounter(r, [&](const char* name, uint64_t v) { (*j)[name] = v; });
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
  if (opts.merge) {
    j["merged_onto"] = same_id && reports[0].merged_onto ? json(DigestHex(*reports[0].merged_onto))
                                                         : json(nullptr);
    j["build_files"] = reports[0].build_files;
  }
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
    for (const auto& [k, v] : c.items())
      totals[k] = totals.value(k, uint64_t{0}) + v.get<uint64_t>();
    json d;
    d["store"] = tos[i];
    d["layout"] = LayoutName(dests[i]->layout());
    d["status"] = r.recorded || r.dry_run ? "ok" : "error";
    d["manifest"] = r.recorded ? json(DigestHex(r.manifest_id)) : json(nullptr);
    d["parent"] = r.recorded && r.parent ? json(DigestHex(*r.parent)) : json(nullptr);
    if (opts.merge) {
      d["merged_onto"] =
          r.recorded && r.merged_onto ? json(DigestHex(*r.merged_onto)) : json(nullptr);
      d["build_files"] = r.build_files;
    }
    d.update(c);
    d["seconds"] = r.seconds;
    if (r.dry_run) d["planned"] = PlannedJson(r.planned);
    destinations.push_back(d);
    seconds = std::max(seconds, r.seconds);
  }
  j.update(totals);
  j["seconds"] = seconds;
  j["io_backend"] = reports[0].io_backend;
  j["skipped"] = reports[0].skipped;
  j["filtered"] = reports[0].filtered;  // entries left out by --exclude/--include
  j["errors"] = ErrorsJson(reports[0].file_errors);
  j["destinations"] = std::move(destinations);
  j["dry_run"] = opts.dry_run;
  if (!st.ok()) j["error"] = ErrorJson(st);
  return j;
}

// --dry-run, on stdout: each file that would be sent or copied (like
// `aws s3 sync --dryrun`), then per destination what would happen in all.
void PrintPlan(const PushArgs& a, const std::vector<Destination*>& targets,
               const std::vector<PushReport>& reports) {
  using Action = PlannedFile::Action;
  for (size_t i = 0; i < reports.size(); i++) {
    const PushReport& r = reports[i];
    uint64_t same = 0, same_bytes = 0;
    const bool mirror = targets[i]->layout() == Layout::kMirror;
    const std::string& to = a.tos[i];
    const std::string dir = to.empty() || to.back() == '/' ? to : to + "/";
    for (const auto& p : r.planned) {
      if (p.action == Action::kUnchanged || p.action == Action::kDedup) {
        same++;
        same_bytes += p.size;
        continue;
      }
      std::string extra;
      if (p.action == Action::kCopy) extra = " (server-side copy of " + p.from + ")";
      if (p.action == Action::kUpload && p.bytes_copied > 0)
        extra = " (" + Human(p.bytes) + " sent, " + Human(p.bytes_copied) + " part-copied from " +
                p.from + ")";
      if (p.action == Action::kStore && p.bytes < p.size)
        extra = " (" + Human(p.bytes) + " in new chunks)";
      std::printf("(dry run) %s: %s -> %s%s\n", PlannedActionName(p.action), p.path.c_str(),
                  (mirror ? dir + p.path : to).c_str(), extra.c_str());
    }
    std::printf("(dry run) %s: %llu files, %s; ", a.tos[i].c_str(),
                static_cast<unsigned long long>(r.files),
                Human(r.bytes_read + r.bytes_cached).c_str());
    if (mirror)
      std::printf(
          "would upload %llu objects (%s), copy %llu objects and %llu parts server-side "
          "(%s); %llu files (%s) already there\n",
          static_cast<unsigned long long>(r.mirror.objects_put), Human(r.mirror.bytes_sent).c_str(),
          static_cast<unsigned long long>(r.mirror.objects_copied),
          static_cast<unsigned long long>(r.mirror.parts_copied),
          Human(r.mirror.bytes_copied).c_str(), static_cast<unsigned long long>(same),
          Human(same_bytes).c_str());
    else
      std::printf(
          "would store %s in %llu new chunks (%s compressed); %llu files (%s) need no new "
          "chunk\n",
          Human(r.bytes_new).c_str(), static_cast<unsigned long long>(r.chunks_new),
          Human(r.bytes_stored).c_str(), static_cast<unsigned long long>(same),
          Human(same_bytes).c_str());
  }
  std::printf("(dry run) nothing was written: no object, chunk, manifest or ref%s\n",
              a.ref.empty() ? "" : (" (ref " + a.ref + " not moved)").c_str());
}

void PrintPushSummary(const PushArgs& a, const std::vector<Destination*>& targets,
                      const std::vector<PushReport>& reports) {
  const auto& tos = a.tos;
  const std::string& ref = a.ref;
  const bool merge = a.opts.merge;
  for (size_t i = 0; i < reports.size(); i++) {
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
    if (targets[i]->layout() == Layout::kMirror) {
      std::fprintf(stderr,
                   "  mirror: %llu objects uploaded (%s sent), %llu objects and %llu parts copied "
                   "server-side (%s), all checked with HEAD; %llu files already there%s\n",
                   static_cast<unsigned long long>(r.mirror.objects_put),
                   Human(r.mirror.bytes_sent).c_str(),
                   static_cast<unsigned long long>(r.mirror.objects_copied),
                   static_cast<unsigned long long>(r.mirror.parts_copied),
                   Human(r.mirror.bytes_copied).c_str(),
                   static_cast<unsigned long long>(r.mirror.files_unchanged),
                   r.mirror.files_listed
                       ? (" (" + std::to_string(r.mirror.files_listed) +
                          " of them found by listing the prefix, with the size and ETag recorded)")
                             .c_str()
                       : "");
      if (r.objects_deleted + r.delete_failures > 0)
        std::fprintf(stderr, "  --delete: %llu objects of files gone from the source deleted%s\n",
                     static_cast<unsigned long long>(r.objects_deleted),
                     r.delete_failures ? (", " + std::to_string(r.delete_failures) +
                                          " could not be (they stay; see the warnings above)")
                                             .c_str()
                                       : "");
    } else {
      std::fprintf(stderr, "  new: %s in %llu of %llu chunks, stored as %s; deduplicated: %s\n",
                   Human(r.bytes_new).c_str(), static_cast<unsigned long long>(r.chunks_new),
                   static_cast<unsigned long long>(r.chunks), Human(r.bytes_stored).c_str(),
                   Human(r.bytes_dedup).c_str());
    }
    std::fprintf(stderr, "  manifest %s%s%s\n", DigestHex(r.manifest_id).c_str(),
                 ref.empty() ? "" : " -> ref ", ref.c_str());
    if (merge)
      std::fprintf(
          stderr, "  merged onto %s: the build holds %llu files\n",
          r.merged_onto ? DigestHex(*r.merged_onto).substr(0, 12).c_str() : "nothing (a new ref)",
          static_cast<unsigned long long>(r.build_files));
  }
}

int RunPush(const PushArgs& a, const Context& ctx, Output* out) {
  PushOptions opts = a.opts;
  const auto& tos = a.tos;
  const bool progress = !a.no_progress && !ctx.quiet;
  opts.sources = a.sources;
  // s3:// sources: the destinations' endpoint and TLS settings unless told.
  opts.source_store = SourceStoreOptions(ctx.store, a.source_endpoint_url);
  opts.ref = a.ref;
  opts.zstd_level = a.level;
  opts.cancel = ctx.cancel;
  if (!a.filter_error.ok()) return out->Fail(a.filter_error);
  for (const auto& ct : a.content_types) {
    size_t eq = ct.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == ct.size())
      return out->Fail(Status::Usage(
          "--content-type takes GLOB=TYPE, e.g. '*.tpl=text/plain' (got '" + ct + "')"));
    opts.content_types.emplace_back(ct.substr(0, eq), ct.substr(eq + 1));
  }
  opts.set_content_type = !a.no_content_type;
  opts.filter = &a.filter;
  if (Status t = ParseTags(a.tags, &opts.tags); !t.ok()) return out->Fail(t);
  if (!a.chunk_spec.empty()) {
    auto p = ParseChunkerParams(a.chunk_spec);
    if (!p.ok()) return out->Fail(p.status());
    opts.pipeline.chunking = *p;
  }
  opts.pipeline.memory_budget = a.memory_mib << 20;
  uint64_t pack_size = 0, pack_below = 0;
  if (!ParseBytes(a.pack_size, &pack_size) || pack_size < (1u << 20) || pack_size > (1u << 30))
    return out->Fail(Status::Usage("--pack-size takes a size from 1MiB to 1GiB, e.g. 16MiB (got '" +
                                   a.pack_size + "')"));
  if (!ParseBytes(a.pack_below, &pack_below) || pack_below > (16u << 20))
    return out->Fail(Status::Usage(
        "--pack-below takes a size up to 16MiB, e.g. 256KiB, or 0 for no packs (got '" +
        a.pack_below + "')"));
  opts.pack_size = static_cast<uint32_t>(pack_size);
  opts.copy_min_size = a.server_copy == "always"  ? 0
                       : a.server_copy == "never" ? UINT64_MAX
                                                  : kCopyPaysFrom;
  opts.pack_below = static_cast<uint32_t>(pack_below);
  opts.pipeline.threads = a.threads;
  opts.pipeline.io = a.io == "uring"   ? IoBackend::kUring
                     : a.io == "pread" ? IoBackend::kPread
                                       : IoBackend::kAuto;
  std::unique_ptr<SigningKey> key;
  if (!a.sign_key.empty()) {
    auto k = SigningKey::LoadPrivate(a.sign_key);
    if (!k.ok()) return out->Fail(k.status());
    key = std::move(*k);
    opts.sign_key = key.get();
  }
  if (Status o = CheckSourceIsNotDestination(opts.sources, tos, a.source_endpoint_url.empty());
      !o.ok())
    return out->Fail(o);
  // A missing or empty build output fails before any store is created.
  if (Status src = CheckPushSources(opts); !src.ok()) return out->Fail(src);
  // Every destination is opened (and checked) before a byte is read.
  std::vector<std::unique_ptr<Destination>> dests;
  std::vector<Destination*> targets;
  for (const auto& to : tos) {
    auto dest = OpenDestination(to, opts.dry_run ? OpenMode::kDryRun : OpenMode::kCreate, ctx.store,
                                a.layout);
    if (!dest.ok()) return out->Fail(dest.status().WithContext(to));
    dests.push_back(std::move(*dest));
    targets.push_back(dests.back().get());
    if (opts.propagate_deletes && targets.back()->layout() != Layout::kMirror)
      LogInfo("--delete has nothing to delete in " + to +
              " (store layout): a file gone from the source is already absent from the new "
              "build, and its chunks stay until prune");
  }

  ProgressMeter meter;
  opts.progress_bytes = &meter.done;
  std::vector<PushReport> reports;
  Status st;
  {
    if (progress) meter.total = TotalSize(a.sources);
    Progress p(ctx, "push", &meter, progress);
    st = PushMulti(targets, opts, &reports);
  }
  json j = PushJson(a, opts, dests, reports, st);
  ReportToCi(opts.dry_run ? "push (dry run)" : "push", j, a.junit);
  if (a.json) out->PrintJson(j);
  for (const auto& s : reports[0].skipped)
    LogWarn("skipped " + s +
            (IsBucketSource(s) ? " (its key cannot be a file of a tree: not a safe relative path, "
                                 "or also the directory of other keys; docs/sources.md)"
                               : " (not a regular file, symlink or directory)"));
  for (const auto& e : reports[0].file_errors)
    std::fprintf(stderr, "ferry push: %s\n", e.message().c_str());
  if (!st.ok()) return out->Fail(st);
  if (opts.dry_run) {
    if (!a.json && !ctx.quiet) PrintPlan(a, targets, reports);
    return 0;
  }
  if (!ctx.quiet) PrintPushSummary(a, targets, reports);
  return 0;
}

}  // namespace

Runner AddPushCommand(CLI::App* app, const Context* ctx) {
  auto* push = app->add_subcommand("push", "Chunk, hash and store build output; move a ref");
  auto a = std::make_shared<PushArgs>();
  push->add_option("dirs", a->sources,
                   "Directories, files, or s3://bucket/prefix/ (every object under it) to push")
      ->required();
  push->add_option("--source-endpoint-url", a->source_endpoint_url,
                   "s3:// sources: their S3 endpoint, if not the destinations' (--endpoint-url)");
  push->add_option("--to", a->tos,
                   "Destination: a directory, file:///path or s3://bucket/prefix/ (repeat for "
                   "several; the sources are read once)")
      ->required()
      ->allow_extra_args(false);
  push->add_option("--ref", a->ref, "Point this ref (e.g. app/main) at the new manifest");
  push->add_option("--tag", a->tags,
                   "Build metadata key=value (repeatable): commit, pipeline, build")
      ->allow_extra_args(false);
  push->add_flag("--json", a->json, "Print a JSON report on stdout");
  push->add_option("--content-type", a->content_types,
                   "s3:// mirrors: Content-Type for paths matching GLOB (GLOB=TYPE, repeatable, "
                   "first match wins); others get one from their extension")
      ->allow_extra_args(false);
  push->add_flag("--no-content-type", a->no_content_type,
                 "s3:// mirrors: set no Content-Type (S3's default)");
  push->add_option("--junit", a->junit, "Write a JUnit XML report here (one test per destination)");
  // Filters keep their command-line order: the last rule that matches decides.
  AddFilterOptions(push, a, &a->filter);
  push->add_option_function<std::string>(
          "--exclude-from",
          [a](const std::string& f) {
            Status st = a->filter.ExcludeFrom(f);
            if (!st.ok() && a->filter_error.ok()) a->filter_error = st;
          },
          "Exclude the patterns in FILE, one a line (# comments)")
      ->trigger_on_parse()
      ->allow_extra_args(false);
  push->add_option("--compression", a->level, "zstd level for stored chunks, 0 = none")
      ->capture_default_str()
      ->check(CLI::Range(0, 19));
  push->add_option("--chunk-size", a->chunk_spec, "MIN,AVG,MAX chunk sizes (default 256K,1M,4M)");
  push->add_option("--pack-below", a->pack_below,
                   "Store layout: chunks smaller than this go into pack files (0: none)")
      ->capture_default_str();
  push->add_option("--pack-size", a->pack_size,
                   "Store layout: target size of a pack file (at most 1/16 of --memory)")
      ->capture_default_str();
  push->add_option("--server-copy", a->server_copy,
                   "Mirror: copy server-side what the bucket already has, or an s3:// source's "
                   "objects on the same endpoint: auto (from 1 MiB, where it is faster than "
                   "sending), always, never")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "always", "never"}));
  push->add_option("--memory", a->memory_mib, "Buffer memory budget in MiB")
      ->capture_default_str()
      ->check(CLI::Range(16, 1 << 20));
  push->add_option("--threads", a->threads, "Worker threads (default: one per core)");
  push->add_option("--io", a->io, "Read backend: auto, uring, pread")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "uring", "pread"}));
  push->add_flag("--no-progress", a->no_progress, "No progress (as --progress none)");
  a->opts.cache_dir = DefaultCacheDir();
  push->add_flag("--allow-empty", a->opts.allow_empty,
                 "Record a build with no files (refused by default: an empty build output is "
                 "usually a wrong path)");
  push->add_option("--sign-key", a->sign_key,
                   "Sign each build with this Ed25519 private key (ferry key generate)");
  push->add_flag("--dry-run,-n", a->opts.dry_run,
                 "Read and hash the sources, ask the destinations what they hold, and print what "
                 "would be uploaded, copied or stored; write nothing anywhere");
  push->add_flag("--rehash", a->opts.rehash,
                 "Read and hash every file, even those the stat cache says are unchanged");
  push->add_option("--cache-dir", a->opts.cache_dir,
                   "Stat cache directory (default: $FERRY_CACHE_DIR, else ~/.cache/ferry)");
  push->add_option("--layout", a->layout,
                   "s3://: mirror (default: each file an object) or store (chunks)")
      ->check(CLI::IsMember({"mirror", "store"}));
  push->add_flag("--merge", a->opts.merge,
                 "Store layout: record this push's files laid over the ref's latest build, keeping "
                 "the files it does not hold (CI matrix jobs, one build; docs/merge.md)");
  push->add_flag("--delete", a->opts.propagate_deletes,
                 "Mirror destinations: once the build is recorded, delete the objects of files "
                 "the ref's previous build had and the source no longer has (docs/deletes.md)");
  push->add_option("--max-delete", a->opts.max_delete,
                   "--delete: refuse the push, sending nothing, if it would delete more objects "
                   "than this from one destination")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);

  return [a, ctx](Output* out) { return RunPush(*a, *ctx, out); };
}

}  // namespace ferry::cli
