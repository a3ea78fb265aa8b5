#include "engine/mirror.h"

#include <gtest/gtest.h>

#include "testing/fake_s3_server.h"
#include "testing/test_util.h"

namespace ferry {
namespace {

using testing::FakeServer;
using testing::Response;

// A HEAD answer: headers only, the object's length in Content-Length.
std::string HeadResponse(size_t length, const std::string& etag) {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(length) + "\r\nETag: " + etag +
         "\r\nConnection: close\r\n\r\n";
}

// A client of `server` with made-up keys.
S3Config FakeConfig(const FakeServer& server) {
  S3Config config;
  config.endpoint = "http://127.0.0.1:" + std::to_string(server.port());
  config.credentials = StaticCredentials({"AKID", "secret", ""});
  return config;
}

TEST(MirrorUploaderTest, SlowsDownOnSlowDownAndStillUploadsAndChecks) {
  const std::string data = "build artifact";
  FakeServer server(
      {Response(503, "Slow Down",
                "<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>"),
       Response(200, "OK", ""),  // the PUT, retried (ETag "abc")
       HeadResponse(data.size(), "\"abc\"")});
  S3Config config = FakeConfig(server);
  S3Client client(config);
  MirrorOptions opts;
  opts.upload_threads = 8;
  MirrorUploader up(&client, "bucket", "app/",
                    {{"bin/tool", SourceFile{"/nonexistent"}, data.size(), std::nullopt}}, opts,
                    {});
  ASSERT_TRUE(up.OnData(0, 0, reinterpret_cast<const uint8_t*>(data.data()), data.size()).ok());
  FileDigest d;
  d.sha256 = Sha256::Of(data);
  up.OnFileDone(0, d);
  ASSERT_TRUE(up.Finish({d}).ok());
  MirrorStats st = up.stats();
  EXPECT_EQ(st.objects_put, 1u);
  EXPECT_EQ(st.bytes_sent, data.size());
  EXPECT_EQ(st.throttled, 1u);
  EXPECT_EQ(st.lowest_concurrency, 4u);  // 8 halved once
  EXPECT_EQ(server.requests(), 3);       // PUT (503), PUT, HEAD
}

TEST(MirrorUploaderTest, ObjectOfTheWrongSizeAfterUploadIsDataLoss) {
  const std::string data = "build artifact";
  FakeServer server({Response(200, "OK", ""), HeadResponse(data.size() - 1, "\"abc\"")});
  S3Config config = FakeConfig(server);
  S3Client client(config);
  MirrorUploader up(&client, "bucket", "",
                    {{"f", SourceFile{"/nonexistent"}, data.size(), std::nullopt}}, MirrorOptions{},
                    {});
  ASSERT_TRUE(up.OnData(0, 0, reinterpret_cast<const uint8_t*>(data.data()), data.size()).ok());
  FileDigest d;
  d.sha256 = Sha256::Of(data);
  up.OnFileDone(0, d);
  Status st = up.Finish({d});
  EXPECT_EQ(st.code(), Code::kVerifyFailed);
  EXPECT_TRUE(st.data_loss());
  EXPECT_NE(st.message().find("s3://bucket/f"), std::string::npos);
}

TEST(MirrorUploaderTest, AFileThatChangedDuringAMultipartUploadIsTheSourcesFault) {
  // The upload of a large file has begun when the pipeline finds the file
  // changed under it: the push fails as source-unreadable (exit 3), not as a
  // bug in Ferry (exit 1), and the multipart upload is aborted.
  FakeServer server(
      {Response(200, "OK", "<ListMultipartUploadsResult></ListMultipartUploadsResult>"),
       Response(200, "OK",
                "<InitiateMultipartUploadResult><UploadId>u1</UploadId>"
                "</InitiateMultipartUploadResult>"),
       Response(200, "OK", "")});  // parts and the abort
  S3Config config = FakeConfig(server);
  S3Client client(config);
  MirrorOptions opts;
  opts.part_size = 5u << 20;
  const std::string chunk(1u << 20, 'x');
  MirrorUploader up(&client, "bucket", "",
                    {{"big.bin", SourceFile{"/nonexistent"}, 12u << 20, std::nullopt}}, opts, {});
  ASSERT_TRUE(up.WantsChunks(0));
  for (uint64_t i = 0; i < 7; i++)  // more than a part: the upload has begun
    up.OnChunk(0, i << 20, ChunkInfo{Sha256::Of(chunk), 1u << 20}, {chunk});
  FileDigest d;
  d.status = Status::SourceUnreadable("big.bin changed while it was being read");
  up.OnFileDone(0, d);
  Status st = up.Finish({d});
  EXPECT_EQ(st.code(), Code::kSourceUnreadable) << st.ToString();
  bool aborted = false;
  for (const auto& r : server.received()) aborted |= r.rfind("DELETE ", 0) == 0;
  EXPECT_TRUE(aborted);
}

// The push of file 0, which the stat cache vouches for (`sha`): not read.
Status PushUnchanged(MirrorUploader* up, const Digest& sha) {
  FileDigest d;
  d.sha256 = sha;
  up->OnUnchanged(0, d);
  return up->Finish({d});
}

// A file the stat cache vouched for whose object is gone: Finish reads it
// again (through the pipeline) and sends it, since its bytes are still the
// ones the manifest names.
TEST(MirrorUploaderTest, AVouchedForFileWhoseObjectIsGoneIsReadAgainAndSent) {
  testing::TempDir dir;
  const std::string data = "artifact bytes";
  const std::string path = dir.Write("f", data);
  const Digest sha = Sha256::Of(data);
  FakeServer server({Response(404, "Not Found", ""),  // HEAD: the object is gone
                     Response(200, "OK", ""),         // PUT
                     "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(data.size()) +
                         "\r\nETag: \"abc\"\r\nx-amz-meta-ferry-sha256: " + DigestHex(sha) +
                         "\r\nConnection: close\r\n\r\n"});
  S3Config config = FakeConfig(server);
  S3Client client(config);
  MirrorFile f{"f", SourceFile{path}, data.size(), sha, "f"};
  MirrorUploader up(&client, "bucket", "", {f}, MirrorOptions{}, {});
  Status st = PushUnchanged(&up, sha);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(up.stats().objects_put, 1u);
  EXPECT_EQ(up.stats().bytes_sent, data.size());
  ASSERT_EQ(server.received().size(), 3u);
  EXPECT_EQ(server.received()[1].rfind("PUT /bucket/f", 0), 0u);
  EXPECT_NE(server.received()[1].find(data), std::string::npos);  // the bytes read again
}

// ...but if the file's bytes are no longer those (changed since the stat
// cache vouched for them, same size), nothing is sent: the source's fault.
TEST(MirrorUploaderTest, AVouchedForFileThatChangedIsNotSent) {
  testing::TempDir dir;
  const std::string path = dir.Write("f", "other  bytes!!");
  FakeServer server({Response(404, "Not Found", ""), Response(200, "OK", "")});
  S3Config config = FakeConfig(server);
  S3Client client(config);
  const Digest sha = Sha256::Of(std::string("artifact bytes"));
  MirrorFile f{"f", SourceFile{path}, 14, sha, "f"};
  MirrorUploader up(&client, "bucket", "", {f}, MirrorOptions{}, {});
  Status st = PushUnchanged(&up, sha);
  EXPECT_EQ(st.code(), Code::kSourceUnreadable) << st.ToString();
  EXPECT_NE(st.message().find("changed during the push"), std::string::npos) << st.ToString();
  for (const auto& r : server.received()) EXPECT_NE(r.rfind("PUT ", 0), 0u) << r;
}

// A PUT answer: its ETag (and version) in the headers.
std::string PutResponse(const std::string& etag, const std::string& version) {
  return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nETag: " + etag +
         "\r\nx-amz-version-id: " + version + "\r\nConnection: close\r\n\r\n";
}

// A file "f" of `data`'s size, read from s3://src/app/f (`etag`) if given.
MirrorFile FileF(const std::string& data, const std::string& source_etag = "") {
  MirrorFile f{"f", SourceFile{"/nonexistent"}, data.size(), std::nullopt};
  if (!source_etag.empty()) f.from_source = S3CopySource{"", "src", "app/f", source_etag};
  return f;
}

// One file uploaded through a fake server.
struct OneUpload {
  OneUpload(const FakeServer& server, const std::string& data, MirrorFile f)
      : client(FakeConfig(server)), up(&client, "bucket", "", {f}, MirrorOptions{}, {}) {
    status = up.OnData(0, 0, reinterpret_cast<const uint8_t*>(data.data()), data.size());
    if (!status.ok()) return;
    FileDigest d;
    d.sha256 = Sha256::Of(data);
    up.OnFileDone(0, d);
    status = up.Finish({d});
  }
  OneUpload(const FakeServer& server, const std::string& data)
      : OneUpload(server, data, FileF(data)) {}
  S3Client client;
  MirrorUploader up;
  Status status;
};

// The post-upload check: a PUT answered with the MD5 of what was sent as its
// ETag proves the object, so no HEAD follows; the version comes from the PUT.
TEST(MirrorUploaderTest, APutWhoseEtagIsTheMd5SentNeedsNoHead) {
  const std::string data = "build artifact";
  FakeServer server({PutResponse("\"" + Md5::Hex(data) + "\"", "v3"),
                     Response(500, "Internal Error", "")});  // a HEAD would fail the push
  OneUpload one(server, data);
  ASSERT_TRUE(one.status.ok()) << one.status.ToString();
  EXPECT_EQ(server.received().size(), 1u);
  EXPECT_EQ(one.up.stats().objects_checked_by_put, 1u);
  EXPECT_EQ(one.up.object(0).etag, Md5::Hex(data));
  EXPECT_EQ(one.up.object(0).version_id, "v3");
  EXPECT_TRUE(one.up.wrote(0));
}

// ...and one whose ETag is not that MD5 (SSE-KMS, or not what was sent) is HEADed.
TEST(MirrorUploaderTest, APutWithAnotherEtagIsCheckedWithHead) {
  const std::string data = "build artifact";
  FakeServer server({PutResponse("\"0123456789abcdef0123456789abcdef\"", "v3"),
                     HeadResponse(data.size() - 1, "\"0123456789abcdef0123456789abcdef\"")});
  OneUpload one(server, data);
  EXPECT_EQ(server.received().size(), 2u);
  EXPECT_EQ(server.received()[1].rfind("HEAD /bucket/f", 0), 0u);
  EXPECT_TRUE(one.status.data_loss());  // the HEAD found the wrong size
  EXPECT_EQ(one.up.stats().objects_checked_by_put, 0u);
}

// A CopyObject answer, and a HEAD of an object Ferry labelled with `data`'s SHA-256.
std::string CopyResponse(const std::string& etag) {
  const std::string xml = "<CopyObjectResult><ETag>" + etag + "</ETag></CopyObjectResult>";
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(xml.size()) +
         "\r\nConnection: close\r\n\r\n" + xml;
}
std::string LabelledHead(const std::string& data, const std::string& etag) {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(data.size()) + "\r\nETag: " + etag +
         "\r\nx-amz-meta-ferry-sha256: " + DigestHex(Sha256::Of(data)) +
         "\r\nConnection: close\r\n\r\n";
}

// An s3:// source on the destination's endpoint: the object is copied from
// the very version that was read (If-Match), and its copy checked; nothing sent.
TEST(MirrorUploaderTest, AnObjectOfTheSourceBucketIsCopiedNotSent) {
  const std::string data = "an artifact in the primary bucket";
  const std::string etag = "\"" + Md5::Hex(data) + "\"";
  FakeServer server({CopyResponse(etag), LabelledHead(data, etag)});
  OneUpload one(server, data, FileF(data, etag));
  ASSERT_TRUE(one.status.ok()) << one.status.ToString();
  ASSERT_EQ(server.received().size(), 2u);
  const std::string copy = server.received()[0];
  EXPECT_EQ(copy.rfind("PUT /bucket/f", 0), 0u);
  EXPECT_NE(copy.find("x-amz-copy-source: /src/app/f"), std::string::npos) << copy;
  EXPECT_NE(copy.find("x-amz-copy-source-if-match: " + etag), std::string::npos) << copy;
  EXPECT_EQ(copy.find(data), std::string::npos);  // no body
  EXPECT_EQ(server.received()[1].rfind("HEAD /bucket/f", 0), 0u);
  EXPECT_EQ(one.up.stats().objects_copied, 1u);
  EXPECT_EQ(one.up.stats().bytes_sent, 0u);
  EXPECT_TRUE(one.up.wrote(0));
}

// A copy refused (no read access for the destination's request, another
// account) or whose result is not the source's bytes: the file is sent.
TEST(MirrorUploaderTest, ACopyFromTheSourceThatFailsOrDiffersIsSent) {
  const std::string data = "an artifact in the primary bucket";
  const std::string etag = "\"" + Md5::Hex(data) + "\"";
  const std::string put_ok =
      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nETag: " + etag + "\r\nConnection: close\r\n\r\n";
  FakeServer refused(
      {Response(403, "Forbidden", "<Error><Code>AccessDenied</Code></Error>"), put_ok});
  OneUpload a(refused, data, FileF(data, etag));
  ASSERT_TRUE(a.status.ok()) << a.status.ToString();
  EXPECT_EQ(a.up.stats().objects_copied, 0u);
  EXPECT_EQ(a.up.stats().bytes_sent, data.size());
  ASSERT_EQ(refused.received().size(), 2u);
  EXPECT_NE(refused.received()[1].find(data), std::string::npos);
  const std::string other = "\"0123456789abcdef0123456789abcdef\"";
  FakeServer differs({CopyResponse(other), LabelledHead(data, other), put_ok});
  OneUpload b(differs, data, FileF(data, etag));
  ASSERT_TRUE(b.status.ok()) << b.status.ToString();
  EXPECT_EQ(b.up.stats().objects_copied, 0u);
  EXPECT_EQ(b.up.stats().bytes_sent, data.size());
  // A HEAD without an ETag proves nothing: sent too.
  const std::string no_etag = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(data.size()) +
                              "\r\nx-amz-meta-ferry-sha256: " + DigestHex(Sha256::Of(data)) +
                              "\r\nConnection: close\r\n\r\n";
  FakeServer silent({CopyResponse(""), no_etag, put_ok});
  OneUpload c(silent, data, FileF(data, etag));
  ASSERT_TRUE(c.status.ok()) << c.status.ToString();
  EXPECT_EQ(c.up.stats().objects_copied, 0u);
  EXPECT_EQ(c.up.stats().bytes_sent, data.size());
}

// A multipart source: AWS gives its copy the MD5 of the bytes as ETag (RGW
// keeps the source's); either proves it.
TEST(MirrorUploaderTest, ACopyOfAMultipartSourceIsProvedByTheMd5OfTheBytesRead) {
  const std::string data = "uploaded in parts";
  const std::string md5 = "\"" + Md5::Hex(data) + "\"";
  FakeServer server({CopyResponse(md5), LabelledHead(data, md5)});
  OneUpload one(server, data, FileF(data, "\"d41d8cd98f00b204e9800998ecf8427e-2\""));
  ASSERT_TRUE(one.status.ok()) << one.status.ToString();
  EXPECT_EQ(one.up.stats().objects_copied, 1u);
  EXPECT_EQ(one.up.stats().bytes_sent, 0u);
}

// The daemon between reconciles: a file the stat cache vouches for is taken
// as the previous build recorded its object, with no request at all.
TEST(MirrorUploaderTest, TrustedUnchangedFilesCostNoRequest) {
  FakeServer server({Response(500, "Internal Error", "")});  // any request would fail the test
  S3Config config = FakeConfig(server);
  S3Client client(config);
  const Digest sha = Sha256::Of(std::string("artifact bytes"));
  MirrorFile f{"f", SourceFile{"/nonexistent"}, 14, sha, "f"};
  f.previous_object = MirrorObject{"\"etag1\"", "v7"};
  MirrorOptions opts;
  opts.trust_unchanged = true;
  MirrorUploader up(&client, "bucket", "", {f}, opts, {});
  ASSERT_TRUE(PushUnchanged(&up, sha).ok());
  EXPECT_EQ(server.received().size(), 0u);
  EXPECT_EQ(up.stats().files_unchanged, 1u);
  EXPECT_EQ(up.object(0).version_id, "v7");  // recorded as the previous build had it
  EXPECT_FALSE(up.wrote(0));
}

// List, don't HEAD: an unchanged file whose object the prefix's listing shows
// with the recorded size and ETag costs no request of its own.
TEST(MirrorUploaderTest, AListedUnchangedObjectNeedsNoHead) {
  FakeServer server({Response(500, "Internal Error", "")});  // any request would fail the test
  S3Config config = FakeConfig(server);
  S3Client client(config);
  const Digest sha = Sha256::Of(std::string("artifact bytes"));
  MirrorFile f{"f", SourceFile{"/nonexistent"}, 14, sha, "f"};
  f.previous_object = MirrorObject{"etag1", "v7"};
  MirrorUploader up(&client, "bucket", "", {f}, MirrorOptions{}, {});
  up.SetListing({{"f", {14, "etag1"}}});
  Status st = PushUnchanged(&up, sha);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(server.received().size(), 0u);
  EXPECT_EQ(up.stats().files_unchanged, 1u);
  EXPECT_EQ(up.stats().files_listed, 1u);
  EXPECT_EQ(up.object(0).version_id, "v7");
}

// ...and one the listing shows with another ETag (replaced behind Ferry's
// back by bytes of the same size) is HEADed, found changed and sent again.
TEST(MirrorUploaderTest, AListingWithAnotherEtagFallsBackToHead) {
  testing::TempDir dir;
  const std::string data = "artifact bytes";
  const std::string path = dir.Write("f", data);
  const Digest sha = Sha256::Of(data);
  const std::string head_ok =
      "HTTP/1.1 200 OK\r\nContent-Length: 14\r\nETag: \"abc\"\r\n"
      "x-amz-meta-ferry-sha256: " +
      DigestHex(sha) + "\r\nConnection: close\r\n\r\n";
  FakeServer server({head_ok, Response(200, "OK", ""), head_ok});
  S3Config config = FakeConfig(server);
  S3Client client(config);
  MirrorFile f{"f", SourceFile{path}, data.size(), sha, "f"};
  f.previous_object = MirrorObject{"etag1", ""};
  MirrorUploader up(&client, "bucket", "", {f}, MirrorOptions{}, {});
  up.SetListing({{"f", {14, "abc"}}});
  Status st = PushUnchanged(&up, sha);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(up.stats().files_listed, 0u);
  ASSERT_GE(server.received().size(), 2u);
  EXPECT_EQ(server.received()[0].rfind("HEAD /bucket/f", 0), 0u);
  EXPECT_EQ(server.received()[1].rfind("PUT /bucket/f", 0), 0u);  // ETag abc is not etag1: resent
}

// What a dry run plans for each kind of file, asking only with HEAD.
TEST(PreviewMirrorPushTest, SaysWhatWouldBeSentCopiedAndLeftWithHeadsOnly) {
  const std::string bytes = "artifact bytes";  // 14
  const Digest sha = Sha256::Of(bytes), other = Sha256::Of(std::string("fresh"));
  // Every HEAD finds an object Ferry wrote with these bytes.
  FakeServer server(
      {"HTTP/1.1 200 OK\r\nContent-Length: 14\r\nETag: \"e0\"\r\n"
       "x-amz-meta-ferry-sha256: " +
       DigestHex(sha) + "\r\nConnection: close\r\n\r\n"});
  S3Config config = FakeConfig(server);
  config.read_only = true;  // a write would fail the preview
  S3Client client(config);
  MirrorFile same{"same", SourceFile{"/nonexistent"}, 14, sha, "app/same"};
  same.previous_object = MirrorObject{"e0", ""};
  MirrorFile renamed{"renamed", SourceFile{"/nonexistent"}, 14, sha, "app/old-name"};
  MirrorFile twin{"twin", SourceFile{"/nonexistent"}, 14, std::nullopt, ""};
  MirrorFile fresh{"fresh", SourceFile{"/nonexistent"}, 5, std::nullopt, ""};
  std::vector<FileDigest> d(4);
  d[0].sha256 = d[1].sha256 = d[2].sha256 = sha;
  d[3].sha256 = other;
  MirrorOptions opts;
  opts.upload_threads = 1;
  opts.copy_min_size = 0;  // --server-copy always: these files are small
  std::vector<PlannedFile> planned;
  MirrorStats st = PreviewMirrorPush(&client, "bucket", "app/", {same, renamed, twin, fresh}, {},
                                     opts, d, &planned);
  ASSERT_EQ(planned.size(), 4u);
  EXPECT_EQ(planned[0].action, PlannedFile::Action::kUnchanged);
  EXPECT_EQ(planned[1].action, PlannedFile::Action::kCopy);
  EXPECT_EQ(planned[1].from, "s3://bucket/app/old-name");
  EXPECT_EQ(planned[2].action, PlannedFile::Action::kCopy);  // the same bytes are there already
  EXPECT_EQ(planned[3].action, PlannedFile::Action::kUpload);
  EXPECT_EQ(planned[3].bytes, 5u);
  EXPECT_EQ(st.objects_put, 1u);
  EXPECT_EQ(st.bytes_sent, 5u);
  EXPECT_EQ(st.objects_copied, 2u);
  EXPECT_EQ(st.bytes_copied, 28u);
  EXPECT_EQ(st.files_unchanged, 1u);
  const auto requests = server.received();
  EXPECT_EQ(requests.size(), 2u);  // the two HEADs: nothing else asked, nothing written
  for (const auto& r : requests) EXPECT_EQ(r.rfind("HEAD ", 0), 0u) << r;
}

TEST(PreviewMirrorPushTest, AnUnchangedFileWhoseObjectIsGoneWouldBeSent) {
  FakeServer server({Response(404, "Not Found", "")});
  S3Config config = FakeConfig(server);
  S3Client client(config);
  const Digest sha = Sha256::Of(std::string("artifact bytes"));
  MirrorFile f{"f", SourceFile{"/nonexistent"}, 14, sha, "f"};
  std::vector<FileDigest> d(1);
  d[0].sha256 = sha;
  std::vector<PlannedFile> planned;
  MirrorStats st = PreviewMirrorPush(&client, "bucket", "", {f}, {}, MirrorOptions{}, d, &planned);
  EXPECT_EQ(planned[0].action, PlannedFile::Action::kUpload);
  EXPECT_EQ(st.bytes_sent, 14u);
  EXPECT_EQ(st.files_unchanged, 0u);
}

// The copy cost model: a duplicate below copy_min_size is planned as an
// upload, not a server-side copy (three requests where one PUT does).
TEST(PreviewMirrorPushTest, SmallDuplicatesAreSentNotCopied) {
  const std::string bytes = "artifact bytes";
  const Digest sha = Sha256::Of(bytes);
  FakeServer server({Response(500, "Internal Error", "")});  // no request is needed
  S3Config config = FakeConfig(server);
  config.read_only = true;
  S3Client client(config);
  MirrorFile first{"first", SourceFile{"/nonexistent"}, 14, std::nullopt, ""};
  MirrorFile twin{"twin", SourceFile{"/nonexistent"}, 14, std::nullopt, ""};
  std::vector<FileDigest> d(2);
  d[0].sha256 = d[1].sha256 = sha;
  std::vector<PlannedFile> planned;
  MirrorStats st =
      PreviewMirrorPush(&client, "bucket", "app/", {first, twin}, {}, MirrorOptions{}, d, &planned);
  ASSERT_EQ(planned.size(), 2u);
  EXPECT_EQ(planned[1].action, PlannedFile::Action::kUpload);
  EXPECT_EQ(st.objects_copied, 0u);
  EXPECT_EQ(st.objects_put, 2u);
}

}  // namespace
}  // namespace ferry
