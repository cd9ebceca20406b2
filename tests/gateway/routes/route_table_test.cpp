// The route table walked row by row: every row is reachable, no two rows
// answer the same request, every row has a metric label and a way to answer,
// a wrong method is a 405 with the path's Allow, HEAD answers GET rows.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "gateway/routes/route_table.h"
#include "schemas/metrics.h"
#include "tests/gateway/routes/gateway_fixture.h"

namespace imgpipe::gateway::routes {
namespace {

using testing::GatewayFixture;

// A path the pattern matches: each {param} becomes "Ab3" ("{id}.{ext}" -> "Ab3.Ab3").
std::string example_path(std::string_view pattern) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '{') {
      i = pattern.find('}', i);
      out += "Ab3";
    } else {
      out += pattern[i];
    }
  }
  return out;
}

const char* method_name(Methods bit) {
  switch (bit) {
    case GET: return "GET";
    case POST: return "POST";
    case PUT: return "PUT";
    case PATCH: return "PATCH";
    case DELETE: return "DELETE";
  }
  return "?";
}

constexpr Methods kAllMethods[] = {GET, POST, PUT, PATCH, DELETE};

TEST(PathPattern, LiteralsParamsAndDottedParams) {
  PathParams p;
  PathPattern src("/{prefix}/{id}.{ext}");
  EXPECT_FALSE(src.literal());
  ASSERT_TRUE(src.match("/Xy/abc123.tar.webp", p));
  EXPECT_EQ(p.get("prefix"), "Xy");
  EXPECT_EQ(p.get("id"), "abc123.tar");  // split at the last dot
  EXPECT_EQ(p.get("ext"), "webp");
  for (const char* miss : {"/Xy/abc", "/Xy/.jpg", "/Xy/abc.", "//abc.jpg", "/Xy/a/b.jpg", "/abc.jpg", "Xy/a.jpg", ""})
    EXPECT_FALSE(src.match(miss, p)) << miss;

  PathPattern viewer("/{id}");
  ASSERT_TRUE(viewer.match("/abc", p));
  EXPECT_EQ(p.get("id"), "abc");
  EXPECT_FALSE(viewer.match("/", p));
  EXPECT_FALSE(viewer.match("/a/", p));

  PathPattern root("/");
  EXPECT_TRUE(root.literal());
  EXPECT_TRUE(root.match("/", p));
  EXPECT_FALSE(root.match("/x", p));

  PathPattern admin("/admin/keys/{key_id}/plan");
  ASSERT_TRUE(admin.match("/admin/keys/key_1/plan", p));
  EXPECT_EQ(p.get("key_id"), "key_1");
  EXPECT_FALSE(admin.match("/admin/keys/key_1/revoke", p));
  EXPECT_FALSE(admin.match("/admin/keys//plan", p));
}

TEST(PathPattern, OverlapIsDecidedSegmentBySegment) {
  EXPECT_TRUE(PathPattern("/{id}").overlaps("/healthz"));
  EXPECT_FALSE(PathPattern("/{id}").overlaps("/"));
  EXPECT_FALSE(PathPattern("/{prefix}/{id}.{ext}").overlaps("/v1/images"));  // no dot: not a src path
  EXPECT_TRUE(PathPattern("/{prefix}/{id}.{ext}").overlaps("/v1/{name}"));
  EXPECT_FALSE(PathPattern("/admin/keys/{id}/plan").overlaps("/admin/keys/{id}/revoke"));
  EXPECT_TRUE(PathPattern("/v1/images/{id}").overlaps("/v1/images/batch"));
}

TEST(Methods, AllowListsHeadWithGet) {
  EXPECT_EQ(allow_header(GET), "GET, HEAD");
  EXPECT_EQ(allow_header(GET | DELETE), "GET, HEAD, DELETE");
  EXPECT_EQ(allow_header(POST), "POST");
  EXPECT_EQ(method_bit("HEAD"), GET);
  EXPECT_EQ(method_bit("OPTIONS"), 0);
}

TEST(RouteTable, NoTwoRowsAnswerTheSameRequest) {
  auto rows = route_table();
  for (size_t i = 0; i < rows.size(); ++i)
    for (size_t j = i + 1; j < rows.size(); ++j) {
      const auto &a = rows[i], &b = rows[j];
      // Literal paths win over patterns, so only rows of one tier can clash.
      if (!(a.methods & b.methods) || a.path.literal() != b.path.literal()) continue;
      EXPECT_FALSE(a.path.overlaps(b.path)) << a.path.text() << " and " << b.path.text();
    }
}

