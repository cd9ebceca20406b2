// The access-log line is written by hand (no JSON tree): it must still be
// one valid JSON object per line with the documented fields, whatever the
// client put in the path.
#include "schemas/log.h"

#include <gtest/gtest.h>

#include <regex>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace imgpipe::log {
namespace {

nlohmann::json only_line(const std::string& captured) {
  EXPECT_EQ(std::count(captured.begin(), captured.end(), '\n'), 1) << captured;
  return nlohmann::json::parse(captured);  // throws (fails the test) on invalid JSON
}

TEST(AccessLog, RequestLineIsOneJsonObject) {
  setup("info");
  testing::internal::CaptureStderr();
  request({"GET", "/Gk/abc.webp", "0123456789abcdef", 200, 0.1234, 12678, true});
  auto line = only_line(testing::internal::GetCapturedStderr());
  EXPECT_EQ(line["event"], "request");
  EXPECT_EQ(line["level"], "info");
  EXPECT_EQ(line["method"], "GET");
  EXPECT_EQ(line["path"], "/Gk/abc.webp");
  EXPECT_EQ(line["request_id"], "0123456789abcdef");
  EXPECT_EQ(line["status"], 200);
  EXPECT_DOUBLE_EQ(line["ms"].get<double>(), 0.123);
  EXPECT_EQ(line["bytes"], 12678);
  EXPECT_EQ(line["sent"], true);
  EXPECT_GT(line["ts"].get<double>(), 1.7e9);
}

// Times as fixed-point text, as before: seconds with 6 decimals, ms with 3.
TEST(AccessLog, TimesAreFixedPointWithTheirDecimals) {
  setup("info");
  testing::internal::CaptureStderr();
  request({"GET", "/", "id", 200, 1234.5678, 0, true});
  request({"GET", "/", "id", 200, 0.0, 0, true});
  auto text = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(std::regex_search(text, std::regex(R"(^\{"ts":\d{10}\.\d{6},)"))) << text;
  EXPECT_NE(text.find(R"("ms":1234.568,)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("ms":0.000,)"), std::string::npos) << text;
}

TEST(AccessLog, PathsAreEscapedAndInvalidUtf8Replaced) {
  setup("info");
  testing::internal::CaptureStderr();
  request({"GET", "/a\"b\\c\n\x01\xff/caf\xc3\xa9", "id", 404, 1, 0, false});
  auto line = only_line(testing::internal::GetCapturedStderr());
  EXPECT_EQ(line["path"], "/a\"b\\c\n\x01\xef\xbf\xbd/caf\xc3\xa9");  // U+FFFD for the stray byte
  EXPECT_EQ(line["sent"], false);
}

TEST(AccessLog, NothingBelowTheLevel) {
  setup("warn");
  EXPECT_FALSE(enabled(Level::info));
  EXPECT_TRUE(enabled(Level::error));
  testing::internal::CaptureStderr();
  request({"GET", "/x", "id", 200, 1, 1, true});
  info("ignored");
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

// Code that calls spdlog directly (not yet on write(), or a library) still
// leaves a line of our format, its text in "msg".
TEST(Log, SpdlogsDefaultLoggerWritesOurLine) {
  setup("info");
  testing::internal::CaptureStderr();
  spdlog::warn("kafka {}: a \"quoted\" {}", "producer", 42);
  spdlog::debug("below the level");
  auto line = only_line(testing::internal::GetCapturedStderr());
  EXPECT_EQ(line["level"], "warn");
  EXPECT_EQ(line["event"], "log");
  EXPECT_EQ(line["msg"], "kafka producer: a \"quoted\" 42");
  EXPECT_GT(line["ts"].get<double>(), 1.7e9);
}

}  // namespace
}  // namespace imgpipe::log
