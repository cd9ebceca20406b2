// Handlers called directly, without a socket, against a real gateway on a
// temp dir: what each family answers, and the errors they raise before an
// answer (which the router renders).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "gateway/pages/pages.h"
#include "gateway/routes/handlers.h"
#include "tests/gateway/routes/gateway_fixture.h"

namespace imgpipe::gateway::routes {
namespace {

using json = nlohmann::json;
using schemas::ErrorCode;
using testing::GatewayFixture;

class Handlers : public GatewayFixture {
 protected:
  // A key through POST /v1/keys; its account is in the store once answered.
  std::string new_key(const std::string& email) {
    auto out = call(create_key, request("POST", "/v1/keys", json{{"email", email}}.dump()));
    EXPECT_FALSE(out.thrown);
    if (!out.response) return {};
    EXPECT_EQ(out.response->status, 201) << out.response->body;
    EXPECT_EQ(header(*out.response, "Cache-Control"), "no-store");
    return json::parse(out.response->body).value("key", "");
  }
  static Request with_key(Request r, const std::string& key) {
    r.headers.emplace_back("Authorization", "Bearer " + key);
    return r;
  }
};

TEST_F(Handlers, HealthAndReadiness) {
  auto h = call(healthz, request("GET", "/healthz"));
  ASSERT_TRUE(h.response);
  EXPECT_EQ(h.response->status, 200);
  EXPECT_EQ(json::parse(h.response->body)["status"], "ok");
  // Not started: the image index has not caught up with the topic.
  auto r = call(readyz, request("GET", "/readyz"));
  ASSERT_TRUE(r.response);
  EXPECT_EQ(r.response->status, 503);
  EXPECT_EQ(json::parse(r.response->body)["status"], "catching_up");
  auto m = call(serve_metrics, request("GET", "/metrics"));
  ASSERT_TRUE(m.response);
  EXPECT_EQ(m.response->status, 200);
  EXPECT_NE(header(*m.response, "Content-Type").find("text/plain"), std::string::npos);
}

TEST_F(Handlers, PagesAnswerHtmlAndAnUnknownViewerIdIsNotFound) {
  auto page = call(upload_page, request("GET", "/"));
  ASSERT_TRUE(page.response);
  EXPECT_EQ(page.response->status, 200);
  EXPECT_NE(page.response->body.find("<form"), std::string::npos);
  PathParams id;
  id.add("id", "NoSuchImage1");
  EXPECT_EQ(call(viewer, request("GET", "/NoSuchImage1"), id).thrown, ErrorCode::not_found);
  PathParams bad;
  bad.add("id", "../etc");
  EXPECT_EQ(call(viewer, request("GET", "/..%2Fetc"), bad).thrown, ErrorCode::not_found);
}

// Every page links only this origin's scripts and styles under a strict CSP,
// and says the tier table's limits (one source: accounts/plans.h).
TEST_F(Handlers, PagesCarryAStrictCspAndTheTierLimits) {
  for (auto handler : {upload_page, keys_page, plans_page}) {
    auto page = call(handler, request("GET", "/"));
    ASSERT_TRUE(page.response);
    EXPECT_EQ(page.response->status, 200);
    auto csp = header(*page.response, "Content-Security-Policy");
    EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << csp;
    EXPECT_NE(csp.find("style-src 'self'"), std::string::npos) << csp;
    EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
    EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << csp;
    EXPECT_EQ(header(*page.response, "X-Frame-Options"), "DENY");
    EXPECT_EQ(page.response->body.find("<script>"), std::string::npos) << "an inline script";
    EXPECT_EQ(page.response->body.find("style=\""), std::string::npos) << "an inline style";
  }
  const auto& tiers = accounts_->config().tiers;
  auto upload = call(upload_page, request("GET", "/"));
  EXPECT_NE(upload.response->body.find("data-max-anonymous=\"" + std::to_string(tiers.anonymous.max_file_bytes) + "\""),
            std::string::npos);
  auto plans = call(plans_page, request("GET", "/plans"));
  EXPECT_NE(plans.response->body.find(pages::human_bytes(tiers.anonymous.max_file_bytes)), std::string::npos);
  for (const auto& [name, plan] : tiers.plans)
    EXPECT_NE(plans.response->body.find(">" + name), std::string::npos) << name;
}

// The scripts and styles are served from the binary with a version in the
// path: the current version is cached for good, a 304 for a known ETag.
TEST_F(Handlers, AssetsAreServedWithTheirVersionAsETag) {
  auto page = call(upload_page, request("GET", "/"));
  auto at = page.response->body.find("/assets/");
  ASSERT_NE(at, std::string::npos);
  auto path = page.response->body.substr(at, page.response->body.find('"', at) - at);  // /assets/<v>/site.css
  auto version = path.substr(8, path.find('/', 8) - 8);
  auto file = path.substr(path.rfind('/') + 1);
  PathParams params;
  params.add("version", version);
  params.add("file", file);
  auto got = call(serve_asset, request("GET", path), params);
  ASSERT_TRUE(got.response);
  EXPECT_EQ(got.response->status, 200);
  EXPECT_FALSE(got.response->body.empty());
  EXPECT_EQ(header(*got.response, "ETag"), "\"" + version + "\"");
  EXPECT_NE(header(*got.response, "Cache-Control").find("immutable"), std::string::npos);
  EXPECT_EQ(header(*got.response, "Content-Type").rfind("text/css", 0), 0u);
  auto again = request("GET", path);
  again.headers.emplace_back("If-None-Match", "\"" + version + "\"");
  EXPECT_EQ(call(serve_asset, again, params).response->status, 304);
  PathParams missing;
  missing.add("version", version);
  missing.add("file", "nope.js");
  EXPECT_EQ(call(serve_asset, request("GET", "/assets/x/nope.js"), missing).thrown, ErrorCode::not_found);
}

TEST_F(Handlers, KeysAreValidatedBeforeAnythingIsStored) {
  EXPECT_EQ(call(create_key, request("POST", "/v1/keys", "not json")).thrown, ErrorCode::bad_request);
  EXPECT_EQ(call(create_key, request("POST", "/v1/keys", R"({"email":"nope"})")).thrown, ErrorCode::invalid_field);
  EXPECT_EQ(call(create_key, request("POST", "/v1/keys", R"({})")).thrown, ErrorCode::invalid_field);
  EXPECT_TRUE(accounts_->store().all().empty());
}

TEST_F(Handlers, AKeyListsOnlyItsOwnImages) {
  auto key = new_key("someone@example.com");
  ASSERT_FALSE(key.empty());
  EXPECT_EQ(call(list_images, request("GET", "/v1/images")).thrown, ErrorCode::unauthorized);
  auto list = call(list_images, with_key(request("GET", "/v1/images"), key));
  ASSERT_TRUE(list.response);
  EXPECT_EQ(list.response->status, 200);
  EXPECT_EQ(json::parse(list.response->body)["data"], json::array());
  EXPECT_EQ(header(*list.response, "Cache-Control"), "no-store");
  PathParams id;
  id.add("id", "NotMine12345");
  EXPECT_EQ(call(get_image, with_key(request("GET", "/v1/images/NotMine12345"), key), id).thrown,
            ErrorCode::not_found);
  EXPECT_EQ(call(delete_image, with_key(request("DELETE", "/v1/images/NotMine12345"), key), id).thrown,
            ErrorCode::not_found);
  auto bad_limit = with_key(request("GET", "/v1/images"), key);
  bad_limit.query = "limit=0";
  EXPECT_EQ(call(list_images, bad_limit).thrown, ErrorCode::invalid_field);
}

TEST_F(Handlers, TheAdminApiExistsOnlyForALoopbackBearerOfTheToken) {
  auto key = new_key("admin-listed@example.com");
  auto remote = request("GET", "/admin/keys");
  remote.headers.emplace_back("Authorization", "Bearer admin-token-for-tests");
  EXPECT_EQ(call(admin_list_keys, remote).thrown, ErrorCode::not_found);
  auto local = request("GET", "/admin/keys");
  local.peer_ip = "127.0.0.1";
  EXPECT_EQ(call(admin_list_keys, local).thrown, ErrorCode::unauthorized);
  local.headers.emplace_back("Authorization", "Bearer admin-token-for-tests");
  auto list = call(admin_list_keys, local);
  ASSERT_TRUE(list.response);
  auto keys = json::parse(list.response->body)["keys"];
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0]["email"], "admin-listed@example.com");
  EXPECT_EQ(keys[0]["usage"]["uploads_used"], 0);

