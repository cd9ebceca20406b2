// POST /v1/import against the real binary: real HTTP origin servers on
// 127.0.0.1 inside the test serve images, redirects, slow drips, endless and
// compressed bodies, lies about the type and errors; every error code of the
// import path is produced at least once with its status and body shape.
//
// Two servers: "open" runs with --import-allow-private (UNSAFE, needed to
// reach the loopback origins at all) and short fetch timeouts; "deny" runs
// with the defaults and must refuse loopback without opening a connection.
// Only loopback addresses are ever contacted: the refused non-loopback
// literals are only sent to the "deny" server, and only after it was shown
// to refuse a literal address without connecting.
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "tests/e2e/harness.h"
#include "tests/workers/fetch/http_fixture.h"

namespace imgpipe::e2e {
namespace {

using workers::fetch::test::HttpFixture;
using workers::fetch::test::response;
using workers::fetch::test::send_all;
using Clock = std::chrono::steady_clock;

constexpr int kImportTimeoutS = 4;     // --import-timeout of the open server
constexpr int kMinRate = 512;          // --import-min-rate (bytes/s) ...
constexpr int kMinRateWindowS = 1;     // ... over this many seconds
constexpr uint64_t kMaxBytes = 2 << 20;  // --anonymous-max-mb 2

using workers::fetch::test::gzip;

// ---- an origin server with routes --------------------------------------------

using Action = std::function<void(int fd, const HttpFixture& self)>;

class Origin {
 public:
  Origin() : fx_([this](int fd, const std::string& request, const HttpFixture& self) { dispatch(fd, request, self); }) {}

  void route(const std::string& path, Action a) {
    std::lock_guard lock(m_);
    routes_[path] = std::move(a);
  }
  std::string url(const std::string& path) const { return fx_.url(path); }
  uint16_t port() const { return fx_.port(); }
  int accepts() const { return fx_.accepts(); }
  std::vector<std::string> requests() const { return fx_.requests(); }
  std::vector<std::string> paths() const {
    std::vector<std::string> out;
    for (auto& r : fx_.requests()) out.push_back(path_of_request(r));
    return out;
  }

  // Canned answers.
  static Action body(int status, std::string bytes, std::string headers = "") {
    return [raw = response(status, bytes, headers)](int fd, const HttpFixture&) { send_all(fd, raw); };
  }
  static Action file(const fs::path& p, const std::string& content_type) {
    return body(200, read_file(p), "Content-Type: " + content_type + "\r\n");
  }
  static Action redirect(const std::string& location, int status = 302) {
    return body(status, "", "Location: " + location + "\r\n");
  }
  // Headers at once, then `chunk` bytes every `every`, until the client goes
  // away, `total` bytes are sent, or the fixture stops.
  static Action drip(size_t chunk, std::chrono::milliseconds every, size_t total, std::atomic<int>* sent = nullptr) {
    return [=](int fd, const HttpFixture& self) {
      if (!send_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: " + std::to_string(total) +
                            "\r\nConnection: close\r\n\r\n"))
        return;
      std::string piece(chunk, '\xff');
      size_t done = 0;
      const auto give_up = Clock::now() + std::chrono::seconds(60);
      while (done < total && !self.stopping() && Clock::now() < give_up) {
        if (!send_all(fd, piece)) return;
        done += chunk;
        if (sent) *sent += static_cast<int>(chunk);
        std::this_thread::sleep_for(every);
      }
    };
  }
  // A JPEG start and then bytes forever (no Content-Length), as fast as the
  // client reads, until it hangs up; reports how much was sent.
  static Action endless(std::atomic<uint64_t>* sent, std::atomic<bool>* hung_up) {
    return [sent, hung_up](int fd, const HttpFixture& self) {
      if (!send_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nConnection: close\r\n\r\n\xff\xd8\xff\xe0"))
        return;
      std::string piece(64 * 1024, '\0');
      for (uint64_t i = 0; i < 4096 && !self.stopping(); ++i) {  // 256 MiB at most
        if (!send_all(fd, piece)) {
          *hung_up = true;
          return;
        }
        *sent += piece.size();
      }
    };
  }

 private:
  static std::string path_of_request(const std::string& request) {
    auto sp1 = request.find(' ');
    if (sp1 == std::string::npos) return {};
    auto sp2 = request.find(' ', sp1 + 1);
    return request.substr(sp1 + 1, sp2 == std::string::npos ? std::string::npos : sp2 - sp1 - 1);
  }
  void dispatch(int fd, const std::string& request, const HttpFixture& self) {
    auto path = path_of_request(request);
    Action a;
    {
      std::lock_guard lock(m_);
      auto it = routes_.find(path);
      if (it == routes_.end()) it = routes_.find(path.substr(0, path.find('?')));
      if (it != routes_.end()) a = it->second;
    }
    if (a) a(fd, self);
    else send_all(fd, response(404, "not here", "Content-Type: text/plain\r\n"));
  }

  std::mutex m_;
  std::map<std::string, Action> routes_;
  HttpFixture fx_;  // last: its thread starts in the constructor and uses routes_
};

// ---- servers -----------------------------------------------------------------

ServerOptions open_options() {
  ServerOptions o;
  o.extra_args = {"--import-allow-private",
                  "--import-timeout", std::to_string(kImportTimeoutS),
                  "--import-min-rate", std::to_string(kMinRate),
                  "--import-min-rate-window", std::to_string(kMinRateWindowS),
                  "--anonymous-max-mb", std::to_string(kMaxBytes >> 20)};
  return o;
}

Response import(const ServerProcess& s, const std::string& url, std::optional<std::string> name = std::nullopt) {
  nlohmann::json body{{"url", url}};
  if (name) body["name"] = *name;
  return post_json(s.url("/v1/import"), body);
}

// Files the worker left in the staging folder for imports.
std::vector<std::string> leftover_imports(const ServerProcess& s) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(s.data_dir(), ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file(ec) && it->path().extension() == ".import") out.push_back(it->path().string());
  }
  return out;
}

class ImportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_THROW(server_ = &SharedServer::get("import-open", open_options())) << "server did not start";
  }
  void TearDown() override {
    if (HasFailure() && server_) std::cerr << "---- server log ----\n" << server_->log_tail() << "\n";
  }
  ServerProcess& s() { return *server_; }
  ServerProcess* server_ = nullptr;
  Origin origin_;
};

::testing::AssertionResult is_upload_body(const ServerProcess& s, const Response& r) {
  if (r.status != 201) return ::testing::AssertionFailure() << "want 201, got " << r.describe();
  auto j = r.json();
  if (!j.is_object()) return ::testing::AssertionFailure() << "not a JSON object: " << r.describe();
  std::set<std::string> keys;
  for (auto& [k, v] : j.items()) keys.insert(k);
  const std::set<std::string> want{"id",       "name",       "url",       "src",       "width",
                                   "height",   "filesize",   "expires_at", "created_at", "upgrade"};
  if (keys != want) return ::testing::AssertionFailure() << "keys differ from the upload body: " << j.dump();
  if (!j["id"].is_string() || j["url"] != s.base_url() + "/" + j["id"].get<std::string>())
    return ::testing::AssertionFailure() << "url is not <public-url>/<id>: " << j.dump();
  if (!j["width"].is_number_integer() || !j["height"].is_number_integer() || !j["filesize"].is_number_integer())
    return ::testing::AssertionFailure() << "width/height/filesize not integers: " << j.dump();
  if (!j["expires_at"].is_number_integer() || !j["created_at"].is_number_integer() ||
      j["expires_at"].get<int64_t>() - j["created_at"].get<int64_t>() != 30 * 86400)
    return ::testing::AssertionFailure() << "created_at/expires_at: " << j.dump();
  if (!j["upgrade"].is_object()) return ::testing::AssertionFailure() << "upgrade: " << j.dump();
  if (r.header("Location") != j["url"]) return ::testing::AssertionFailure() << "Location: " << r.header("Location");
  return ::testing::AssertionSuccess();
}

// ---- success -------------------------------------------------------------------

