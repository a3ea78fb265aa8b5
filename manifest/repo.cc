#include "manifest/repo.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <optional>
#include <set>

#include "util/hex.h"

namespace ferry {

std::optional<Digest> ParseDigestHex(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  auto raw = FromHex(hex);
  if (!raw) return std::nullopt;
  Digest d;
  std::memcpy(d.data(), raw->data(), 32);
  return d;
}

std::string ChunkKey(const Digest& id) {
  std::string hex = DigestHex(id);
  return "chunks/" + hex.substr(0, 2) + "/" + hex;
}

std::string ManifestKey(const Digest& id) { return "manifests/" + DigestHex(id); }

// Format 2: one flat name per ref, every byte but [A-Za-z0-9._-] as %XX, so
// a ref and a ref below it (app/main, app/main/main) never collide as a file
// and a directory.
std::string RefKey(const std::string& name) { return "refs/" + PercentEncode(name); }

namespace {

// Format 1 kept refs/<name> as a path; such a ref is read until it is next
// written (which moves it to RefKey).
std::string LegacyRefKey(const std::string& name) { return "refs/" + name; }

// The name RefKey encoded in `rest` (the key without "refs/"): a format-2
// key has no '/'; a format-1 key is the name itself.
std::optional<std::string> RefNameOfKey(std::string_view rest) {
  if (rest.find('/') != std::string_view::npos) return std::string(rest);
  return PercentDecode(rest);
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
  if (actual != id) {  // read once more: the copy may have been damaged on its way
    auto again = store->Get(ManifestKey(id));
    if (again.ok() && Sha256::Of(*again) == id) return DecodeManifest(*again, name);
  }
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
  if (RefKey(name) != LegacyRefKey(name)) RETURN_IF_ERROR(UpgradeStoreFormat(store, 2));
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
  if (RefKey(name) != LegacyRefKey(name)) RETURN_IF_ERROR(UpgradeStoreFormat(store, 2));
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

namespace {
bool IsHexPrefix(const std::string& s) {
  return s.size() >= kMinIdPrefix && s.size() < 64 &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c); });
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The one manifest whose ID starts with `prefix`.
Result<Digest> ManifestByPrefix(ObjectStore* store, const std::string& prefix) {
  ASSIGN_OR_RETURN(auto keys, store->List("manifests/" + Lower(prefix)));
  std::vector<Digest> ids;
  for (const auto& k : keys)
    if (auto d = ParseDigestHex(std::string_view(k).substr(10))) ids.push_back(*d);
  if (ids.size() == 1) return ids[0];
  if (ids.empty())
    return Status::NotFound("'" + prefix + "' is neither a ref nor the start of a manifest ID in " +
                            store->Describe() + " (ferry ls lists the refs)");
  std::sort(ids.begin(), ids.end());
  std::string some;
  for (size_t i = 0; i < ids.size() && i < 5; i++) some += " " + DigestHex(ids[i]).substr(0, 16);
  return Status::Usage("'" + prefix + "' is the start of " + std::to_string(ids.size()) +
                       " manifest IDs (" + some.substr(1) + (ids.size() > 5 ? " ..." : "") +
                       "): give more of it");
}
}  // namespace

Result<Digest> ResolveManifest(ObjectStore* store, const std::string& what) {
  if (auto d = ParseDigestHex(what)) {
    auto size = store->Size(ManifestKey(*d));
    if (size.ok()) return *d;
    if (size.status().code() != Code::kNotFound) return size.take_status();
  }
  if (!ValidateRefName(what).ok()) {
    if (IsHexPrefix(what)) return ManifestByPrefix(store, what);
    return Status::NotFound("'" + what + "' is neither a manifest ID in " + store->Describe() +
                            " nor a valid ref name");
  }
  auto ref = ReadRef(store, what);
  if (!ref.ok() && ref.status().code() == Code::kNotFound && what.size() < kMinIdPrefix &&
      std::all_of(what.begin(), what.end(), [](unsigned char c) { return std::isxdigit(c); }))
    return Status::NotFound(ref.status().message() +
                            " (the start of a manifest ID needs at least " +
                            std::to_string(kMinIdPrefix) + " hex digits)");
  if (ref.ok() || ref.status().code() != Code::kNotFound || !IsHexPrefix(what)) return ref;
  return ManifestByPrefix(store, what);  // no such ref: the start of an ID?
}

namespace {
constexpr char kRecordHead[] = "ferry mirror record 2\n";

std::string OrDash(const std::string& s) { return s.empty() ? "-" : PercentEncode(s); }

Result<std::string> FromDash(std::string_view s) {
  if (s == "-") return std::string();
  auto d = PercentDecode(s);
  if (!d) return Status::CorruptManifest("bad field");
  return *d;
}
}  // namespace

// Format: "ferry mirror record 2\n", "url <url>\n", then one line a file:
// "o <path> <etag> <version>\n", each field percent-encoded, "-" if empty.
namespace {
Status PutRecordAt(ObjectStore* store, const std::string& key, const MirrorRecord& record) {
  std::string body = std::string(kRecordHead) + "url " + PercentEncode(record.url) + "\n";
  for (const auto& [path, o] : record.objects)
    body += "o " + PercentEncode(path) + " " + OrDash(o.etag) + " " + OrDash(o.version_id) + "\n";
  return store->Put(key, body);
}

Result<MirrorRecord> GetRecordAt(ObjectStore* store, const std::string& key) {
  ASSIGN_OR_RETURN(std::string body, store->Get(key));
  MirrorRecord r;
  if (body.rfind("s3://", 0) == 0) {  // format 1: the URL alone
    r.url = body;
    return r;
  }
  auto corrupt = [&] {
    return Status::CorruptManifest("mirror record " + key + " in " + store->Describe() +
                                   " is damaged; push the build again to write it anew");
  };
  if (body.rfind(kRecordHead, 0) != 0) return corrupt();
  std::string_view rest = std::string_view(body).substr(sizeof kRecordHead - 1);
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    if (nl == std::string_view::npos) return corrupt();
    std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl + 1);
    std::vector<std::string_view> f;
    for (size_t at = 0; at <= line.size();) {
      size_t sp = std::min(line.find(' ', at), line.size());
      f.push_back(line.substr(at, sp - at));
      at = sp + 1;
    }
    if (f.size() == 2 && f[0] == "url") {
      auto url = PercentDecode(f[1]);
      if (!url) return corrupt();
      r.url = *url;
    } else if (f.size() == 4 && f[0] == "o") {
      auto path = PercentDecode(f[1]);
      auto etag = FromDash(f[2]), version = FromDash(f[3]);
      if (!path || !etag.ok() || !version.ok()) return corrupt();
      r.objects[*path] = MirrorObject{*etag, *version};
    } else {
      return corrupt();
    }
  }
  if (r.url.empty()) return corrupt();
  return r;
}
}  // namespace

