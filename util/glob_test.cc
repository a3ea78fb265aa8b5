#include "util/glob.h"

#include <gtest/gtest.h>

namespace ferry {
namespace {

TEST(GlobTest, StarStaysInASegmentAndDoubleStarCrosses) {
  EXPECT_TRUE(GlobMatch("*.log", "build.log"));
  EXPECT_FALSE(GlobMatch("*.log", "logs/build.log"));
  EXPECT_TRUE(GlobMatch("**/*.log", "logs/build.log"));
  EXPECT_TRUE(GlobMatch("**/*.log", "build.log"));  // "**/" may match no directory
  EXPECT_TRUE(GlobMatch("dist/**", "dist/a/b/c"));
  EXPECT_TRUE(GlobMatch("a/**/b", "a/b"));
  EXPECT_TRUE(GlobMatch("a/**/b", "a/x/y/b"));
  EXPECT_FALSE(GlobMatch("a/*/b", "a/x/y/b"));
  EXPECT_TRUE(GlobMatch("file?.txt", "file1.txt"));
  EXPECT_FALSE(GlobMatch("file?.txt", "file/.txt"));
  EXPECT_TRUE(GlobMatch("[a-c]x", "bx"));
  EXPECT_FALSE(GlobMatch("[!a-c]x", "bx"));
  EXPECT_TRUE(GlobMatch("\\*", "*"));
  EXPECT_FALSE(GlobMatch("\\*", "a"));
  EXPECT_TRUE(GlobMatch("[unclosed", "[unclosed"));
}

TEST(PathFilterTest, NamesMatchAtAnyDepthAndDirectoriesHoldTheirContents) {
  PathFilter f;
  f.Exclude("*.map");
  f.Exclude("node_modules/");
  f.Exclude("/tmp");
  EXPECT_FALSE(f.Included("app.js.map"));
  EXPECT_FALSE(f.Included("static/js/app.js.map"));
  EXPECT_FALSE(f.Included("node_modules"));
  EXPECT_FALSE(f.Included("web/node_modules/left-pad/index.js"));
  EXPECT_FALSE(f.Included("tmp/x"));
  EXPECT_TRUE(f.Included("src/tmp/x"));  // "/tmp" is anchored at the top
  EXPECT_TRUE(f.Included("static/js/app.js"));
}

TEST(PathFilterTest, TheLastMatchingRuleDecides) {
  PathFilter f;
  f.Exclude("*");
  f.Include("*.tar.gz");
  EXPECT_TRUE(f.Included("release/app-1.0.tar.gz"));
  EXPECT_FALSE(f.Included("release/notes.txt"));
  PathFilter g;
  g.Include("*.tar.gz");
  g.Exclude("debug/");
  EXPECT_FALSE(g.Included("debug/app.tar.gz"));
  EXPECT_TRUE(g.Included("app.tar.gz"));
  EXPECT_TRUE(g.Included("readme"));  // no rule matches: included
}

}  // namespace
}  // namespace ferry