TEST_F(ImportTest, JpegImportAnswersExactlyLikeAnUploadAndIsServed) {
  auto file = corpus("landscape.jpg");
  origin_.route("/photos/landscape.jpg", Origin::file(file, "image/jpeg"));
  auto r = import(s(), origin_.url("/photos/landscape.jpg"));
  ASSERT_TRUE(is_upload_body(s(), r));
  auto j = r.json();
  EXPECT_EQ(j["name"], "landscape.jpg") << "name defaults to the last segment of the URL path";

  auto want = decode_file_upright(file);
  ASSERT_TRUE(want.ok) << want.error;
  EXPECT_EQ(j["width"].get<int>(), want.width);
  EXPECT_EQ(j["height"].get<int>(), want.height);

  std::string src = j["src"];
  EXPECT_EQ(ext_of(src), "jpeg");
  auto g = http_get(src);
  ASSERT_EQ(g.status, 200) << g.describe();
  EXPECT_EQ(static_cast<int64_t>(g.body.size()), j["filesize"].get<int64_t>());
  auto d = decode(g.body);
  ASSERT_TRUE(d.ok) << d.error;
  EXPECT_EQ(d.format, "jpeg");
  EXPECT_EQ(d.width, j["width"].get<int>());
  EXPECT_EQ(d.height, j["height"].get<int>());

  for (std::string size : {"s", "m", "l"}) {
    auto v = http_get(with_size(src, size));
    ASSERT_EQ(v.status, 200) << size << ": " << v.describe();
    auto vd = decode(v.body);
    ASSERT_TRUE(vd.ok) << size << ": " << vd.error;
    EXPECT_TRUE(dims_match({vd.width, vd.height},
                           expected_variant({want.width, want.height}, short_edge_of(size))))
        << "size " << size;
  }
  auto viewer = http_get(j["url"].get<std::string>());
  EXPECT_EQ(viewer.status, 200) << viewer.describe();

  // One plain GET reached the origin, identifying itself.
  auto reqs = origin_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].rfind("GET /photos/landscape.jpg HTTP/1.1\r\n", 0), 0u) << reqs[0];
  EXPECT_NE(reqs[0].find("imgpipe"), std::string::npos) << "User-Agent should name imgpipe:\n" << reqs[0];
}

TEST_F(ImportTest, OtherFormatsAreImportedInTheirOwnFormat) {
  struct Case {
    std::string file, ext;
  };
  for (const auto& c : std::vector<Case>{{"tall.png", "png"}, {"photo.webp", "webp"}, {"animated.gif", "gif"}}) {
    SCOPED_TRACE(c.file);
    origin_.route("/i/" + c.file, Origin::file(corpus(c.file), "application/octet-stream"));
    auto r = import(s(), origin_.url("/i/" + c.file));
    ASSERT_TRUE(is_upload_body(s(), r));
    auto j = r.json();
    EXPECT_EQ(j["name"], c.file);
    EXPECT_EQ(ext_of(j["src"]), c.ext);
    auto g = http_get(j["src"].get<std::string>());
    ASSERT_EQ(g.status, 200) << g.describe();
    auto d = decode(g.body);
    ASSERT_TRUE(d.ok) << d.error;
    EXPECT_EQ(d.width, j["width"].get<int>());
    EXPECT_EQ(d.height, j["height"].get<int>());
  }
}

TEST_F(ImportTest, NameComesFromTheNameFieldOrThePathWithoutQuery) {
  origin_.route("/a/b/pic.png", Origin::file(corpus("tall.png"), "image/png"));
  origin_.route("/a/b/photo.jpg", Origin::file(corpus("under-1mp.jpg"), "image/jpeg"));

  auto r1 = import(s(), origin_.url("/a/b/photo.jpg"), "holiday.jpg");
  ASSERT_TRUE(is_upload_body(s(), r1));
  EXPECT_EQ(r1.json()["name"], "holiday.jpg");

  auto r2 = import(s(), origin_.url("/a/b/pic.png?size=large&token=x#frag"));
  ASSERT_TRUE(is_upload_body(s(), r2));
  EXPECT_EQ(r2.json()["name"], "pic.png");
}

