// The log line is a contract operators parse: every line a server writes to
// stderr is one JSON object of the format in schemas/log.h — libvips/GLib's
// and the transport's messages included — and a normal run (uploads, an
// import, a failed import, refused uploads, a variant rendered on demand,
// shutdown) logs nothing at error level. The banner for people goes to stdout.
#include <set>

#include "tests/e2e/harness.h"
#include "tests/workers/fetch/http_fixture.h"

namespace imgpipe::e2e {
namespace {

using workers::fetch::test::HttpFixture;
using workers::fetch::test::response;
using workers::fetch::test::send_all;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// The fields schemas/log.h promises on every line.
::testing::AssertionResult is_log_line(const std::string& line) {
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return ::testing::AssertionFailure() << "not a JSON object: " << line;
  static const std::set<std::string> levels{"debug", "info", "warn", "error"};
  if (!j.contains("ts") || !j["ts"].is_number() || j["ts"].get<double>() < 1.7e9)
    return ::testing::AssertionFailure() << "no ts in seconds since 1970: " << line;
  if (!j.contains("level") || !j["level"].is_string() || !levels.count(j["level"].get<std::string>()))
    return ::testing::AssertionFailure() << "no level of debug/info/warn/error: " << line;
  if (!j.contains("event") || !j["event"].is_string() || j["event"].get<std::string>().empty())
    return ::testing::AssertionFailure() << "no event: " << line;
  return ::testing::AssertionSuccess();
}

TEST(Logs, EveryStderrLineIsJsonAndANormalRunLogsNoError) {
  // An origin on loopback (reached with --import-allow-private, as in
  // import_test): one image, and 404 for anything else.
  const std::string photo = read_file(corpus("landscape.jpg"));
  HttpFixture origin([&](int fd, const std::string& request, const HttpFixture&) {
    if (request.rfind("GET /photo.jpg ", 0) == 0) send_all(fd, response(200, photo, "Content-Type: image/jpeg\r\n"));
    else send_all(fd, response(404, "not here", "Content-Type: text/plain\r\n"));
  });
  ServerOptions options;
  options.stderr_apart = true;
  options.extra_args = {"--import-allow-private", "--no-pregenerate", "--anonymous-max-mb", "2"};
  ServerProcess s(options);
  ASSERT_NO_THROW(s.start());

  auto uploaded = upload(s, corpus("medium.jpg"));
  ASSERT_EQ(uploaded.status, 201) << uploaded.describe() << "\n" << s.log_tail();
  auto imported = post_json(s.url("/v1/import"), {{"url", origin.url("/photo.jpg")}});
  EXPECT_EQ(imported.status, 201) << imported.describe();
  EXPECT_TRUE(is_error(post_json(s.url("/v1/import"), {{"url", origin.url("/missing.jpg")}}), 502, "import_failed"));

  // Refused uploads: by Content-Length before the body (RejectBody), and
  // chunked, in the middle of the body (the sink's limit).
  Multipart big;
  big.bytes = read_file(corpus("big.jpg")).substr(0, 3 << 20);  // a real JPEG start, over the 2 MB limit
  big.filename = "big.jpg";
  big.content_type = "image/jpeg";
  EXPECT_TRUE(is_error(post_multipart(s.url("/v1/upload"), big), 413, "file_too_large"));
  big.chunked = true;
  EXPECT_TRUE(is_error(post_multipart(s.url("/v1/upload"), big), 413, "file_too_large"));

  // A truncated JPEG: libvips warns through GLib while it decodes.
  EXPECT_TRUE(is_error(upload(s, corpus("truncated.jpg")), 422, "invalid_image"));

  // Pre-generation is off: this variant is rendered on demand.
  auto variant = http_get(with_size(uploaded.json()["src"].get<std::string>(), "s"));
  ASSERT_EQ(variant.status, 200) << variant.describe();
  EXPECT_TRUE(decode(variant.body).ok);

  ASSERT_EQ(s.stop(), 0) << s.log_tail();

  const auto stderr_lines = lines_of(s.stderr_text());
  ASSERT_FALSE(stderr_lines.empty());
  std::set<std::string> events;
  bool vips_warned = false;
  for (const auto& line : stderr_lines) {
    ASSERT_TRUE(is_log_line(line));
    auto j = nlohmann::json::parse(line);
    events.insert(j["event"].get<std::string>());
    EXPECT_NE(j["level"], "error") << line;
    if (j["event"] == "glib" && j.value("domain", "") == "VIPS" && j["level"] == "warn" && j.contains("msg"))
      vips_warned = true;
  }
  EXPECT_TRUE(vips_warned) << "no libvips warning as a JSON line with its domain:\n" << s.stderr_text();
  for (const char* e : {"started", "request", "job_done", "rendered_on_demand", "stopped"})
    EXPECT_TRUE(events.count(e)) << "no " << e << " line:\n" << s.stderr_text();

  // The banner is for people, on stdout (the log file), never on stderr.
  EXPECT_NE(s.log_tail(1 << 20).find("imgpipe: serving on http://"), std::string::npos);
  EXPECT_EQ(s.stderr_text().find("serving on"), std::string::npos);
}

}  // namespace
}  // namespace imgpipe::e2e
