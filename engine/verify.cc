#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "engine/chunk_codec.h"
#include "engine/destination.h"
#include "engine/ops.h"
#include "manifest/repo.h"
#include "util/hex.h"
#include "util/parallel.h"

namespace ferry {

unsigned IoThreadCount(unsigned requested) {
  return requested ? requested : std::max(2u, 2 * std::thread::hardware_concurrency());
}

namespace {

// What verify fetches of one manifest: every chunk ID once across the run (a
// store keeps each chunk once), or every file's chunks (a mirror keeps a copy
// in each file's object; --quick: one probe per object).
struct Item {
  const FileEntry* file;
  size_t chunk;
  uint64_t offset;
};

struct ChunkTally {
  std::unordered_set<Digest, DigestHash> seen;         // chunk IDs already queued
  std::unordered_map<Digest, size_t, DigestHash> bad;  // damaged ID -> its chunk_problems index
  uint64_t checked = 0, bytes = 0;
};

// Queues `m`'s work. A store's chunk found damaged in an earlier manifest is
// not fetched again: this manifest's files that hold it are added to its report.
std::vector<Item> WorkOf(const Digest& mid, const Manifest& m, ChunkSource* source, bool quick,
                         ChunkTally* tally, VerifyReport* report) {
  std::vector<Item> work;
  for (const auto& f : m.files) {
    if (quick && source->PerFile()) {  // one HEAD per object
      if (f.type == EntryType::kFile) work.push_back({&f, 0, 0});
      continue;
    }
    uint64_t offset = 0;
    bool named = false;
    for (size_t i = 0; i < f.chunks.size(); offset += f.chunks[i].size, i++) {
      if (source->PerFile() || tally->seen.insert(f.chunks[i].id).second) {
        work.push_back({&f, i, offset});
        continue;
      }
      auto b = tally->bad.find(f.chunks[i].id);
      if (b != tally->bad.end() && !named) {
        report->chunk_problems[b->second].files.push_back(f.path + " (manifest " +
                                                          DigestHex(mid).substr(0, 12) + ")");
        named = true;
      }
    }
  }
  return work;
}

// The bytes (--quick: objects) verify will check, for the progress line: a
// first pass over the manifests, one at a time.
Result<uint64_t> CountWork(ObjectStore* store, ChunkSource* source, const std::set<Digest>& ids,
                           bool quick) {
  ChunkTally tally;
  VerifyReport scratch;
  uint64_t total = 0;
  for (const auto& id : ids) {
    auto m = LoadManifest(store, id);
    if (!m.ok()) continue;  // the real pass reports it
    for (const auto& w : WorkOf(id, *m, source, quick, &tally, &scratch))
      total += quick ? 1 : w.file->chunks[w.chunk].size;
  }
  return total;
}

// Fetches and rehashes one manifest's work in parallel, and reports what is
// missing or damaged, naming the files that hold it.
Status VerifyManifest(ObjectStore* store, ChunkSource* source, const VerifyOptions& opts,
                      const Digest& mid, const Manifest& m, ChunkTally* tally,
                      VerifyReport* report) {
  std::vector<Item> work = WorkOf(mid, m, source, opts.quick, tally, report);
  std::atomic<uint64_t> bytes{0};
  std::mutex mu;
  std::vector<std::pair<const Item*, Status>> bad;
  unsigned n = IoThreadCount(opts.threads ? opts.threads : source->PreferredConcurrency());
  ParallelFor(
      work.size(), n,
      [&](size_t i) {
        thread_local std::string data;  // one buffer per worker thread
        const Item& w = work[i];
        Status st = opts.quick ? source->Probe(mid, *w.file, w.chunk)
                               : source->Fetch(mid, *w.file, w.chunk, w.offset, &data);
        // Bytes that do not match: read once more before calling it damage, so
        // a byte flipped on the network is not reported as a damaged store.
        if (!opts.quick && st.data_loss())
          st = source->Fetch(mid, *w.file, w.chunk, w.offset, &data);
        Advance(opts.progress, opts.quick ? 1 : w.file->chunks[w.chunk].size);
        if (st.ok()) {
          if (!opts.quick) bytes += w.file->chunks[w.chunk].size;
        } else if (st.code() != Code::kInterrupted) {
          std::lock_guard<std::mutex> l(mu);
          bad.emplace_back(&w, st);
        }
      },
      opts.cancel);
  // Interrupted: nothing is reported damaged or moved aside on a partial look.
  if (Cancelled(opts.cancel)) return opts.cancel->Check("verify of " + store->Describe());
  tally->checked += work.size();
  tally->bytes += bytes;
  std::sort(bad.begin(), bad.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [item, st] : bad) {
    ChunkProblem p;
    if (!item->file->chunks.empty()) p.id = item->file->chunks[item->chunk].id;
    p.status = st;
    if (source->PerFile()) {
      p.files.push_back(item->file->path);
    } else {
      for (const auto& f : m.files)
        for (const auto& c : f.chunks)
          if (c.id == p.id) {
            p.files.push_back(f.path + " (manifest " + DigestHex(mid).substr(0, 12) + ")");
            break;
          }
      tally->bad.emplace(p.id, report->chunk_problems.size());
    }
    if (!source->PerFile() && !opts.quick && !opts.read_only && st.code() == Code::kVerifyFailed &&
        st.data_loss())
      p.moved_aside = source->SetAside(*item->file, item->chunk);
    report->chunk_problems.push_back(std::move(p));
  }
  return Status::OK();
}

Status VerifyFrom(ObjectStore* store, ChunkSource* source, const VerifyOptions& opts,
                  VerifyReport* report) {
  auto t0 = std::chrono::steady_clock::now();
  std::set<Digest> ids;
  if (opts.all) {
    ASSIGN_OR_RETURN(auto manifests, ListManifests(store));
    ids.insert(manifests.begin(), manifests.end());
    ASSIGN_OR_RETURN(auto refs, ListRefs(store));
    for (const auto& r : refs) {
      auto id = ReadRef(store, r);
      if (!id.ok()) {
        report->manifest_problems.push_back(id.take_status());
      } else if (!ids.count(*id)) {
        report->manifest_problems.push_back(Status::VerifyFailed(
            "ref '" + r + "' points to manifest " + DigestHex(*id) + ", which is missing"));
      }
    }
    if (ids.empty() && report->manifest_problems.empty())
      return Status::NotFound("store " + store->Describe() +
                              " holds no manifests: nothing to verify");
  } else {
    if (opts.refs.empty())
      return Status::Usage("verify needs --ref NAME (or a manifest ID) or --all");
    for (const auto& r : opts.refs) {
      auto id = ResolveManifest(store, r);
      if (!id.ok()) return id.take_status();
      ids.insert(*id);
    }
  }

  // Superseded builds (docs/store-format.md): listed by --all, an error when named.
  ASSIGN_OR_RETURN(auto superseded, ListSuperseded(store));
  for (auto it = ids.begin(); it != ids.end();) {
    auto s = superseded.find(*it);
    if (s == superseded.end()) {
      ++it;
      continue;
    }
    if (opts.all)
      report->superseded.emplace_back(s->first, s->second);
    else
      report->manifest_problems.push_back(SupersededError(s->first, s->second));
    it = ids.erase(it);
  }

  report->quick = opts.quick;
  if (opts.progress) {
    ASSIGN_OR_RETURN(uint64_t total, CountWork(store, source, ids, opts.quick));
    opts.progress->bytes = !opts.quick;
    opts.progress->total = total;
  }
  // One manifest at a time (each checked against its ID), so memory grows
  // with the chunks seen, not with the builds held.
  ChunkTally tally;
  for (const auto& id : ids) {
    auto m = LoadManifest(store, id);
    if (!m.ok()) {
      Status st = m.take_status();
      if (st.code() == Code::kNotFound) st = Status::VerifyFailed(st.message());
      report->manifest_problems.push_back(st);
      continue;
    }
    report->manifests.push_back(id);
    RETURN_IF_ERROR(VerifyManifest(store, source, opts, id, *m, &tally, report));
  }
  report->chunks_checked = tally.checked;
  report->checked_by_listing = source->ProbesAnsweredByListing();
  report->bytes_checked = tally.bytes;
  report->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // Only damaged manifests: their own code (corrupt-manifest), naming the first.
  if (report->chunk_problems.empty() && !report->manifest_problems.empty() &&
      report->manifest_problems[0].code() == Code::kCorruptManifest)
    return report->manifest_problems[0];
  if (!report->chunk_problems.empty() || !report->manifest_problems.empty()) {
    return Status::VerifyFailed(std::to_string(report->chunk_problems.size()) +
                                " chunk(s) missing or corrupt, " +
                                std::to_string(report->manifest_problems.size()) +
                                " manifest/ref problem(s) in " + store->Describe());
  }
  return Status::OK();
}

}  // namespace

Status Verify(Destination* dest, const VerifyOptions& opts, VerifyReport* report) {
  auto source = dest->Reader();
  return VerifyFrom(dest->meta(), source.get(), opts, report);
}

Status Verify(ObjectStore* store, const VerifyOptions& opts, VerifyReport* report) {
  return Verify(StoreDestination(store).get(), opts, report);
}

}  // namespace ferry
