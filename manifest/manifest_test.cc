#include "manifest/manifest.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "manifest/builds.h"
#include "manifest/repo.h"
#include "manifest/signature.h"
#include "testing/mem_store.h"
#include "testing/test_util.h"
#include "util/posix.h"

namespace ferry {
namespace {

Manifest Sample() {
  Manifest m;
  m.created_unix_ns = 1763700000123456789;
  m.ref = "app/main";
  Digest parent;
  parent.fill(0xab);
  m.parent = parent;
  m.tags = {{"pipeline", "42"}, {"commit", "0123abc"}};
  FileEntry b;
  b.path = "bin/app";
  b.mode = 0755;
  b.size = 5;
  b.mtime_ns = 1700000000000000000;
  b.sha256 = Sha256::Of("hello");
  b.xxh3 = Xxh3::Of("hello", 5);
  b.chunks = {{Sha256::Of("hel"), 3}, {Sha256::Of("lo"), 2}};
  FileEntry a;
  a.path = "bin";
  a.type = EntryType::kDir;
  a.mode = 0755;
  FileEntry l;
  l.path = "bin/current";
  l.type = EntryType::kSymlink;
  l.mode = 0777;
  l.link_target = "app";
  m.files = {b, l, a};  // out of order on purpose
  return m;
}

TEST(ManifestTest, RoundTrip) {
  Manifest m = Sample();
  std::string bytes = EncodeManifest(&m);
  auto d = DecodeManifest(bytes, "test");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->created_unix_ns, m.created_unix_ns);
  EXPECT_EQ(d->ref, "app/main");
  EXPECT_EQ(*d->parent, *m.parent);
  ASSERT_EQ(d->tags.size(), 2u);
  EXPECT_EQ(d->tags[0].first, "commit");  // sorted
  ASSERT_EQ(d->files.size(), 3u);
  EXPECT_EQ(d->files[0].path, "bin");
  EXPECT_EQ(d->files[1].path, "bin/app");
  EXPECT_EQ(d->files[1].chunks.size(), 2u);
  EXPECT_EQ(d->files[1].sha256, Sha256::Of("hello"));
  EXPECT_EQ(d->files[1].mode, 0755u);
  EXPECT_EQ(d->files[2].link_target, "app");
  EXPECT_EQ(EncodeManifest(&*d), bytes);  // canonical: re-encoding gives the same bytes
}

TEST(ManifestTest, EncodingIsCanonicalWhateverTheInputOrder) {
  Manifest a = Sample(), b = Sample();
  std::reverse(b.files.begin(), b.files.end());
  std::reverse(b.tags.begin(), b.tags.end());
  EXPECT_EQ(EncodeManifest(&a), EncodeManifest(&b));
}

TEST(ManifestTest, EveryTruncationIsACleanError) {
  Manifest m = Sample();
  std::string bytes = EncodeManifest(&m);
  for (size_t n = 0; n < bytes.size(); n++) {
    auto d = DecodeManifest(std::string_view(bytes).substr(0, n), "manifest X");
    ASSERT_FALSE(d.ok()) << n;
    EXPECT_EQ(d.status().code(), Code::kCorruptManifest);
    EXPECT_NE(d.status().message().find("manifest X"), std::string::npos);
  }
}

TEST(ManifestTest, WrongVersionNamesTheUpgrade) {
  Manifest m = Sample();
  std::string bytes = EncodeManifest(&m);
  bytes[8] = 2;
  auto d = DecodeManifest(bytes, "manifest X");
  EXPECT_EQ(d.status().code(), Code::kCorruptManifest);
  EXPECT_NE(d.status().message().find("version 2"), std::string::npos);
  EXPECT_NE(d.status().message().find("upgrade"), std::string::npos);
}

TEST(ManifestTest, BadMagicAndTrailingBytes) {
  EXPECT_NE(DecodeManifest("PK\x03\x04 not a manifest", "m")
                .status()
                .message()
                .find("not a Ferry manifest"),
            std::string::npos);
  Manifest m = Sample();
  std::string bytes = EncodeManifest(&m) + "x";
  EXPECT_EQ(DecodeManifest(bytes, "m").status().code(), Code::kCorruptManifest);
}

TEST(ManifestTest, RejectsUnsafePathsAndBadChunkSums) {
  for (std::string bad : {"/etc/passwd", "../x", "a/../b", "a//b", "./a", "a/"}) {
    Manifest m;
    FileEntry e;
    e.path = bad;
    e.type = EntryType::kDir;
    m.files = {e};
    auto d = DecodeManifest(EncodeManifest(&m), "m");
    EXPECT_EQ(d.status().code(), Code::kCorruptManifest) << bad;
  }
  Manifest m = Sample();
  m.files[0].size = 6;  // chunks add up to 5
  EXPECT_NE(DecodeManifest(EncodeManifest(&m), "m").status().message().find("add up"),
            std::string::npos);
}

// Inputs the fuzzer (tests/fuzz) found accepted in a non-canonical form; they
// must now be rejected as corrupt.
TEST(ManifestTest, FuzzRegressionsAreRejected) {
  for (const char* name : {"non-minimal-varint.bin", "chunk-param-overflow.bin"}) {
    auto bytes =
        ReadFileToString(std::string(FERRY_SOURCE_DIR) + "/tests/fuzz/regressions/" + name);
    ASSERT_TRUE(bytes.ok()) << name;
    EXPECT_EQ(DecodeManifest(*bytes, name).status().code(), Code::kCorruptManifest) << name;
  }
}

TEST(ManifestTest, LoadChecksTheIdAgainstTheBytes) {
  MemStore store;
  Manifest m = Sample();
  auto id = PutManifest(&store, &m);
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(LoadManifest(&store, *id).ok());
  // Flip a byte inside a hash: still decodes, but the ID no longer matches.
  store.Mutate(ManifestKey(*id), [](std::string* s) { (*s)[s->size() - 10] ^= 1; });
  auto bad = LoadManifest(&store, *id);
  EXPECT_EQ(bad.status().code(), Code::kCorruptManifest);
  EXPECT_NE(bad.status().message().find(DigestHex(*id)), std::string::npos);
}

TEST(ManifestTest, RefNames) {
  EXPECT_TRUE(ValidateRefName("app/main").ok());
  EXPECT_TRUE(ValidateRefName("release-1.4_rc2").ok());
  // What CI systems make of branch names, all valid git branch names.
  for (const char* ok : {"acme/feature%2Flogin", "fix+1", "user@fix", "web/caf\xc3\xa9", "a.b/c"})
    EXPECT_TRUE(ValidateRefName(ok).ok()) << ok;
  for (const char* bad :
       {"",     "/x",   "x/",     "a//b",       "..",  "a/../b", ".hidden", "sp ace",
        "a/.b", "a..b", "x.lock", "a/b.lock/c", "x.",  "@",      "a@{1}",   "a~1",
        "a^",   "a:b",  "a?",     "a*",         "a[b", "a\\b",   "tab\tref"})
    EXPECT_EQ(ValidateRefName(bad).code(), Code::kUsage) << bad;
}

// Two stored manifests that differ in a tag: their IDs.
std::pair<Digest, Digest> TwoManifests(MemStore* store) {
  Manifest m = Sample();
  Digest a = *PutManifest(store, &m);
  m.tags.emplace_back("other", "1");
  return {a, *PutManifest(store, &m)};
}

TEST(ManifestTest, ARefAndARefBelowItCoexist) {
  MemStore store;
  auto [id, id2] = TwoManifests(&store);
  ASSERT_TRUE(UpdateRef(&store, "acme/web/main", std::nullopt, id).ok());
  ASSERT_TRUE(UpdateRef(&store, "acme/web/main/main", std::nullopt, id2).ok());
  ASSERT_TRUE(UpdateRef(&store, "acme/feature%2Flogin", std::nullopt, id2).ok());
  EXPECT_EQ(*ReadRef(&store, "acme/web/main"), id);
  EXPECT_EQ(*ReadRef(&store, "acme/web/main/main"), id2);
  EXPECT_EQ(*ReadRef(&store, "acme/feature%2Flogin"), id2);
  EXPECT_EQ(ReadRef(&store, "acme/feature/login").status().code(), Code::kNotFound);
  EXPECT_EQ(*ListRefs(&store), (std::vector<std::string>{"acme/feature%2Flogin", "acme/web/main",
                                                         "acme/web/main/main"}));
}

TEST(ManifestTest, UpdateRefIsCompareAndSwap) {
  MemStore store;
  auto [a, b] = TwoManifests(&store);
  ASSERT_TRUE(UpdateRef(&store, "app/main", std::nullopt, a).ok());
  // A push that read no ref (or an older one) must not overwrite the newer one.
  EXPECT_EQ(UpdateRef(&store, "app/main", std::nullopt, b).code(), Code::kConflict);
  EXPECT_EQ(UpdateRef(&store, "app/main", b, b).code(), Code::kConflict);
  EXPECT_EQ(*ReadRef(&store, "app/main"), a);
  EXPECT_TRUE(UpdateRef(&store, "app/main", a, b).ok());
  EXPECT_EQ(*ReadRef(&store, "app/main"), b);
}

TEST(ManifestTest, FormatOneRefsAreReadAndMovedOnWrite) {
  MemStore store;
  auto [a, b] = TwoManifests(&store);
  // A format-1 store kept refs/<name> as a path.
  ASSERT_TRUE(store.Put("refs/app/main", DigestHex(a) + "\n").ok());
  EXPECT_EQ(*ReadRef(&store, "app/main"), a);
  EXPECT_EQ(*ListRefs(&store), std::vector<std::string>{"app/main"});
  ASSERT_TRUE(UpdateRef(&store, "app/main", a, b).ok());
  EXPECT_EQ(*ReadRef(&store, "app/main"), b);
  auto snap = store.Snapshot();
  EXPECT_EQ(snap.count("refs/app/main"), 0u);
  EXPECT_EQ(snap.count("refs/app%2Fmain"), 1u);
  EXPECT_EQ(*ListRefs(&store), std::vector<std::string>{"app/main"});
}

TEST(ManifestTest, MirrorRecordsRoundTripAndOldOnesStillRead) {
  MemStore store;
  Digest id{};
  id[0] = 7;
  MirrorRecord r;
  r.url = "s3://b/app/1.0/";
  r.objects["dir/a file\nwith newline"] = {"0123abcd-3", "v1.x_y"};
  r.objects["empty"] = {"d41d8cd98f00b204e9800998ecf8427e", ""};
  ASSERT_TRUE(PutMirrorRecord(&store, id, r).ok());
  auto back = GetMirrorRecord(&store, id);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->url, r.url);
  ASSERT_EQ(back->objects.size(), 2u);
  EXPECT_EQ(back->objects["dir/a file\nwith newline"].version_id, "v1.x_y");
  EXPECT_EQ(back->objects["empty"].version_id, "");
  ASSERT_TRUE(store.Put("mirrors/" + DigestHex(id), "s3://b/old/").ok());  // format 1
  EXPECT_EQ(GetMirrorRecord(&store, id)->url, "s3://b/old/");
  ASSERT_TRUE(store.Put("mirrors/" + DigestHex(id), "ferry mirror record 2\no x").ok());
  EXPECT_EQ(GetMirrorRecord(&store, id).status().code(), Code::kCorruptManifest);
  // The deletions a push owes: the same format, under undeleted/.
  EXPECT_EQ(GetUndeleted(&store, id).status().code(), Code::kNotFound);
  ASSERT_TRUE(PutUndeleted(&store, id, r).ok());
  auto owed = GetUndeleted(&store, id);
  ASSERT_TRUE(owed.ok()) << owed.status().ToString();
  EXPECT_EQ(owed->objects["dir/a file\nwith newline"].etag, "0123abcd-3");
  EXPECT_TRUE(store.Get("undeleted/" + DigestHex(id)).ok());
}

