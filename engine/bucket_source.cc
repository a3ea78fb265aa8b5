#include "engine/bucket_source.h"

#include <xxhash.h>

#include <algorithm>
#include <map>

#include "manifest/manifest.h"
#include "transport/s3_rules.h"
#include "util/log.h"

namespace ferry {

bool IsBucketSource(const std::string& source) { return source.rfind("s3://", 0) == 0; }

Result<std::unique_ptr<BucketSource>> BucketSource::Open(const std::string& url,
                                                         const StoreOptions& opts) {
  std::string bucket, prefix;
  if (!ParseS3Url(url, &bucket, &prefix))
    return Status::Usage("source '" + url + "' is not an s3://bucket/prefix/ URL");
  StoreOptions o = opts;
  o.read_only = true;  // a source is only ever read
  ASSIGN_OR_RETURN(S3Config config, S3ConfigFromEnvironment(o));
  return std::make_unique<BucketSource>(std::make_shared<S3Client>(std::move(config)),
                                        std::move(bucket), std::move(prefix));
}

BucketSource::BucketSource(std::shared_ptr<S3Client> client, std::string bucket, std::string prefix)
    : client_(std::move(client)), bucket_(std::move(bucket)), prefix_(std::move(prefix)) {
  if (!prefix_.empty() && prefix_.back() != '/') prefix_ += '/';
}

FileStat BucketSource::Identity(const S3Client::ListedObject& o) {
  // dev 0 never occurs for a local file, so an object never matches one.
  return FileStat{0, XXH3_64bits(o.etag.data(), o.etag.size()), o.size, o.mtime_ns, o.mtime_ns};
}

namespace {

constexpr size_t kProbeKeys = 100;

// A listing that failed, as a source error (wrong credentials stay kAuth).
Status ListError(const std::string& url, const Status& st, const std::string& advice) {
  std::string m = "cannot list source " + url + ": " + st.message() + advice;
  return st.code() == Code::kAuth ? Status::Auth(std::move(m))
                                  : Status::SourceUnreadable(std::move(m));
}

const char kNothingRecorded[] = "; nothing was recorded and no store was created";

// A key below the prefix that is an object, not the prefix or a folder marker.
bool IsObjectKey(const std::string& key, size_t prefix_size) {
  return key.size() > prefix_size && key.back() != '/';
}

}  // namespace

Result<std::vector<S3Client::ListedObject>> BucketSource::ListObjects(const std::string& advice) {
  auto listed = client_->ListObjectsDetailed(bucket_, prefix_);
  if (!listed.ok()) return ListError(url(), listed.status(), advice);
  std::erase_if(*listed, [&](const S3Client::ListedObject& o) {
    return !IsObjectKey(o.key, prefix_.size());  // the prefix itself, or a folder marker
  });
  return listed;
}

Result<bool> BucketSource::HasObjects() {
  auto listed = client_->ListObjectsDetailed(bucket_, prefix_, kProbeKeys);
  if (!listed.ok()) return ListError(url(), listed.status(), kNothingRecorded);
  if (listed->size() >= kProbeKeys) return true;  // a full page: more follow
  for (const auto& o : *listed)
    if (IsObjectKey(o.key, prefix_.size()) && IsSafeRelativePath(o.key.substr(prefix_.size())))
      return true;
  return false;
}

Status BucketSource::List(const std::string& base, WalkResult* out) {
  ASSIGN_OR_RETURN(auto listed, ListObjects(kNothingRecorded));
  return AddListed(base, std::move(listed), out);
}

Status BucketSource::ListOnly(const std::string& base, const std::vector<std::string>& paths,
                              WalkResult* out) {
  std::vector<S3Client::ListedObject> listed;
  for (const auto& rel : paths) {
    if (rel.empty() || rel.back() == '/') continue;  // a folder marker: List leaves it out
    const std::string path = base.empty() ? rel : base + "/" + rel;
    if (!IsSafeRelativePath(path)) {  // as List: reported, never a failed cycle
      out->skipped.push_back(url() + rel);
      out->skipped_paths.push_back(path);
      continue;
    }
    // A listing of the key itself (one request), so the object's identity
    // is what a full listing says of it (the stat cache compares the two).
    const std::string key = prefix_ + rel;
    auto one = client_->ListObjectsDetailed(bucket_, key, 1);
    if (!one.ok()) return ListError(url(), one.status(), kNothingRecorded);
    if (one->empty() || (*one)[0].key != key) continue;  // gone: nothing to take
    // Objects below it (a folder marker `a/` alone does not count, as in List).
    auto below = client_->ListObjectsDetailed(bucket_, key + "/", 2);
    if (!below.ok()) return ListError(url(), below.status(), kNothingRecorded);
    std::erase_if(*below, [&](const S3Client::ListedObject& o) { return o.key == key + "/"; });
    if (!below->empty()) {  // `a` beside `a/b`: what List skips too
      out->skipped.push_back(url() + rel);
      out->skipped_paths.push_back(path);
      continue;
    }
    listed.push_back(std::move((*one)[0]));
  }
  return AddListed(base, std::move(listed), out);
}

Status BucketSource::AddListed(const std::string& base, std::vector<S3Client::ListedObject> listed,
                               WalkResult* out) {
  std::map<std::string, int64_t> dirs;  // implied directories, newest object below each
  auto add_dirs = [&](const std::string& path, int64_t mtime) {
    for (size_t s = path.find('/'); s != std::string::npos; s = path.find('/', s + 1)) {
      int64_t& m = dirs[path.substr(0, s)];
      m = std::max(m, mtime);
    }
  };
  std::vector<std::pair<std::string, S3Client::ListedObject*>> paths;  // safe ones, listed order
  for (auto& o : listed) {
    std::string rel = o.key.substr(prefix_.size());
    std::string path = base.empty() ? rel : base + "/" + rel;
    if (!IsSafeRelativePath(path)) {
      out->skipped.push_back(url() + rel);
      out->skipped_paths.push_back(path);
      continue;
    }
    add_dirs(path, o.mtime_ns);
    paths.emplace_back(std::move(path), &o);
  }
  if (!base.empty()) dirs.emplace(base, 0);
  for (auto& [path, o] : paths) {
    // S3 can hold both `a` and `a/b`; a tree cannot. The object whose key is
    // also a directory of others is skipped (reported), never recorded twice.
    if (dirs.count(path)) {
      out->skipped.push_back(url() + path.substr(base.empty() ? 0 : base.size() + 1));
      out->skipped_paths.push_back(path);
      continue;
    }
    FileEntry e;
    e.path = std::move(path);
    e.type = EntryType::kFile;
    e.mode = 0644;
    e.size = o->size;
    e.mtime_ns = o->mtime_ns;
    const FileStat identity = Identity(*o);  // before the ETag moves
    SourceFile read{std::move(o->key), o->size, o->mtime_ns, this, std::move(o->etag)};
    out->Add(std::move(e), identity, std::move(read));
  }
  for (const auto& [path, mtime] : dirs) {
    FileEntry d;
    d.path = path;
    d.type = EntryType::kDir;
    d.mode = 0755;
    d.mtime_ns = mtime;
    out->Add(std::move(d), FileStat{});
  }
  return Status::OK();
}

StoreOptions SourceStoreOptions(const StoreOptions& destinations, const std::string& endpoint_url) {
  StoreOptions o = destinations;
  o.meta_prefix.clear();
  if (!endpoint_url.empty()) o.endpoint_url = endpoint_url;
  return o;
}

Status CheckSourceIsNotDestination(const std::vector<std::string>& sources,
                                   const std::vector<std::string>& tos, bool same_endpoint) {
  if (!same_endpoint) return Status::OK();
  for (const auto& src : sources) {
    std::string sb, sp;
    if (!IsBucketSource(src) || !ParseS3Url(src, &sb, &sp)) continue;
    for (const auto& to : tos) {
      std::string db, dp;
      if (!ParseS3Url(to, &db, &dp) || db != sb) continue;
      if (dp.rfind(sp, 0) == 0 || sp.rfind(dp, 0) == 0)
        return Status::Usage("source " + src + " and destination " + to +
                             " overlap in one bucket on one endpoint: the push would copy the "
                             "bucket onto itself. Give the source's endpoint with "
                             "--source-endpoint-url if it is another S3 service, or another "
                             "prefix");
    }
  }
  return Status::OK();
}

Status BucketSource::ReadAt(const SourceFile& file, uint64_t offset, uint8_t* buf, size_t n) {
  auto got = client_->GetRange(bucket_, file.path, offset, n, "", file.version);
  if (!got.ok()) {
    const Status& st = got.status();
    if (st.code() == Code::kConflict || st.code() == Code::kNotFound)
      return Status::SourceUnreadable("s3://" + bucket_ + "/" + file.path +
                                      " changed while it was being read (replaced or deleted "
                                      "since it was listed); the next run takes its new version");
    return st.WithContext("reading source s3://" + bucket_ + "/" + file.path);
  }
  if (got->size() != n)
    return Status::SourceUnreadable("s3://" + bucket_ + "/" + file.path +
                                    " changed while it was being read: it is shorter than the " +
                                    std::to_string(file.size) + " bytes listed");
  std::memcpy(buf, got->data(), n);
  return Status::OK();
}

bool BucketSource::CopySourceOf(const SourceFile& file, S3CopySource* out) const {
  *out = {client_->config().endpoint, bucket_, file.path, file.version};
  return !file.version.empty();
}

}  // namespace ferry
