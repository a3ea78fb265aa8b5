#include "manifest/signature.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "manifest/repo.h"
#include "util/clock.h"
#include "util/hex.h"

namespace ferry {

namespace {

constexpr char kHead[] = "ferry signed build 1\n";

std::string Field(const std::string& name, const std::string& value) {
  return name + " " + (value.empty() ? "-" : value) + "\n";
}

Result<BuildStatement> ParseStatement(const std::string& text, const std::string& where) {
  auto bad = [&](const std::string& why) {
    return Status::CorruptManifest("signature " + where + " is unreadable (" + why + ")");
  };
  if (text.rfind(kHead, 0) != 0) return bad("not a Ferry signed build statement");
  std::istringstream in(text.substr(sizeof kHead - 1));
  BuildStatement s;
  std::string line, sig64;
  int seen = 0;
  while (std::getline(in, line)) {
    const size_t sp = line.find(' ');
    if (sp == std::string::npos) return bad("line '" + line + "'");
    const std::string k = line.substr(0, sp), v = line.substr(sp + 1);
    const std::string value = v == "-" ? "" : v;
    if (k == "manifest") {
      auto d = ParseDigestHex(value);
      if (!d) return bad("manifest");
      s.manifest = *d;
    } else if (k == "ref") {
      s.ref = value;
    } else if (k == "sequence") {
      s.sequence = std::strtoull(value.c_str(), nullptr, 10);
    } else if (k == "previous") {
      if (!value.empty()) {
        auto d = ParseDigestHex(value);
        if (!d) return bad("previous");
        s.previous = *d;
      }
    } else if (k == "time") {
      s.time_unix_ns = std::strtoll(value.c_str(), nullptr, 10);
    } else if (k == "key") {
      s.key_id = value;
    } else if (k == "signature") {
      sig64 = value;
    } else {
      return bad("unknown field " + k);
    }
    seen++;
  }
  if (seen != 7 || !Base64Decode(sig64, &s.signature)) return bad("missing fields");
  return s;
}

}  // namespace

// Every readable statement of `ref` in the store, except build `except`'s.
Result<std::vector<BuildStatement>> StatementsOfRef(ObjectStore* store, const std::string& ref,
                                                    const Digest& except) {
  ASSIGN_OR_RETURN(auto keys, store->List("signatures/"));
  std::vector<BuildStatement> out;
  for (const auto& k : keys) {
    auto other = ParseDigestHex(std::string_view(k).substr(11));
    if (!other || *other == except) continue;
    auto o = GetStatement(store, *other);
    if (o.ok() && *o && (*o)->ref == ref) out.push_back(std::move(**o));
  }
  return out;
}

std::string BuildStatement::Body() const {
  return kHead + Field("manifest", DigestHex(manifest)) + Field("ref", ref) +
         Field("sequence", std::to_string(sequence)) +
         Field("previous", previous ? DigestHex(*previous) : "") +
         Field("time", std::to_string(time_unix_ns)) + Field("key", key_id);
}

std::string SignatureKey(const Digest& manifest) { return "signatures/" + DigestHex(manifest); }

Result<std::optional<BuildStatement>> GetStatement(ObjectStore* store, const Digest& id) {
  auto text = store->Get(SignatureKey(id));
  if (!text.ok()) {
    if (text.status().code() == Code::kNotFound) return std::optional<BuildStatement>();
    return text.take_status();
  }
  ASSIGN_OR_RETURN(BuildStatement s, ParseStatement(*text, SignatureKey(id)));
  return std::optional<BuildStatement>(std::move(s));
}

Status SignBuild(ObjectStore* store, const Digest& id, const std::string& ref,
                 const std::optional<Digest>& previous, const SigningKey& key) {
  BuildStatement s;
  s.manifest = id;
  s.ref = ref;
  s.previous = previous;
  // One more than any statement of this ref so far, so that a ref whose
  // history has unsigned builds in it never looks rolled back.
  s.sequence = 1;
  if (!ref.empty()) {
    ASSIGN_OR_RETURN(auto others, StatementsOfRef(store, ref, id));
    for (const auto& o : others) s.sequence = std::max(s.sequence, o.sequence + 1);
  }
  s.time_unix_ns = UnixNowNs();
  s.key_id = key.id();
  const std::string body = s.Body();
  return store->Put(SignatureKey(id), body + Field("signature", Base64Encode(key.Sign(body))));
}

Status TrustedKeys::Add(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::Usage("cannot read trusted key file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  if (text.rfind("ssh-ed25519 ", 0) == 0 || text.rfind("#", 0) == 0) {
    std::istringstream lines(text);
    std::string line;
    int n = 0;
    while (std::getline(lines, line)) {
      if (line.empty() || line[0] == '#') continue;
      ASSIGN_OR_RETURN(auto k, PublicKey::Parse(line, path + ":" + std::to_string(n + 1)));
      keys_.push_back(std::move(k));
      n++;
    }
    if (n == 0) return Status::Usage(path + " holds no key");
    return Status::OK();
  }
  ASSIGN_OR_RETURN(auto k, PublicKey::Parse(text, path));
  keys_.push_back(std::move(k));
  return Status::OK();
}

const PublicKey* TrustedKeys::Find(const std::string& id) const {
  for (const auto& k : keys_)
    if (k->id() == id) return k.get();
  return nullptr;
}

Status CheckSignedBuild(ObjectStore* store, const Digest& id, const std::string& ref,
                        const TrustedKeys& trusted, BuildStatement* out) {
  const std::string name =
      "build " + DigestHex(id).substr(0, 12) + (ref.empty() ? "" : " (ref " + ref + ")");
  ASSIGN_OR_RETURN(auto st, GetStatement(store, id));
  if (!st)
    return Status::Untrusted(name + " is unsigned: push it with --sign-key, or drop --trust-key");
  const PublicKey* key = trusted.Find(st->key_id);
  if (!key)
    return Status::Untrusted(name + " is signed by key " + st->key_id +
                             ", which is not among the trusted keys");
  if (!key->Verify(st->Body(), st->signature))
    return Status::Untrusted(name + ": its signature does not verify (the statement was altered)");
  if (st->manifest != id)
    return Status::Untrusted(name + ": the signature is for manifest " +
                             DigestHex(st->manifest).substr(0, 12) +
                             ", not this one (the manifest was rewritten)");
  if (!ref.empty()) {
    if (st->ref != ref)
      return Status::Untrusted(name + " was signed for ref '" + st->ref + "', not this one");
    // Rollback: a newer signed build of this ref is in the store.
    ASSIGN_OR_RETURN(auto others, StatementsOfRef(store, ref, id));
    for (const auto& o : others) {
      const PublicKey* ok = trusted.Find(o.key_id);
      if (o.sequence > st->sequence && ok && ok->Verify(o.Body(), o.signature))
        return Status::Untrusted("ref " + ref + " points at build " + DigestHex(id).substr(0, 12) +
                                 " (signed sequence " + std::to_string(st->sequence) +
                                 "), but the store holds its signed build " +
                                 DigestHex(o.manifest).substr(0, 12) + " with sequence " +
                                 std::to_string(o.sequence) + ": the ref was rolled back");
    }
  }
  if (out) *out = std::move(*st);
  return Status::OK();
}

}  // namespace ferry
