#include "engine/audit.h"

#include <gtest/gtest.h>

#include "testing/test_util.h"

namespace ferry {
namespace {

using testing::RandomBytes;
using testing::TempDir;

TEST(AuditTest, NamesEveryMissingDifferentAndExtraObject) {
  TempDir src, dr;
  for (auto* d : {&src, &dr}) {
    d->Write("app.bin", RandomBytes(3 << 20, 1));
    d->Write("lib/a.js", "a");
    d->Write("lib/b.js", "b");
  }
  src.Write("only-here.txt", "x");
  dr.Write("lib/b.js", "B");   // same size, other bytes
  dr.Write("lib/a.js", "aa");  // other size
  dr.Write("stale.txt", "old");
  auto s = OpenAuditTree(src.path(), AuditSide::kSource, StoreOptions{});
  auto d = OpenAuditTree(dr.path(), AuditSide::kDr, StoreOptions{});
  ASSERT_TRUE(s.ok() && d.ok());
  AuditReport r;
  Status st = Audit(s->get(), d->get(), AuditOptions{}, &r);
  EXPECT_EQ(st.code(), Code::kVerifyFailed);
  ASSERT_EQ(r.differences.size(), 4u);
  EXPECT_EQ(r.differences[0].path, "lib/a.js");
  EXPECT_EQ(r.differences[0].kind, AuditDifference::Kind::kDifferent);
  EXPECT_FALSE(r.differences[0].source_sha256.has_value());  // the sizes differ: not hashed
  EXPECT_EQ(r.differences[1].path, "lib/b.js");
  EXPECT_TRUE(r.differences[1].source_sha256 && r.differences[1].dr_sha256 &&
              *r.differences[1].source_sha256 != *r.differences[1].dr_sha256);
  EXPECT_EQ(r.differences[2].path, "only-here.txt");
  EXPECT_EQ(r.differences[2].kind, AuditDifference::Kind::kMissing);
  EXPECT_EQ(r.differences[3].path, "stale.txt");
  EXPECT_EQ(r.differences[3].kind, AuditDifference::Kind::kExtra);
  EXPECT_EQ(r.identical, 1u);
  EXPECT_EQ(r.bytes_verified, 3u << 20);
  EXPECT_EQ(r.bytes_hashed_source, (3u << 20) + 1);  // app.bin and lib/b.js, once each side
  EXPECT_EQ(r.bytes_hashed_dr, (3u << 20) + 1);
}

TEST(AuditTest, AMissingSideIsNamedWithItsOwnCode) {
  TempDir dir;
  dir.Write("file", "x");
  EXPECT_EQ(OpenAuditTree(dir.path() + "/nope", AuditSide::kSource, {}).status().code(),
            Code::kSourceUnreadable);
  EXPECT_EQ(OpenAuditTree(dir.path() + "/nope", AuditSide::kDr, {}).status().code(),
            Code::kStoreUnavailable);
  EXPECT_EQ(OpenAuditTree(dir.path() + "/file", AuditSide::kDr, {}).status().code(),
            Code::kStoreUnavailable);
}

TEST(AuditTest, AnEmptySourceIsRefusedUnlessAllowed) {
  TempDir src, dr;
  auto s = OpenAuditTree(src.path(), AuditSide::kSource, {});
  auto d = OpenAuditTree(dr.path(), AuditSide::kDr, {});
  AuditReport r;
  EXPECT_EQ(Audit(s->get(), d->get(), AuditOptions{}, &r).code(), Code::kSourceUnreadable);
  AuditOptions o;
  o.allow_empty = true;
  AuditReport r2;
  EXPECT_TRUE(Audit(s->get(), d->get(), o, &r2).ok());
}

TEST(AuditTest, IdenticalTreesAndFilters) {
  TempDir src, dr;
  for (auto* d : {&src, &dr}) d->Write("a/b.txt", "same");
  dr.Write("a/c.map", "extra, but excluded");
  auto s = OpenAuditTree(src.path(), AuditSide::kSource, StoreOptions{});
  auto d = OpenAuditTree(dr.path(), AuditSide::kDr, StoreOptions{});
  AuditReport r;
  EXPECT_EQ(Audit(s->get(), d->get(), AuditOptions{}, &r).code(), Code::kVerifyFailed);
  PathFilter f;
  f.Exclude("*.map");
  AuditOptions o;
  o.filter = &f;
  AuditReport r2;
  ASSERT_TRUE(Audit(s->get(), d->get(), o, &r2).ok());
  EXPECT_EQ(r2.identical, 1u);
  EXPECT_EQ(r2.filtered, 1u);
}

}  // namespace
}  // namespace ferry
