// The mirror layout (docs/store-format.md): every file of a build is an
// ordinary object at s3://bucket/prefix/<path>; the manifests, refs and each
// build's mirror record (where its objects are, with ETags and versions) are
// kept under the prefix's .ferry/ (or --meta-prefix). The uploads themselves
// are MirrorUploader's (engine/mirror.h).
#include <atomic>
#include <map>
#include <mutex>
#include <set>

#include "engine/destination.h"
#include "engine/mirror.h"
#include "manifest/repo.h"
#include "transport/s3_rules.h"
#include "transport/s3_store.h"
#include "transport/s3_tags.h"
#include "util/hex.h"
#include "util/log.h"

namespace ferry {

namespace {

// Unchanged objects to check in place from which one listing beats a HEAD
// each (a ListObjectsV2 page answers for up to 1,000 keys).
constexpr size_t kListAtLeast = 100;

// On a bucket without versioning, a push into the prefix its ref's previous
// build uses replaces that build's objects in place: say so, once, with the fix.
void WarnIfOverwritingInPlace(S3Client* client, const std::string& bucket,
                              const std::string& prefix, const Digest& previous) {
  auto state = client->GetBucketVersioning(bucket);
  if (!state.ok()) {
    LogDebug("cannot read the versioning of bucket " + bucket + ": " + state.status().message());
    return;
  }
  if (*state == "Enabled") return;
  LogWarn("bucket " + bucket + " is not versioned: this push replaces the objects of build " +
          DigestHex(previous).substr(0, 12) + " in s3://" + bucket + "/" + prefix +
          " in place, so until it finishes that build is damaged, and afterwards the files it "
          "changed are gone (the build is marked superseded). Enable versioning on the bucket "
          "(aws s3api put-bucket-versioning --versioning-configuration Status=Enabled) or push "
          "each build to its own prefix");
}

// The builds recorded at a mirror location, from its index. A store from
// before the index is indexed once, every location at a time (one read of
// each manifest's record), then marked so (locations/INDEXED).
Result<std::vector<LocatedBuild>> BuildsAt(ObjectStore* store, const std::string& url) {
  auto builds = BuildsAtLocation(store, url);
  if (builds.ok() || builds.status().code() != Code::kNotFound) return builds;
  ASSIGN_OR_RETURN(bool indexed, LocationsIndexed(store));
  if (indexed) return std::vector<LocatedBuild>{};  // no build there yet
  std::map<std::string, std::vector<LocatedBuild>> at;
  ASSIGN_OR_RETURN(auto all, ListManifests(store));
  for (const auto& id : all)
    if (auto rec = GetMirrorRecord(store, id); rec.ok())
      at[rec->url].push_back({id, FullyVersioned(*rec)});
  for (const auto& [where, located] : at)
    for (const auto& b : located) RETURN_IF_ERROR(AddBuildAtLocation(store, where, b));
  RETURN_IF_ERROR(MarkLocationsIndexed(store));
  return at[url];
}

// --delete: the paths at mirror location `url` that another ref's latest
// build still names (refs pushed into one prefix share its objects), each
// with that ref's name. `self`: the build just recorded, whose ref is not
// "another". A ref that cannot be read is an error: then nothing is deleted.
Result<std::map<std::string, std::string>> NamedByOtherRefs(ObjectStore* store,
                                                            const std::string& url,
                                                            const Digest& self) {
  std::map<std::string, std::string> named;
  ASSIGN_OR_RETURN(auto refs, ListRefs(store));
  for (const auto& ref : refs) {
    auto head = ReadRef(store, ref);
    if (!head.ok() && head.status().code() == Code::kNotFound) continue;  // deleted since
    if (!head.ok()) return head.take_status().WithContext("ref " + ref);
    if (*head == self) continue;
    auto rec = GetMirrorRecord(store, *head);
    if (!rec.ok() && rec.status().code() != Code::kNotFound)
      return rec.take_status().WithContext("ref " + ref);
    if (rec.ok() && rec->url != url) continue;
    if (rec.ok() && !rec->objects.empty()) {
      for (const auto& [path, object] : rec->objects) named.emplace(path, ref);
      continue;
    }
    // A record of format 1 (the URL alone), or none (a build from before
    // records: its objects are at the store's own prefix): its manifest's files.
    ASSIGN_OR_RETURN(Manifest m, LoadManifest(store, *head));
    for (const auto& e : m.files)
      if (e.type == EntryType::kFile) named.emplace(e.path, ref);
  }
  return named;
}

// The SHA-256 MarkSupersededBuilds takes for an object deleted (no file's).
const Digest kDeleted{};

// After a push that wrote `written` (path -> SHA-256, kDeleted: deleted) at
// `url`: every earlier build there that had other bytes at one of those
// paths, in an object without a version ID (an unversioned bucket), lost that
// object to this push. It is marked superseded by `id`, so verify and restore
// say so instead of reporting damage. `record`: build `id`'s, to index it at
// `url` first; null if it is indexed already.
Status MarkSupersededBuilds(ObjectStore* store, const std::string& url, const MirrorRecord* record,
                            const std::map<std::string, Digest>& written, const Digest& id) {
  ASSIGN_OR_RETURN(auto builds, BuildsAt(store, url));
  if (record) RETURN_IF_ERROR(AddBuildAtLocation(store, url, {id, FullyVersioned(*record)}));
  if (written.empty()) return Status::OK();
  // Only builds that can still lose an object: not versioned, not superseded yet.
  ASSIGN_OR_RETURN(auto superseded, SupersededIds(store));
  for (const auto& [old, versioned] : builds) {
    if (old == id || versioned || superseded.count(old)) continue;
    auto om = LoadManifest(store, old);
    auto orec = GetMirrorRecord(store, old);
    if (!om.ok() || !orec.ok()) continue;  // verify reports those
    for (const auto& f : om->files) {
      auto w = written.find(f.path);
      if (f.type != EntryType::kFile || w == written.end() || w->second == f.sha256) continue;
      auto o = orec->objects.find(f.path);
      if (o != orec->objects.end() && !o->second.version_id.empty()) continue;  // kept by version
      RETURN_IF_ERROR(MarkSuperseded(store, old, id));
      LogInfo("build " + DigestHex(old).substr(0, 12) + " is superseded: this push " +
              (w->second == kDeleted ? "deleted " : "replaced ") + url + f.path +
              (w->second == kDeleted ? " (--delete)" : " in place"));
      break;
    }
  }
  return Status::OK();
}

// Matching against the previous version: for each file, whether its object
// is unchanged (checked with HEAD, or copied whole from where the previous
// build had it) or shares runs with an earlier version (UploadPartCopy).
MirrorFile MatchPreviousObject(const SourceFile& file, const FileEntry& e,
                               const PreviousBuild& prev, const MirrorRecord& prev_record,
                               const MirrorOptions& mo, const std::string& own_prefix,
                               const std::string& prev_prefix) {
  const size_t part_size = mo.part_size;
  auto key_of = [&](const FileEntry* p) { return prev_prefix + p->path; };
  MirrorFile mf{e.path, file, e.size, std::nullopt, ""};
  // Unchanged (same path, size, mtime), or renamed (same size and mtime elsewhere)?
  const FileEntry* same = nullptr;
  if (const FileEntry* p = prev.Find(e.path); p && p->type == EntryType::kFile) same = p;
  const FileEntry* earlier = nullptr;
  if (same && same->size == e.size && same->mtime_ns == e.mtime_ns) {
    earlier = same;
  } else if (e.size > 0) {
    earlier = prev.FindByStat(e.size, e.mtime_ns);
  }
  // In place: checked, not sent. Elsewhere: copied if that pays (else sent).
  const bool in_place = earlier && key_of(earlier) == own_prefix + e.path;
  if (earlier && (in_place || (e.size <= part_size && e.size >= mo.copy_min_size))) {
    mf.previous_sha = earlier->sha256;
    mf.previous_key = key_of(earlier);
    auto rec = prev_record.objects.find(earlier->path);
    if (rec != prev_record.objects.end()) mf.previous_object = rec->second;
  } else if (const FileEntry* base = earlier ? earlier : same;
             base && e.size > part_size && base->size >= kMinPartSize) {
    mf.previous_chunks = base->chunks;
    mf.previous_chunks_key = key_of(base);
  }
  return mf;
}

class MirrorWriter final : public LayoutWriter {
 public:
  MirrorWriter(S3Client* client, std::string bucket, std::string prefix, ObjectStore* meta,
               MirrorOptions mo, const PushOptions& opts)
      : client_(client),
        bucket_(std::move(bucket)),
        prefix_(std::move(prefix)),
        meta_(meta),
        mo_(std::move(mo)),
        max_chunk_(opts.pipeline.chunking.max_size),
        metadata_(MetadataHeaders(opts.tags, opts.ref)),
        dry_run_(opts.dry_run),
        propagate_deletes_(opts.propagate_deletes),
        max_delete_(opts.max_delete) {
    mo_.object_tags = S3ObjectTags(opts.tags, nullptr);
    mo_.cancel = opts.cancel;
    mo_.trust_unchanged = !opts.recheck_unchanged;
    mo_.content_types = opts.content_types;
    mo_.set_content_type = opts.set_content_type;
    mo_.copy_min_size = opts.copy_min_size;
    mo_.max_chunk = opts.pipeline.chunking.max_size;
  }

