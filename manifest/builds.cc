#include "manifest/builds.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <set>

#include "manifest/repo.h"
#include "manifest/signature.h"
#include "util/hex.h"
#include "util/parallel.h"

namespace ferry {

namespace {

BuildSummary Summarize(const Digest& id, const Manifest& m) {
  BuildSummary b;
  b.id = id;
  b.created_unix_ns = m.created_unix_ns;
  b.ref = m.ref;
  b.parent = m.parent;
  b.tags = m.tags;
  for (const auto& f : m.files)
    if (f.type == EntryType::kFile) {
      b.files++;
      b.bytes += f.size;
    }
  return b;
}

bool HasTag(const BuildSummary& b, const std::string& key, const std::string& value) {
  return std::find(b.tags.begin(), b.tags.end(), std::make_pair(key, value)) != b.tags.end();
}

// The summary of manifest `id`, without its superseded mark.
Result<BuildSummary> Load(ObjectStore* store, const Digest& id) {
  auto m = LoadManifest(store, id);
  if (m.ok()) {
    BuildSummary b = Summarize(id, *m);
    b.has_signature = store->Size(SignatureKey(id)).ok();
    return b;
  }
  if (m.status().code() == Code::kStoreUnavailable || m.status().code() == Code::kAuth)
    return m.take_status();
  BuildSummary b;
  b.id = id;
  b.problem = m.take_status();
  return b;
}

void MarkSuperseded(const std::map<Digest, Digest>& superseded, BuildSummary* b) {
  auto it = superseded.find(b->id);
  if (it != superseded.end()) b->superseded_by = it->second;
}

// Summaries of `ids`, read a few at a time (a bucket answers each GET in a round trip).
std::vector<BuildSummary> SummarizeAll(ObjectStore* store, const std::vector<Digest>& ids) {
  std::vector<BuildSummary> out(ids.size());
  ParallelFor(ids.size(), std::min<unsigned>(16, store->PreferredConcurrency()), [&](size_t i) {
    auto b = Load(store, ids[i]);
    out[i] = b.ok() ? std::move(*b) : BuildSummary{ids[i], b.status()};
  });
  return out;
}

}  // namespace

Result<BuildSummary> SummarizeBuild(ObjectStore* store, const Digest& id) {
  ASSIGN_OR_RETURN(BuildSummary b, Load(store, id));
  if (!b.problem.ok()) return b;
  ASSIGN_OR_RETURN(b.superseded_by, SupersededBy(store, id));
  return b;
}

Result<std::vector<BuildSummary>> RefHistory(ObjectStore* store, const std::string& ref,
                                             size_t max) {
  ASSIGN_OR_RETURN(Digest id, ReadRef(store, ref));
  ASSIGN_OR_RETURN(auto superseded, ListSuperseded(store));
  std::vector<BuildSummary> out;
  std::set<Digest> seen;  // a damaged store could hold a cycle
  for (std::optional<Digest> at = id; at && seen.insert(*at).second;) {
    if (max > 0 && out.size() == max) break;
    ASSIGN_OR_RETURN(BuildSummary b, Load(store, *at));
    MarkSuperseded(superseded, &b);
    at = b.problem.ok() ? b.parent : std::nullopt;
    out.push_back(std::move(b));
  }
  return out;
}

Result<std::vector<BuildSummary>> ListRefBuilds(ObjectStore* store) {
  ASSIGN_OR_RETURN(auto refs, ListRefs(store));
  std::sort(refs.begin(), refs.end());
  std::vector<Digest> ids;
  std::vector<Status> dangling(refs.size());
  for (size_t i = 0; i < refs.size(); i++) {
    auto id = ReadRef(store, refs[i]);
    if (!id.ok()) dangling[i] = id.status();
    ids.push_back(id.ok() ? *id : Digest{});
  }
  ASSIGN_OR_RETURN(auto superseded, ListSuperseded(store));
  auto out = SummarizeAll(store, ids);
  for (size_t i = 0; i < refs.size(); i++) {
    if (!dangling[i].ok()) out[i] = BuildSummary{Digest{}, dangling[i]};
    MarkSuperseded(superseded, &out[i]);
    out[i].ref = refs[i];
  }
  return out;
}

Result<Digest> FindBuildByTag(ObjectStore* store, const std::string& key, const std::string& value,
                              const std::string& ref) {
  std::vector<BuildSummary> builds;
  if (!ref.empty()) {
    ASSIGN_OR_RETURN(builds, RefHistory(store, ref));
  } else {
    ASSIGN_OR_RETURN(auto ids, ListManifests(store));
    builds = SummarizeAll(store, ids);
  }
  const BuildSummary* best = nullptr;
  for (const auto& b : builds)
    if (b.problem.ok() && HasTag(b, key, value) &&
        (!best || b.created_unix_ns > best->created_unix_ns))
      best = &b;
  if (!best)
    return Status::NotFound(
        "no build " + (ref.empty() ? "in " + store->Describe() : "of ref " + ref) +
        " carries tag " + key + "=" + value + " (ferry log REF shows the tags)");
  return best->id;
}

}  // namespace ferry
