#include "manifest/repo.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <set>

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

// Format 2: one flat name per ref, every byte but [A-Za-z0-9._-] as %XX, so
// a ref and a ref below it (app/main, app/main/main) never collide as a file
// and a directory.
std::string RefKey(const std::string& name) {
  static const char* kHex = "0123456789ABCDEF";
  std::string key = "refs/";
  for (unsigned char c : name) {
    if (std::isalnum(c) || c == '.' || c == '_' || c == '-') {
      key += static_cast<char>(c);
    } else {
      key += '%';
      key += kHex[c >> 4];
      key += kHex[c & 15];
    }
  }
  return key;
}

namespace {

// Format 1 kept refs/<name> as a path; such a ref is read until it is next
// written (which moves it to RefKey).
std::string LegacyRefKey(const std::string& name) { return "refs/" + name; }

// The name RefKey encoded in `rest` (the key without "refs/"): a format-2
// key has no '/'; a format-1 key is the name itself.
std::optional<std::string> RefNameOfKey(std::string_view rest) {
  if (rest.find('/') != std::string_view::npos) return std::string(rest);
  std::string name;
  for (size_t i = 0; i < rest.size(); i++) {
    if (rest[i] != '%') {
      name += rest[i];
      continue;
    }
    if (i + 2 >= rest.size()) return std::nullopt;
    auto raw = FromHex(rest.substr(i + 1, 2));
    if (!raw || raw->size() != 1) return std::nullopt;
    name += static_cast<char>((*raw)[0]);
    i += 2;
  }
  return name;
}

// A ref's stored bytes and the key they are under (RefKey, else the legacy
// key); kNotFound if neither exists.
Result<std::pair<std::string, std::string>> GetRefObject(ObjectStore* store,
                                                         const std::string& name) {
  auto body = store->Get(RefKey(name));
  if (body.ok()) return std::make_pair(RefKey(name), std::move(*body));
  if (body.status().code() != Code::kNotFound) return body.take_status();
  if (LegacyRefKey(name) != RefKey(name)) {
    auto old = store->Get(LegacyRefKey(name));
    if (old.ok()) return std::make_pair(LegacyRefKey(name), std::move(*old));
    if (old.status().code() != Code::kNotFound) return old.take_status();
  }
  return Status::NotFound("ref '" + name + "' does not exist in " + store->Describe());
}

Result<Digest> ParseRef(const std::string& name, std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  auto d = ParseDigestHex(s);
  if (!d)
    return Status::CorruptManifest("ref '" + name +
                                   "' is damaged (it does not hold a manifest ID); "
                                   "push again with --ref " +
                                   name);
  return *d;
}

}  // namespace

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
  ASSIGN_OR_RETURN(auto obj, GetRefObject(store, name));
  return ParseRef(name, obj.second);
}

Status WriteRef(ObjectStore* store, const std::string& name, const Digest& id) {
  RETURN_IF_ERROR(ValidateRefName(name));
  if (RefKey(name) != LegacyRefKey(name)) RETURN_IF_ERROR(UpgradeStoreFormat(store));
  return store->Put(RefKey(name), DigestHex(id) + "\n");
}

Status UpdateRef(ObjectStore* store, const std::string& name, const std::optional<Digest>& expected,
                 const Digest& id) {
  RETURN_IF_ERROR(ValidateRefName(name));
  auto conflict = [&](const std::string& now) {
    return Status::Conflict("ref '" + name + "' in " + store->Describe() + " moved to " + now +
                            " while this push ran (expected " +
                            (expected ? DigestHex(*expected) : std::string("no ref")) + ")");
  };
  std::optional<std::string> current;  // the bytes under RefKey, if any
  auto obj = GetRefObject(store, name);
  if (obj.ok()) {
    ASSIGN_OR_RETURN(Digest now, ParseRef(name, obj->second));
    if (!expected || now != *expected) return conflict(DigestHex(now));
    if (obj->first == RefKey(name)) current = obj->second;
  } else if (obj.status().code() != Code::kNotFound) {
    return obj.take_status();
  } else if (expected) {
    return conflict("nothing (it was deleted)");
  }
  if (RefKey(name) != LegacyRefKey(name)) RETURN_IF_ERROR(UpgradeStoreFormat(store));
  Status st = store->ReplaceIf(RefKey(name), current, DigestHex(id) + "\n");
  if (st.code() == Code::kConflict) return conflict("another manifest");
  RETURN_IF_ERROR(st);
  if (obj.ok() && obj->first != RefKey(name)) {
    // Moved from format 1's key: the old key would only shadow nothing now.
    Status del = store->Delete(obj->first);
    (void)del;  // harmless if it stays: RefKey is read first
  }
  return Status::OK();
}

Result<std::vector<std::string>> ListRefs(ObjectStore* store) {
  ASSIGN_OR_RETURN(auto keys, store->List("refs/"));
  std::set<std::string> names;
  for (auto& k : keys)
    if (auto name = RefNameOfKey(std::string_view(k).substr(5)); name) names.insert(*name);
  return std::vector<std::string>(names.begin(), names.end());
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
