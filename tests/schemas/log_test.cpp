// The access-log line is written by hand (no JSON tree): it must still be
// one valid JSON object per line with the documented fields, whatever the
// client put in the path.
#include "schemas/log.h"

#include <gtest/gtest.h>

#include <climits>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

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

// A client's absurd path (the header limit allows kilobytes) still makes
// one line of at most PIPE_BUF bytes — the size one write(2) keeps whole —
// with the path's first bytes and a mark that it was cut.
TEST(AccessLog, AnAbsurdPathIsCutToKeepTheLineOneAtomicWrite) {
  setup("info");
  const std::string path = "/" + std::string(8000, '\x01');
  testing::internal::CaptureStderr();
  request({std::string(100, 'M'), path, "id", 404, 1, 0, true});
  auto text = testing::internal::GetCapturedStderr();
  EXPECT_LE(text.size(), static_cast<size_t>(PIPE_BUF));
  auto line = only_line(text);
  EXPECT_EQ(line["path"], path.substr(0, 512));
  EXPECT_EQ(line["method"], std::string(32, 'M'));
  EXPECT_EQ(line["truncated"], true);
  EXPECT_EQ(line["status"], 404);
}

// Request lines are written without a lock (one write(2) each); on a pipe,
// where a shipper reads them, lines from several threads, next to other
// events, arrive whole: every line parses and none is lost.
TEST(AccessLog, LinesFromManyThreadsArriveWholeThroughAPipe) {
  setup("info");
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const int saved = dup(STDERR_FILENO);
  ASSERT_EQ(dup2(fds[1], STDERR_FILENO), STDERR_FILENO);
  close(fds[1]);
  std::string captured;
  std::thread reader([&] {
    char buf[65536];
    for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) captured.append(buf, static_cast<size_t>(n));
  });
  constexpr int kThreads = 4, kLines = 2000;
  {
    std::vector<std::jthread> writers;
    for (int t = 0; t < kThreads; ++t)
      writers.emplace_back([t] {
        // Up to ~3.8 KB a line: 600 control bytes escape to 3600.
        const std::string path = "/" + std::string(static_cast<size_t>(t) * 200, '\x01');
        for (int i = 0; i < kLines; ++i) request({"GET", path, std::to_string(t), 200, 1, 0, true});
      });
    writers.emplace_back([] {
      for (int i = 0; i < kLines; ++i) info("other_event", {{"i", i}});
    });
  }
  dup2(saved, STDERR_FILENO);  // closes the pipe's last write end: the reader sees its end
  close(saved);
  reader.join();
  close(fds[0]);
  std::map<std::string, int> per_thread;
  int others = 0;
  std::istringstream lines(captured);
  for (std::string text; std::getline(lines, text);) {
    auto line = nlohmann::json::parse(text);  // throws (fails the test) on a torn line
    if (line["event"] == "request")
      ++per_thread[line["request_id"]];
    else if (line["event"] == "other_event")
      ++others;
  }
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(per_thread[std::to_string(t)], kLines) << t;
  EXPECT_EQ(others, kLines);
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
