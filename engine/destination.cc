#include "engine/destination.h"

#include <algorithm>

#include "manifest/repo.h"
#include "transport/read_only_store.h"
#include "transport/s3_client.h"
#include "transport/s3_rules.h"
#include "transport/s3_store.h"

namespace ferry {

const FileEntry* PreviousBuild::Find(std::string_view path) const {
  const auto& f = manifest.files;
  auto it = std::lower_bound(f.begin(), f.end(), path,
                             [](const FileEntry& e, std::string_view p) { return e.path < p; });
  return it != f.end() && it->path == path ? &*it : nullptr;
}

void PreviousBuild::IndexByStat() {
  by_stat_.clear();
  for (const auto& e : manifest.files)
    if (e.type == EntryType::kFile) by_stat_.push_back({{e.size, e.mtime_ns}, &e});
  // Stable: among files of one size and mtime, the first in path order answers.
  std::stable_sort(by_stat_.begin(), by_stat_.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
}

const FileEntry* PreviousBuild::FindByStat(uint64_t size, int64_t mtime_ns) const {
  const StatKey key{size, mtime_ns};
  auto it = std::lower_bound(by_stat_.begin(), by_stat_.end(), key,
                             [](const auto& e, const StatKey& k) { return e.first < k; });
  return it != by_stat_.end() && it->first == key ? it->second : nullptr;
}

const char* LayoutName(Layout layout) { return layout == Layout::kMirror ? "mirror" : "store"; }

Result<std::unique_ptr<Destination>> OpenDestination(const std::string& url, OpenMode mode,
                                                     StoreOptions options,
                                                     const std::string& layout) {
  const bool create = mode != OpenMode::kExisting;
  if (mode == OpenMode::kDryRun) options.read_only = true;
  if (!layout.empty() && layout != "mirror" && layout != "store")
    return Status::Usage("--layout is mirror or store (got '" + layout + "')");
  if (url.rfind("s3://", 0) != 0) {
    if (layout == "mirror")
      return Status::Usage(
          "--layout mirror is for s3:// destinations; a directory store uses the store layout");
    ASSIGN_OR_RETURN(auto store, OpenStore(url, mode));
    return StoreDestination(std::move(store));
  }
  std::string bucket, prefix;
  if (!ParseS3Url(url, &bucket, &prefix))
    return Status::Usage("s3:// URL without a bucket: use s3://bucket/prefix/");
  ASSIGN_OR_RETURN(S3Config config, S3ConfigFromEnvironment(options));
  auto s3 = std::make_shared<S3Client>(config);
  if (!options.meta_prefix.empty() && layout == "store")
    return Status::Usage(
        "--meta-prefix is for the mirror layout; a store-layout bucket keeps its "
        "manifests with its chunks");
  const std::string meta_key =
      options.meta_prefix.empty() ? prefix + ".ferry/" : S3KeyPrefix(options.meta_prefix);
  auto mirror_meta = std::make_unique<S3Store>(s3, bucket, meta_key);
  auto store_meta = std::make_unique<S3Store>(s3, bucket, prefix);
  auto mirror_marker = mirror_meta->Size("FERRY-STORE");
  auto store_marker = store_meta->Size("FERRY-STORE");
  for (auto* r : {&mirror_marker, &store_marker})
    if (!r->ok() && r->status().code() != Code::kNotFound) return r->take_status();
  bool is_mirror = mirror_marker.ok(), is_store = store_marker.ok();
  if (!is_mirror && !is_store && create) {
    is_mirror = layout != "store";
    is_store = !is_mirror;
  }
  if ((is_mirror && layout == "store") || (is_store && layout == "mirror"))
    return Status::Usage(url + " already holds a " + (is_mirror ? "mirror" : "store") +
                         "-layout Ferry store; drop --layout or choose another prefix");
  ObjectStore* meta = is_store ? static_cast<ObjectStore*>(store_meta.get()) : mirror_meta.get();
  S3Client* client = s3.get();
  RETURN_IF_ERROR(CheckStoreMarker(meta, mode, [client, bucket, prefix]() -> Result<bool> {
    ASSIGN_OR_RETURN(auto keys, client->ListObjects(bucket, prefix));
    return keys.empty();
  }));
  // A dry run's meta store refuses writes too (its client already does).
  auto read_only = [mode](std::unique_ptr<S3Store> s) -> std::unique_ptr<ObjectStore> {
    if (mode != OpenMode::kDryRun) return s;
    return std::make_unique<ReadOnlyStore>(std::move(s));
  };
  if (is_store) return StoreDestination(read_only(std::move(store_meta)));
  return MirrorDestination(std::move(s3), bucket, prefix, read_only(std::move(mirror_meta)));
}

}  // namespace ferry