TEST(ManifestTest, AChunkLargerThanTheManifestsMaximumIsRefused) {
  // A crafted manifest: one chunk claims a byte more than the manifest's own
  // largest chunk size, so a repeated small chunk cannot claim a huge file.
  auto with_chunk = [](uint32_t size) {
    Manifest m = Sample();
    FileEntry& f = m.files[0];  // bin/app (Sample lists it first)
    f.chunks = {{Sha256::Of("x"), size}};
    f.size = size;
    return EncodeManifest(&m);
  };
  const uint32_t max = Sample().chunking.max_size;
  auto d = DecodeManifest(with_chunk(max + 1), "crafted");
  EXPECT_EQ(d.status().code(), Code::kCorruptManifest);
  EXPECT_NE(d.status().message().find("largest chunk size"), std::string::npos);
  EXPECT_TRUE(DecodeManifest(with_chunk(max), "at the maximum").ok());
}

TEST(ManifestTest, RefsPointAtManifests) {
  MemStore store;
  Manifest m = Sample();
  auto id = PutManifest(&store, &m);
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(WriteRef(&store, "app/main", *id).ok());
  auto got = ResolveManifest(&store, "app/main");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, *id);
  EXPECT_EQ(*ResolveManifest(&store, DigestHex(*id)), *id);
  EXPECT_EQ(ResolveManifest(&store, "app/other").status().code(), Code::kNotFound);
  ASSERT_TRUE(store.Put("refs/app/broken", "not-a-hash\n").ok());
  EXPECT_EQ(ReadRef(&store, "app/broken").status().code(), Code::kCorruptManifest);
}

