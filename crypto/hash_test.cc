#include "crypto/hash.h"

#include <gtest/gtest.h>

#include "testing/test_util.h"
#include "util/hex.h"

namespace ferry {
namespace {

// FIPS 180-2 / NIST CSRC example vectors.
TEST(HashTest, Sha256KnownVectors) {
  EXPECT_EQ(DigestHex(Sha256::Of("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(DigestHex(Sha256::Of("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(DigestHex(Sha256::Of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  std::string million(1000000, 'a');
  EXPECT_EQ(DigestHex(Sha256::Of(million)),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(HashTest, Sha256StreamingEqualsOneShotAndResets) {
  std::string data = testing::RandomBytes(100000, 1);
  Sha256 h;
  h.Update(data.substr(0, 333));
  h.Update(data.substr(333));
  EXPECT_EQ(h.Finish(), Sha256::Of(data));
  h.Update("abc");  // Finish() reset it
  EXPECT_EQ(DigestHex(h.Finish()), DigestHex(Sha256::Of("abc")));
}

// xxHash's reference value for the empty input, canonical (big-endian) form.
TEST(HashTest, Xxh3_128KnownVectorAndCanonicalOrder) {
  Xxh128 empty = Xxh3::Of("", 0);
  EXPECT_EQ(ToHex(empty.data(), 16), "99aa06d3014798d86001c324468d497f");
}

TEST(HashTest, Xxh3StreamingEqualsOneShot) {
  std::string data = testing::RandomBytes(300000, 2);
  Xxh3 h;
  h.Update(data.data(), 1000);
  h.Update(data.data() + 1000, data.size() - 1000);
  EXPECT_EQ(h.Finish(), Xxh3::Of(data.data(), data.size()));
}

}  // namespace
}  // namespace ferry
