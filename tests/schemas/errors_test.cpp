#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "schemas/errors.h"

using namespace imgpipe::schemas;

TEST(ErrorTable, EveryEntryIsCompleteAndLookupFindsItself) {
  std::set<int> ids;
  for (const auto& e : error_table()) {
    EXPECT_TRUE(ids.insert(static_cast<int>(e.id)).second) << e.code;
    EXPECT_EQ(&error_info(e.id), &e) << e.code;
    EXPECT_FALSE(e.code.empty());
    EXPECT_FALSE(e.message.empty()) << e.code;
    EXPECT_FALSE(e.action_label.empty()) << e.code;
    EXPECT_GE(e.http_status, 400) << e.code;
    EXPECT_LT(e.http_status, 600) << e.code;
    // Retry-After is promised exactly for the retryable ones.
    if (e.http_status == 503 || e.http_status == 429) {
      EXPECT_TRUE(e.retryable) << e.code;
    }
  }
}

TEST(ErrorTable, CodesTheApiPromisesHaveTheirStatus) {
  EXPECT_EQ(error_info(ErrorCode::bad_request).code, "validation_error");
  EXPECT_EQ(error_info(ErrorCode::bad_request).http_status, 400);
  EXPECT_EQ(error_info(ErrorCode::invalid_field).code, "validation_error");
  EXPECT_EQ(error_info(ErrorCode::invalid_field).http_status, 422);
  EXPECT_EQ(error_info(ErrorCode::file_too_large).http_status, 413);
  EXPECT_EQ(error_info(ErrorCode::unsupported_format).http_status, 415);
  EXPECT_EQ(error_info(ErrorCode::invalid_image).http_status, 422);
  EXPECT_EQ(error_info(ErrorCode::image_too_large).http_status, 422);
  EXPECT_EQ(error_info(ErrorCode::not_found).http_status, 404);
  EXPECT_EQ(error_info(ErrorCode::rate_limited).http_status, 429);
  EXPECT_EQ(error_info(ErrorCode::service_unavailable).http_status, 503);
}

TEST(ErrorBody, HasTheReferenceShape) {
  Error e(ErrorCode::rate_limited, "Slow down.");
  e.retry_after_seconds = 42;
  e.extra_json = R"({"usage":{"plan":"free"}})";
  auto body = nlohmann::json::parse(error_body(e));
  EXPECT_EQ(body["error"], "rate_limited");
  EXPECT_EQ(body["message"], "Slow down.");
  EXPECT_EQ(body["action"]["type"], "wait");
  EXPECT_EQ(body["action"]["seconds"], 42);
  EXPECT_FALSE(body["action"]["label"].get<std::string>().empty());
  EXPECT_EQ(body["usage"]["plan"], "free");
}

TEST(ErrorBody, ExtraFieldsCannotReplaceTheCode) {
  Error e(ErrorCode::quota_exceeded);
  e.extra_json = "not json";
  auto body = nlohmann::json::parse(error_body(e, "https://example.test/upgrade"));
  EXPECT_EQ(body["error"], "quota_exceeded");
  EXPECT_EQ(body["action"]["url"], "https://example.test/upgrade");
}
