// A 201 survives kill -9: after a restart on the same data dir the original
// and the pre-generated variants are served.
#include "tests/e2e/harness.h"

namespace imgpipe::e2e {
namespace {

TEST(Durability, KillNineRightAfter201LosesNothing) {
  ServerProcess s;
  ASSERT_NO_THROW(s.start());
  auto r = upload(s, corpus("medium.jpg"));
  ASSERT_EQ(r.status, 201) << r.describe() << "\n" << s.log_tail();
  s.kill9();  // immediately: no chance to flush anything not already durable
  auto j = r.json();
  std::string src = j.value("src", "");
  Dims dims{j.value("width", 0), j.value("height", 0)};

  ASSERT_NO_THROW(s.restart()) << s.log_tail();
  auto g = http_get(src);
  ASSERT_EQ(g.status, 200) << "original lost after kill -9: " << g.describe() << "\n" << s.log_tail();
  EXPECT_EQ(g.body.size(), j.value("filesize", size_t{0}));
  auto d = decode(g.body);
  ASSERT_TRUE(d.ok) << d.error;
  EXPECT_EQ(d.format, "jpeg");
  EXPECT_EQ(d.width, dims.width);
  EXPECT_EQ(d.height, dims.height);
  // The viewer too.
  EXPECT_EQ(http_get(j.value("url", "")).status, 200);

  for (std::string ext : {"jpeg", "webp"}) {
    for (std::string size : {"s", "m", "l"}) {
      std::string url = with_size(with_ext(src, ext), size);
      SCOPED_TRACE(url);
      Response v;
      bool served = eventually([&] {
        v = http_get(url);
        return v.status == 200;
      }, 30s);
      ASSERT_TRUE(served) << v.describe() << "\n" << s.log_tail();
      auto vd = decode(v.body);
      ASSERT_TRUE(vd.ok) << vd.error;
      EXPECT_EQ(vd.format, ext);
      EXPECT_TRUE(dims_match({vd.width, vd.height}, expected_variant(dims, short_edge_of(size))));
    }
  }
  EXPECT_EQ(s.stop(), 0) << s.log_tail();
}

// The original served after a restart is byte-identical to the one served
// before (the stored blob, not a re-encode).
TEST(Durability, RestartServesTheSameOriginalBytes) {
  ServerProcess s;
  ASSERT_NO_THROW(s.start());
  auto r = upload(s, corpus("portrait.jpg"));
  ASSERT_EQ(r.status, 201) << r.describe();
  std::string src = r.json().value("src", "");
  auto before = http_get(src);
  ASSERT_EQ(before.status, 200) << before.describe();
  EXPECT_EQ(s.stop(), 0) << s.log_tail();
  ASSERT_NO_THROW(s.restart());
  auto after = http_get(src);
  ASSERT_EQ(after.status, 200) << after.describe();
  EXPECT_EQ(after.body, before.body);
  EXPECT_EQ(after.header("ETag"), before.header("ETag"));
  EXPECT_EQ(s.stop(), 0) << s.log_tail();
}

}  // namespace
}  // namespace imgpipe::e2e