TEST_F(ImportTest, NameWithoutAFileNameInThePath) {
  origin_.route("/", Origin::file(corpus("under-1mp.jpg"), "image/jpeg"));
  origin_.route("/dir/", Origin::file(corpus("under-1mp.jpg"), "image/jpeg"));
  origin_.route("/my%20photo.jpg", Origin::file(corpus("under-1mp.jpg"), "image/jpeg"));
  origin_.route("/bad%00name.jpg", Origin::file(corpus("under-1mp.jpg"), "image/jpeg"));
  struct Case {
    std::string url, name;
  };
  for (const auto& c : std::vector<Case>{{origin_.url(""), ""},
                                         {origin_.url("/"), ""},
                                         {origin_.url("/dir/"), ""},
                                         {origin_.url("/my%20photo.jpg"), "my photo.jpg"},
                                         {origin_.url("/bad%00name.jpg"), "bad%00name.jpg"}}) {
    SCOPED_TRACE(c.url);
    auto r = import(s(), c.url);
    ASSERT_TRUE(is_upload_body(s(), r));
    EXPECT_EQ(r.json()["name"], c.name) << "the host is never the name; escapes are decoded when printable";
  }
}

TEST_F(ImportTest, LongNamesAreCutWithoutBreakingUtf8) {
  origin_.route("/x.jpg", Origin::file(corpus("under-1mp.jpg"), "image/jpeg"));
  std::string name;
  for (int i = 0; i < 200; ++i) name += "\xc3\xa9";  // é, 400 bytes
  auto r = import(s(), origin_.url("/x.jpg"), name);
  ASSERT_TRUE(is_upload_body(s(), r));
  std::string got = r.json()["name"];
  EXPECT_LE(got.size(), 255u);
  EXPECT_EQ(got.size() % 2, 0u) << "a UTF-8 sequence was split";
  EXPECT_EQ(got, name.substr(0, got.size()));
}

TEST_F(ImportTest, ContentTypeIsIgnoredTheBytesDecide) {
  // A JPEG announced as PNG is a JPEG.
  origin_.route("/lie.png", Origin::file(corpus("under-1mp.jpg"), "image/png"));
  auto r = import(s(), origin_.url("/lie.png"));
  ASSERT_TRUE(is_upload_body(s(), r));
  EXPECT_EQ(ext_of(r.json()["src"]), "jpeg");
  auto g = http_get(r.json()["src"].get<std::string>());
  EXPECT_EQ(sniff_format(g.body), "jpeg");

  // An HTML page announced as a JPEG is not an image.
  origin_.route("/lie.jpg", Origin::body(200, "<!doctype html><html><body>hello</body></html>",
                                         "Content-Type: image/jpeg\r\n"));
  EXPECT_TRUE(is_error(import(s(), origin_.url("/lie.jpg")), 415, "unsupported_format"));
}

TEST_F(ImportTest, RedirectChainUpToFiveIsFollowed) {
  origin_.route("/final.jpg", Origin::file(corpus("under-1mp.jpg"), "image/jpeg"));
  // Absolute, relative, and each redirect status.
  origin_.route("/r1", Origin::redirect(origin_.url("/r2"), 301));
  origin_.route("/r2", Origin::redirect("/r3", 302));
  origin_.route("/r3", Origin::redirect("r4", 303));
  origin_.route("/r4", Origin::redirect(origin_.url("/r5"), 307));
  origin_.route("/r5", Origin::redirect("/final.jpg", 308));
  auto r = import(s(), origin_.url("/r1"));
  ASSERT_TRUE(is_upload_body(s(), r));
  EXPECT_EQ(r.json()["name"], "r1") << "the name is the requested URL's, not the redirect target's";
  EXPECT_EQ(origin_.paths(), (std::vector<std::string>{"/r1", "/r2", "/r3", "/r4", "/r5", "/final.jpg"}));
}

// ---- errors ----------------------------------------------------------------------

