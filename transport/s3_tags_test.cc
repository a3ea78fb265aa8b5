#include "transport/s3_tags.h"

#include <gtest/gtest.h>

namespace ferry {
namespace {

using Tags = std::vector<std::pair<std::string, std::string>>;

TEST(S3TagsTest, WhatS3AcceptsAsTagText) {
  EXPECT_TRUE(IsS3TagText("commit", 128));
  EXPECT_TRUE(IsS3TagText("", 256));   // an empty value is a value
  EXPECT_FALSE(IsS3TagText("", 128));  // an empty key is not a key
  EXPECT_TRUE(IsS3TagText("refs/heads/main @ 1.2:3+4=5_6-7", 256));
  EXPECT_TRUE(IsS3TagText("caf\xc3\xa9", 256));  // letters beyond ASCII
  EXPECT_FALSE(IsS3TagText("<Error>", 256));
  EXPECT_FALSE(IsS3TagText("a#b", 256));
  EXPECT_FALSE(IsS3TagText("aws:reserved", 128));
  EXPECT_FALSE(IsS3TagText(std::string(257, 'v'), 256));
}

TEST(S3TagsTest, ValidationNamesTheTag) {
  EXPECT_TRUE(ValidateTags({{"commit", ""}, {"pipeline", "77"}}, true).ok());
  Status nl = ValidateTags({{"msg", "line one\nline two"}}, true);
  EXPECT_EQ(nl.code(), Code::kUsage);
  EXPECT_NE(nl.message().find("--tag msg"), std::string::npos);
  EXPECT_EQ(ValidateTags({{"", "x"}}, false).code(), Code::kUsage);
  EXPECT_EQ(ValidateTags({{"ferry.ref", "x"}}, false).code(), Code::kUsage);
  // Two keys that are one metadata name.
  Status twin = ValidateTags({{"build.id", "1"}, {"build_id", "2"}}, true);
  EXPECT_EQ(twin.code(), Code::kUsage);
  EXPECT_NE(twin.message().find("x-amz-meta-build-id"), std::string::npos);
  // More metadata than S3 keeps: refused for mirrors only.
  Tags big{{"notes", std::string(3000, 'n')}};
  EXPECT_EQ(ValidateTags(big, true).code(), Code::kUsage);
  EXPECT_TRUE(ValidateTags(big, false).ok());
}

TEST(S3TagsTest, ObjectTagsKeepTheFirstTenThatS3Accepts) {
  Tags tags{{"msg", "<Error>"}};
  for (int i = 0; i < 12; i++) tags.emplace_back("k" + std::to_string(i), "v");
  std::vector<std::string> omitted;
  auto s3 = S3ObjectTags(tags, &omitted);
  ASSERT_EQ(s3.size(), kMaxS3Tags);
  EXPECT_EQ(s3.front().first, "k0");
  EXPECT_EQ(s3.back().first, "k9");
  ASSERT_EQ(omitted.size(), 3u);
  EXPECT_EQ(omitted[0].rfind("msg ", 0), 0u);
  EXPECT_EQ(omitted[1].rfind("k10 ", 0), 0u);
  EXPECT_EQ(TaggingHeader({{"a b", "c&d"}, {"e", ""}}), "a%20b=c%26d&e=");
}

TEST(S3TagsTest, MetadataValuesAreHeaderSafe) {
  EXPECT_EQ(MetadataName("Build.ID"), "build-id");
  EXPECT_EQ(MetadataValue("plain 1.2"), "plain 1.2");
  EXPECT_EQ(MetadataValue("caf\xc3\xa9"), "=?UTF-8?B?Y2Fmw6k=?=");
}

}  // namespace
}  // namespace ferry
