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

// Shape C's fetch_failed is one code at two statuses, like validation_error;
// shape B's import codes map onto it, anything else passes through.
TEST(ErrorTable, FetchFailedIsTheImportFailuresOfShapeC) {
  ASSERT_NE(find_error("fetch_failed", 502), nullptr);
  ASSERT_NE(find_error("fetch_failed", 504), nullptr);
  EXPECT_EQ(find_error("fetch_failed", 502)->type, "processing_error");
  EXPECT_TRUE(find_error("fetch_failed", 504)->retryable);
  Error slow(ErrorCode::import_timeout, "Host x did not answer in time.");
  slow.retry_after_seconds = 7;
  auto shaped = as_fetch_failed(slow);
  EXPECT_EQ(shaped.info().code, "fetch_failed");
  EXPECT_EQ(shaped.info().http_status, 504);
  EXPECT_STREQ(shaped.what(), "Host x did not answer in time.");
  EXPECT_EQ(retry_after(shaped), 7);
  for (auto id : {ErrorCode::import_failed, ErrorCode::import_unreachable})
    EXPECT_EQ(as_fetch_failed(Error(id)).info().http_status, 502);
  EXPECT_EQ(as_fetch_failed(Error(ErrorCode::import_forbidden)).id(), ErrorCode::import_forbidden) << "SSRF stays";
  EXPECT_EQ(as_fetch_failed(Error(ErrorCode::invalid_image)).id(), ErrorCode::invalid_image);
}