  auto plan = request("POST", "/admin/keys/x/plan", R"({"plan": 7})");
  plan.peer_ip = "127.0.0.1";
  plan.headers = local.headers;
  PathParams id;
  std::string key_id = keys[0]["key_id"];
  id.add("key_id", key_id);
  EXPECT_EQ(call(admin_set_plan, plan, id).thrown, ErrorCode::invalid_field);  // not a plan name: 422, not a 500
  plan.body = R"({"plan": "pro"})";
  auto changed = call(admin_set_plan, plan, id);
  ASSERT_TRUE(changed.response);
  EXPECT_EQ(json::parse(changed.response->body)["plan"], "pro");
}

TEST_F(Handlers, ImportIsValidatedBeforeAUnitOfQuotaIsTaken) {
  EXPECT_EQ(call(import_url, request("POST", "/v1/import", "[]")).thrown, ErrorCode::bad_request);
  EXPECT_EQ(call(import_url, request("POST", "/v1/import", R"({"url": ""})")).thrown, ErrorCode::bad_request);
  auto bad_key = with_key(request("POST", "/v1/import", R"({"url": "https://example.com/a.jpg"})"),
                          "img_live_" + std::string(40, 'x'));
  EXPECT_EQ(call(import_url, bad_key).thrown, ErrorCode::unauthorized);
}

TEST_F(Handlers, TheAnonymousFileLimitComesFromTheTierTable) {
  auto head = request("POST", "/v1/upload");
  head.headers.emplace_back("Content-Type", "multipart/form-data; boundary=xyz");
  head.content_length = 2 << 20;  // over the fixture's 1 MB anonymous tier
  try {
    plan_upload(gateway_->services(), head, {});
    ADD_FAILURE() << "a 2 MB anonymous upload was planned";
  } catch (const schemas::Error& e) {
    EXPECT_EQ(e.id(), ErrorCode::file_too_large);
    EXPECT_NE(std::string(e.what()).find("1 MB"), std::string::npos) << e.what();
  }
  head.content_length = 1000;
  auto plan = plan_upload(gateway_->services(), head, {});
  ASSERT_TRUE(std::holds_alternative<StreamBody>(plan));
  EXPECT_EQ(std::get<StreamBody>(plan).limit, (1u << 20) + 64 * 1024);
}

// Shape C: a file over the limit tells a caller without a key to sign up (a
// key is its way to a larger limit) and a key holder to upgrade its plan.
TEST_F(Handlers, AShapeCFileOverTheLimitSaysSignupToACallerWithoutAKey) {
  auto too_large = [&](Request head) {
    head.headers.emplace_back("Content-Type", "multipart/form-data; boundary=xyz");
    head.content_length = uint64_t{1} << 30;  // over every tier's file limit
    auto plan = gateway_->router().plan_body(head);
    EXPECT_TRUE(std::holds_alternative<RejectBody>(plan));
    if (!std::holds_alternative<RejectBody>(plan)) return json();
    const auto& r = std::get<RejectBody>(plan).response;
    EXPECT_EQ(r.status, 413) << r.body;
    auto error = json::parse(r.body)["error"];
    EXPECT_EQ(error["code"], "file_too_large");
    EXPECT_EQ(error["action"]["url"], "http://gw.test/keys");
    return error["action"];
  };
  EXPECT_EQ(too_large(request("POST", "/v1/images"))["type"], "signup");
  const auto key = new_key("large-file@example.com");
  EXPECT_EQ(too_large(with_key(request("POST", "/v1/images"), key))["type"], "upgrade");
}

TEST_F(Handlers, TheUpgradeLinkDefaultsToThisInstancesKeyPage) {
  EXPECT_EQ(gateway_->config().upgrade_link(), "http://gw.test/keys");
  auto r = route(request("POST", "/v1/keys", "{}"));  // invalid_field: fix_request, no link
  EXPECT_EQ(r.status, 422);
  // unauthorized's action is to register: it carries the link.
  auto unauth = route(with_key(request("GET", "/v1/images"), "bogus"));
  EXPECT_EQ(unauth.status, 401);
  // /v1/images is shape C: the nested error's signup action carries it.
  EXPECT_EQ(json::parse(unauth.body)["error"]["action"]["url"], "http://gw.test/keys");
}

}  // namespace
}  // namespace imgpipe::gateway::routes
