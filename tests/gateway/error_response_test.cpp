// The one error renderer: every entry of the error table, in both shapes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "gateway/http/error_response.h"

namespace imgpipe::gateway {
namespace {

using json = nlohmann::json;
using schemas::Error;
using schemas::ErrorCode;

std::string header(const Response& r, std::string_view name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return {};
}

TEST(ErrorResponse, EveryCodeHasOneStatusAndBodyNoStoreAndRetryAfterWhenRetryable) {
  for (const auto& info : schemas::error_table()) {
    for (auto family : {ApiFamily::shape_b, ApiFamily::shape_c, ApiFamily::pages, ApiFamily::operations}) {
      ErrorStyle style{family, "https://example.test/keys"};
      auto a = error_response(Error(info.id), style);
      auto b = error_response(Error(info.id), style);
      EXPECT_EQ(a.status, info.http_status) << info.code;
      EXPECT_EQ(a.body, b.body) << "the same code gives the same body";
      EXPECT_EQ(header(a, "Cache-Control"), "no-store") << info.code;
      EXPECT_EQ(header(a, "Content-Type"), "application/json");
      EXPECT_EQ(header(a, "Retry-After").empty(), !info.retryable) << info.code;
      if (info.http_status == 429 || info.http_status == 500 || info.http_status == 503) {
        EXPECT_FALSE(header(a, "Retry-After").empty()) << info.code;
      }
      auto body = json::parse(a.body);
      if (family == ApiFamily::shape_c) {
        EXPECT_EQ(body["error"]["code"], std::string(info.code));
        EXPECT_EQ(body["error"]["type"], std::string(info.type));
        EXPECT_EQ(body["error"]["message"], std::string(info.message));
        if (info.retryable) {
          EXPECT_EQ(body["error"]["action"]["retry_after"].dump(), header(a, "Retry-After"));
        }
      } else {
        EXPECT_EQ(body["error"], std::string(info.code));
        EXPECT_EQ(body["message"], std::string(info.message));
        EXPECT_EQ(body["action"]["type"], std::string(schemas::action_name(info.action)));
      }
    }
  }
}

TEST(ErrorResponse, ValidationErrorIsReachableAt400And422) {
  auto* at400 = schemas::find_error("validation_error", 400);
  auto* at422 = schemas::find_error("validation_error", 422);
  ASSERT_NE(at400, nullptr);
  ASSERT_NE(at422, nullptr);
  EXPECT_EQ(error_response(Error(at400->id)).status, 400);
  EXPECT_EQ(error_response(Error(at422->id)).status, 422);
  EXPECT_EQ(schemas::find_error("validation_error", 500), nullptr);
}

TEST(ErrorResponse, TheRetryAfterOfTheErrorWinsAndIsInTheBodyToo) {
  Error e(ErrorCode::rate_limited, "Slow down.");
  e.retry_after_seconds = 42;
  auto b = error_response(e);
  EXPECT_EQ(header(b, "Retry-After"), "42");
  EXPECT_EQ(json::parse(b.body)["action"]["seconds"], 42);
  auto c = error_response(e, {ApiFamily::shape_c, {}});
  EXPECT_EQ(header(c, "Retry-After"), "42");
  EXPECT_EQ(json::parse(c.body)["error"]["action"]["type"], "wait");
  EXPECT_EQ(json::parse(c.body)["error"]["action"]["retry_after"], 42);
}

TEST(ErrorResponse, UpgradeAndRegisterActionsCarryTheConfiguredLink) {
  ErrorStyle b{ApiFamily::shape_b, "https://me.test/keys"};
  EXPECT_EQ(json::parse(error_response(Error(ErrorCode::quota_exceeded), b).body)["action"]["url"],
            "https://me.test/keys");
  EXPECT_FALSE(json::parse(error_response(Error(ErrorCode::not_found), b).body)["action"].contains("url"));
  ErrorStyle c{ApiFamily::shape_c, "https://me.test/keys"};
  auto signup = json::parse(error_response(Error(ErrorCode::unauthorized), c).body);
  EXPECT_EQ(signup["error"]["type"], "authentication_error");
  EXPECT_EQ(signup["error"]["action"]["type"], "signup");
  EXPECT_EQ(signup["error"]["action"]["url"], "https://me.test/keys");
  // Without a key there is no plan to upgrade: shape C says signup; shape B keeps its action.
  EXPECT_EQ(json::parse(error_response(Error(ErrorCode::file_too_large), c).body)["error"]["action"]["type"], "upgrade");
  ErrorStyle anonymous_c{ApiFamily::shape_c, "https://me.test/keys", true};
  auto anonymous = json::parse(error_response(Error(ErrorCode::file_too_large), anonymous_c).body);
  EXPECT_EQ(anonymous["error"]["action"]["type"], "signup");
  EXPECT_EQ(anonymous["error"]["action"]["url"], "https://me.test/keys");
  ErrorStyle anonymous_b{ApiFamily::shape_b, "https://me.test/keys", true};
  EXPECT_EQ(json::parse(error_response(Error(ErrorCode::file_too_large), anonymous_b).body)["action"]["type"], "upgrade");
}

TEST(ErrorResponse, ExtraFieldsGoBesideTheCodeInEachShape) {
  Error e(ErrorCode::quota_exceeded);
  e.extra_json = R"({"usage": {"uploads_used": 100}})";
  EXPECT_EQ(json::parse(error_response(e).body)["usage"]["uploads_used"], 100);
  EXPECT_EQ(json::parse(error_response(e, {ApiFamily::shape_c, {}}).body)["error"]["usage"]["uploads_used"], 100);
}

TEST(ErrorResponse, UnknownExceptionsAreAnInternalErrorWithoutDetail) {
  auto r = error_response(std::make_exception_ptr(std::runtime_error("secret path /etc/x")), {}, "req-1");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body.find("secret"), std::string::npos);
  EXPECT_EQ(json::parse(r.body)["error"], "internal_error");
  EXPECT_FALSE(header(r, "Retry-After").empty());
  auto known = error_response(std::make_exception_ptr(Error(ErrorCode::not_found)), {}, "req-2");
  EXPECT_EQ(known.status, 404);
  auto odd = error_response(std::make_exception_ptr(42), {}, "req-3");
  EXPECT_EQ(odd.status, 500);
}

TEST(ErrorResponse, TheTransportsErrorsComeFromTheSameRenderer) {
  Error e(ErrorCode::headers_too_large);
  EXPECT_EQ(Response::error(e).body, error_response(e).body);
  EXPECT_EQ(header(Response::error(e), "Cache-Control"), "no-store");
}

}  // namespace
}  // namespace imgpipe::gateway
