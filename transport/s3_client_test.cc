#include "transport/s3_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "testing/fake_s3_server.h"
#include "transport/s3_store.h"

namespace ferry {
namespace {

using testing::FakeServer;
using testing::Response;

TEST(S3ErrorTest, MapsErrorsOntoCodesAndFlags) {
  auto err = [](long status, const std::string& code) {
    return S3ErrorStatus(
        status,
        "<?xml version=\"1.0\"?><Error><Code>" + code + "</Code><Message>m</Message></Error>",
        "PUT s3://b/k");
  };
  EXPECT_EQ(err(403, "SignatureDoesNotMatch").code(), Code::kAuth);
  EXPECT_EQ(err(403, "InvalidAccessKeyId").code(), Code::kAuth);
  Status skew = err(403, "RequestTimeTooSkewed");
  EXPECT_EQ(skew.code(), Code::kAuth);
  EXPECT_NE(skew.message().find("clock"), std::string::npos);
  Status bucket = err(404, "NoSuchBucket");
  EXPECT_EQ(bucket.code(), Code::kStoreUnavailable);
  EXPECT_NE(bucket.message().find("create the bucket"), std::string::npos);
  EXPECT_EQ(err(404, "NoSuchKey").code(), Code::kNotFound);
  EXPECT_EQ(err(403, "QuotaExceeded").code(), Code::kNoSpace);
  Status slow = err(503, "SlowDown");
  EXPECT_TRUE(slow.retryable());
  EXPECT_TRUE(err(500, "InternalError").retryable());
  // A body that changed in flight is data loss if it persists; it is sent
  // again (with a warning) first, since the sender's bytes are intact.
  Status bad = err(400, "XAmzContentSHA256Mismatch");
  EXPECT_EQ(bad.code(), Code::kVerifyFailed);
  EXPECT_TRUE(bad.data_loss());
  EXPECT_TRUE(bad.retryable());
  EXPECT_FALSE(err(400, "InvalidArgument").retryable());
  // No body (HEAD): the status alone.
  EXPECT_EQ(S3ErrorStatus(403, "", "HEAD s3://b/k").code(), Code::kAuth);
  EXPECT_TRUE(S3ErrorStatus(502, "", "GET").retryable());
  EXPECT_EQ(S3ErrorStatus(404, "", "HEAD s3://b/k").code(), Code::kNotFound);
  // A 404 page from a web server that is not S3 is not "the object is missing".
  Status html = S3ErrorStatus(404, "<html><body>Not Found</body></html>", "GET s3://b/k");
  EXPECT_EQ(html.code(), Code::kStoreUnavailable);
  EXPECT_NE(html.message().find("S3 server"), std::string::npos);
  EXPECT_TRUE(S3ErrorStatus(502, "<html>Bad Gateway</html>", "GET").retryable());
}

S3Config Config(int port) {
  S3Config c;
  c.endpoint = "http://127.0.0.1:" + std::to_string(port);
  c.credentials = StaticCredentials({"AKID", "secret", ""});
  c.max_attempts = 4;
  return c;
}

const char kSlowDown[] =
    "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";

TEST(S3ClientTest, RetriesSlowDownThenSucceeds) {
  FakeServer server({Response(503, "Slow Down", kSlowDown), Response(503, "Slow Down", kSlowDown),
                     Response(200, "OK", "")});
  S3Client client(Config(server.port()));
  EXPECT_TRUE(client.PutObject("b", "k", "data").ok());
  EXPECT_EQ(server.requests(), 3);
  EXPECT_EQ(client.throttle_count(), 2u);  // seen, for the uploader to slow down
}

TEST(AdaptiveLimitTest, HalvesOnThrottlingAndRecoversSlowly) {
  AdaptiveLimit limit(8, /*recover_after=*/4);
  EXPECT_EQ(limit.limit(), 8u);
  limit.OnThrottle();
  EXPECT_EQ(limit.limit(), 4u);
  limit.OnThrottle();
  limit.OnThrottle();
  limit.OnThrottle();
  EXPECT_EQ(limit.limit(), 1u);  // never below one
  EXPECT_EQ(limit.lowest(), 1u);
  for (int i = 0; i < 3; i++) limit.OnSuccess();
  EXPECT_EQ(limit.limit(), 1u);
  limit.OnSuccess();
  EXPECT_EQ(limit.limit(), 2u);  // one more after 4 clean requests
  for (int i = 0; i < 100; i++) limit.OnSuccess();
  EXPECT_EQ(limit.limit(), 8u);  // back to the maximum, not beyond
}

TEST(S3ClientTest, GivesUpAfterMaxAttemptsWithARetryableError) {
  FakeServer server({Response(500, "Internal", "<Error><Code>InternalError</Code></Error>")});
  S3Client client(Config(server.port()));
  Status st = client.PutObject("b", "k", "data");
  EXPECT_EQ(st.code(), Code::kStoreUnavailable);
  EXPECT_TRUE(st.retryable());
  EXPECT_EQ(server.requests(), 4);
}

TEST(S3ClientTest, AReadOnlyClientSendsNoWrite) {
  FakeServer server({Response(200, "OK", "")});
  S3Config config = Config(server.port());
  config.read_only = true;
  S3Client client(config);
  Status put = client.PutObject("b", "k", "data");
  EXPECT_EQ(put.code(), Code::kInternal);
  EXPECT_NE(put.message().find("PUT s3://b/k"), std::string::npos) << put.message();
  EXPECT_EQ(client.DeleteObject("b", "k").code(), Code::kInternal);
  EXPECT_EQ(server.requests(), 0);
  EXPECT_TRUE(client.GetObject("b", "k").ok());  // reads still go out
  EXPECT_EQ(server.requests(), 1);
}

TEST(S3ClientTest, DoesNotRetryAuthErrors) {
  FakeServer auth(
      {Response(403, "Forbidden", "<Error><Code>SignatureDoesNotMatch</Code></Error>")});
  S3Client c1(Config(auth.port()));
  EXPECT_EQ(c1.PutObject("b", "k", "d").code(), Code::kAuth);
  EXPECT_EQ(auth.requests(), 1);
}

TEST(S3ClientTest, ABodyChangedInFlightIsSentAgainThenReportedAsDataLoss) {
  // The server rejects the body's SHA-256: the bytes changed on the wire, not
  // in our buffer, so the PUT is sent again; rejected every time, it is data loss.
  const std::string reject = "<Error><Code>XAmzContentSHA256Mismatch</Code></Error>";
  FakeServer once({Response(400, "Bad", reject), Response(200, "OK", "")});
  S3Client c1(Config(once.port()));
  EXPECT_TRUE(c1.PutObject("b", "k", "d").ok());
  EXPECT_EQ(once.requests(), 2);
  FakeServer always({Response(400, "Bad", reject)});
  S3Client c2(Config(always.port()));
  Status st = c2.PutObject("b", "k", "d");
  EXPECT_EQ(st.code(), Code::kVerifyFailed);
  EXPECT_TRUE(st.data_loss());
  EXPECT_EQ(always.requests(), 4);  // max_attempts
}

TEST(S3ClientTest, ErrorInsideA200IsAnError) {
  // CompleteMultipartUpload can answer 200 and put the error in the body.
  FakeServer server(
      {Response(200, "OK", "<Error><Code>InternalError</Code></Error>"),
       Response(
           200, "OK",
           "<CompleteMultipartUploadResult><ETag>\"x-2\"</ETag></CompleteMultipartUploadResult>")});
  S3Client client(Config(server.port()));
  auto r = client.CompleteMultipartUpload("b", "k", "id", {"\"a\"", "\"b\""});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, "\"x-2\"");
  EXPECT_EQ(server.requests(), 2);  // retried once
}

// A server (or proxy) that ignores Range answers 200 with the whole object:
// the range is cut from it here, not taken as the bytes asked for.
TEST(S3ClientTest, AWholeObjectAnsweringARangeIsCut) {
  FakeServer server({Response(200, "OK", "0123456789"), Response(206, "Partial Content", "345")});
  S3Client client(Config(server.port()));
  auto whole = client.GetRange("b", "k", 3, 3);
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_EQ(*whole, "345");
  auto part = client.GetRange("b", "k", 3, 3);
  ASSERT_TRUE(part.ok()) << part.status().ToString();
  EXPECT_EQ(*part, "345");
}

TEST(S3ClientTest, ObjectBytesThatContainErrorAreData) {
  // A .d.ts file with Promise<Error> in it, and an object that is an S3 error
  // document to the letter: both are object bytes, never an error reply.
  const std::string dts = "export declare function f(): Promise<Error>;\n";
  const std::string doc = "<?xml version=\"1.0\"?><Error><Code>InternalError</Code></Error>";
  FakeServer server({Response(200, "OK", dts), Response(200, "OK", doc)});
  S3Client client(Config(server.port()));
  auto a = client.GetObject("b", "types.d.ts");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(*a, dts);
  auto b = client.GetRange("b", "error.xml", 0, doc.size());
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(*b, doc);
  EXPECT_EQ(server.requests(), 2);  // neither was retried
}

TEST(S3ClientTest, ErrorInsideA200CopyIsAnErrorButErrorTextIsNot) {
  // CopyObject's reply is parsed: an <Error> root is an error, the text
  // "<Error>" inside a result (a key, an ETag) is not.
  FakeServer server({Response(200, "OK", "<Error><Code>AccessDenied</Code></Error>"),
                     Response(200, "OK",
                              "<CopyObjectResult><ETag>\"e\"</ETag><Key>Promise<Error></Key>"
                              "</CopyObjectResult>")});
  S3Client client(Config(server.port()));
  EXPECT_EQ(client.CopyObject("b", "src", "dst").code(), Code::kAuth);
  EXPECT_TRUE(client.CopyObject("b", "src", "dst").ok());
}

TEST(S3ClientTest, ListFollowsContinuationTokens) {
  FakeServer server(
      {Response(200, "OK",
                "<ListBucketResult><Contents><Key>a</Key></Contents><IsTruncated>true</"
                "IsTruncated><NextContinuationToken>t1</NextContinuationToken></ListBucketResult>"),
       Response(200, "OK",
                "<ListBucketResult><Contents><Key>b</Key></Contents><Contents><Key>c</Key></"
                "Contents><IsTruncated>false</IsTruncated></ListBucketResult>")});
  S3Client client(Config(server.port()));
  auto keys = client.ListObjects("b", "");
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(*keys, (std::vector<std::string>{"a", "b", "c"}));
}

TEST(S3ClientTest, UnreachableEndpointIsStoreUnavailable) {
  S3Config c = Config(1);
  c.max_attempts = 2;
  S3Client client(c);
  Status st = client.PutObject("b", "k", "d");
  EXPECT_EQ(st.code(), Code::kStoreUnavailable);
  EXPECT_NE(st.message().find("127.0.0.1:1"), std::string::npos);
}

// A part signed chunk by chunk: the body on the wire is the aws-chunked
// encoding of the payload, and every chunk signature chains from the seed
// (the Authorization header's) over the SHA-256 the caller gave.
TEST(S3ClientTest, UploadPartSignsTheGivenChunkHashes) {
  FakeServer server({Response(200, "OK", "")});
  S3Client client(Config(server.port()));
  std::string data = std::string(70000, 'x') + std::string(9000, 'y');
  std::vector<StreamChunk> chunks{{70000, Sha256::Of(data.substr(0, 70000))},
                                  {9000, Sha256::Of(data.substr(70000))}};
  auto etag = client.UploadPart("b", "k", "up1", 3, data, chunks);
  ASSERT_TRUE(etag.ok()) << etag.status().message();
  auto reqs = server.received();
  ASSERT_EQ(reqs.size(), 1u);
  const std::string& req = reqs[0];
  size_t head_end = req.find("\r\n\r\n");
  std::string head = req.substr(0, head_end), body = req.substr(head_end + 4);
  EXPECT_NE(head.find("x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
            std::string::npos);
  EXPECT_NE(head.find("content-encoding: aws-chunked"), std::string::npos);
  EXPECT_NE(head.find("x-amz-decoded-content-length: 79000"), std::string::npos);
  size_t sig_at = head.find("Signature=");
  ASSERT_NE(sig_at, std::string::npos);
  std::string prev = head.substr(sig_at + 10, 64);
  size_t date_at = head.find("x-amz-date: ");
  std::string date = head.substr(date_at + 12, 16);
  // Decode: hex-size;chunk-signature=SIG\r\nDATA\r\n ... 0;chunk-signature=SIG\r\n\r\n
  std::string decoded;
  size_t at = 0;
  int n_chunks = 0;
  for (;;) {
    size_t semi = body.find(';', at), eol = body.find("\r\n", at);
    ASSERT_NE(eol, std::string::npos);
    size_t size = std::stoul(body.substr(at, semi - at), nullptr, 16);
    std::string sig = body.substr(semi + 17, eol - semi - 17);
    std::string piece = body.substr(eol + 2, size);
    EXPECT_EQ(sig, SignV4Chunk(prev, DigestHex(Sha256::Of(piece)), {"AKID", "secret", ""},
                               "us-east-1", "s3", date))
        << "chunk " << n_chunks;
    prev = sig;
    decoded += piece;
    at = eol + 2 + size;
    EXPECT_EQ(body.substr(at, 2), "\r\n");
    at += 2;
    n_chunks++;
    if (size == 0) break;
  }
  EXPECT_EQ(at, body.size());
  EXPECT_EQ(n_chunks, 3);  // two pieces and the empty final chunk
  EXPECT_EQ(decoded, data);
}

// Many threads, one client: every request goes through the one multi loop
// and comes back to the thread that asked.
TEST(S3ClientTest, ConcurrentRequestsFromManyThreadsAllComplete) {
  FakeServer server({Response(200, "OK", "<ok/>")});
  S3Client client(Config(server.port()));
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; t++)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; i++) {
        auto r = client.GetObject("b", "k" + std::to_string(t) + "-" + std::to_string(i));
        if (r.ok() && *r == "<ok/>") ok++;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 40);
  EXPECT_EQ(server.requests(), 40);
  std::set<std::string> paths;
  for (const auto& req : server.received()) paths.insert(req.substr(0, req.find(" HTTP/1.1")));
  EXPECT_EQ(paths.size(), 40u);  // each request was sent once, to its own key
}

