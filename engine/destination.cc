#include "engine/destination.h"

#include <map>
#include <mutex>

#include "engine/chunk_codec.h"
#include "engine/mirror.h"
#include "manifest/repo.h"

namespace ferry {

namespace {

class StoreChunkSource final : public ChunkSource {
 public:
  explicit StoreChunkSource(ObjectStore* store) : store_(store) {}
  Status Fetch(const Digest&, const FileEntry& f, size_t i, uint64_t, std::string* out) override {
    const ChunkInfo& c = f.chunks[i];
    auto obj = store_->Get(ChunkKey(c.id));
    if (!obj.ok()) {
      if (obj.status().code() == Code::kNotFound)
        return Status::NotFound("chunk " + DigestHex(c.id) + " is missing");
      return obj.take_status();
    }
    return DecodeChunk(*obj, c.id, c.size, out);
  }
  Status Probe(const Digest&, const FileEntry& f, size_t i) override {
    auto size = store_->Size(ChunkKey(f.chunks[i].id));
    if (!size.ok()) {
      if (size.status().code() == Code::kNotFound)
        return Status::NotFound("chunk " + DigestHex(f.chunks[i].id) + " is missing");
      return size.take_status();
    }
    if (*size == 0)
      return Status::VerifyFailed("chunk " + DigestHex(f.chunks[i].id) + " is empty").SetDataLoss();
    return Status::OK();
  }
  bool PerFile() const override { return false; }
  unsigned PreferredConcurrency() const override { return store_->PreferredConcurrency(); }

 private:
  ObjectStore* store_;
};

class MirrorChunkSource final : public ChunkSource {
 public:
  MirrorChunkSource(std::shared_ptr<S3Client> s3, ObjectStore* meta, std::string bucket,
                    std::string prefix)
      : s3_(std::move(s3)), meta_(meta), bucket_(std::move(bucket)), prefix_(std::move(prefix)) {}
  Status Fetch(const Digest& manifest, const FileEntry& f, size_t i, uint64_t offset,
               std::string* out) override {
    const ChunkInfo& c = f.chunks[i];
    ASSIGN_OR_RETURN(auto w, Location(manifest));
    const MirrorObject o = w->Object(f.path);
    std::string object = "s3://" + w->bucket + "/" + w->prefix + f.path +
                         (o.version_id.empty() ? "" : " (version " + o.version_id + ")");
    std::string where =
        object + " bytes " + std::to_string(offset) + "-" + std::to_string(offset + c.size - 1);
    auto r = s3_->GetRange(w->bucket, w->prefix + f.path, offset, c.size, o.version_id);
    if (!r.ok()) {
      if (r.status().code() == Code::kNotFound)
        return Status::NotFound("object " + object + " is missing");
      return r.take_status();
    }
    if (r->size() != c.size || Sha256::Of(*r) != c.id)
      return Status::VerifyFailed(where + " do not match chunk " + DigestHex(c.id) +
                                  " of the manifest (the object was changed or damaged)")
          .SetDataLoss();
    *out = std::move(*r);
    return Status::OK();
  }
  Status Probe(const Digest& manifest, const FileEntry& f, size_t) override {
    ASSIGN_OR_RETURN(auto w, Location(manifest));
    return CheckMirrorObject(s3_.get(), w->bucket, w->prefix + f.path, f.size, &f.sha256,
                             w->Object(f.path), MirrorOptions{}.part_size);
  }

  bool PerFile() const override { return true; }
  unsigned PreferredConcurrency() const override { return kNetworkConcurrency; }

 private:
  // Where a manifest's objects are (recorded beside it, else where the store
  // is), and which objects they are.
  struct Where {
    std::string bucket, prefix;
    MirrorRecord record;
    MirrorObject Object(const std::string& path) const {
      auto it = record.objects.find(path);
      return it == record.objects.end() ? MirrorObject{} : it->second;
    }
  };
  Result<std::shared_ptr<const Where>> Location(const Digest& manifest) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = where_.find(manifest);
    if (it == where_.end()) {
      auto w = std::make_shared<Where>();
      w->bucket = bucket_;
      w->prefix = prefix_;
      auto rec = GetMirrorRecord(meta_, manifest);
      if (rec.ok()) {
        w->record = std::move(*rec);
        ParseS3Url(w->record.url, &w->bucket, &w->prefix);
      } else if (rec.status().code() != Code::kNotFound) {
        return rec.take_status();
      }
      it = where_.emplace(manifest, std::move(w)).first;
    }
    return std::shared_ptr<const Where>(it->second);
  }
  std::shared_ptr<S3Client> s3_;
  ObjectStore* meta_;
  std::string bucket_, prefix_;
  std::mutex mu_;
  std::map<Digest, std::shared_ptr<const Where>> where_;  // guarded by mu_
};

}  // namespace

std::unique_ptr<ChunkSource> MakeStoreChunkSource(ObjectStore* store) {
  return std::make_unique<StoreChunkSource>(store);
}

std::unique_ptr<ChunkSource> MakeChunkSource(const Destination& dest) {
  if (dest.layout == Layout::kMirror)
    return std::make_unique<MirrorChunkSource>(dest.s3, dest.meta.get(), dest.bucket, dest.prefix);
  return MakeStoreChunkSource(dest.meta.get());
}

Result<Destination> OpenDestination(const std::string& url, bool create,
                                    const StoreOptions& options, const std::string& layout) {
  if (!layout.empty() && layout != "mirror" && layout != "store")
    return Status::Usage("--layout is mirror or store (got '" + layout + "')");
  Destination d;
  if (url.rfind("s3://", 0) != 0) {
    if (layout == "mirror")
      return Status::Usage(
          "--layout mirror is for s3:// destinations; a directory store uses the store layout");
    ASSIGN_OR_RETURN(d.meta, OpenStore(url, create));
    return d;
  }
  if (!ParseS3Url(url, &d.bucket, &d.prefix))
    return Status::Usage("s3:// URL without a bucket: use s3://bucket/prefix/");
  ASSIGN_OR_RETURN(S3Config config, S3ConfigFromEnvironment(options));
  d.s3 = std::make_shared<S3Client>(config);
  if (!options.meta_prefix.empty() && layout == "store")
    return Status::Usage(
        "--meta-prefix is for the mirror layout; a store-layout bucket keeps its "
        "manifests with its chunks");
  const std::string meta_key =
      options.meta_prefix.empty() ? d.prefix + ".ferry/" : S3KeyPrefix(options.meta_prefix);
  auto mirror_meta = std::make_unique<S3Store>(d.s3, d.bucket, meta_key);
  auto store_meta = std::make_unique<S3Store>(d.s3, d.bucket, d.prefix);
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
  S3Client* client = d.s3.get();
  std::string bucket = d.bucket, prefix = d.prefix;
  RETURN_IF_ERROR(CheckStoreMarker(meta, create, [client, bucket, prefix]() -> Result<bool> {
    ASSIGN_OR_RETURN(auto keys, client->ListObjects(bucket, prefix));
    return keys.empty();
  }));
  d.layout = is_store ? Layout::kStore : Layout::kMirror;
  if (is_store) {
    d.meta = std::move(store_meta);
  } else {
    d.meta = std::move(mirror_meta);
  }
  return d;
}

}  // namespace ferry
