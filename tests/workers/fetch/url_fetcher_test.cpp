// The fetcher against real HTTP fixture servers on loopback. Only 127.0.0.1
// and 127.0.0.2 are ever bound or connected; other addresses appear only as
// redirect targets that must be refused before any socket is opened.
#include "workers/fetch/url_fetcher.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <thread>

#include "schemas/errors.h"
#include "tests/workers/fetch/http_fixture.h"
#include "tests/workers/fetch/refused_addresses.h"
#include "workers/fetch/fetch_hooks.h"

namespace imgpipe::workers::fetch {
namespace {

using schemas::Error;
using schemas::ErrorCode;
using test::HttpFixture;
using test::response;
using test::send_all;
using test::serve;
using namespace std::chrono_literals;

using test::gzip;

class Fetch : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    file_ = std::filesystem::temp_directory_path() /
            ("imgpipe_fetch_" + std::to_string(::getpid()) + "_" + info->name());
    config_.allow_private = true;
    config_.connect_timeout = 1000ms;
    config_.total_deadline = 1500ms;
    hooks_.on_connect = [this](const IpAddress& a, uint16_t port) {
      std::lock_guard lock(m_);
      connects_.push_back(a.to_string() + ":" + std::to_string(port));
    };
  }
  void TearDown() override { std::filesystem::remove(file_); }

