// Ferry's layout on an ObjectStore (docs/store-format.md): content-addressed
// chunks and manifests, and named refs.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "manifest/manifest.h"
#include "transport/object_store.h"

namespace ferry {

// 64 hex digits as a digest; nullopt otherwise.
std::optional<Digest> ParseDigestHex(std::string_view hex);

std::string ChunkKey(const Digest& id);       // chunks/ab/ab12...
std::string ManifestKey(const Digest& id);    // manifests/ab12...
std::string RefKey(const std::string& name);  // refs/<name, percent-encoded> (format 2)

// Encodes, stores (if not already there) and returns the manifest's ID.
Result<Digest> PutManifest(ObjectStore* store, Manifest* m);

// Fetches manifests/<id>, checks that its SHA-256 is `id`, and decodes it.
Result<Manifest> LoadManifest(ObjectStore* store, const Digest& id);

// The manifest a ref points to; kNotFound if the ref does not exist.
Result<Digest> ReadRef(ObjectStore* store, const std::string& name);
// Points `name` at `id` unconditionally (tests, repair). The manifest must
// already be stored.
Status WriteRef(ObjectStore* store, const std::string& name, const Digest& id);
// Points `name` at `id` only if it still points at `expected` (nullopt: only
// if it does not exist yet): compare-and-swap (ObjectStore::ReplaceIf), so of
// two pushes to one ref neither loses the other's build. kConflict otherwise.
Status UpdateRef(ObjectStore* store, const std::string& name, const std::optional<Digest>& expected,
                 const Digest& id);
Result<std::vector<std::string>> ListRefs(ObjectStore* store);
Result<std::vector<Digest>> ListManifests(ObjectStore* store);

// What a mirror push recorded of one file's object: its ETag as the server
// reported it (unquoted), and its version ID on a versioned bucket.
struct MirrorObject {
  std::string etag, version_id;
};

// Where a mirror push put a manifest's objects and which objects they are,
// kept beside the manifest at mirrors/<id>, not in it: one build has one ID
// in every destination (docs/store-format.md). Records written before format
// 2 hold only the URL.
struct MirrorRecord {
  std::string url;                              // "s3://bucket/prefix/"
  std::map<std::string, MirrorObject> objects;  // by manifest path
};
Status PutMirrorRecord(ObjectStore* store, const Digest& id, const MirrorRecord& record);
// kNotFound if none was recorded; kCorruptManifest if it is unreadable.
Result<MirrorRecord> GetMirrorRecord(ObjectStore* store, const Digest& id);

// undeleted/<id>: the objects build `id`'s push --delete could not delete
// (a DELETE that failed, deletions cut short), in a mirror record's format:
// the next push --delete onto that build deletes them. kNotFound: none owed.
Status PutUndeleted(ObjectStore* store, const Digest& id, const MirrorRecord& owed);
Result<MirrorRecord> GetUndeleted(ObjectStore* store, const Digest& id);

// Builds at one mirror location (locations/<SHA-256 of the URL>), so that a
// push replacing objects in place can mark the builds it damaged. A build
// whose every object has a version ID is `versioned`: no later push can take
// its objects away, so it is never looked at again.
struct LocatedBuild {
  Digest id{};
  bool versioned = false;
};
Status AddBuildAtLocation(ObjectStore* store, const std::string& url, const LocatedBuild& build);
// kNotFound if no index exists for `url`: no build there yet, or a store
// from before the index (LocationsIndexed says which).
Result<std::vector<LocatedBuild>> BuildsAtLocation(ObjectStore* store, const std::string& url);
// Whether every object of a mirror record has a version ID.
bool FullyVersioned(const MirrorRecord& record);
// locations/INDEXED: every build of the store is in its location's index.
Result<bool> LocationsIndexed(ObjectStore* store);
Status MarkLocationsIndexed(ObjectStore* store);

// superseded/<id>: on an unversioned bucket, build `id` lost objects to a
// later push `by` into the same prefix; it can no longer be restored whole.
Status MarkSuperseded(ObjectStore* store, const Digest& id, const Digest& by);
// The build that superseded `id`, or nullopt.
Result<std::optional<Digest>> SupersededBy(ObjectStore* store, const Digest& id);
// Every superseded build and the build that superseded it.
Result<std::map<Digest, Digest>> ListSuperseded(ObjectStore* store);
// Just their IDs (one listing, no reads).
Result<std::set<Digest>> SupersededIds(ObjectStore* store);
// The message for restoring or verifying superseded build `id`.
Status SupersededError(const Digest& id, const Digest& by);

// "ref-or-manifest-id": a 64-hex manifest ID, a ref name, or (if no ref has
// that name) the start of one manifest ID, at least kMinIdPrefix lowercase
// hex digits (as git takes abbreviated commits). kUsage if more than one ID
// starts so, naming some; kNotFound if none.
inline constexpr size_t kMinIdPrefix = 6;
Result<Digest> ResolveManifest(ObjectStore* store, const std::string& what);

}  // namespace ferry