TEST(ManifestTest, ABuildIsNamedByTheStartOfItsIdUnlessARefHasThatName) {
  MemStore store;
  std::vector<Digest> ids;
  for (int i = 0; ids.size() < 2 || DigestHex(ids[0])[0] != DigestHex(ids.back())[0]; i++) {
    Manifest m = Sample();
    m.created_unix_ns = i;  // builds until two IDs share a first digit
    ids.push_back(*PutManifest(&store, &m));
  }
  const std::string hex = DigestHex(ids[0]);
  EXPECT_EQ(*ResolveManifest(&store, hex.substr(0, 6)), ids[0]);
  std::string upper = hex.substr(0, 8);
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(*ResolveManifest(&store, upper), ids[0]);
  auto short_prefix = ResolveManifest(&store, hex.substr(0, 5));  // too short, and said so
  EXPECT_EQ(short_prefix.status().code(), Code::kNotFound);
  EXPECT_NE(short_prefix.status().message().find("at least 6 hex digits"), std::string::npos);
  EXPECT_EQ(ResolveManifest(&store, "abcdef" + std::string(3, '0')).status().code(),
            Code::kNotFound);
  // Ambiguous: kUsage naming the candidates (a shared 6-digit start is forced by a fake ID).
  const std::string twin = hex.substr(0, 6) + std::string(58, '0');
  ASSERT_TRUE(store.Put("manifests/" + twin, "x").ok());
  auto amb = ResolveManifest(&store, hex.substr(0, 6));
  EXPECT_EQ(amb.status().code(), Code::kUsage);
  EXPECT_NE(amb.status().message().find(hex.substr(0, 16)), std::string::npos);
  // A ref of that name wins over an ID that starts so.
  ASSERT_TRUE(WriteRef(&store, hex.substr(0, 6), ids[1]).ok());
  EXPECT_EQ(*ResolveManifest(&store, hex.substr(0, 6)), ids[1]);
}