TEST_F(ImportTest, MoreThanFiveRedirectsFail) {
  origin_.route("/final.jpg", Origin::file(corpus("under-1mp.jpg"), "image/jpeg"));
  for (int i = 0; i < 6; ++i)
    origin_.route("/hop" + std::to_string(i), Origin::redirect(i == 5 ? "/final.jpg" : "/hop" + std::to_string(i + 1)));
  auto r = import(s(), origin_.url("/hop0"));
  EXPECT_TRUE(is_error(r, 502, "import_failed"));
  EXPECT_NE(r.json().value("message", "").find("redirect"), std::string::npos) << r.body;
  EXPECT_EQ(origin_.accepts(), 6) << "the sixth redirect is not followed";

  // A loop is the same.
  origin_.route("/loop", Origin::redirect("/loop"));
  EXPECT_TRUE(is_error(import(s(), origin_.url("/loop")), 502, "import_failed"));
}

TEST_F(ImportTest, RedirectToARefusedUrlIsForbidden) {
  // Every hop is checked like the first. (Redirects to private addresses are
  // checked in tests/workers/fetch; this server must allow loopback to reach
  // the origin at all, and the test never contacts a non-loopback address.)
  const std::string port = std::to_string(origin_.port());
  for (std::string to : {std::string("file:///etc/passwd"), "gopher://127.0.0.1:" + port + "/_x",
                         "ftp://127.0.0.1:" + port + "/x.jpg", "http://user:secret@127.0.0.1:" + port + "/x.jpg",
                         "http://2130706433:" + port + "/x.jpg", "http://0x7f.1:" + port + "/x.jpg"}) {
    SCOPED_TRACE(to);
    origin_.route("/go", Origin::redirect(to));
    origin_.route("/x.jpg", Origin::file(corpus("under-1mp.jpg"), "image/jpeg"));
    int before = origin_.accepts();
    EXPECT_TRUE(is_error(import(s(), origin_.url("/go")), 403, "import_forbidden"));
    EXPECT_EQ(origin_.accepts(), before + 1) << "the refused target must not be fetched";
  }
}

TEST_F(ImportTest, HtmlIsUnsupported) {
  origin_.route("/page.html", Origin::body(200, "<html><head><title>x</title></head><body>no image</body></html>",
                                           "Content-Type: text/html; charset=utf-8\r\n"));
  EXPECT_TRUE(is_error(import(s(), origin_.url("/page.html")), 415, "unsupported_format"));
  EXPECT_TRUE(eventually([&] { return leftover_imports(s()).empty(); }, std::chrono::seconds(10)))
      << "failed download left in staging: " << leftover_imports(s()).front();
  origin_.route("/notes.txt", Origin::file(corpus("notes.txt"), "text/plain"));
  EXPECT_TRUE(is_error(import(s(), origin_.url("/notes.txt")), 415, "unsupported_format"));
  origin_.route("/empty.jpg", Origin::body(200, "", "Content-Type: image/jpeg\r\n"));
  auto r = import(s(), origin_.url("/empty.jpg"));
  EXPECT_TRUE(r.status == 415 || r.status == 422) << r.describe();
}

TEST_F(ImportTest, TruncatedImageIsInvalid) {
  origin_.route("/truncated.jpg", Origin::file(corpus("truncated.jpg"), "image/jpeg"));
  EXPECT_TRUE(is_error(import(s(), origin_.url("/truncated.jpg")), 422, "invalid_image"));
  EXPECT_TRUE(eventually([&] { return leftover_imports(s()).empty(); }, std::chrono::seconds(10)))
      << "failed download left in staging: " << leftover_imports(s()).front();
}

TEST_F(ImportTest, UpstreamErrorStatusIsImportFailedNamingTheStatus) {
  auto r = import(s(), origin_.url("/missing.jpg"));  // no route: 404
  ASSERT_TRUE(is_error(r, 502, "import_failed"));
  EXPECT_NE(r.json()["message"].get<std::string>().find("404"), std::string::npos) << r.body;

  origin_.route("/boom.jpg", Origin::body(500, "oops", "Content-Type: text/plain\r\n"));
  auto r5 = import(s(), origin_.url("/boom.jpg"));
  ASSERT_TRUE(is_error(r5, 502, "import_failed"));
  EXPECT_NE(r5.json()["message"].get<std::string>().find("500"), std::string::npos) << r5.body;
}

