#include "gateway/http/http_types.h"

#include <gtest/gtest.h>

#include "schemas/errors.h"

namespace imgpipe::gateway {
namespace {

TEST(HttpTypes, HeaderIsCaseInsensitive) {
  Request r;
  r.headers = {{"Content-Type", "image/png"}, {"X-A", "1"}, {"x-a", "2"}};
  EXPECT_EQ(r.header("content-type"), "image/png");
  EXPECT_EQ(r.header("X-A"), "1");
  EXPECT_EQ(r.header("missing"), "");
}

TEST(HttpTypes, QueryParamIsDecoded) {
  Request r;
  r.query = "size=m&name=a%20b+c&flag&name=second&enc=%2F%3F";
  EXPECT_EQ(r.query_param("size"), "m");
  EXPECT_EQ(r.query_param("name"), "a b c");
  EXPECT_EQ(r.query_param("flag"), "");
  EXPECT_EQ(r.query_param("enc"), "/?");
  EXPECT_EQ(r.query_param("nope"), std::nullopt);
  r.query = "bad=%zz";
  EXPECT_EQ(r.query_param("bad"), std::nullopt);
}

TEST(HttpTypes, QueryParamWithoutEscapes) {
  // The hand-split path (no '%' or '+'), which must agree with the decoder.
  Request r;
  r.query = "sizes=l&size=m&x=&flag&=v&size=s";
  EXPECT_EQ(r.query_param("size"), "m");
  EXPECT_EQ(r.query_param("sizes"), "l");
  EXPECT_EQ(r.query_param("x"), "");
  EXPECT_EQ(r.query_param("flag"), "");
  EXPECT_EQ(r.query_param("siz"), std::nullopt);
  EXPECT_EQ(r.query_param(""), "v");
  r.query = "";
  EXPECT_EQ(r.query_param("size"), std::nullopt);
  r.query = "a=1&&size=l&";
  EXPECT_EQ(r.query_param("size"), "l");
}

TEST(HttpTypes, ResponseHelpers) {
  Response j = Response::json(201, "{}");
  EXPECT_EQ(j.status, 201);
  ASSERT_EQ(j.headers.size(), 1u);
  EXPECT_EQ(j.headers[0].second, "application/json");
  j.set("content-type", "text/plain");  // replaces, case-insensitively
  ASSERT_EQ(j.headers.size(), 1u);
  EXPECT_EQ(j.headers[0].second, "text/plain");
  Response h = Response::html(200, "<p>");
  EXPECT_EQ(h.headers[0].second, "text/html; charset=utf-8");

  schemas::Error e(schemas::ErrorCode::rate_limited);
  e.retry_after_seconds = 7;
  Response er = Response::error(e);
  EXPECT_EQ(er.status, 429);
  EXPECT_NE(er.body.find("rate_limited"), std::string::npos);
  bool retry = false;
  for (auto& [k, v] : er.headers) retry |= (k == "Retry-After" && v == "7");
  EXPECT_TRUE(retry);
}

}  // namespace
}  // namespace imgpipe::gateway