  bool WritesFileObjects() const override { return true; }
  bool NeedsPreviousBuild() const override { return true; }
  // Two unfinished parts with their chunks, and curl's send buffers. A dry
  // run holds no bytes.
  size_t FixedMemory() const override {
    if (dry_run_) return 0;
    return 2 * (mo_.part_size + 2 * max_chunk_) + mo_.upload_threads * kCurlUploadBuffer;
  }
  size_t Memory(size_t inflight_share) const override {
    if (dry_run_) return 0;
    return InflightBytes(inflight_share) + FixedMemory();
  }

  Status Plan(const PushFiles& files, const PreviousBuild& prev, size_t inflight_share) override;

  ChunkSink* chunk_sink() override { return nullptr; }
  // A dry run needs only the read's digests (the pipeline hashes anyway).
  FileSink* file_sink() override { return uploader_.get(); }
  bool CanSkipRead(size_t i) const override {
    return uploader_ ? uploader_->CanSkipRead(i) : files_[i].previous_sha.has_value();
  }
  // Nothing to probe: every cached file's object is HEADed (OnUnchanged).
  void CheckCached(std::vector<const FileEntry*>*) override {}
  void OnUnchanged(size_t i, const FileDigest& digest) override {
    if (uploader_) uploader_->OnUnchanged(i, digest);
  }