TEST_F(ImportTest, ClosedPortIsUnreachable) {
  int port = free_port();  // nothing listens there
  auto r = import(s(), "http://127.0.0.1:" + std::to_string(port) + "/x.jpg");
  EXPECT_TRUE(is_error(r, 502, "import_unreachable"));
  EXPECT_TRUE(r.has_header("Retry-After")) << "docs/errors.md: import_unreachable is retryable";
  // The message names the host the client wrote and nothing internal.
  EXPECT_NE(r.json().value("message", "").find("127.0.0.1"), std::string::npos) << r.body;
}

TEST_F(ImportTest, SlowDripTimesOutWhileTheGatewayKeepsAnswering) {
  std::atomic<int> sent{0};
  origin_.route("/slow.jpg", Origin::drip(1, std::chrono::milliseconds(100), 100000, &sent));
  auto pending = std::async(std::launch::async, [&] { return import(s(), origin_.url("/slow.jpg")); });
  ASSERT_TRUE(eventually([&] { return sent.load() > 0; }, std::chrono::seconds(10), std::chrono::milliseconds(10)))
      << "the import never reached the origin";

  // While the worker waits on the slow origin, the gateway answers (the
  // import is still pending after, so nothing here waited for it).
  for (int i = 0; i < 3; ++i) {
    auto h = http_get(s().url("/healthz"), {}, std::chrono::seconds(5));
    EXPECT_EQ(h.status, 200) << h.describe();
  }
  EXPECT_EQ(pending.wait_for(std::chrono::seconds(0)), std::future_status::timeout)
      << "the import finished before the gateway was probed";

  // The drip would take hours: import_timeout is a limit cutting it.
  auto r = pending.get();
  EXPECT_TRUE(is_error(r, 504, "import_timeout"));
  EXPECT_TRUE(r.has_header("Retry-After")) << "docs/errors.md: import_timeout is retryable";
}

TEST_F(ImportTest, SteadyButEndlessDownloadHitsTheTotalDeadline) {
  // Fast enough for the minimum rate (16 KiB/s), far too long in total (64 s),
  // and smaller than the size limit.
  origin_.route("/long.jpg", Origin::drip(4096, std::chrono::milliseconds(250), kMaxBytes / 2));
  auto started = Clock::now();
  auto r = import(s(), origin_.url("/long.jpg"));
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started).count();
  // The whole body would take 64 s: import_timeout is the deadline cutting it,
  // and not before the deadline (a lower bound: a slow machine cannot break it).
  EXPECT_TRUE(is_error(r, 504, "import_timeout"));
  EXPECT_GE(secs, kImportTimeoutS - 1);
}

TEST_F(ImportTest, EndlessBodyStopsAtTheSizeLimit) {
  std::atomic<uint64_t> sent{0};
  std::atomic<bool> hung_up{false};
  origin_.route("/endless.jpg", Origin::endless(&sent, &hung_up));
  auto r = import(s(), origin_.url("/endless.jpg"));
  EXPECT_TRUE(is_error(r, 413, "file_too_large"));
  // The worker hangs up at the limit. (The sender may have pushed more into
  // the loopback socket buffers, which grow to tcp_rmem's maximum, tens of
  // MB; those are dropped with the connection, never read or stored.)
  EXPECT_TRUE(eventually([&] { return hung_up.load(); }, std::chrono::seconds(10)))
      << "the connection stayed open after " << sent.load() << " bytes";
  EXPECT_LT(sent.load(), 128ull << 20);
  EXPECT_EQ(origin_.accepts(), 1) << "a failed import is not fetched again";
  EXPECT_TRUE(eventually([&] { return leftover_imports(s()).empty(); }, std::chrono::seconds(10)))
      << "partial download left in staging: " << leftover_imports(s()).front();
}

TEST_F(ImportTest, AnnouncedSizeOverTheLimitIsRefusedBeforeTheBody) {
  origin_.route("/huge.jpg", [](int fd, const HttpFixture&) {
    send_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 10000000000\r\nConnection: close\r\n\r\n");
  });
  EXPECT_TRUE(is_error(import(s(), origin_.url("/huge.jpg")), 413, "file_too_large"));
}

