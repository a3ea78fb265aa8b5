#include "transport/sigv4.h"

#include <gtest/gtest.h>

#include "crypto/hash.h"

namespace ferry {
namespace {

const AwsCredentials kSuite{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
// The S3 API reference uses a different example secret from the test suite (a / for the +).
const AwsCredentials kS3Docs{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                             ""};
const char kEmpty[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// AWS Signature Version 4 test suite: get-vanilla.
TEST(SigV4Test, SuiteGetVanilla) {
  SigV4Request r{"GET",
                 "/",
                 {},
                 {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}},
                 kEmpty};
  auto s = SignV4(r, kSuite, "us-east-1", "service", "20150830T123600Z");
  EXPECT_EQ(s.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

// AWS Signature Version 4 test suite: get-vanilla-query-order-key-case.
TEST(SigV4Test, SuiteQueryOrder) {
  SigV4Request r{"GET",
                 "/",
                 {{"Param2", "value2"}, {"Param1", "value1"}},
                 {{"host", "example.amazonaws.com"}, {"x-amz-date", "20150830T123600Z"}},
                 kEmpty};
  EXPECT_EQ(SignV4(r, kSuite, "us-east-1", "service", "20150830T123600Z").signature,
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

// Amazon S3 API Reference, "Signature Calculations for the Authorization Header": PUT Object.
TEST(SigV4Test, S3DocsPutObject) {
  std::string hash = DigestHex(Sha256::Of("Welcome to Amazon S3."));
  EXPECT_EQ(hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  SigV4Request r{"PUT",
                 "/test$file.text",
                 {},
                 {{"Host", "examplebucket.s3.amazonaws.com"},
                  {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                  {"x-amz-date", "20130524T000000Z"},
                  {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
                  {"x-amz-content-sha256", hash}},
                 hash};
  auto s = SignV4(r, kS3Docs, "us-east-1", "s3", "20130524T000000Z");
  EXPECT_EQ(s.signature, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
  EXPECT_NE(s.canonical_request.find("\n/test%24file.text\n"), std::string::npos);
}

// Same reference: GET Object with a Range header.
TEST(SigV4Test, S3DocsRangedGet) {
  SigV4Request r{"GET",
                 "/test.txt",
                 {},
                 {{"Host", "examplebucket.s3.amazonaws.com"},
                  {"Range", "bytes=0-9"},
                  {"x-amz-content-sha256", kEmpty},
                  {"x-amz-date", "20130524T000000Z"}},
                 kEmpty};
  EXPECT_EQ(SignV4(r, kS3Docs, "us-east-1", "s3", "20130524T000000Z").signature,
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

// Same reference: GET Bucket Lifecycle (a sub-resource without a value).
TEST(SigV4Test, S3DocsQueryWithoutValue) {
  SigV4Request r{"GET",
                 "/",
                 {{"lifecycle", ""}},
                 {{"Host", "examplebucket.s3.amazonaws.com"},
                  {"x-amz-content-sha256", kEmpty},
                  {"x-amz-date", "20130524T000000Z"}},
                 kEmpty};
  EXPECT_EQ(SignV4(r, kS3Docs, "us-east-1", "s3", "20130524T000000Z").signature,
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST(SigV4Test, UriEncoding) {
  EXPECT_EQ(UriEncode("a b/c~d", false), "a%20b/c~d");
  EXPECT_EQ(UriEncode("a b/c", true), "a%20b%2Fc");
  EXPECT_EQ(UriEncode("\xc3\xa9", true), "%C3%A9");
  EXPECT_EQ(AmzDate(1440938160), "20150830T123600Z");
}

// The S3 API reference's chunked upload example (sigv4-streaming): 66560
// bytes of 'a' in a 64 KiB chunk, a 1 KiB chunk and the empty final chunk.
TEST(SigV4Test, S3DocsStreamingChunks) {
  SigV4Request r{"PUT",
                 "/examplebucket/chunkObject.txt",
                 {},
                 {{"host", "s3.amazonaws.com"},
                  {"x-amz-date", "20130524T000000Z"},
                  {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
                  {"x-amz-content-sha256", kStreamingPayload},
                  {"content-encoding", "aws-chunked"},
                  {"x-amz-decoded-content-length", "66560"},
                  {"content-length", "66824"}},
                 kStreamingPayload};
  const std::string date = "20130524T000000Z";
  auto seed = SignV4(r, kS3Docs, "us-east-1", "s3", date);
  ASSERT_EQ(seed.signature, "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9");
  std::string c1 = SignV4Chunk(seed.signature, DigestHex(Sha256::Of(std::string(65536, 'a'))),
                               kS3Docs, "us-east-1", "s3", date);
  EXPECT_EQ(c1, "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648");
  std::string c2 = SignV4Chunk(c1, DigestHex(Sha256::Of(std::string(1024, 'a'))), kS3Docs,
                               "us-east-1", "s3", date);
  EXPECT_EQ(c2, "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497");
  EXPECT_EQ(SignV4Chunk(c2, kEmpty, kS3Docs, "us-east-1", "s3", date),
            "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9");
}

}  // namespace
}  // namespace ferry
