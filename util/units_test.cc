#include "util/units.h"

#include <gtest/gtest.h>

namespace ferry {
namespace {

TEST(UnitsTest, BytesTakeBinaryAndDecimalSuffixes) {
  uint64_t v = 0;
  EXPECT_TRUE(ParseBytes("4096", &v) && v == 4096);
  EXPECT_TRUE(ParseBytes("2KiB", &v) && v == 2048);
  EXPECT_TRUE(ParseBytes("1.5MiB", &v) && v == 1572864);
  EXPECT_TRUE(ParseBytes("50GiB", &v) && v == 50ull << 30);
  EXPECT_TRUE(ParseBytes("3MB", &v) && v == 3000000);
  EXPECT_TRUE(ParseBytes("7B", &v) && v == 7);
  for (const char* bad :
       {"", "B", "MiB", "20m", "5s", "-1", "1.2.3", "10 MiB", "x", "18446744073709551616", "9EiB"})
    EXPECT_FALSE(ParseBytes(bad, &v)) << bad;
}

TEST(UnitsTest, DurationsTakeSecondsMinutesHoursDays) {
  EXPECT_EQ(*ParseDuration("--x", "90"), 90);
  EXPECT_EQ(*ParseDuration("--x", "20m"), 1200);
  EXPECT_EQ(*ParseDuration("--x", "30d"), 30 * 86400);
  EXPECT_EQ(ParseDuration("--x", "20MiB").status().code(), Code::kUsage);
}

}  // namespace
}  // namespace ferry
