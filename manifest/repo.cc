#include "manifest/repo.h"

#include <algorithm>
#include <cstring>

#include "util/hex.h"

namespace ferry {

namespace {
std::optional<Digest> ParseDigestHex(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  auto raw = FromHex(hex);
  if (!raw) return std::nullopt;
  Digest d;
  std::memcpy(d.data(), raw->data(), 32);
  return d;
}
}  // namespace

std::string ChunkKey(const Digest& id) {
  std::string hex = DigestHex(id);
  return "chunks/" + hex.substr(0, 2) + "/" + hex;
}

std::string ManifestKey(const Digest& id) { return "manifests/" + DigestHex(id); }

std::string RefKey(const std::string& name) { return "refs/" + name; }

Result<Digest> PutManifest(ObjectStore* store, Manifest* m) {
  std::string bytes = EncodeManifest(m);
  Digest id = Sha256::Of(bytes);
  auto size = store->Size(ManifestKey(id));
  if (size.ok() && *size == bytes.size()) return id;  // identical content, same name
  RETURN_IF_ERROR(store->Put(ManifestKey(id), bytes));
  return id;
}

Result<Manifest> LoadManifest(ObjectStore* store, const Digest& id) {
  std::string name = "manifest " + DigestHex(id);
  auto bytes = store->Get(ManifestKey(id));
  if (!bytes.ok()) {
    if (bytes.status().code() == Code::kNotFound)
      return Status::NotFound(name + " is not in store " + store->Describe());
    return bytes.take_status();
  }
  Digest actual = Sha256::Of(*bytes);
  if (actual != id) {
    // Decode anyway first: a truncated or wrong-version manifest gets the more precise message.
    auto m = DecodeManifest(*bytes, name);
    if (!m.ok()) return m.take_status();
    return Status::CorruptManifest(
        name + ": its bytes hash to " + DigestHex(actual) +
        ", not to its name; the store copy is damaged: push the build again");
  }
  return DecodeManifest(*bytes, name);
}

Result<Digest> ReadRef(ObjectStore* store, const std::string& name) {
  RETURN_IF_ERROR(ValidateRefName(name));
  auto body = store->Get(RefKey(name));
  if (!body.ok()) {
    if (body.status().code() == Code::kNotFound)
      return Status::NotFound("ref '" + name + "' does not exist in " + store->Describe());
    return body.take_status();
  }
  std::string_view s = *body;
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  auto d = ParseDigestHex(s);
  if (!d)
    return Status::CorruptManifest("ref '" + name +
                                   "' is damaged (it does not hold a manifest ID); "
                                   "push again with --ref " +
                                   name);
  return *d;
}

Status WriteRef(ObjectStore* store, const std::string& name, const Digest& id) {
  RETURN_IF_ERROR(ValidateRefName(name));
  return store->Put(RefKey(name), DigestHex(id) + "\n");
}

Result<std::vector<std::string>> ListRefs(ObjectStore* store) {
  ASSIGN_OR_RETURN(auto keys, store->List("refs/"));
  std::vector<std::string> out;
  for (auto& k : keys) out.push_back(k.substr(5));
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::vector<Digest>> ListManifests(ObjectStore* store) {
  ASSIGN_OR_RETURN(auto keys, store->List("manifests/"));
  std::vector<Digest> out;
  for (auto& k : keys) {
    auto d = ParseDigestHex(std::string_view(k).substr(10));
    if (d) out.push_back(*d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<Digest> ResolveManifest(ObjectStore* store, const std::string& what) {
  if (auto d = ParseDigestHex(what)) {
    auto size = store->Size(ManifestKey(*d));
    if (size.ok()) return *d;
    if (size.status().code() != Code::kNotFound) return size.take_status();
  }
  if (!ValidateRefName(what).ok())
    return Status::NotFound("'" + what + "' is neither a manifest ID in " + store->Describe() +
                            " nor a valid ref name");
  return ReadRef(store, what);
}

Status PutMirrorLocation(ObjectStore* store, const Digest& id, const std::string& url) {
  return store->Put("mirrors/" + DigestHex(id), url);
}

Result<std::string> GetMirrorLocation(ObjectStore* store, const Digest& id) {
  return store->Get("mirrors/" + DigestHex(id));
}

}  // namespace ferry