  Status Finish(const std::vector<FileDigest>& digests, PushReport* r) override {
    Status st;
    if (dry_run_) {
      r->mirror = PreviewMirrorPush(client_, bucket_, S3KeyPrefix(prefix_), files_, known_, mo_,
                                    digests, &r->planned);
      for (const auto& [path, object] : deletions_) {
        PlannedFile p;
        p.path = path;
        p.action = PlannedFile::Action::kDelete;
        r->planned.push_back(std::move(p));
      }
    } else {
      st = uploader_->Finish(digests);  // always: it aborts unfinished uploads
      r->mirror = uploader_->stats();
    }
    r->bytes_new = r->mirror.bytes_sent;
    r->bytes_stored = r->mirror.bytes_sent;
    return st;
  }

  // Where each file's object is (ETag, version), and which builds at this
  // location lost objects to this push.
  Status Record(const Digest& id, const std::vector<FileDigest>& digests) override {
    MirrorRecord record;
    record.url = Url();
    std::map<std::string, Digest> written;  // paths this push wrote, and their bytes
    for (size_t i = 0; i < paths_.size(); i++) {
      record.objects[paths_[i]] = uploader_->object(i);
      if (uploader_->wrote(i)) written[paths_[i]] = digests[i].sha256;
    }
    RETURN_IF_ERROR(PutMirrorRecord(meta_, id, record));
    id_ = id;
    return MarkSupersededBuilds(meta_, record.url, &record, written, id);
  }

