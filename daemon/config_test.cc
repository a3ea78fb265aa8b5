#include "daemon/config.h"

#include <gtest/gtest.h>

#include "testing/test_util.h"

namespace ferry::daemon {
namespace {

using testing::TempDir;

TEST(ConfigTest, BucketJobsTakePollAndTheSourceEndpoint) {
  TempDir dir;
  const std::string path = dir.Write("ferry.toml", R"(
state = "/var/lib/ferry"
[[job]]
name = "primary"
watch = "s3://primary/app/"
source_endpoint_url = "https://s3.us-east-1.amazonaws.com"
poll = "30s"
to = "s3://dr/app/"
ref = "app/replica"
)");
  auto c = LoadConfig(path, JobOptions{});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->jobs[0].watch, "s3://primary/app/");
  EXPECT_EQ(c->jobs[0].poll_every, 30);
  EXPECT_EQ(c->jobs[0].source_endpoint_url, "https://s3.us-east-1.amazonaws.com");
  const std::string bad = dir.Write("bad.toml", R"(
state = "/s"
[[job]]
name = "primary"
watch = "s3://primary/app/"
poll = "0s"
to = "/d"
ref = "r"
)");
  auto b = LoadConfig(bad, JobOptions{});
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("poll must be at least 1s"), std::string::npos)
      << b.status().message();
}

TEST(ConfigTest, ReadsJobsWithDefaultsAndOverrides) {
  TempDir dir;
  const std::string path = dir.Write("ferry.toml", R"(
listen = "127.0.0.1:9500"
state = "/var/lib/ferry"

[[job]]
name = "artifacts"
watch = "/srv/artifacts"
to = ["s3://dr/artifacts/", "/mnt/dr"]
ref = "ci/artifacts"
rpo = "2m"
settle = 5
tags = { team = "platform" }
exclude = ["*.tmp", "cache/"]
merge = true

[[job]]
name = "nightly"
watch = "/srv/nightly"
to = "/mnt/dr-nightly"
ref = "ci/nightly"
state = "/srv/state/nightly"
compression = 9
delete = true
max_delete = 7
)");
  JobOptions defaults;
  defaults.schedule.rpo = 300;
  defaults.schedule.interval = 11;
  auto c = LoadConfig(path, defaults);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->listen, "127.0.0.1:9500");
  EXPECT_FALSE(c->jobs[0].filter.Included("dist/a.tmp"));
  EXPECT_FALSE(c->jobs[0].filter.Included("cache/x/y.bin"));
  EXPECT_TRUE(c->jobs[0].filter.Included("dist/app.bin"));
  EXPECT_TRUE(c->jobs[1].filter.Included("dist/a.tmp"));  // only where it is said
  ASSERT_EQ(c->jobs.size(), 2u);
  const JobOptions& a = c->jobs[0];
  EXPECT_EQ(a.job, "artifacts");
  EXPECT_EQ(a.tos, (std::vector<std::string>{"s3://dr/artifacts/", "/mnt/dr"}));
  EXPECT_EQ(a.state_dir, "/var/lib/ferry/artifacts");
  EXPECT_EQ(a.schedule.rpo, 120);
  EXPECT_EQ(a.schedule.settle, 5);
  EXPECT_EQ(a.schedule.interval, 11);  // from the defaults
  ASSERT_EQ(a.push.tags.size(), 1u);
  EXPECT_EQ(a.push.tags[0].second, "platform");
  const JobOptions& n = c->jobs[1];
  EXPECT_EQ(n.tos, std::vector<std::string>{"/mnt/dr-nightly"});
  EXPECT_EQ(n.state_dir, "/srv/state/nightly");
  EXPECT_EQ(n.push.zstd_level, 9);
  EXPECT_TRUE(n.push.propagate_deletes);
  EXPECT_EQ(n.push.max_delete, 7u);
  EXPECT_FALSE(a.push.propagate_deletes);  // off unless asked
  EXPECT_EQ(a.push.max_delete, PushOptions::kDefaultMaxDelete);
  EXPECT_EQ(n.schedule.rpo, 300);
  EXPECT_TRUE(a.push.merge);
  EXPECT_FALSE(n.push.merge);  // off unless asked
}

// Every mistake names the file, the line and the key.
TEST(ConfigTest, MistakesAreUsageErrorsThatSayWhere) {
  TempDir dir;
  struct {
    const char* text;
    const char* says;
  } cases[] = {
      {"[[job]]\nname = \"a\"\nwatch = \"/w\"\nto = \"/d\"\nref = \"r\"\nstate = \"/s\"\nrpoo = "
       "\"5m\"\n",
       "ferry.toml:7: job: unknown key 'rpoo'"},
      {"[[job]]\nname = \"a\"\nwatch = \"/w\"\nto = \"/d\"\nref = \"r\"\nstate = \"/s\"\nrpo = "
       "\"soon\"\n",
       "ferry.toml:7: job 'a': rpo takes a duration"},
      {"[[job]]\nname = \"a\"\nwatch = \"/w\"\nto = \"/d\"\nref = \"r\"\n", "needs state"},
      {"[[job]]\nname = \"a\"\nto = \"/d\"\nref = \"r\"\n", "job 'a': needs watch"},
      {"listen = 9464\n[[job]]\n", "listen must be a string"},
      {"state = \"/s\"\n", "no [[job]]"},
      {"[[job]\n", "ferry.toml:1:"},
      {"[[job]]\nname = \"a\"\nwatch = \"/w\"\nto = \"/d\"\nref = \"r\"\nstate = \"/s\"\ndelete = "
       "\"yes\"\n",
       "ferry.toml:7: job 'a': delete must be true or false"},
      {"[[job]]\nname = \"a\"\nwatch = \"/w\"\nto = \"/d\"\nref = \"r\"\nstate = "
       "\"/s\"\nmax_delete = "
       "-1\n",
       "ferry.toml:7: job 'a': max_delete"},
  };
  for (const auto& c : cases) {
    const std::string path = dir.Write("ferry.toml", c.text);
    auto r = LoadConfig(path, JobOptions{});
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.status().code(), Code::kUsage) << c.text;
    EXPECT_NE(r.status().message().find(c.says), std::string::npos)
        << r.status().message() << " / want: " << c.says;
  }
}

TEST(ConfigTest, DurationsTakeUnits) {
  EXPECT_EQ(*ParseDuration("--rpo", "90"), 90);
  EXPECT_EQ(*ParseDuration("--rpo", "1.5s"), 1.5);
  EXPECT_EQ(*ParseDuration("--rpo", "5m"), 300);
  EXPECT_EQ(*ParseDuration("--rpo", "2h"), 7200);
  EXPECT_EQ(*ParseDuration("--rpo", "1d"), 86400);
  for (const char* bad : {"", "m", "-5s", "5x", "five"})
    EXPECT_EQ(ParseDuration("--rpo", bad).status().code(), Code::kUsage) << bad;
}

}  // namespace
}  // namespace ferry::daemon
