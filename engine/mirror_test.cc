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

TEST(MirrorUploaderTest, SlowsDownOnSlowDownAndStillUploadsAndChecks) {
  const std::string data = "build artifact";
  FakeServer server(
      {Response(503, "Slow Down",
                "<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>"),
       Response(200, "OK", ""),  // the PUT, retried (ETag "abc")
       HeadResponse(data.size(), "\"abc\"")});
  S3Config config;
  config.endpoint = "http://127.0.0.1:" + std::to_string(server.port());
  config.credentials = StaticCredentials({"AKID", "secret", ""});
  S3Client client(config);
  MirrorOptions opts;
  opts.upload_threads = 8;
  MirrorUploader up(&client, "bucket", "app/",
                    {{"bin/tool", "/nonexistent", data.size(), std::nullopt}}, opts, {});
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
  S3Config config;
  config.endpoint = "http://127.0.0.1:" + std::to_string(server.port());
  config.credentials = StaticCredentials({"AKID", "secret", ""});
  S3Client client(config);
  MirrorUploader up(&client, "bucket", "", {{"f", "/nonexistent", data.size(), std::nullopt}},
                    MirrorOptions{}, {});
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
  S3Config config;
  config.endpoint = "http://127.0.0.1:" + std::to_string(server.port());
  config.credentials = StaticCredentials({"AKID", "secret", ""});
  S3Client client(config);
  MirrorOptions opts;
  opts.part_size = 5u << 20;
  const std::string chunk(1u << 20, 'x');
  MirrorUploader up(&client, "bucket", "", {{"big.bin", "/nonexistent", 12u << 20, std::nullopt}},
                    opts, {});
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
  S3Config config;
  config.endpoint = "http://127.0.0.1:" + std::to_string(server.port());
  config.credentials = StaticCredentials({"AKID", "secret", ""});
  S3Client client(config);
  MirrorFile f{"f", path, data.size(), sha, "f"};
  MirrorUploader up(&client, "bucket", "", {f}, MirrorOptions{}, {});
  FileDigest d;
  d.sha256 = sha;
  up.OnUnchanged(0, d);
  Status st = up.Finish({d});
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
  S3Config config;
  config.endpoint = "http://127.0.0.1:" + std::to_string(server.port());
  config.credentials = StaticCredentials({"AKID", "secret", ""});
  S3Client client(config);
  const Digest sha = Sha256::Of(std::string("artifact bytes"));
  MirrorFile f{"f", path, 14, sha, "f"};
  MirrorUploader up(&client, "bucket", "", {f}, MirrorOptions{}, {});
  FileDigest d;
  d.sha256 = sha;
  up.OnUnchanged(0, d);
  Status st = up.Finish({d});
  EXPECT_EQ(st.code(), Code::kSourceUnreadable) << st.ToString();
  EXPECT_NE(st.message().find("changed during the push"), std::string::npos) << st.ToString();
  for (const auto& r : server.received()) EXPECT_NE(r.rfind("PUT ", 0), 0u) << r;
}

// The daemon between reconciles: a file the stat cache vouches for is taken
// as the previous build recorded its object, with no request at all.
TEST(MirrorUploaderTest, TrustedUnchangedFilesCostNoRequest) {
  FakeServer server({Response(500, "Internal Error", "")});  // any request would fail the test
  S3Config config;
  config.endpoint = "http://127.0.0.1:" + std::to_string(server.port());
  config.credentials = StaticCredentials({"AKID", "secret", ""});
  S3Client client(config);
  const Digest sha = Sha256::Of(std::string("artifact bytes"));
  MirrorFile f{"f", "/nonexistent", 14, sha, "f"};
  f.previous_object = MirrorObject{"\"etag1\"", "v7"};
  MirrorOptions opts;
  opts.trust_unchanged = true;
  MirrorUploader up(&client, "bucket", "", {f}, opts, {});
  FileDigest d;
  d.sha256 = sha;
  up.OnUnchanged(0, d);
  ASSERT_TRUE(up.Finish({d}).ok());
  EXPECT_EQ(server.received().size(), 0u);
  EXPECT_EQ(up.stats().files_unchanged, 1u);
  EXPECT_EQ(up.object(0).version_id, "v7");  // recorded as the previous build had it
  EXPECT_FALSE(up.wrote(0));
}

}  // namespace
}  // namespace ferry
