#include <gtest/gtest.h>
#include <httplib.h>
#include <stdlib.h>

#include <thread>

#include "crypto/hash.h"
#include "testing/test_util.h"
#include "transport/aws/credentials.h"
#include "transport/sigv4.h"

namespace ferry {
namespace {

using testing::TempDir;

// Sets environment variables for one test and restores them after.
class ScopedEnv {
 public:
  ScopedEnv(std::initializer_list<std::pair<const char*, std::string>> vars) {
    for (const auto& [k, v] : vars) {
      const char* old = getenv(k);
      saved_.emplace_back(k, old ? std::optional<std::string>(old) : std::nullopt);
      setenv(k, v.c_str(), 1);
    }
  }
  ~ScopedEnv() {
    for (const auto& [k, v] : saved_) v ? setenv(k.c_str(), v->c_str(), 1) : unsetenv(k.c_str());
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// A local server speaking one credential protocol (the real endpoints are
// link-local or AWS's, out of reach here).
class LocalServer {
 public:
  explicit LocalServer(std::function<void(httplib::Server*)> routes) {
    routes(&server_);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~LocalServer() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

const char* kCredsJson =
    R"({"AccessKeyId":"AKIDCONTAINER","SecretAccessKey":"secret1","Token":"tok1",)"
    R"("Expiration":"2030-01-02T03:04:05Z"})";

TEST(ContainerProviderTest, FetchesWithTheAuthorizationTokenFromItsFile) {
  TempDir dir;
  const std::string token_file = dir.Write("token", "tok-from-file\n");
  std::string seen_auth;
  LocalServer server([&](httplib::Server* s) {
    s->Get("/creds", [&](const httplib::Request& req, httplib::Response& res) {
      seen_auth = req.get_header_value("Authorization");
      res.set_content(kCredsJson, "application/json");
    });
  });
  ScopedEnv env({{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", ""},
                 {"AWS_CONTAINER_CREDENTIALS_FULL_URI", server.url() + "/creds"},
                 {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_file}});
  unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  auto c = ContainerProvider()->Fetch();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(seen_auth, "tok-from-file");
  EXPECT_EQ(c->keys.access_key_id, "AKIDCONTAINER");
  EXPECT_EQ(c->keys.session_token, "tok1");
  ASSERT_TRUE(c->expiry.has_value());
  EXPECT_EQ(*c->expiry, *ParseAwsTime("2030-01-02T03:04:05Z"));
}

TEST(ContainerProviderTest, PlainHttpToAnotherHostIsRefused) {
  ScopedEnv env({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://example.com/creds"}});
  unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  auto c = ContainerProvider()->Fetch();
  EXPECT_EQ(c.status().code(), Code::kAuth);
  EXPECT_NE(c.status().message().find("must be https"), std::string::npos);
}

TEST(InstanceMetadataProviderTest, SpeaksImdsV2) {
  int token_puts = 0;
  LocalServer server([&](httplib::Server* s) {
    s->Put("/latest/api/token", [&](const httplib::Request& req, httplib::Response& res) {
      token_puts++;
      if (req.get_header_value("X-aws-ec2-metadata-token-ttl-seconds").empty()) res.status = 400;
      res.set_content("imds-token", "text/plain");
    });
    auto need_token = [](const httplib::Request& req, httplib::Response& res) {
      if (req.get_header_value("X-aws-ec2-metadata-token") != "imds-token") {
        res.status = 401;
        return false;
      }
      return true;
    };
    s->Get("/latest/meta-data/iam/security-credentials/",
           [=](const httplib::Request& req, httplib::Response& res) {
             if (need_token(req, res)) res.set_content("ci-runner-role\n", "text/plain");
           });
    s->Get("/latest/meta-data/iam/security-credentials/ci-runner-role",
           [=](const httplib::Request& req, httplib::Response& res) {
             if (need_token(req, res))
               res.set_content(
                   R"({"Code":"Success","AccessKeyId":"AKIDIMDS","SecretAccessKey":"s",)"
                   R"("Token":"t","Expiration":"2030-01-01T00:00:00Z"})",
                   "application/json");
           });
  });
  ScopedEnv env({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", server.url()},
                 {"AWS_EC2_METADATA_DISABLED", "false"}});
  auto c = InstanceMetadataProvider()->Fetch();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->keys.access_key_id, "AKIDIMDS");
  EXPECT_EQ(token_puts, 1);
  EXPECT_NE(c->source.find("ci-runner-role"), std::string::npos);
}

TEST(InstanceMetadataProviderTest, NoMetadataServiceIsNotFoundQuickly) {
  ScopedEnv env({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1"},
                 {"AWS_EC2_METADATA_DISABLED", "false"}});
  auto t0 = std::chrono::steady_clock::now();
  auto c = InstanceMetadataProvider()->Fetch();
  EXPECT_EQ(c.status().code(), Code::kNotFound);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

TEST(WebIdentityProviderTest, AssumesTheRoleWithTheTokenReadFromItsFile) {
  TempDir dir;
  const std::string token_file = dir.Write("oidc", "eyJ.token.1\n");
  std::string body;
  LocalServer sts([&](httplib::Server* s) {
    s->Post("/", [&](const httplib::Request& req, httplib::Response& res) {
      body = req.body;
      res.set_content(
          "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
          "<AccessKeyId>ASIAWEB</AccessKeyId><SecretAccessKey>ws</SecretAccessKey>"
          "<SessionToken>wt</SessionToken><Expiration>2030-05-06T07:08:09Z</Expiration>"
          "</Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>",
          "text/xml");
    });
  });
  auto p = WebIdentityProvider(token_file, "arn:aws:iam::123456789012:role/ci", "job-42",
                               sts.url() + "/", "test");
  auto c = p->Fetch();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->keys.access_key_id, "ASIAWEB");
  EXPECT_EQ(c->keys.session_token, "wt");
  EXPECT_NE(body.find("Action=AssumeRoleWithWebIdentity"), std::string::npos);
  EXPECT_NE(body.find("RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fci"), std::string::npos);
  EXPECT_NE(body.find("WebIdentityToken=eyJ.token.1"), std::string::npos) << body;
  dir.Write("oidc", "eyJ.token.2");  // rotated: the next refresh sends the new one
  ASSERT_TRUE(p->Fetch().ok());
  EXPECT_NE(body.find("WebIdentityToken=eyJ.token.2"), std::string::npos) << body;
}

TEST(WebIdentityProviderTest, AnStsRefusalIsAnAuthErrorWithItsMessage) {
  TempDir dir;
  const std::string token_file = dir.Write("oidc", "bad");
  LocalServer sts([&](httplib::Server* s) {
    s->Post("/", [&](const httplib::Request&, httplib::Response& res) {
      res.status = 403;
      res.set_content(
          "<ErrorResponse><Error><Code>InvalidIdentityToken</Code><Message>token expired"
          "</Message></Error></ErrorResponse>",
          "text/xml");
    });
  });
  auto c =
      WebIdentityProvider(token_file, "arn:aws:iam::1:role/ci", "", sts.url() + "/", "t")->Fetch();
  EXPECT_EQ(c.status().code(), Code::kAuth);
  EXPECT_NE(c.status().message().find("InvalidIdentityToken: token expired"), std::string::npos)
      << c.status().ToString();
}

TEST(ProcessProviderTest, ReadsTheCredentialsTheCommandPrints) {
  auto c = ProcessProvider(
               "printf '{\"Version\":1,\"AccessKeyId\":\"AKIDPROC\",\"SecretAccessKey\":\"ps\"}'",
               "test")
               ->Fetch();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->keys.access_key_id, "AKIDPROC");
  EXPECT_FALSE(c->expiry.has_value());
  auto bad = ProcessProvider("echo nope >&2; exit 3", "test")->Fetch();
  EXPECT_EQ(bad.status().code(), Code::kAuth);
  EXPECT_NE(bad.status().message().find("status 3"), std::string::npos);
}

TEST(DefaultChainTest, WithNothingConfiguredTheErrorNamesEverySourceTried) {
  TempDir dir;
  ScopedEnv env({{"AWS_SHARED_CREDENTIALS_FILE", dir.path() + "/none"},
                 {"AWS_CONFIG_FILE", dir.path() + "/none2"},
                 {"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1"}});
  for (const char* v : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_WEB_IDENTITY_TOKEN_FILE",
                        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                        "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_PROFILE"})
    unsetenv(v);
  auto c = DefaultChain(AwsFilesFromEnvironment(), "us-east-1")->Fetch();
  ASSERT_EQ(c.status().code(), Code::kAuth);
  const std::string& m = c.status().message();
  for (const char* part : {"environment: AWS_ACCESS_KEY_ID is not set",
                           "web identity: AWS_WEB_IDENTITY_TOKEN_FILE is not set",
                           "profile default: not in", "container:", "instance metadata:"})
    EXPECT_NE(m.find(part), std::string::npos) << part << " in: " << m;
}

TEST(DefaultChainTest, AProfileWithCredentialProcessIsUsed) {
  TempDir dir;
  const std::string conf =
      dir.Write("config",
                "[profile ci]\ncredential_process = printf "
                "'{\"Version\":1,\"AccessKeyId\":\"AKIDCONF\",\"SecretAccessKey\":\"x\"}'\n");
  ScopedEnv env({{"AWS_SHARED_CREDENTIALS_FILE", dir.path() + "/none"},
                 {"AWS_CONFIG_FILE", conf},
                 {"AWS_PROFILE", "ci"}});
  unsetenv("AWS_ACCESS_KEY_ID");
  unsetenv("AWS_SECRET_ACCESS_KEY");
  unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
  auto c = DefaultChain(AwsFilesFromEnvironment(), "us-east-1")->Fetch();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->keys.access_key_id, "AKIDCONF");
  EXPECT_NE(c->source.find("credential_process"), std::string::npos);
}

// The STS stand-in checks the request's SigV4 signature by signing it again
// with the source profile's keys: a request signed with other keys, or a
// body changed after signing, would be refused.
TEST(AssumeRoleProviderTest, ASourceProfilesRoleIsAssumedWithASignedRequest) {
  TempDir dir;
  const std::string creds = dir.Write(
      "credentials", "[base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = basesecret\n");
  std::string body, action;
  bool signature_ok = false;
  LocalServer sts([&](httplib::Server* s) {
    s->Post("/", [&](const httplib::Request& req, httplib::Response& res) {
      body = req.body;
      const std::string auth = req.get_header_value("Authorization");
      const std::string date = req.get_header_value("x-amz-date");
      SigV4Request again{"POST",
                         "/",
                         {},
                         {{"content-type", req.get_header_value("Content-Type")},
                          {"host", req.get_header_value("Host")},
                          {"x-amz-date", date}},
                         DigestHex(Sha256::Of(req.body))};
      SigV4Result want = SignV4(again, {"AKIDBASE", "basesecret", ""}, "eu-west-1", "sts", date);
      signature_ok = auth == want.authorization;
      res.set_content(
          "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIAROLE</AccessKeyId>"
          "<SecretAccessKey>rs</SecretAccessKey><SessionToken>rt</SessionToken>"
          "<Expiration>2030-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleResult>"
          "</AssumeRoleResponse>",
          "text/xml");
    });
  });
  const std::string conf =
      dir.Write("config",
                "[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/dr-writer\n"
                "source_profile = base\nexternal_id = ext-1\n");
  ScopedEnv env({{"AWS_SHARED_CREDENTIALS_FILE", creds},
                 {"AWS_CONFIG_FILE", conf},
                 {"AWS_PROFILE", "deploy"},
                 {"AWS_ENDPOINT_URL_STS", sts.url() + "/"}});
  unsetenv("AWS_ACCESS_KEY_ID");
  unsetenv("AWS_SECRET_ACCESS_KEY");
  unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
  auto c = DefaultChain(AwsFilesFromEnvironment(), "eu-west-1")->Fetch();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->keys.access_key_id, "ASIAROLE");
  EXPECT_TRUE(signature_ok) << "the AssumeRole request was not signed with the source's keys";
  EXPECT_NE(body.find("Action=AssumeRole&"), std::string::npos) << body;
  EXPECT_NE(body.find("ExternalId=ext-1"), std::string::npos) << body;
  EXPECT_NE(c->source.find("assumed role arn:aws:iam::123456789012:role/dr-writer"),
            std::string::npos);
}

TEST(AssumeRoleProviderTest, ARoleWithoutASourceIsRefusedNamingTheProfile) {
  TempDir dir;
  const std::string conf =
      dir.Write("config", "[profile deploy]\nrole_arn = arn:aws:iam::1:role/x\n");
  ScopedEnv env({{"AWS_SHARED_CREDENTIALS_FILE", dir.path() + "/none"},
                 {"AWS_CONFIG_FILE", conf},
                 {"AWS_PROFILE", "deploy"}});
  unsetenv("AWS_ACCESS_KEY_ID");
  unsetenv("AWS_SECRET_ACCESS_KEY");
  unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
  auto c = DefaultChain(AwsFilesFromEnvironment(), "us-east-1")->Fetch();
  EXPECT_EQ(c.status().code(), Code::kAuth);
  EXPECT_NE(c.status().message().find("profile deploy"), std::string::npos);
  EXPECT_NE(c.status().message().find("source_profile"), std::string::npos);
}

}  // namespace
}  // namespace ferry