TEST_F(ImportTest, GzipBombStopsAtTheSizeLimit) {
  static const std::string bomb = gzip(std::string(64 << 20, '\0'));  // 64 MiB of zeros, ~64 KiB on the wire
  ASSERT_LT(bomb.size(), kMaxBytes / 4);
  origin_.route("/bomb.jpg", Origin::body(200, bomb, "Content-Type: image/jpeg\r\nContent-Encoding: gzip\r\n"));
  EXPECT_TRUE(is_error(import(s(), origin_.url("/bomb.jpg")), 413, "file_too_large"));
}

TEST_F(ImportTest, GzipEncodedImageIsDecoded) {
  origin_.route("/z.jpg", Origin::body(200, gzip(read_file(corpus("under-1mp.jpg"))),
                                       "Content-Type: image/jpeg\r\nContent-Encoding: gzip\r\n"));
  auto r = import(s(), origin_.url("/z.jpg"));
  ASSERT_TRUE(is_upload_body(s(), r));
  auto want = decode_file_upright(corpus("under-1mp.jpg"));
  EXPECT_EQ(r.json()["width"].get<int>(), want.width);
}

TEST_F(ImportTest, BadRequestsAreValidationErrorsWithoutAnyFetch) {
  const std::string port = std::to_string(origin_.port());
  origin_.route("/x.jpg", Origin::file(corpus("under-1mp.jpg"), "image/jpeg"));
  const std::vector<std::string> urls = {
      "not a url",
      "x.jpg",
      "//127.0.0.1:" + port + "/x.jpg",
      "file:///etc/passwd",
      "gopher://127.0.0.1:" + port + "/_GET%20/x.jpg",
      "ftp://127.0.0.1:" + port + "/x.jpg",
      "data:image/png;base64,iVBORw0KGgo=",
      "http://user:pw@127.0.0.1:" + port + "/x.jpg",
      "http://user@127.0.0.1:" + port + "/x.jpg",
      "http://2130706433:" + port + "/x.jpg",   // 127.0.0.1 as one decimal number
      "http://0x7f000001:" + port + "/x.jpg",   // ... in hex
      "http://017700000001:" + port + "/x.jpg", // ... in octal
      "http://127.1:" + port + "/x.jpg",        // ... shortened
      "http://127.0.0.1:" + port + "/x y.jpg",
      "http://127.0.0.1:" + port + "/x.jpg\r\nX-Evil: 1",
      "http://",
      "http://127.0.0.1:99999/x.jpg",
      "http://127.0.0.1:" + port + "/" + std::string(3000, 'a') + ".jpg",
  };
  for (const auto& u : urls) {
    SCOPED_TRACE(u);
    EXPECT_TRUE(is_error(import(s(), u), 400, "validation_error"));
  }
  // Bodies without a usable url.
  for (const auto& body : std::vector<nlohmann::json>{nlohmann::json::object(),
                                                      {{"url", ""}},
                                                      {{"url", 42}},
                                                      {{"url", nullptr}},
                                                      {{"name", "x.jpg"}},
                                                      nlohmann::json::array({origin_.url("/x.jpg")}),
                                                      "http://127.0.0.1/x.jpg"}) {
    SCOPED_TRACE(body.dump());
    EXPECT_TRUE(is_error(post_json(s().url("/v1/import"), body), 400, "validation_error"));
  }
  // Not JSON at all.
  auto raw = parse_raw(raw_exchange(s().port(),
                                    "POST /v1/import HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                    "Content-Length: 9\r\nConnection: close\r\n\r\nurl=x.jpg"));
  EXPECT_EQ(raw.status, 400) << raw.body;
  EXPECT_EQ(nlohmann::json::parse(raw.body, nullptr, false).value("error", ""), "validation_error") << raw.body;

  EXPECT_EQ(origin_.accepts(), 0) << "a rejected URL must never be fetched";
}

TEST_F(ImportTest, WrongMethodIsRefused) {
  auto r = http_get(s().url("/v1/import"));
  EXPECT_EQ(r.status, 405) << r.describe();
  EXPECT_EQ(r.header("allow"), "POST") << r.describe();
  EXPECT_EQ(r.header("cache-control"), "no-store") << r.describe();
}

// ---- default deny ---------------------------------------------------------------

class ImportDefaultDeny : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_THROW(server_ = &SharedServer::get("import-deny")) << "server did not start"; }
  void TearDown() override {
    if (HasFailure() && server_) std::cerr << "---- server log ----\n" << server_->log_tail() << "\n";
  }
  ServerProcess& s() { return *server_; }
  ServerProcess* server_ = nullptr;
  Origin origin_;
};

