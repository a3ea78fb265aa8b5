#include "daemon/amqp_feed.h"

#include <gtest/gtest.h>

namespace ferry::daemon {
namespace {

std::string Event(const std::string& source, const std::string& bucket, const std::string& key) {
  return R"({"Records":[{"eventVersion":"2.2","eventSource":")" + source +
         R"(","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":")" + bucket +
         R"("},"object":{"key":")" + key + R"(","size":3,"eTag":"abc"}}}]})";
}

TEST(AmqpFeedTest, ParsesRgwAndAwsEventsForItsPrefixOnly) {
  std::vector<std::string> p;
  ASSERT_TRUE(
      AmqpFeed::ParseEvent(Event("ceph:s3", "src", "art/lib/a b+c.txt"), "src", "art/", &p));
  EXPECT_EQ(p, (std::vector<std::string>{"lib/a b+c.txt"}));  // RGW: keys as they are
  p.clear();
  ASSERT_TRUE(
      AmqpFeed::ParseEvent(Event("aws:s3", "src", "art/lib/a+b%2Bc.txt"), "src", "art/", &p));
  EXPECT_EQ(p, (std::vector<std::string>{"lib/a b+c.txt"}));  // AWS: URL-encoded
  p.clear();
  ASSERT_TRUE(AmqpFeed::ParseEvent(Event("ceph:s3", "other", "art/x"), "src", "art/", &p));
  EXPECT_TRUE(p.empty());  // another bucket: not this job's, but a valid event
  ASSERT_TRUE(AmqpFeed::ParseEvent(Event("ceph:s3", "src", "elsewhere/x"), "src", "art/", &p));
  EXPECT_TRUE(p.empty());
  EXPECT_FALSE(AmqpFeed::ParseEvent("not json", "src", "art/", &p));
  EXPECT_FALSE(AmqpFeed::ParseEvent(R"({"Records":[{"s3":{}}]})", "src", "art/", &p));
  EXPECT_FALSE(AmqpFeed::ParseEvent(R"({"hello":1})", "src", "art/", &p));
}

TEST(AmqpFeedTest, OptionsAreCheckedAndPasswordsNeverEchoed) {
  BrokerOptions o;
  o.url = "amqp://ferry:s3cret@broker:5672/dr";
  o.queue = "q";
  EXPECT_TRUE(ValidateBrokerOptions(o).ok());
  EXPECT_EQ(RedactedBrokerUrl(o.url), "amqp://ferry:***@broker:5672/dr");
  EXPECT_EQ(RedactedBrokerUrl("amqp://127.0.0.1:5672"), "amqp://127.0.0.1:5672");
  // A password holding '@' (unencoded) still never shows.
  EXPECT_EQ(RedactedBrokerUrl("amqp://u:p@ss@host:5672/v@h"), "amqp://u:***@host:5672/v@h");
  o.url = "http://s3cret@broker";
  Status st = ValidateBrokerOptions(o);
  EXPECT_EQ(st.code(), Code::kUsage);
  o.url = "amqp://u:s3cret@broker:notaport";
  st = ValidateBrokerOptions(o);
  EXPECT_EQ(st.code(), Code::kUsage);
  EXPECT_EQ(st.message().find("s3cret"), std::string::npos) << st.message();
  o.url = "amqp://broker";
  o.queue = "";
  EXPECT_EQ(ValidateBrokerOptions(o).code(), Code::kUsage);
}

}  // namespace
}  // namespace ferry::daemon
