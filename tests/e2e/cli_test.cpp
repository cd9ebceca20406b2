// The command line, configuration from the environment, and signals.
#include <future>
#include <thread>

#include "tests/e2e/harness.h"

namespace imgpipe::e2e {
namespace {

bool contains(const std::string& hay, std::string_view needle) { return hay.find(needle) != std::string::npos; }

// Every help entry (line plus continuation lines) that mentions `flag`; a
// usage line at the top may mention it too, so callers check any of them.
std::vector<std::string> help_entries(const std::string& help, const std::string& flag) {
  std::vector<std::string> out;
  for (auto pos = help.find(flag); pos != std::string::npos; pos = help.find(flag, pos + 1)) {
    auto start = help.rfind('\n', pos);
    start = start == std::string::npos ? 0 : start + 1;
    auto end = help.find('\n', pos);
    // Continuation lines: indented more deeply and not starting a new flag.
    while (end != std::string::npos && end + 1 < help.size()) {
      auto next_end = help.find('\n', end + 1);
      std::string line = help.substr(end + 1, (next_end == std::string::npos ? help.size() : next_end) - end - 1);
      auto first = line.find_first_not_of(' ');
      if (first == std::string::npos || first < 6 || line[first] == '-') break;
      end = next_end;
    }
    out.push_back(help.substr(start, (end == std::string::npos ? help.size() : end) - start));
  }
  return out;
}

::testing::AssertionResult documents_default(const std::string& help, const std::string& flag, std::string_view value) {
  for (auto& e : help_entries(help, flag))
    if (contains(e, value)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "no help entry for " << flag << " shows a default containing \"" << value
                                       << "\":\n" << help;
}

TEST(Cli, TopLevelHelpNamesServeAndExitsZero) {
  auto r = run({imgpipe_binary().string(), "--help"}, 30s);
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "serve")) << r.out;
}

TEST(Cli, ServeHelpListsEveryFlagWithItsDefault) {
  auto r = run({imgpipe_binary().string(), "serve", "--help"}, 30s);
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  for (auto flag : {"--listen", "--data-dir", "--public-url", "--src-url", "--workers", "--max-pixels",
                    "--ingest-timeout"})
    EXPECT_TRUE(contains(r.out, flag)) << "serve --help does not mention " << flag << ":\n" << r.out;
  // Defaults from the spec: listen 127.0.0.1:8080, data dir ./data, and a
  // public URL on the same address.
  EXPECT_TRUE(documents_default(r.out, "--listen", "127.0.0.1:8080"));
  EXPECT_TRUE(documents_default(r.out, "--data-dir", "data"));
  EXPECT_TRUE(documents_default(r.out, "--public-url", "http://"));
}

TEST(Cli, UnknownFlagFailsWithNonZeroExit) {
  auto r = run({imgpipe_binary().string(), "serve", "--no-such-flag"}, 30s);
  ASSERT_FALSE(r.timed_out) << "imgpipe serve with a bad flag did not exit";
  EXPECT_NE(r.exit_code, 0) << r.out;
}

// Every command without its arguments says what it needs and exits 2 (a
// bare `imgpipe topics` used to abort on an uncaught exception); the
// commands that print documents explain themselves with --help.
TEST(Cli, CommandsWithoutArgumentsExplainThemselves) {
  for (const char* command : {"topics", "replay", "backup", "restore", "blobs", "keys", "mail"}) {
    auto r = run({imgpipe_binary().string(), command}, 30s);
    ASSERT_FALSE(r.timed_out) << command;
    EXPECT_EQ(r.exit_code, 2) << command << ": " << r.out;
    EXPECT_TRUE(contains(r.out, command)) << command << " does not name itself: " << r.out;
  }
  for (const char* command : {"errors", "openapi"}) {
    auto r = run({imgpipe_binary().string(), command, "--help"}, 30s);
    EXPECT_EQ(r.exit_code, 0) << r.out;
    EXPECT_TRUE(contains(r.out, std::string("Usage: imgpipe ") + command)) << r.out;
    r = run({imgpipe_binary().string(), command, "--bogus"}, 30s);
    EXPECT_EQ(r.exit_code, 2) << command << " --bogus: " << r.out;
  }
}

TEST(Cli, ConfigurationFromEnvironment) {
  ServerOptions o;
  o.config_via_env = true;
  o.src_url = "http://cdn.imgpipe.test:9";
  o.env["IMGPIPE_MAX_PIXELS"] = "1000000";
  ServerProcess s(o);
  ASSERT_NO_THROW(s.start());
  auto r = upload(s, corpus("under-1mp.jpg"));
  ASSERT_EQ(r.status, 201) << r.describe();
  auto j = r.json();
  ASSERT_TRUE(j.is_object()) << r.describe();
  std::string id = j.value("id", "");
  EXPECT_EQ(j.value("url", ""), s.base_url() + "/" + id) << "IMGPIPE_PUBLIC_URL not used";
  EXPECT_EQ(j.value("src", "").rfind("http://cdn.imgpipe.test:9/", 0), 0u) << "IMGPIPE_SRC_URL not used: " << j;
  // IMGPIPE_DATA_DIR was used: the data landed there.
  bool wrote = false;
  for (auto& e : fs::recursive_directory_iterator(s.data_dir())) wrote |= e.is_regular_file();
  EXPECT_TRUE(wrote) << "nothing written under IMGPIPE_DATA_DIR " << s.data_dir();
  // IMGPIPE_MAX_PIXELS was used: 1280x800 is over 1 MP.
  EXPECT_TRUE(is_error(upload(s, corpus("over-1mp.jpg")), 422, "image_too_large"));
  EXPECT_EQ(s.stop(), 0) << s.log_tail();
}

TEST(Cli, SrcUrlFlagPrefixesSrcButNotUrl) {
  ServerOptions o;
  o.src_url = "https://src.imgpipe.test";
  ServerProcess s(o);
  ASSERT_NO_THROW(s.start());
  auto r = upload(s, corpus("under-1mp.jpg"));
  ASSERT_EQ(r.status, 201) << r.describe();
  auto j = r.json();
  std::string id = j.value("id", "");
  std::string src = j.value("src", "");
  EXPECT_EQ(j.value("url", ""), s.base_url() + "/" + id);
  EXPECT_EQ(src.rfind("https://src.imgpipe.test/", 0), 0u) << src;
  EXPECT_EQ(ext_of(src), "jpeg") << src;
  // The same path is served by this server.
  auto g = http_get(s.url(path_of(src)));
  EXPECT_EQ(g.status, 200) << g.describe();
}

TEST(Signals, SigtermOnIdleServerExitsZero) {
  ServerProcess s;
  ASSERT_NO_THROW(s.start());
  EXPECT_EQ(s.stop(), 0) << s.log_tail();
}

// SIGTERM while an upload is still being sent: the server finishes it (201)
// and then exits 0.
TEST(Signals, SigtermDrainsAnUploadInFlight) {
  ServerProcess s;
  ASSERT_NO_THROW(s.start());
  std::promise<void> started;
  auto started_f = started.get_future();
  Multipart m;
  m.file = corpus("landscape.jpg");  // ~0.9 MB in 64 KiB pieces, 50 ms apart: ~0.7 s on the wire
  m.content_type = "image/jpeg";
  m.throttle = 50ms;
  m.on_body_started = [&] { started.set_value(); };
  auto upload_f = std::async(std::launch::async, [&] { return post_multipart(s.url("/v1/upload"), m, 90s); });
  ASSERT_EQ(started_f.wait_for(30s), std::future_status::ready) << "upload never started";
  // The upload's header is read (it is in flight beside the /metrics request asking).
  ASSERT_TRUE(eventually([&] {
    return http_get(s.url("/metrics")).body.find("\nimgpipe_http_requests_in_flight 2\n") != std::string::npos;
  }, 30s, 20ms)) << s.log_tail();
  s.signal(SIGTERM);
  ASSERT_EQ(upload_f.wait_for(90s), std::future_status::ready) << "upload hung after SIGTERM";
  auto r = upload_f.get();
  EXPECT_EQ(r.status, 201) << "in-flight upload was not drained: " << r.describe() << "\n" << s.log_tail();
  EXPECT_EQ(s.wait(60s), 0) << "exit status after SIGTERM\n" << s.log_tail();
}

}  // namespace
}  // namespace imgpipe::e2e
