#include "crypto/sign.h"

#include <gtest/gtest.h>

#include <vector>

#include "testing/test_util.h"

namespace ferry {
namespace {

TEST(SignTest, SignsVerifiesAndRefusesAlteredMessages) {
  auto key = SigningKey::Generate();
  ASSERT_TRUE(key.ok());
  auto pub = PublicKey::Parse((*key)->PublicPem(), "pem");
  ASSERT_TRUE(pub.ok()) << pub.status().message();
  EXPECT_EQ((*pub)->id(), (*key)->id());
  EXPECT_EQ((*key)->id().size(), 16u);
  const std::string sig = (*key)->Sign("manifest abc");
  EXPECT_EQ(sig.size(), 64u);
  EXPECT_TRUE((*pub)->Verify("manifest abc", sig));
  EXPECT_FALSE((*pub)->Verify("manifest abd", sig));
  std::string bad = sig;
  bad[10] ^= 1;
  EXPECT_FALSE((*pub)->Verify("manifest abc", bad));
  auto other = SigningKey::Generate();
  EXPECT_NE((*other)->id(), (*key)->id());
  EXPECT_FALSE((*pub)->Verify("manifest abc", (*other)->Sign("manifest abc")));
}

TEST(SignTest, PrivateKeyRoundTripsThroughItsPemFile) {
  testing::TempDir dir;
  auto key = SigningKey::Generate();
  dir.Write("k.pem", (*key)->PrivatePem());
  auto again = SigningKey::LoadPrivate(dir.path() + "/k.pem");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->id(), (*key)->id());
  dir.Write("not-a-key", "hello");
  EXPECT_EQ(SigningKey::LoadPrivate(dir.path() + "/not-a-key").status().code(), Code::kUsage);
  EXPECT_EQ(PublicKey::Parse("ssh-ed25519 AAAA", "x").status().code(), Code::kUsage);
  EXPECT_EQ(PublicKey::Parse("ssh-rsa AAAAB3NzaC1yc2E= x", "x").status().code(), Code::kUsage);
}

TEST(SignTest, Base64RoundTrips) {
  for (const std::string& s :
       std::vector<std::string>{"a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    std::string back;
    ASSERT_TRUE(Base64Decode(Base64Encode(s), &back));
    EXPECT_EQ(back, s);
  }
  std::string out;
  EXPECT_FALSE(Base64Decode("abc", &out));
}

}  // namespace
}  // namespace ferry
