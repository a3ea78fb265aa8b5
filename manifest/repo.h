// Ferry's layout on an ObjectStore (docs/store-format.md): content-addressed
// chunks and manifests, and named refs.
#pragma once

#include <string>
#include <vector>

#include "manifest/manifest.h"
#include "transport/object_store.h"

namespace ferry {

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

// Where a mirror push put a manifest's objects ("s3://bucket/prefix/"), kept
// beside the manifest at mirrors/<id>, not in it: one build has one ID in
// every destination. kNotFound if none was recorded.
Status PutMirrorLocation(ObjectStore* store, const Digest& id, const std::string& url);
Result<std::string> GetMirrorLocation(ObjectStore* store, const Digest& id);

// "ref-or-manifest-id": a 64-hex manifest ID, or a ref name.
Result<Digest> ResolveManifest(ObjectStore* store, const std::string& what);

}  // namespace ferry