Status PutMirrorRecord(ObjectStore* store, const Digest& id, const MirrorRecord& record) {
  return PutRecordAt(store, "mirrors/" + DigestHex(id), record);
}
Result<MirrorRecord> GetMirrorRecord(ObjectStore* store, const Digest& id) {
  return GetRecordAt(store, "mirrors/" + DigestHex(id));
}
Status PutUndeleted(ObjectStore* store, const Digest& id, const MirrorRecord& owed) {
  return PutRecordAt(store, "undeleted/" + DigestHex(id), owed);
}
Result<MirrorRecord> GetUndeleted(ObjectStore* store, const Digest& id) {
  return GetRecordAt(store, "undeleted/" + DigestHex(id));
}

namespace {
std::string LocationKey(const std::string& url) {
  return "locations/" + DigestHex(Sha256::Of(url));
}
}  // namespace

// Format: the URL on the first line, then "<manifest ID hex>[ v]" a line
// (" v": every object of that build has a version ID).
Status AddBuildAtLocation(ObjectStore* store, const std::string& url, const LocatedBuild& build) {
  const std::string id_hex = DigestHex(build.id);
  for (int attempt = 0; attempt < 20; attempt++) {
    auto cur = store->Get(LocationKey(url));
    if (!cur.ok() && cur.status().code() != Code::kNotFound) return cur.take_status();
    std::optional<std::string> expected;
    if (cur.ok()) expected = *cur;
    if (expected && expected->find("\n" + id_hex) != std::string::npos) return Status::OK();
    std::string line = id_hex + (build.versioned ? " v" : "") + "\n";
    Status st =
        store->ReplaceIf(LocationKey(url), expected, (expected ? *expected : url + "\n") + line);
    if (st.code() != Code::kConflict) return st;
  }
  return Status::Conflict("the build index of " + url + " in " + store->Describe() +
                          " kept changing; run again")
      .SetRetryable();
}

