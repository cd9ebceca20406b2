// What GLib reports (libvips warns through it) becomes our log line: one JSON
// object per message with its domain, whichever domain or API logged it.
#include "workers/image/glib_log.h"

#include <glib.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "schemas/log.h"

namespace imgpipe::workers::image {
namespace {

std::vector<nlohmann::json> json_lines(const std::string& captured) {
  std::vector<nlohmann::json> out;
  size_t start = 0;
  while (start < captured.size()) {
    auto end = captured.find('\n', start);
    if (end == std::string::npos) end = captured.size();
    auto j = nlohmann::json::parse(captured.substr(start, end - start), nullptr, false);
    EXPECT_TRUE(j.is_object()) << "not a JSON line: " << captured.substr(start, end - start);
    out.push_back(j);
    start = end + 1;
  }
  return out;
}

void expect_line(const nlohmann::json& j, std::string_view level, std::string_view domain, std::string_view msg) {
  EXPECT_EQ(j.value("event", ""), "glib") << j;
  EXPECT_EQ(j.value("level", ""), level) << j;
  EXPECT_EQ(j.value("domain", ""), domain) << j;
  EXPECT_EQ(j.value("msg", ""), msg) << j;
  EXPECT_TRUE(j.contains("ts")) << j;
}

TEST(GlibLog, EachDomainsMessageIsOneJsonLine) {
  log::setup("debug");
  route_glib_log();
  route_glib_log();  // a second call changes nothing (GLib allows one writer per process)
  testing::internal::CaptureStderr();
  g_log("VIPS", G_LOG_LEVEL_WARNING, "read gave %d warnings", 2);
  g_log("GLib-GObject", G_LOG_LEVEL_CRITICAL, "g_object_unref: assertion '%s' failed", "G_IS_OBJECT (object)");
  g_log("GLib", G_LOG_LEVEL_MESSAGE, "a \"quoted\" message");
  g_log(nullptr, G_LOG_LEVEL_DEBUG, "the default domain");
  auto lines = json_lines(testing::internal::GetCapturedStderr());
  ASSERT_EQ(lines.size(), 4u);
  expect_line(lines[0], "warn", "VIPS", "read gave 2 warnings");
  expect_line(lines[1], "error", "GLib-GObject", "g_object_unref: assertion 'G_IS_OBJECT (object)' failed");
  expect_line(lines[2], "info", "GLib", "a \"quoted\" message");
  expect_line(lines[3], "debug", "default", "the default domain");
}

TEST(GlibLog, StructuredMessagesToo) {
  log::setup("info");
  route_glib_log();
  testing::internal::CaptureStderr();
  g_log_structured("GLib-GIO", G_LOG_LEVEL_WARNING, "MESSAGE", "structured %d", 1);
  g_log_structured("GLib-GIO", G_LOG_LEVEL_DEBUG, "MESSAGE", "below the level");
  auto lines = json_lines(testing::internal::GetCapturedStderr());
  ASSERT_EQ(lines.size(), 1u);
  expect_line(lines[0], "warn", "GLib-GIO", "structured 1");
}

}  // namespace
}  // namespace imgpipe::workers::image
