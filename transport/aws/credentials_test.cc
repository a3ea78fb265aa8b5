#include "transport/aws/credentials.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

#include "testing/fake_s3_server.h"
#include "testing/test_util.h"
#include "transport/s3_client.h"

namespace ferry {
namespace {

using testing::TempDir;

// Hands out key N on its Nth fetch, valid for `ttl`; fails while `broken`.
class Rotating final : public CredentialsProvider {
 public:
  Rotating(Clock::time_point* now, std::chrono::seconds ttl) : now_(now), ttl_(ttl) {}
  Result<Credentials> Fetch() override {
    if (broken) return Status::StoreUnavailable("metadata endpoint down");
    n++;
    return Credentials{{"AKID" + std::to_string(n), "secret", "token"}, *now_ + ttl_, "rotating"};
  }
  std::string Describe() const override { return "rotating"; }
  int n = 0;
  bool broken = false;

 private:
  Clock::time_point* now_;
  std::chrono::seconds ttl_;
};

TEST(CredentialsTest, RefreshedBeforeTheyExpireNotOnEveryRequest) {
  Clock::time_point now = Clock::now();
  auto p = std::make_unique<Rotating>(&now, std::chrono::minutes(60));
  Rotating* rot = p.get();
  CredentialsCache cache(std::move(p), std::chrono::minutes(5), [&] { return now; });
  EXPECT_EQ(cache.Get()->access_key_id, "AKID1");
  now += std::chrono::minutes(50);
  EXPECT_EQ(cache.Get()->access_key_id, "AKID1");  // cached
  EXPECT_EQ(cache.fetches(), 1u);
  now += std::chrono::minutes(6);  // 4 minutes before the expiry: refresh
  EXPECT_EQ(cache.Get()->access_key_id, "AKID2");
  EXPECT_EQ(cache.fetches(), 2u);
  // A refresh that fails keeps the current ones until they expire, then fails.
  rot->broken = true;
  now += std::chrono::minutes(57);  // 3 minutes left
  EXPECT_EQ(cache.Get()->access_key_id, "AKID2");
  now += std::chrono::minutes(4);  // expired
  auto gone = cache.Get();
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().code(), Code::kStoreUnavailable);
  rot->broken = false;
  EXPECT_EQ(cache.Get()->access_key_id, "AKID3");
}

TEST(CredentialsTest, TheChainTakesTheFirstSourceThatHasSomeAndReportsBrokenOnes) {
  TempDir dir;
  std::string file = dir.Write("credentials",
                               "[default]\naws_access_key_id = FROMFILE\n"
                               "aws_secret_access_key = s\n[half]\naws_access_key_id = X\n");
  unsetenv("AWS_ACCESS_KEY_ID");
  unsetenv("AWS_SECRET_ACCESS_KEY");
  auto chain = [&](const std::string& profile) {
    std::vector<std::unique_ptr<CredentialsProvider>> v;
    v.push_back(EnvironmentProvider());
    v.push_back(ProfileProvider(file, profile));
    return ChainProvider(std::move(v));
  };
  EXPECT_EQ(chain("default")->Fetch()->keys.access_key_id, "FROMFILE");
  auto half = chain("half")->Fetch();
  EXPECT_EQ(half.status().code(), Code::kAuth);
  EXPECT_NE(half.status().message().find("lacks aws_access_key_id or aws_secret_access_key"),
            std::string::npos);
  auto none = chain("nope")->Fetch();
  EXPECT_EQ(none.status().code(), Code::kAuth);
  EXPECT_NE(none.status().message().find("environment"), std::string::npos);  // where it looked
  EXPECT_NE(none.status().message().find(file), std::string::npos);
  setenv("AWS_ACCESS_KEY_ID", "FROMENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "s", 1);
  EXPECT_EQ(chain("default")->Fetch()->keys.access_key_id, "FROMENV");
  unsetenv("AWS_SECRET_ACCESS_KEY");
  EXPECT_EQ(chain("default")->Fetch().status().code(), Code::kAuth);  // half set: not skipped
  unsetenv("AWS_ACCESS_KEY_ID");
}

TEST(CredentialsTest, AProfileIsReadAgainOnRefresh) {
  TempDir dir;
  auto write = [&](const std::string& key) {
    dir.Write("credentials", "[ci]\naws_access_key_id = " + key + "\naws_secret_access_key = s\n");
  };
  write("OLD");
  auto p = ProfileProvider(dir.path() + "/credentials", "ci");
  EXPECT_EQ(p->Fetch()->keys.access_key_id, "OLD");
  write("NEW");
  EXPECT_EQ(p->Fetch()->keys.access_key_id, "NEW");
}

TEST(CredentialsTest, TheS3ClientSignsEachRequestWithTheCurrentCredentials) {
  using testing::Response;
  testing::FakeServer server({Response(200, "OK", ""), Response(200, "OK", "")});
  Clock::time_point now = Clock::now();
  S3Config c;
  c.endpoint = "http://127.0.0.1:" + std::to_string(server.port());
  c.credentials =
      std::make_shared<CredentialsCache>(std::make_unique<Rotating>(&now, std::chrono::minutes(15)),
                                         std::chrono::minutes(5), [&] { return now; });
  S3Client client(c);
  ASSERT_TRUE(client.PutObject("b", "k", "one").ok());
  now += std::chrono::minutes(11);
  ASSERT_TRUE(client.PutObject("b", "k", "two").ok());
  auto got = server.received();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_NE(got[0].find("Credential=AKID1/"), std::string::npos);
  EXPECT_NE(got[1].find("Credential=AKID2/"), std::string::npos);
  EXPECT_NE(got[1].find("x-amz-security-token: token"), std::string::npos);
}

}  // namespace
}  // namespace ferry
