#include "util/coding.h"

#include <gtest/gtest.h>

namespace ferry {
namespace {

TEST(CodingTest, VarintRoundTrip) {
  std::string buf;
  const uint64_t values[] = {0, 1, 127, 128, 300, 1ull << 32, ~0ull};
  for (uint64_t v : values) PutVarint64(&buf, v);
  std::string_view in = buf;
  for (uint64_t v : values) {
    uint64_t got;
    ASSERT_TRUE(GetVarint64(&in, &got));
    EXPECT_EQ(got, v);
  }
  EXPECT_TRUE(in.empty());
}

TEST(CodingTest, TruncatedVarintFails) {
  std::string buf;
  PutVarint64(&buf, 1ull << 40);
  std::string_view in(buf.data(), buf.size() - 1);
  uint64_t v;
  EXPECT_FALSE(GetVarint64(&in, &v));
}

TEST(CodingTest, OverlongVarintFails) {
  std::string buf(11, '\xff');
  std::string_view in = buf;
  uint64_t v;
  EXPECT_FALSE(GetVarint64(&in, &v));
}

TEST(CodingTest, NonMinimalVarintFails) {
  // Found by tests/fuzz: 0xff 0x00 decodes to 127 like 0x7f would.
  for (std::string bad :
       {std::string("\xff\x00", 2), std::string("\x80\x00", 2), std::string("\x81\x80\x00", 3)}) {
    std::string_view in = bad;
    uint64_t v;
    EXPECT_FALSE(GetVarint64(&in, &v)) << bad.size();
  }
  std::string zero;
  PutVarint64(&zero, 0);
  std::string_view in = zero;
  uint64_t v;
  EXPECT_TRUE(GetVarint64(&in, &v));
  EXPECT_EQ(v, 0u);
}

TEST(CodingTest, FixedIsLittleEndian) {
  std::string buf;
  PutFixed32(&buf, 0x01020304);
  EXPECT_EQ(buf, std::string("\x04\x03\x02\x01", 4));
  std::string_view in = buf;
  uint32_t v;
  ASSERT_TRUE(GetFixed32(&in, &v));
  EXPECT_EQ(v, 0x01020304u);
}

TEST(CodingTest, LengthPrefixedRejectsLengthPastEnd) {
  std::string buf;
  PutVarint64(&buf, 10);
  buf += "short";
  std::string_view in = buf, out;
  EXPECT_FALSE(GetLengthPrefixed(&in, &out));
}

}  // namespace
}  // namespace ferry
