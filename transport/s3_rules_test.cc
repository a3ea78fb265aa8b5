#include "transport/s3_rules.h"

#include <gtest/gtest.h>

namespace ferry {
namespace {

TEST(ContentTypeTest, FromTheExtensionCaseInsensitively) {
  EXPECT_EQ(ContentTypeFor("site/index.html"), "text/html");
  EXPECT_EQ(ContentTypeFor("site/APP.JS"), "text/javascript");
  EXPECT_EQ(ContentTypeFor("charts/index.yaml"), "application/yaml");
  EXPECT_EQ(ContentTypeFor("charts/web-1.2.0.tgz"), "application/gzip");
  EXPECT_EQ(ContentTypeFor("bin/tool"), "application/octet-stream");
  EXPECT_EQ(ContentTypeFor("v1.2/tool"), "application/octet-stream");  // a dot in a directory
  EXPECT_EQ(ContentTypeFor("a.unknownext"), "application/octet-stream");
}

}  // namespace
}  // namespace ferry