  void PropagateDeletes(PushReport* r) override;
  void OweDeletions(const MirrorRecord& owed);

 private:
  Status PlanDeletes(const PushFiles& files, const PreviousBuild& prev,
                     const MirrorRecord& prev_record);
  // A file to read that is an object on this endpoint, as large as a copy
  // pays from: copied server-side from it (MirrorFile::from_source).
  void TakeFromSource(MirrorFile* f) const {
    S3CopySource src;
    if (f->previous_sha || f->size == 0 || f->size < mo_.copy_min_size ||
        f->size > kMaxCopyObject || !f->source.remote ||
        !f->source.remote->CopySourceOf(f->source, &src) ||
        src.endpoint != client_->config().endpoint)
      return;
    f->from_source = std::move(src);
    f->previous_chunks.clear();  // the whole object is copied: no part is sent
  }
  // The location's URL, as its builds' mirror records name it.
  std::string Url() const { return "s3://" + bucket_ + "/" + S3KeyPrefix(prefix_); }
  size_t InflightBytes(size_t share) const {
    const size_t one_part = mo_.part_size + 2 * max_chunk_;
    return std::max(one_part, std::min(mo_.max_inflight_bytes, share));
  }

  S3Client* client_;
  std::string bucket_, prefix_;
  ObjectStore* meta_;
  MirrorOptions mo_;
  size_t max_chunk_;
  std::vector<std::pair<std::string, std::string>> metadata_;
  bool dry_run_;
  bool propagate_deletes_;
  uint64_t max_delete_;
  // --delete: the paths whose objects go once the ref moved, each with the
  // object the previous build (prev_id_) recorded there.
  std::vector<std::pair<std::string, MirrorObject>> deletions_;
  std::optional<Digest> prev_id_;
  Digest id_{};                               // the build Record stored
  std::vector<std::string> paths_;            // files[i]'s manifest path
  std::vector<MirrorFile> files_;             // what Plan matched for each file
  std::map<Digest, std::string> known_;       // the previous build's objects here, by SHA-256
  std::unique_ptr<MirrorUploader> uploader_;  // null in a dry run
};

Status MirrorWriter::Plan(const PushFiles& files, const PreviousBuild& prev,
                          size_t inflight_share) {
  mo_.max_inflight_bytes = InflightBytes(inflight_share);
  // Where the previous build's objects are: its prefix (recorded in its
  // mirror record), this one's, or, in another bucket, out of reach for copies.
  const std::string own_prefix = S3KeyPrefix(prefix_);
  std::string prev_bucket = bucket_, prev_prefix = own_prefix;
  MirrorRecord prev_record;
  if (prev.id) {
    auto rec = GetMirrorRecord(meta_, *prev.id);
    if (rec.ok()) {
      prev_record = std::move(*rec);
      ParseS3Url(prev_record.url, &prev_bucket, &prev_prefix);
    } else if (rec.status().code() != Code::kNotFound) {
      return rec.take_status();
    }
  }
  const bool prev_here = prev_bucket == bucket_ && !prev.manifest.files.empty();
  if (prev_here && prev_prefix == own_prefix)
    WarnIfOverwritingInPlace(client_, bucket_, own_prefix, *prev.id);
  std::vector<MirrorFile> mfiles;
  for (size_t i = 0; i < files.files.size(); i++) {
    const FileEntry& e = *files.entries[i];
    paths_.push_back(e.path);
    mfiles.push_back(prev_here ? MatchPreviousObject(files.files[i], e, prev, prev_record, mo_,
                                                     own_prefix, prev_prefix)
                               : MirrorFile{e.path, files.files[i], e.size, std::nullopt, ""});
  }
  for (auto& f : mfiles) TakeFromSource(&f);
  if (prev_here)
    for (const auto& e : prev.manifest.files)
      if (e.type == EntryType::kFile && e.size > 0) known_.emplace(e.sha256, prev_prefix + e.path);
  // --delete: only over a previous build recorded at this very location
  // (its mirror record says where and which objects).
  if (propagate_deletes_ && prev_here && prev_prefix == own_prefix && !prev_record.url.empty())
    RETURN_IF_ERROR(PlanDeletes(files, prev, prev_record));
  if (dry_run_) {
    files_ = std::move(mfiles);
    return Status::OK();
  }
  // List, don't HEAD: with enough files whose recorded objects are to be
  // checked in place, one ListObjectsV2 page answers for up to 1,000 of them
  // (docs/performance.md); the listing is capped so that a prefix holding
  // much else costs a bounded number of pages, and what it does not show is
  // HEADed as before.
  size_t in_place = 0;
  for (const auto& f : mfiles)
    in_place += f.previous_sha && f.previous_key == own_prefix + f.rel_path &&
                !f.previous_object.etag.empty();
  ObjectListing listing;
  if (!mo_.trust_unchanged && in_place >= kListAtLeast)
    listing = ListForChecks(client_, bucket_, own_prefix, in_place);
  uploader_ = std::make_unique<MirrorUploader>(client_, bucket_, prefix_, std::move(mfiles), mo_,
                                               metadata_);
  uploader_->SetListing(std::move(listing));
  for (const auto& [sha, key] : known_) uploader_->AddKnownObject(sha, key);
  return Status::OK();
}

// --delete: the previous build's files that are gone from the sources (not
// merely left out of this build). More than --max-delete of them: refused
// before anything is sent.
Status MirrorWriter::PlanDeletes(const PushFiles& files, const PreviousBuild& prev,
                                 const MirrorRecord& prev_record) {
  prev_id_ = prev.id;
  const std::set<std::string> now(paths_.begin(), paths_.end());
  auto gone = [&](const std::string& path) {
    return !now.count(path) && !files.still_at_source.count(path);
  };
  for (const auto& e : prev.manifest.files) {
    if (e.type != EntryType::kFile || !gone(e.path)) continue;
    auto o = prev_record.objects.find(e.path);
    deletions_.emplace_back(e.path, o == prev_record.objects.end() ? MirrorObject{} : o->second);
  }
  // What the push that recorded the previous build could not delete.
  auto owed = GetUndeleted(meta_, *prev.id);
  if (!owed.ok() && owed.status().code() != Code::kNotFound)
    LogWarn("--delete: cannot read undeleted/" + DigestHex(*prev.id) +
            ", the deletions an earlier push left undone: those objects stay (remove them by "
            "hand: the paths are in that object): " +
            owed.status().message());
  if (owed.ok() && owed->url != Url()) owed = Status::NotFound("another location's");
  if (owed.ok()) {
    std::set<std::string> planned;
    for (const auto& d : deletions_) planned.insert(d.first);
    for (const auto& [path, object] : owed->objects)
      if (gone(path) && !planned.count(path)) deletions_.emplace_back(path, object);
  }
  if (deletions_.size() <= max_delete_) return Status::OK();
  std::string some;
  for (size_t i = 0; i < deletions_.size() && i < 3; i++)
    some += (i ? ", " : "") + deletions_[i].first;
  return Status::TooManyDeletes(
      "--delete: this push would delete " + std::to_string(deletions_.size()) + " objects from " +
      Url() + " (files gone from the source, of the previous build or owed by an earlier push: " +
      some + (deletions_.size() > 3 ? ", ..." : "") + "), more than --max-delete " +
      std::to_string(max_delete_) +
      "; nothing was uploaded, deleted or recorded. If the source is complete, run again with "
      "--max-delete " +
      std::to_string(deletions_.size()) + "; if not (a missing mount, a partial checkout), fix it");
}

// Deletions left undone, for the next push --delete onto this build.
void MirrorWriter::OweDeletions(const MirrorRecord& owed) {
  if (owed.objects.empty()) return;
  Status st = PutUndeleted(meta_, id_, owed);
  if (st.ok()) return;
  std::string some;
  for (const auto& [path, o] : owed.objects)
    if (some.size() < 200) some += (some.empty() ? "" : ", ") + path;
  LogWarn("--delete: could not note the " + std::to_string(owed.objects.size()) +
          " objects left undeleted in " + Url() + " (" + some +
          "): no later push deletes them; remove them by hand: " + st.message());
}

// After the ref moved: each object is deleted (on a versioned bucket a delete
// marker hides it; the builds that recorded its version still restore it)
// unless it is no longer the one the previous build recorded (someone wrote
// there since: theirs is kept) or another ref's latest build in this prefix
// names it (kept, and owed). A DELETE that fails, or deletions cut short, are
// owed too (OweDeletions). Builds that lose an object are marked superseded.
// If the ref moved while this push ran, the build was recorded on top of
// another push's, whose files may differ: nothing is deleted.
void MirrorWriter::PropagateDeletes(PushReport* r) {
  if (deletions_.empty()) return;
  if (r->parent != prev_id_) {
    LogWarn("--delete: the ref moved while this push ran (another push recorded build " +
            (r->parent ? DigestHex(*r->parent).substr(0, 12) : std::string("?")) +
            "): " + std::to_string(deletions_.size()) +
            " deletions skipped, their objects stay (docs/deletes.md)");
    return;
  }
  const std::string own_prefix = S3KeyPrefix(prefix_);
  auto shared = NamedByOtherRefs(meta_, Url(), id_);
  if (!shared.ok()) {
    LogWarn("--delete: cannot read the other refs of " + Url() +
            " (their latest builds may name these objects): " + std::to_string(deletions_.size()) +
            " deletions skipped, their objects stay until the next push --delete: " +
            shared.status().message());
    OweDeletions(MirrorRecord{Url(), {deletions_.begin(), deletions_.end()}});
    return;
  }
  std::map<std::string, Digest> deleted;
  MirrorRecord owed;  // what is left undone, for the next push --delete
  owed.url = Url();
  size_t left = deletions_.size();
  for (const auto& [path, recorded] : deletions_) {
    if (Cancelled(mo_.cancel)) {
      LogWarn("--delete: interrupted; " + std::to_string(left) +
              " objects not deleted (the next push --delete deletes them; the build is "
              "recorded)");
      for (size_t i = deletions_.size() - left; i < deletions_.size(); i++)
        owed.objects.insert(deletions_[i]);
      break;
    }
    left--;
    const std::string url = Url() + path;
    if (auto other = shared->find(path); other != shared->end()) {
      LogInfo("--delete: " + url + " is kept: the latest build of ref " + other->second +
              " (same prefix) names it");
      owed.objects.insert({path, recorded});  // deleted once no ref names it
      continue;
    }
    auto head = client_->HeadObject(bucket_, own_prefix + path);
    if (head.ok() && !recorded.etag.empty() &&
        UnquoteEtag(head->etag) != UnquoteEtag(recorded.etag)) {
      LogInfo("--delete: " + url + " was written by someone else since Ferry recorded it; kept");
      continue;
    }
    // A HEAD that found nothing: gone already, as good as deleted.
    Status st = head.ok() ? client_->DeleteObject(bucket_, own_prefix + path) : head.status();
    if (st.ok() || st.code() == Code::kNotFound) {
      r->objects_deleted++;
      deleted[path] = kDeleted;
      continue;
    }
    r->delete_failures++;
    owed.objects.insert({path, recorded});
    LogWarn("--delete: could not delete " + url +
            " (it stays until the next push --delete; the build is recorded): " + st.message());
  }
  OweDeletions(owed);
  Status st = MarkSupersededBuilds(meta_, Url(), nullptr, deleted, id_);
  if (!st.ok())
    LogWarn(
        "--delete: could not mark the builds that had the deleted objects superseded (verify "
        "will report them damaged): " +
        st.message());
}

class MirrorChunkSource final : public ChunkSource {
 public:
  MirrorChunkSource(S3Client* s3, ObjectStore* meta, std::string bucket, std::string prefix)
      : s3_(s3), meta_(meta), bucket_(std::move(bucket)), prefix_(std::move(prefix)) {}
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
  // verify --quick: an object the prefix's listing shows with the size and
  // ETag its push recorded is present as recorded; the rest are HEADed
  // (size, Ferry's SHA-256 metadata, ETag, version).
  Status Probe(const Digest& manifest, const FileEntry& f, size_t) override {
    ASSIGN_OR_RETURN(auto w, Location(manifest));
    const MirrorObject o = w->Object(f.path);
    if (!o.etag.empty()) {
      const ObjectListing& listed = ListOnce(*w);
      auto it = listed.find(w->prefix + f.path);
      if (it != listed.end() && it->second.first == f.size &&
          it->second.second == UnquoteEtag(o.etag)) {
        listed_++;
        return Status::OK();
      }
    }
    return CheckMirrorObject(s3_, w->bucket, w->prefix + f.path, f.size, &f.sha256, o,
                             MirrorOptions{}.part_size);
  }
  uint64_t ProbesAnsweredByListing() const override { return listed_; }