TEST(RouteTable, EveryRowHasALabelAFamilyAndAWayToAnswer) {
  std::map<std::string, std::string, std::less<>> label_of_path;
  std::set<std::string> labels;
  for (const auto& row : route_table()) {
    ASSERT_NE(row.metric, nullptr);
    EXPECT_FALSE(std::string_view(row.metric).empty()) << row.path.text();
    EXPECT_NE(std::string_view(row.metric), "other") << "reserved for paths no row answers";
    EXPECT_NE(row.methods, 0) << row.path.text();
    EXPECT_TRUE(row.handler != nullptr || row.body.stream != nullptr) << row.path.text();
    EXPECT_GT(row.body.limit + (row.body.stream ? 1 : 0), 0u) << row.path.text();
    // One label per path: rows of a shared path share it, distinct paths never do.
    auto [it, fresh] = label_of_path.emplace(std::string(row.path.text()), row.metric);
    if (!fresh) {
      EXPECT_EQ(it->second, row.metric) << row.path.text();
    } else {
      EXPECT_TRUE(labels.insert(row.metric).second) << "label reused: " << row.metric;
    }
  }
}

class RouterTest : public GatewayFixture {};

TEST_F(RouterTest, EveryRowIsReachableByItsMethodsOnly) {
  auto& router = gateway_->router();
  for (const auto& row : router.rows()) {
    auto path = example_path(row.path.text());
    for (Methods m : kAllMethods) {
      auto found = router.match(method_name(m), path);
      if (row.methods & m) {
        EXPECT_EQ(found.route, &row) << method_name(m) << " " << path;
      } else if (found.route == nullptr) {
        EXPECT_NE(found.allowed & row.methods, 0) << path;  // a 405 that names this row's methods
      }
    }
    if (row.methods & GET) {
      EXPECT_EQ(router.match("HEAD", path).route, &row) << "HEAD " << path;
    }
  }
}

TEST_F(RouterTest, AWrongMethodIs405WithTheMethodsOfThePath) {
  auto& router = gateway_->router();
  for (const auto& row : router.rows()) {
    auto path = example_path(row.path.text());
    auto allowed = router.match("OPTIONS", path).allowed;  // no row has it: every row of the path is seen
    for (Methods m : kAllMethods) {
      if (allowed & m) continue;
      auto r = route(request(method_name(m), path));
      EXPECT_EQ(r.status, 405) << method_name(m) << " " << path;
      EXPECT_EQ(header(r, "Allow"), allow_header(allowed)) << path;
      EXPECT_EQ(header(r, "Cache-Control"), "no-store");
      EXPECT_NE(r.body.find("\"method_not_allowed\""), std::string::npos) << r.body;
      break;  // one wrong method per path is enough
    }
  }
}

TEST_F(RouterTest, HeadIsAnsweredByGetRows) {
  auto r = route(request("HEAD", "/healthz"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(route(request("HEAD", "/")).status, 200);
}

TEST_F(RouterTest, AnUnknownPathIs404NotFound) {
  for (const char* path : {"/a/b/c/d/e", "/v1/nothing/here", "/v1/images/", "/x/y"}) {
    auto r = route(request("GET", path));
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_NE(r.body.find("\"not_found\""), std::string::npos) << r.body;
    EXPECT_EQ(header(r, "Cache-Control"), "no-store");
  }
}

TEST_F(RouterTest, LiteralPathsWinOverPatterns) {
  auto& router = gateway_->router();
  EXPECT_EQ(std::string_view(router.match("GET", "/healthz").route->metric), "/healthz");
  EXPECT_EQ(std::string_view(router.match("GET", "/Ab3").route->metric), "viewer");
  // A literal path without the method is a 405, not the viewer.
  auto m = router.match("GET", "/v1/upload");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_EQ(m.allowed, POST);
}

TEST_F(RouterTest, MetricsAreLabelledByRowNeverByRawPath) {
  auto& router = gateway_->router();
  router.observe({"GET", "/Xy/abcdef.jpg", 200, 0.001, 10, Request::kNoRoute});
  router.observe({"DELETE", "/v1/images/some-id", 404, 0.001, 10, Request::kNoRoute});
  router.observe({"GET", "/totally/unknown/path/here/x", 404, 0.001, 10, Request::kNoRoute});
  auto text = imgpipe::metrics::render();
  EXPECT_NE(text.find("route=\"src\""), std::string::npos);
  EXPECT_NE(text.find("route=\"/v1/images/{id}\""), std::string::npos);
  EXPECT_NE(text.find("route=\"other\""), std::string::npos);
  EXPECT_EQ(text.find("totally"), std::string::npos);
}

TEST_F(RouterTest, APlannedRequestIsRoutedOnce) {
  auto& router = gateway_->router();
  Request head;
  head.method = "GET";
  head.path = "/Xy/abcdef.jpg";
  router.plan_body(head);
  ASSERT_LT(head.route, router.rows().size());
  EXPECT_EQ(std::string_view(router.rows()[head.route].metric), "src");
  // What handle() and observe() use: the noted row, with the path's params.
  auto m = router.match(head);
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.params.get("id"), "abcdef");
  EXPECT_EQ(m.params.get("ext"), "jpg");
  // An unknown path notes nothing: 404 is decided again in handle().
  Request unknown;
  unknown.method = "GET";
  unknown.path = "/a/b/c/d/e";
  router.plan_body(unknown);
  EXPECT_EQ(unknown.route, Request::kNoRoute);
}

}  // namespace
}  // namespace imgpipe::gateway::routes
