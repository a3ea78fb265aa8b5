#include "engine/bucket_source.h"

#include <gtest/gtest.h>

#include "testing/fake_s3_server.h"
#include "transport/aws/credentials.h"

namespace ferry {
namespace {

using testing::FakeServer;
using testing::Response;

std::string Listing(const std::vector<std::string>& keys) {
  std::string x = "<ListBucketResult><IsTruncated>false</IsTruncated>";
  for (const auto& key : keys)
    x += "<Contents><Key>" + key +
         "</Key><Size>3</Size><ETag>\"e1\"</ETag>"
         "<LastModified>2026-12-01T10:00:00.000Z</LastModified></Contents>";
  return x + "</ListBucketResult>";
}

// A listing S3 allows but a tree cannot hold: unsafe keys, a folder marker,
// and `lib` beside `lib/x.so`. Each object becomes a file once or is skipped.
TEST(BucketSourceTest, KeysATreeCannotHoldAreSkippedNotRecordedTwice) {
  FakeServer server({Response(
      200, "OK",
      Listing({"app/lib", "app/lib/x.so", "app/x/../evil", "app/a//b", "app/folder/", "app/ok"}))});
  S3Config c;
  c.endpoint = "http://127.0.0.1:" + std::to_string(server.port());
  c.credentials = StaticCredentials({"AKID", "secret", ""});
  c.max_attempts = 1;
  BucketSource src(std::make_shared<S3Client>(c), "b", "app/");
  WalkResult w;
  ASSERT_TRUE(src.List("", &w).ok());
  std::vector<std::string> files, dirs;
  for (const auto& e : w.entries) (e.type == EntryType::kFile ? files : dirs).push_back(e.path);
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, (std::vector<std::string>{"lib/x.so", "ok"}));
  EXPECT_EQ(dirs, (std::vector<std::string>{"lib"}));
  std::sort(w.skipped.begin(), w.skipped.end());
  EXPECT_EQ(w.skipped, (std::vector<std::string>{"s3://b/app/a//b", "s3://b/app/lib",
                                                 "s3://b/app/x/../evil"}));
  ASSERT_EQ(w.files.size(), 2u);
  for (size_t k = 0; k < w.files.size(); k++) {
    const size_t i = w.file_entry[k];
    ASSERT_LT(i, w.entries.size());
    EXPECT_EQ(w.entries[i].type, EntryType::kFile);
    EXPECT_EQ(w.files[k].remote, &src);
    EXPECT_EQ(w.files[k].version, "e1");
    EXPECT_EQ(w.files[k].path, "app/" + w.entries[i].path);  // the key to read
    EXPECT_EQ(w.stats[i].dev, 0u);                           // never a local file's identity
  }
}

TEST(BucketSourceTest, ASourceOverlappingItsDestinationIsRefused) {
  EXPECT_EQ(CheckSourceIsNotDestination({"s3://b/app/"}, {"s3://b/app/dr/"}, true).code(),
            Code::kUsage);
  EXPECT_EQ(CheckSourceIsNotDestination({"s3://b/app/dr/"}, {"s3://b/app/"}, true).code(),
            Code::kUsage);
  EXPECT_TRUE(CheckSourceIsNotDestination({"s3://b/app/"}, {"s3://b/other/"}, true).ok());
  EXPECT_TRUE(CheckSourceIsNotDestination({"s3://b/app/"}, {"s3://c/app/"}, true).ok());
  EXPECT_TRUE(CheckSourceIsNotDestination({"s3://b/app/"}, {"s3://b/app/"}, false).ok());
  EXPECT_TRUE(CheckSourceIsNotDestination({"/local/dir"}, {"s3://b/app/"}, true).ok());
}

}  // namespace
}  // namespace ferry