Result<std::vector<LocatedBuild>> BuildsAtLocation(ObjectStore* store, const std::string& url) {
  ASSIGN_OR_RETURN(std::string body, store->Get(LocationKey(url)));
  std::vector<LocatedBuild> out;
  size_t at = body.find('\n');  // the first line is the URL itself
  while (at != std::string::npos && at + 1 < body.size()) {
    size_t nl = body.find('\n', at + 1);
    std::string_view line = std::string_view(body).substr(at + 1, nl - at - 1);
    if (auto d = ParseDigestHex(line.substr(0, 64))) out.push_back({*d, line.substr(64) == " v"});
    at = nl;
  }
  return out;
}

bool FullyVersioned(const MirrorRecord& record) {
  if (record.objects.empty()) return false;
  for (const auto& [path, o] : record.objects)
    if (o.version_id.empty()) return false;
  return true;
}

Result<bool> LocationsIndexed(ObjectStore* store) {
  auto size = store->Size("locations/INDEXED");
  if (size.ok()) return true;
  if (size.status().code() == Code::kNotFound) return false;
  return size.take_status();
}

Status MarkLocationsIndexed(ObjectStore* store) { return store->Put("locations/INDEXED", ""); }

Status MarkSuperseded(ObjectStore* store, const Digest& id, const Digest& by) {
  return store->Put("superseded/" + DigestHex(id), DigestHex(by) + "\n");
}

Result<std::set<Digest>> SupersededIds(ObjectStore* store) {
  ASSIGN_OR_RETURN(auto keys, store->List("superseded/"));
  std::set<Digest> out;
  for (const auto& k : keys)
    if (auto id = ParseDigestHex(std::string_view(k).substr(11))) out.insert(*id);
  return out;
}

Result<std::map<Digest, Digest>> ListSuperseded(ObjectStore* store) {
  ASSIGN_OR_RETURN(auto ids, SupersededIds(store));
  std::map<Digest, Digest> out;
  for (const auto& id : ids) {
    ASSIGN_OR_RETURN(auto by, SupersededBy(store, id));
    if (by) out[id] = *by;
  }
  return out;
}

Status SupersededError(const Digest& id, const Digest& by) {
  return Status::VerifyFailed(
      "build " + DigestHex(id) + " was superseded by build " + DigestHex(by) +
      ", which replaced or deleted (--delete) some of its objects in place (the bucket is not "
      "versioned), so it "
      "cannot be restored whole; restore the newer build, and enable bucket versioning (or push "
      "each build to its own prefix) to keep every build restorable");
}

Result<std::optional<Digest>> SupersededBy(ObjectStore* store, const Digest& id) {
  auto body = store->Get("superseded/" + DigestHex(id));
  if (!body.ok()) {
    if (body.status().code() == Code::kNotFound) return std::optional<Digest>();
    return body.take_status();
  }
  std::string_view s = *body;
  while (!s.empty() && s.back() == '\n') s.remove_suffix(1);
  return std::optional<Digest>(ParseDigestHex(s));
}

}  // namespace ferry