TEST(S3ClientTest, ACancelledClientSendsNothingAndStopsRetrying) {
  FakeServer server({Response(503, "Slow Down", kSlowDown), Response(503, "Slow Down", kSlowDown),
                     Response(503, "Slow Down", kSlowDown), Response(200, "OK", "")});
  CancelToken token;
  S3Config c = Config(server.port());
  c.cancel = &token;
  S3Client client(c);
  token.Cancel();
  Status st = client.PutObject("b", "k", "data");
  EXPECT_EQ(st.code(), Code::kInterrupted) << st.ToString();
  EXPECT_EQ(server.requests(), 0);
  // Cancelled during the backoff after a 503: no further attempt.
  CancelToken later;
  c.cancel = &later;
  c.max_attempts = 6;
  S3Client slow(c);
  std::thread canceller([&] {
    while (server.requests() < 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    later.Cancel();
  });
  st = slow.PutObject("b", "k", "data");
  canceller.join();
  EXPECT_EQ(st.code(), Code::kInterrupted) << st.ToString();
  EXPECT_LE(server.requests(), 2);
}

TEST(S3StoreTest, ReplaceIfRemembersWhichIfMatchFormTheServerTakes) {
  // RGW 16 refuses If-Match with the quoted ETag and takes it bare.
  const std::string k412 =
      Response(412, "Precondition Failed", "<Error><Code>PreconditionFailed</Code></Error>");
  FakeServer server({Response(200, "OK", "old"), k412, Response(200, "OK", "old"),
                     Response(200, "OK", ""), Response(200, "OK", "old"), Response(200, "OK", "")});
  S3Store store(std::make_shared<S3Client>(Config(server.port())), "b", "p/");
  ASSERT_TRUE(store.ReplaceIf("refs/r", std::string("old"), "new").ok());
  ASSERT_TRUE(store.ReplaceIf("refs/r", std::string("old"), "newer").ok());
  auto got = server.received();
  ASSERT_EQ(got.size(), 6u);  // the second one: one GET and one conditional PUT
  EXPECT_NE(got[1].find("if-match: \"abc\""), std::string::npos);
  EXPECT_NE(got[3].find("if-match: abc\r\n"), std::string::npos);
  EXPECT_NE(got[5].find("if-match: abc\r\n"), std::string::npos);
}

}  // namespace
}  // namespace ferry