  bool PerFile() const override { return true; }
  unsigned PreferredConcurrency() const override { return kNetworkConcurrency; }

 private:
  // Where a manifest's objects are (recorded beside it, else where the store
  // is), and which objects they are.
  struct Where {
    std::string bucket, prefix;
    MirrorRecord record;
    // Listed at the first Probe if the build has kListAtLeast objects or
    // more (capped at 4x them); empty if not, or if the listing failed.
    mutable std::once_flag listed;
    mutable ObjectListing listing;
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
  const ObjectListing& ListOnce(const Where& w) {
    std::call_once(w.listed, [&] {
      const size_t n = w.record.objects.size();
      if (n >= kListAtLeast) w.listing = ListForChecks(s3_, w.bucket, w.prefix, n);
    });
    return w.listing;
  }

  S3Client* s3_;
  ObjectStore* meta_;
  std::string bucket_, prefix_;
  std::mutex mu_;
  std::map<Digest, std::shared_ptr<const Where>> where_;  // guarded by mu_
  std::atomic<uint64_t> listed_{0};
};

class MirrorLayout final : public Destination {
 public:
  MirrorLayout(std::shared_ptr<S3Client> s3, std::string bucket, std::string prefix,
               std::unique_ptr<ObjectStore> meta, MirrorOptions options)
      : s3_(std::move(s3)),
        bucket_(std::move(bucket)),
        prefix_(std::move(prefix)),
        meta_(std::move(meta)),
        options_(std::move(options)) {}
  Layout layout() const override { return Layout::kMirror; }
  ObjectStore* meta() const override { return meta_.get(); }
  std::unique_ptr<ChunkSource> Reader() override {
    return std::make_unique<MirrorChunkSource>(s3_.get(), meta_.get(), bucket_, prefix_);
  }
  std::unique_ptr<LayoutWriter> StartPush(const PushOptions& opts) override {
    return std::make_unique<MirrorWriter>(s3_.get(), bucket_, prefix_, meta_.get(), options_, opts);
  }
  // The uploads under the data prefix (its .ferry/ included), then those of
  // a --meta-prefix elsewhere.
  Status SweepAbandoned(double older_than, bool dry_run,
                        std::vector<ObjectStore::Abandoned>* found) override {
    S3Store data(s3_, bucket_, S3KeyPrefix(prefix_));
    RETURN_IF_ERROR(data.SweepAbandoned(older_than, dry_run, found));
    if (meta_->Describe().rfind(data.Describe(), 0) == 0) return Status::OK();
    return meta_->SweepAbandoned(older_than, dry_run, found);
  }

 private:
  std::shared_ptr<S3Client> s3_;
  std::string bucket_, prefix_;
  std::unique_ptr<ObjectStore> meta_;
  MirrorOptions options_;
};

}  // namespace

std::unique_ptr<Destination> MirrorDestination(std::shared_ptr<S3Client> s3, std::string bucket,
                                               std::string prefix,
                                               std::unique_ptr<ObjectStore> meta,
                                               MirrorOptions options) {
  return std::make_unique<MirrorLayout>(std::move(s3), std::move(bucket), std::move(prefix),
                                        std::move(meta), std::move(options));
}

}  // namespace ferry