  FetchResult fetch(const std::string& url, uint64_t limit = 1 << 20) {
    return testing::fetch_to_file(url, file_, limit, config_, hooks_);
  }
  // The error code and message of a failing fetch.
  std::pair<ErrorCode, std::string> fail(const std::string& url, uint64_t limit = 1 << 20) {
    try {
      fetch(url, limit);
    } catch (const Error& e) {
      return {e.id(), e.what()};
    }
    ADD_FAILURE() << "fetch succeeded: " << url;
    return {ErrorCode::internal_error, ""};
  }
  std::string contents() const {
    std::ifstream in(file_, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  uint64_t file_size() const { return std::filesystem::exists(file_) ? std::filesystem::file_size(file_) : 0; }
  std::vector<std::string> connects() {
    std::lock_guard lock(m_);
    return connects_;
  }

  std::filesystem::path file_;
  FetchConfig config_;
  testing::FetchHooks hooks_;
  std::mutex m_;
  std::vector<std::string> connects_;
};

TEST_F(Fetch, ServesBytes) {
  std::string body(100000, '\0');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * 7);
  HttpFixture server(serve(response(200, body, "Content-Type: image/png\r\n")));
  config_.user_agent = "imgpipe-test/1";
  const auto r = fetch(server.url("/img.png"));
  EXPECT_EQ(r.bytes, body.size());
  EXPECT_EQ(r.redirects, 0);
  EXPECT_EQ(r.final_url, server.url("/img.png"));
  EXPECT_EQ(contents(), body);
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_NE(server.requests()[0].find("User-Agent: imgpipe-test/1\r\n"), std::string::npos);
  EXPECT_NE(server.requests()[0].find("GET /img.png HTTP/1.1\r\n"), std::string::npos);
}

TEST_F(Fetch, ExactlyTheLimitIsFine) {
  HttpFixture server(serve(response(200, std::string(4096, 'a'))));
  EXPECT_EQ(fetch(server.url(), 4096).bytes, 4096u);
}

TEST_F(Fetch, DecodesGzip) {
  const std::string body(50000, 'z');
  HttpFixture server(serve(response(200, gzip(body), "Content-Encoding: gzip\r\n")));
  EXPECT_EQ(fetch(server.url()).bytes, body.size());
  EXPECT_EQ(contents(), body);
}

TEST_F(Fetch, ResolvesNameOnceThroughGetaddrinfo) {
  HttpFixture server(serve(response(200, "hello")));
  const auto r = fetch("http://localhost:" + std::to_string(server.port()) + "/x");
  EXPECT_EQ(r.bytes, 5u);
  EXPECT_EQ(contents(), "hello");
  for (const auto& c : connects()) EXPECT_TRUE(c.starts_with("127.0.0.1:") || c.starts_with("::1:")) << c;
}

// curl connects to the address our resolver returned, not to one it looks up
// itself: curl would map *.localhost to 127.0.0.1, but the server only
// listens on 127.0.0.2, where the (hooked) resolver points.
TEST_F(Fetch, ConnectionIsPinnedToTheCheckedAddress) {
  HttpFixture server(serve(response(200, "pinned")), "127.0.0.2");
  std::atomic<int> lookups{0};
  hooks_.resolve = [&](const std::string& host) {
    ++lookups;
    EXPECT_EQ(host, "pinned.localhost");
    return std::vector<IpAddress>{*parse_ip_literal("127.0.0.2")};
  };
  EXPECT_EQ(fetch("http://pinned.localhost:" + std::to_string(server.port()) + "/").bytes, 6u);
  EXPECT_EQ(lookups.load(), 1);
  EXPECT_EQ(connects(), std::vector<std::string>{"127.0.0.2:" + std::to_string(server.port())});
}

TEST_F(Fetch, FollowsARedirectChain) {
  HttpFixture server([](int fd, const std::string& req, const HttpFixture& self) {
    // A redirect announcing a body far over the limit is still just a redirect.
    if (req.starts_with("GET /a ")) send_all(fd, "HTTP/1.1 301 X\r\nLocation: /b\r\nContent-Length: 900000000\r\n\r\n");
    else if (req.starts_with("GET /b ")) send_all(fd, response(302, "moved", "Location: c?x=1\r\n"));
    else if (req.starts_with("GET /c?x=1 ")) send_all(fd, response(307, "", "Location: " + self.url("/d") + "\r\n"));
    else if (req.starts_with("GET /d ")) send_all(fd, response(200, "final"));
    else send_all(fd, response(404, ""));
  });
  const auto r = fetch(server.url("/a"));
  EXPECT_EQ(r.redirects, 3);
  EXPECT_EQ(r.final_url, server.url("/d"));
  EXPECT_EQ(contents(), "final");
}

TEST_F(Fetch, TooManyRedirectsAreRefused) {
  HttpFixture server([](int fd, const std::string& req, const HttpFixture&) {
    const int n = std::atoi(req.c_str() + 5);  // "GET /<n> "
    send_all(fd, response(302, "", "Location: /" + std::to_string(n + 1) + "\r\n"));
  });
  config_.max_redirects = 5;
  const auto [code, message] = fail(server.url("/0"));
  EXPECT_EQ(code, ErrorCode::import_failed);
  EXPECT_NE(message.find("5"), std::string::npos);
  EXPECT_EQ(server.accepts(), 6);  // the first request and five redirects; the sixth is not followed
}

TEST_F(Fetch, RedirectToMetadataAddressIsRefusedAtTheHop) {
  // Public policy, except that the fixture's own 127.0.0.2 is allowed.
  config_.allow_private = false;
  hooks_.address_allowed = [](const IpAddress& a) { return a.to_string() == "127.0.0.2" || is_public_address(a); };
  for (const char* target : {"http://169.254.169.254/latest/meta-data/", "http://[::ffff:169.254.169.254]/",
                             "http://[fd00:ec2::254]/", "http://10.0.0.1/", "http://metadata.localhost/"}) {
    HttpFixture server(serve(response(302, "", std::string("Location: ") + target + "\r\n")), "127.0.0.2");
    if (std::string_view(target).find("localhost") != std::string_view::npos) {
      hooks_.resolve = [](const std::string&) { return std::vector<IpAddress>{*parse_ip_literal("169.254.169.254")}; };
    }
    connects_.clear();
    const auto [code, message] = fail(server.url("/"));
    EXPECT_EQ(code, ErrorCode::import_forbidden) << target;
    EXPECT_EQ(connects(), std::vector<std::string>{"127.0.0.2:" + std::to_string(server.port())}) << target;
    EXPECT_EQ(message.find("127.0.0.2"), std::string::npos) << message;
  }
}

TEST_F(Fetch, RedirectToLoopbackIsRefusedWithoutConnecting) {
  HttpFixture inner(serve(response(200, "secret")));
  HttpFixture outer(serve(response(302, "", "Location: " + inner.url("/admin") + "\r\n")), "127.0.0.2");
  config_.allow_private = false;
  hooks_.address_allowed = [](const IpAddress& a) { return a.to_string() == "127.0.0.2"; };
  EXPECT_EQ(fail(outer.url("/")).first, ErrorCode::import_forbidden);
  EXPECT_EQ(outer.accepts(), 1);
  EXPECT_EQ(inner.accepts(), 0);
  EXPECT_EQ(file_size(), 0u);
}

TEST_F(Fetch, RedirectToOtherSchemeIsRefused) {
  for (const char* target : {"file:///etc/passwd", "gopher://127.0.0.1:70/_x", "http://u:p@127.0.0.1/"}) {
    HttpFixture server(serve(response(301, "", std::string("Location: ") + target + "\r\n")));
    EXPECT_EQ(fail(server.url("/")).first, ErrorCode::import_forbidden) << target;
    EXPECT_EQ(server.accepts(), 1);
  }
}

// The drips below end by closing the connection short of Content-Length
// (an import_failed): import_timeout shows the limit under test cut the
// transfer while the origin was still sending, with no clock read here.
TEST_F(Fetch, SlowDripTimesOut) {
  HttpFixture server([](int fd, const std::string&, const HttpFixture& self) {
    if (!send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")) return;
    for (int i = 0; i < 100 && !self.stopping(); ++i) {  // 5 s of drip
      if (!send_all(fd, "x")) return;
      std::this_thread::sleep_for(50ms);
    }
  });
  config_.total_deadline = 400ms;
  config_.min_bytes_per_second = 0;  // the total deadline is the only limit
  EXPECT_EQ(fail(server.url()).first, ErrorCode::import_timeout);
}

TEST_F(Fetch, TooSlowTransferRateTimesOut) {
  HttpFixture server([](int fd, const std::string&, const HttpFixture& self) {
    if (!send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")) return;
    for (int i = 0; i < 100 && !self.stopping(); ++i) {  // 200 B/s for 5 s
      if (!send_all(fd, std::string(10, 'x'))) return;
      std::this_thread::sleep_for(50ms);
    }
  });
  config_.total_deadline = std::chrono::hours(1);  // the rate is the only limit
  config_.min_bytes_per_second = 1000;
  config_.min_rate_window = std::chrono::seconds(1);
  EXPECT_EQ(fail(server.url()).first, ErrorCode::import_timeout);
}

TEST_F(Fetch, EndlessBodyHitsTheLimit) {
  HttpFixture server([](int fd, const std::string&, const HttpFixture&) {
    if (!send_all(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")) return;
    const std::string chunk(65536, 'e');
    for (int i = 0; i < 1024; ++i) {  // bounded at 64 MiB; the client stops long before
      if (!send_all(fd, chunk)) return;
    }
  });
  const auto [code, message] = fail(server.url(), 300000);
  EXPECT_EQ(code, ErrorCode::file_too_large);
  EXPECT_NE(message.find("300000"), std::string::npos);
  EXPECT_LE(file_size(), 300000u);
}

TEST_F(Fetch, EndlessChunkedBodyHitsTheLimit) {
  HttpFixture server([](int fd, const std::string&, const HttpFixture&) {
    if (!send_all(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")) return;
    const std::string chunk = "10000\r\n" + std::string(65536, 'c') + "\r\n";
    for (int i = 0; i < 1024; ++i) {
      if (!send_all(fd, chunk)) return;
    }
  });
  EXPECT_EQ(fail(server.url(), 200000).first, ErrorCode::file_too_large);
  EXPECT_LE(file_size(), 200000u);
}

TEST_F(Fetch, GzipBombHitsTheLimitOnDecodedBytes) {
  static const std::string bomb = gzip(std::string(32 << 20, '\0'));  // 32 MiB of zeros, ~32 KiB on the wire
  ASSERT_LT(bomb.size(), 200000u);
  const uint64_t limit = 1 << 20;
  std::atomic<uint64_t> peak{0};
  HttpFixture server(serve(response(200, bomb, "Content-Encoding: gzip\r\n")));
  // Watch the file while the transfer runs: it must never pass the limit.
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    while (!done) {
      std::error_code ec;
      const auto s = std::filesystem::file_size(file_, ec);
      if (!ec && s > peak) peak = s;
      std::this_thread::sleep_for(1ms);
    }
  });
  const auto code = fail(server.url(), limit).first;
  done = true;
  watcher.join();
  EXPECT_EQ(code, ErrorCode::file_too_large);
  EXPECT_LE(file_size(), limit);
  EXPECT_LE(peak.load(), limit);
}

TEST_F(Fetch, LyingContentLengthCannotStretchTheLimit) {
  // Announces a small size, but the gzip body decodes to far more.
  const std::string wire = gzip(std::string(8 << 20, 'A'));
  HttpFixture server(serve(response(200, wire, "Content-Encoding: gzip\r\n")));
  ASSERT_LT(wire.size(), 100000u);
  EXPECT_EQ(fail(server.url(), 100000).first, ErrorCode::file_too_large);
  EXPECT_LE(file_size(), 100000u);
}

TEST_F(Fetch, UnderstatedContentLengthWithChunkedBodyHitsTheLimit) {
  // Content-Length says 100, but chunked framing wins (RFC 9112 6.3) and the
  // body never ends: the limit, not the header, stops it.
  HttpFixture server([](int fd, const std::string&, const HttpFixture&) {
    if (!send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n")) return;
    const std::string chunk = "4000\r\n" + std::string(16384, 'l') + "\r\n";
    for (int i = 0; i < 4096; ++i) {
      if (!send_all(fd, chunk)) return;
    }
  });
  EXPECT_EQ(fail(server.url(), 50000).first, ErrorCode::file_too_large);
  EXPECT_LE(file_size(), 50000u);
}

TEST_F(Fetch, UnderstatedContentLengthReadsNoMoreThanAnnounced) {
  HttpFixture server(serve("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n" + std::string(1 << 20, 'm')));
  EXPECT_EQ(fetch(server.url(), 4096).bytes, 10u);
  EXPECT_EQ(file_size(), 10u);
}

TEST_F(Fetch, AnnouncedSizeOverTheLimitIsRefusedBeforeTheBody) {
  HttpFixture server(serve("HTTP/1.1 200 OK\r\nContent-Length: 5000000\r\n\r\n" + std::string(100000, 'b')));
  EXPECT_EQ(fail(server.url(), 4096).first, ErrorCode::file_too_large);
  EXPECT_EQ(file_size(), 0u);
}

TEST_F(Fetch, TruncatedBodyFails) {
  HttpFixture server(serve("HTTP/1.1 200 OK\r\nContent-Length: 4000\r\n\r\nonly-a-little"));
  EXPECT_EQ(fail(server.url()).first, ErrorCode::import_failed);
}

TEST_F(Fetch, NotFoundReportsTheStatus) {
  HttpFixture server(serve("HTTP/1.1 404 Not Found\r\nContent-Length: 900000000\r\n\r\n<html>not here</html>"));
  const auto [code, message] = fail(server.url("/missing.png"), 4096);
  EXPECT_EQ(code, ErrorCode::import_failed);
  EXPECT_NE(message.find("404"), std::string::npos) << message;
  EXPECT_EQ(file_size(), 0u);
}

TEST_F(Fetch, ServerErrorAndRedirectWithoutLocationFail) {
  HttpFixture a(serve(response(500, "boom")));
  EXPECT_NE(fail(a.url()).second.find("500"), std::string::npos);
  HttpFixture b(serve(response(302, "")));
  const auto [code, message] = fail(b.url());
  EXPECT_EQ(code, ErrorCode::import_failed);
  EXPECT_NE(message.find("302"), std::string::npos);
}

TEST_F(Fetch, ConnectionRefusedIsUnreachable) {
  uint16_t port = 0;
  {
    HttpFixture closed(serve(""));
    port = closed.port();
  }  // nothing listens there any more
  EXPECT_EQ(fail("http://127.0.0.1:" + std::to_string(port) + "/").first, ErrorCode::import_unreachable);
}

TEST_F(Fetch, UnresolvableNameIsUnreachable) {
  hooks_.resolve = [](const std::string&) { return std::vector<IpAddress>{}; };
  EXPECT_EQ(fail("http://does-not-exist.example/").first, ErrorCode::import_unreachable);
}

TEST_F(Fetch, DefaultsRefuseLoopbackWithoutConnecting) {
  HttpFixture server(serve(response(200, "secret")));
  const std::string port = std::to_string(server.port());
  for (const std::string& url : std::vector<std::string>{"http://127.0.0.1:" + port + "/", "http://localhost:" + port + "/",
                                "http://[::ffff:127.0.0.1]:" + port + "/", "http://[::1]:" + port + "/"}) {
    try {
      fetch_to_file(url, file_, 1024, FetchConfig{});  // the production entry point, defaults
      ADD_FAILURE() << url;
    } catch (const Error& e) {
      EXPECT_EQ(e.id(), ErrorCode::import_forbidden) << url;
      if (url.find("localhost") != std::string::npos) {  // the resolved address is not disclosed
        EXPECT_EQ(std::string(e.what()).find("127.0.0.1"), std::string::npos) << e.what();
      }
    }
  }
  EXPECT_EQ(server.accepts(), 0);
  EXPECT_EQ(file_size(), 0u);
}

TEST_F(Fetch, IsThreadSafe) {
  HttpFixture server(serve(response(200, std::string(20000, 't'))));
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      const auto path = file_.string() + "_" + std::to_string(i);
      if (fetch_to_file(server.url(), path, 1 << 20, config_).bytes == 20000) ++ok;
      std::filesystem::remove(path);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 4);
}


// ---- import safety through the fetcher, never touching a private network --
// (issue 16). The resolver hook hands out the addresses; the connect hook
// proves no socket toward them was ever opened.

// Every refused address, reached by name and as a literal, with the
// production policy (no address_allowed hook): forbidden before any connect.
TEST_F(Fetch, EveryRefusedAddressIsForbiddenWithoutAConnection) {
  config_.allow_private = false;
  for (const char* text : test::kRefusedAddresses) {
    const auto address = *parse_ip_literal(text);
    hooks_.resolve = [&](const std::string&) { return std::vector<IpAddress>{address}; };
    EXPECT_EQ(fail("http://victim.example/a.jpg").first, ErrorCode::import_forbidden) << text;
    const std::string literal = address.v6 ? "[" + std::string(text) + "]" : std::string(text);
    EXPECT_EQ(fail("http://" + literal + "/a.jpg").first, ErrorCode::import_forbidden) << text;
  }
  EXPECT_TRUE(connects().empty()) << connects().front();
}

// A name with one public and one private address is refused whatever the
// order: curl could pick either.
TEST_F(Fetch, NameResolvingToPublicAndPrivateAddressesIsForbidden) {
  config_.allow_private = false;
  const auto pub = *parse_ip_literal("93.184.216.34");
  for (const char* text : {"10.0.0.1", "169.254.169.254", "127.0.0.1", "::1", "fd00::1"}) {
    const auto priv = *parse_ip_literal(text);
    for (bool private_first : {false, true}) {
      hooks_.resolve = [&](const std::string&) {
        return private_first ? std::vector<IpAddress>{priv, pub} : std::vector<IpAddress>{pub, priv};
      };
      const auto [code, message] = fail("http://mixed.example/a.jpg");
      EXPECT_EQ(code, ErrorCode::import_forbidden) << text;
      EXPECT_EQ(message.find(text), std::string::npos) << "the resolved address leaked: " << message;
    }
  }
  EXPECT_TRUE(connects().empty());
}

// Every hop of a redirect chain is resolved, checked, and connected to
// exactly the address that was checked.
TEST_F(Fetch, EachRedirectHopConnectsToTheAddressItChecked) {
  HttpFixture second(serve(response(200, "landed")), "127.0.0.3");
  HttpFixture first([&](int fd, const std::string& req, const HttpFixture&) {
    if (req.starts_with("GET /a ")) send_all(fd, response(302, "", "Location: /b\r\n"));
    else if (req.starts_with("GET /b ")) send_all(fd, response(302, "", "Location: http://two.localhost:" +
                                                                     std::to_string(second.port()) + "/c\r\n"));
    else send_all(fd, response(404, ""));
  }, "127.0.0.2");
  config_.allow_private = false;
  std::vector<std::string> checked;
  hooks_.address_allowed = [&](const IpAddress& a) {
    checked.push_back(a.to_string());
    return a.to_string() == "127.0.0.2" || a.to_string() == "127.0.0.3";  // stand-ins for public addresses
  };
  hooks_.resolve = [&](const std::string& host) {
    return std::vector<IpAddress>{*parse_ip_literal(host == "one.localhost" ? "127.0.0.2" : "127.0.0.3")};
  };
  auto r = fetch("http://one.localhost:" + std::to_string(first.port()) + "/a");
  EXPECT_EQ(contents(), "landed");
  EXPECT_EQ(r.redirects, 2);
  std::vector<std::string> connected;
  for (const auto& c : connects()) connected.push_back(c.substr(0, c.rfind(':')));
  const std::vector<std::string> hops{"127.0.0.2", "127.0.0.2", "127.0.0.3"};
  EXPECT_EQ(checked, hops);
  EXPECT_EQ(connected, hops);
}

// DNS rebinding across hops: the name answered an allowed address for the
// first request and a refused one when the redirect came back to it. The
// second hop is refused, and nothing connects to the refused address.
TEST_F(Fetch, RebindingOnARedirectHopIsRefusedWithoutConnecting) {
  HttpFixture inner(serve(response(200, "secret")));  // 127.0.0.1: must never be reached
  config_.allow_private = false;
  hooks_.address_allowed = [](const IpAddress& a) { return a.to_string() == "127.0.0.2"; };
  int lookups = 0;
  hooks_.resolve = [&](const std::string&) {
    return std::vector<IpAddress>{*parse_ip_literal(lookups++ == 0 ? "127.0.0.2" : "127.0.0.1")};
  };
  // The redirect names the same host, at the port where 127.0.0.1 has something to steal.
  HttpFixture outer_to_inner(serve(response(302, "", "Location: http://rebind.localhost:" +
                                                         std::to_string(inner.port()) + "/admin\r\n")), "127.0.0.2");
  EXPECT_EQ(fail("http://rebind.localhost:" + std::to_string(outer_to_inner.port()) + "/").first,
            ErrorCode::import_forbidden);
  EXPECT_EQ(lookups, 2);
  EXPECT_EQ(connects(), std::vector<std::string>{"127.0.0.2:" + std::to_string(outer_to_inner.port())});
  EXPECT_EQ(inner.accepts(), 0);
}

}  // namespace
}  // namespace imgpipe::workers::fetch