TEST(BuildsTest, HistoryNewestFirstAndTheNewestBuildWithATag) {
  MemStore store;
  std::optional<Digest> parent;
  std::vector<Digest> ids;
  for (int i = 0; i < 3; i++) {
    Manifest m = Sample();
    m.created_unix_ns = 1000 + i;
    m.parent = parent;
    m.tags = {{"commit", i == 2 ? "b" : "a"}};
    ids.push_back(*PutManifest(&store, &m));
    parent = ids.back();
  }
  ASSERT_TRUE(WriteRef(&store, "app/main", ids[2]).ok());
  ASSERT_TRUE(MarkSuperseded(&store, ids[0], ids[1]).ok());
  auto h = RefHistory(&store, "app/main");
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->size(), 3u);
  EXPECT_EQ((*h)[0].id, ids[2]);
  EXPECT_EQ((*h)[2].id, ids[0]);
  EXPECT_TRUE((*h)[2].superseded_by.has_value());
  EXPECT_FALSE((*h)[0].superseded_by.has_value());
  EXPECT_EQ(RefHistory(&store, "app/main", 2)->size(), 2u);
  EXPECT_EQ(*FindBuildByTag(&store, "commit", "a"), ids[1]);  // the newer of the two
  EXPECT_EQ(*FindBuildByTag(&store, "commit", "b", "app/main"), ids[2]);
  EXPECT_EQ(FindBuildByTag(&store, "commit", "c").status().code(), Code::kNotFound);
  // A damaged manifest ends the history with a problem, not an error.
  store.Mutate(ManifestKey(ids[1]), [](std::string* s) { (*s)[s->size() / 2] ^= 1; });
  h = RefHistory(&store, "app/main");
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->size(), 2u);
  EXPECT_FALSE((*h)[1].problem.ok());
  auto refs = ListRefBuilds(&store);
  ASSERT_TRUE(refs.ok());
  ASSERT_EQ(refs->size(), 1u);
  EXPECT_EQ((*refs)[0].ref, "app/main");
  const Manifest sample = Sample();
  EXPECT_EQ((*refs)[0].files,
            0u + std::count_if(sample.files.begin(), sample.files.end(),
                               [](const FileEntry& f) { return f.type == EntryType::kFile; }));
}