TEST_F(ImportDefaultDeny, LoopbackIsForbiddenAndNeverContacted) {
  origin_.route("/x.jpg", Origin::file(corpus("under-1mp.jpg"), "image/jpeg"));
  const std::string port = std::to_string(origin_.port());
  for (std::string u : {origin_.url("/x.jpg"), "http://localhost:" + port + "/x.jpg",
"http://[::1]:" + port + "/x.jpg",
                        "http://[::ffff:127.0.0.1]:" + port + "/x.jpg", "http://127.0.0.2:" + port + "/x.jpg",
                        "http://0.0.0.0:" + port + "/x.jpg", "https://127.0.0.1:" + port + "/x.jpg"}) {
    SCOPED_TRACE(u);
    auto r = import(s(), u);
    EXPECT_TRUE(is_error(r, 403, "import_forbidden"));
  }
  EXPECT_EQ(origin_.accepts(), 0) << "a refused address must not be connected to";
}

// Private, link-local and metadata addresses are not sent from here: the
// fetcher's tests refuse every one of them (test::kRefusedAddresses) with
// the production policy and a connect hook proving no socket was opened.
// Here, through the real process, the refusal's message: it names what the
// client wrote and says why.
TEST_F(ImportDefaultDeny, TheRefusalNamesTheAddressAndTheReason) {
  const std::string u = "http://127.0.0.2:" + std::to_string(origin_.port()) + "/x.jpg";
  auto r = import(s(), u);
  ASSERT_TRUE(is_error(r, 403, "import_forbidden"));
  const auto message = r.json().value("message", "");
  EXPECT_NE(message.find("127.0.0.2"), std::string::npos) << r.body;
  EXPECT_NE(message.find("private"), std::string::npos) << r.body;
  EXPECT_EQ(origin_.accepts(), 0);
}

TEST_F(ImportDefaultDeny, ValidationStillComesFirst) {
  EXPECT_TRUE(is_error(import(s(), "file:///etc/passwd"), 400, "validation_error"));
  EXPECT_TRUE(is_error(import(s(), "http://2130706433/x.jpg"), 400, "validation_error"));
}


// Issue 16: an import's name is cleaned like an upload's.
TEST_F(ImportTest, HostileNamesAreStoredClean) {
  origin_.route("/x.jpg", Origin::file(corpus("under-1mp.jpg"), "image/jpeg"));
  for (const auto& h : hostile_texts()) {
    if (h.label == "overlong" || h.label == "invalid") continue;  // not expressible in a JSON string
    SCOPED_TRACE(h.label);
    auto r = import(s(), origin_.url("/x.jpg"), h.text);
    ASSERT_TRUE(is_upload_body(s(), r));
    std::string name = r.json()["name"];
    EXPECT_EQ(text_flaw(name, 255), "") << name;
    EXPECT_FALSE(name.empty());
  }
  // Raw bytes that are not UTF-8 in the JSON body: refused before anything is fetched.
  std::string body = "{\"url\":\"" + origin_.url("/x.jpg") + "\",\"name\":\"cat\xc0\xaf\"}";
  auto raw = parse_raw(raw_exchange(s().port(), "POST /v1/import HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                                                "Content-Type: application/json\r\nContent-Length: " +
                                                std::to_string(body.size()) + "\r\n\r\n" + body));
  EXPECT_EQ(raw.status / 100, 4) << raw.body;
}

}  // namespace
}  // namespace imgpipe::e2e
