#include "daemon/bucket_poller.h"

#include <gtest/gtest.h>

#include "testing/fake_s3_server.h"
#include "transport/aws/credentials.h"

namespace ferry::daemon {
namespace {

using testing::FakeServer;
using testing::Response;

std::string Listing(const std::vector<std::pair<std::string, std::string>>& objects) {
  std::string x = "<ListBucketResult><IsTruncated>false</IsTruncated>";
  for (const auto& [key, etag] : objects)
    x += "<Contents><Key>" + key + "</Key><Size>3</Size><ETag>\"" + etag +
         "\"</ETag><LastModified>2026-12-01T10:00:00.000Z</LastModified></Contents>";
  return x + "</ListBucketResult>";
}

std::vector<std::string> Paths(const TreeEvents& ev) {
  std::vector<std::string> p;
  for (const auto& e : ev.events) p.push_back(e.path);
  std::sort(p.begin(), p.end());
  return p;
}

TEST(BucketPollerTest, ReportsNewAndReplacedKeysAndAGoneKeyAsTheWholeTree) {
  FakeServer server({
      Response(200, "OK", Listing({{"app/a", "e1"}, {"app/b", "e2"}, {"app/dir/", "e0"}})),
      Response(200, "OK", Listing({{"app/a", "e9"}, {"app/b", "e2"}, {"app/c", "e3"}})),
      Response(200, "OK", Listing({{"app/a", "e9"}, {"app/c", "e3"}})),
      Response(200, "OK", Listing({{"app/a", "e9"}, {"app/c", "e3"}})),
      Response(503, "Slow Down", "<Error><Code>ServiceUnavailable</Code></Error>"),
  });
  S3Config c;
  c.endpoint = "http://127.0.0.1:" + std::to_string(server.port());
  c.credentials = StaticCredentials({"AKID", "secret", ""});
  c.max_attempts = 1;
  BucketPoller p(std::make_unique<BucketSource>(std::make_shared<S3Client>(c), "b", "app/"), 10);

  TreeEvents first;
  ASSERT_TRUE(p.ListOnce(&first).ok());
  EXPECT_TRUE(first.overflow);  // everything is new
  EXPECT_EQ(p.objects(), 2u);   // the folder marker is not an object

  TreeEvents second;  // a replaced, c new, b unchanged
  ASSERT_TRUE(p.ListOnce(&second).ok());
  EXPECT_EQ(Paths(second), (std::vector<std::string>{"a", "c"}));
  EXPECT_FALSE(second.overflow);

  TreeEvents third;  // b gone: the whole tree, never a deletion of its own
  ASSERT_TRUE(p.ListOnce(&third).ok());
  EXPECT_TRUE(third.events.empty());
  EXPECT_TRUE(third.overflow);

  TreeEvents fourth;  // nothing changed
  ASSERT_TRUE(p.ListOnce(&fourth).ok());
  EXPECT_TRUE(fourth.events.empty());
  EXPECT_FALSE(fourth.overflow);

  TreeEvents failed;  // a failed listing is an error, not an empty bucket
  Status st = p.ListOnce(&failed);
  EXPECT_EQ(st.code(), Code::kSourceUnreadable);
  EXPECT_TRUE(failed.events.empty());
  EXPECT_FALSE(failed.overflow);
  EXPECT_EQ(p.objects(), 2u);  // what it knew is kept
}

}  // namespace
}  // namespace ferry::daemon