// A signing key and a TrustedKeys holding its public key (from a file, as --trust-key reads it).
struct SigningFixture {
  MemStore store;
  testing::TempDir dir;
  std::unique_ptr<SigningKey> key = std::move(*SigningKey::Generate());
  TrustedKeys trusted;
  SigningFixture() {
    dir.Write("ci.pub", key->PublicPem());
    EXPECT_TRUE(trusted.Add(dir.path() + "/ci.pub").ok());
  }
};

TEST(SignatureTest, SequenceFollowsTheRefAndEveryTamperingIsUntrusted) {
  SigningFixture f;
  auto& [store, dir, key, trusted] = f;
  std::vector<Digest> ids;
  std::optional<Digest> parent;
  for (int i = 0; i < 2; i++) {
    Manifest m = Sample();
    m.created_unix_ns = i;
    m.parent = parent;
    ids.push_back(*PutManifest(&store, &m));
    ASSERT_TRUE(SignBuild(&store, ids.back(), "app/main", parent, *key).ok());
    parent = ids.back();
  }
  ASSERT_TRUE(WriteRef(&store, "app/main", ids[1]).ok());
  BuildStatement st;
  ASSERT_TRUE(CheckSignedBuild(&store, ids[1], "app/main", trusted, &st).ok());
  EXPECT_EQ(st.sequence, 2u);
  EXPECT_EQ(*st.previous, ids[0]);
  EXPECT_EQ(st.key_id, key->id());
  // By ID, the older build is trusted; through the ref, it is a rollback.
  EXPECT_TRUE(CheckSignedBuild(&store, ids[0], "", trusted).ok());
  EXPECT_EQ(CheckSignedBuild(&store, ids[0], "app/main", trusted).code(), Code::kUntrusted);
  EXPECT_EQ(CheckSignedBuild(&store, ids[1], "app/other", trusted).code(), Code::kUntrusted);
  // Another key's signature, an altered statement, a missing one.
  TrustedKeys others;
  auto other = SigningKey::Generate();
  dir.Write("other.pub", (*other)->PublicPem());
  ASSERT_TRUE(others.Add(dir.path() + "/other.pub").ok());
  EXPECT_EQ(CheckSignedBuild(&store, ids[1], "", others).code(), Code::kUntrusted);
  store.Mutate(SignatureKey(ids[1]),
               [](std::string* s) { s->replace(s->find("sequence 2"), 10, "sequence 7"); });
  EXPECT_EQ(CheckSignedBuild(&store, ids[1], "", trusted).code(), Code::kUntrusted);
  ASSERT_TRUE(store.Delete(SignatureKey(ids[1])).ok());
  EXPECT_EQ(CheckSignedBuild(&store, ids[1], "", trusted).code(), Code::kUntrusted);
  ASSERT_TRUE(store.Put(SignatureKey(ids[1]), "garbage").ok());
  EXPECT_EQ(CheckSignedBuild(&store, ids[1], "", trusted).code(), Code::kCorruptManifest);
}

TEST(SignatureTest, AnUnsignedBuildInTheHistoryIsNoRollback) {
  SigningFixture f;
  auto& [store, dir, key, trusted] = f;
  std::optional<Digest> parent;
  Digest last{};
  for (int i = 0; i < 4; i++) {  // signed, signed, unsigned, signed
    Manifest m = Sample();
    m.created_unix_ns = 100 + i;
    m.parent = parent;
    last = *PutManifest(&store, &m);
    if (i != 2) {
      ASSERT_TRUE(SignBuild(&store, last, "app/main", parent, *key).ok());
    }
    parent = last;
  }
  ASSERT_TRUE(WriteRef(&store, "app/main", last).ok());
  BuildStatement st;
  ASSERT_TRUE(CheckSignedBuild(&store, last, "app/main", trusted, &st).ok());
  EXPECT_EQ(st.sequence, 3u);
}

// Golden manifest written by format version 1: it must load forever.
TEST(ManifestTest, GoldenVersion1StillLoads) {
  auto bytes = ReadFileToString(std::string(FERRY_SOURCE_DIR) + "/tests/golden/manifest-v1.bin");
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  auto d = DecodeManifest(*bytes, "golden");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(DigestHex(Sha256::Of(*bytes)),
            "dcd4aa2acb78fe62162d1d10d593ef4560c1a4df5fb4c163a54049aafaf7361c");
  EXPECT_EQ(d->ref, "app/main");
  EXPECT_EQ(d->files.size(), 3u);
  Manifest again = *d;
  EXPECT_EQ(EncodeManifest(&again), *bytes);
}

}  // namespace
}  // namespace ferry

namespace ferry {
namespace {

FileEntry E(std::string path, EntryType type = EntryType::kFile, uint64_t size = 1) {
  FileEntry e;
  e.path = std::move(path);
  e.type = type;
  e.size = size;
  return e;
}

std::vector<std::string> Described(const std::vector<FileEntry>& v) {
  std::vector<std::string> out;
  for (const auto& e : v)
    out.push_back(e.path + (e.type == EntryType::kDir ? "/" : "") + "=" + std::to_string(e.size));
  return out;
}

TEST(LayEntriesOverTest, KeepsWhatTopDoesNotHoldAndTakesTopsVersionOfTheRest) {
  const auto d = EntryType::kDir;
  std::vector<FileEntry> base = {E("bin", d),
                                 E("bin/linux", EntryType::kFile, 1),
                                 E("bin/mac", EntryType::kFile, 1),
                                 E("docs", d),
                                 E("docs/a.md"),
                                 E("lib"),
                                 E("readme")};
  // Top: a new mac binary, windows added, lib (a file) became a directory,
  // docs (a directory) became a file.
  std::vector<FileEntry> top = {E("bin", d),
                                E("bin/mac", EntryType::kFile, 2),
                                E("bin/win", EntryType::kFile, 2),
                                E("docs", EntryType::kFile, 2),
                                E("lib", d),
                                E("lib/x.so", EntryType::kFile, 2)};
  auto merged = LayEntriesOver(base, top);
  EXPECT_EQ(Described(merged),
            (std::vector<std::string>{"bin/=1", "bin/linux=1", "bin/mac=2", "bin/win=2", "docs=2",
                                      "lib/=1", "lib/x.so=2", "readme=1"}));
  EXPECT_TRUE(std::is_sorted(merged.begin(), merged.end(),
                             [](const auto& a, const auto& b) { return a.path < b.path; }));
}

TEST(LayEntriesOverTest, KeepNewerBaseKeepsTheLaterVersionOfAFile) {
  auto at = [](std::string p, int64_t mtime, uint64_t size) {
    FileEntry e = E(std::move(p), EntryType::kFile, size);
    e.mtime_ns = mtime;
    return e;
  };
  std::vector<FileEntry> base = {at("k", 200, 2), at("old", 100, 1)};
  std::vector<FileEntry> top = {at("k", 100, 1), at("old", 300, 3)};  // k: an older version
  EXPECT_EQ(Described(LayEntriesOver(base, top, true)), (std::vector<std::string>{"k=2", "old=3"}));
  EXPECT_EQ(Described(LayEntriesOver(base, top)),  // push --merge: this push's always
            (std::vector<std::string>{"k=1", "old=3"}));
}

TEST(LayEntriesOverTest, AnEmptySideGivesTheOther) {
  std::vector<FileEntry> some = {E("a"), E("b")};
  EXPECT_EQ(Described(LayEntriesOver({}, some)), Described(some));
  EXPECT_EQ(Described(LayEntriesOver(some, {})), Described(some));
}

}  // namespace
}  // namespace ferry
