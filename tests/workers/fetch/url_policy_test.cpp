// URL validation: every refused form fails with bad_request before any
// resolution or connection (a listening loopback socket sees no accept).
#include "workers/fetch/url_policy.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>

#include "schemas/errors.h"
#include "tests/workers/fetch/http_fixture.h"
#include "workers/fetch/fetch_hooks.h"

namespace imgpipe::workers::fetch {
namespace {

using schemas::Error;
using schemas::ErrorCode;

std::optional<ErrorCode> parse_error(const std::string& url) {
  try {
    parse_import_url(url);
    return std::nullopt;
  } catch (const Error& e) {
    return e.id();
  }
}

// Built around a real listening port so that a mistake would connect to it.
std::vector<std::string> refused_urls(uint16_t port) {
  const std::string p = std::to_string(port);
  return {
      "",
      "127.0.0.1:" + p + "/",
      "//127.0.0.1:" + p + "/",
      "file:///etc/passwd",
      "file://127.0.0.1:" + p + "/etc/passwd",
      "gopher://127.0.0.1:" + p + "/_GET",
      "ftp://127.0.0.1:" + p + "/x",
      "dict://127.0.0.1:" + p + "/info",
      "ldap://127.0.0.1:" + p + "/",
      "data:image/png;base64,AAAA",
      "javascript:alert(1)",
      "ws://127.0.0.1:" + p + "/",
      "http:/127.0.0.1:" + p + "/",
      "http://user:pw@127.0.0.1:" + p + "/",
      "http://user@127.0.0.1:" + p + "/",
      "http://@127.0.0.1:" + p + "/",
      "http://evil.example@127.0.0.1:" + p + "/",
      "http://127.0.0.1:" + p + "\\@evil.example/",
      "http://2130706433:" + p + "/",
      "http://0x7f000001:" + p + "/",
      "http://0x7f.0.0.1:" + p + "/",
      "http://0177.0.0.1:" + p + "/",
      "http://127.1:" + p + "/",
      "http://127.0.1:" + p + "/",
      "http://127.000.000.001:" + p + "/",
      "http://1.2.3.4.5:" + p + "/",
      "http://example.123:" + p + "/",
      "http://%31%32%37.0.0.1:" + p + "/",
      "http://127.0.0.1:" + p + "/a b",
      "http://127.0.0.1:" + p + "/\n",
      "http://127.0.0.1:" + p + "/\r\nHost: x",
      "http://127.0.0.1:" + p + "/\t",
      std::string("http://127.0.0.1:") + p + "/" + '\0',
      " http://127.0.0.1:" + p + "/",
      "http://exa\xc3\xa9mple.com:" + p + "/",
      "http://xn--exmple-cua.com\xe2\x80\x8b:" + p + "/",
      "http://[fe80::1%25lo]:" + p + "/",
      "http://[::1:" + p + "/",
      "http://:" + p + "/",
      "http:///",
      "http://",
      "http://exa_mple..com:" + p + "/",
      "http://127.0.0.1:99999/",
      "http://127.0.0.1:" + p + "/" + std::string(kMaxUrlLength, 'a'),
  };
}

TEST(FetchUrlPolicy, RefusedFormsAreBadRequests) {
  for (const auto& url : refused_urls(8080)) {
    EXPECT_EQ(parse_error(url), ErrorCode::bad_request) << url;
  }
}

TEST(FetchUrlPolicy, AcceptedForms) {
  auto u = parse_import_url("HTTPS://Images.Example.COM/a/b.png?x=1#frag");
  EXPECT_EQ(u.scheme, "https");
  EXPECT_EQ(u.host, "images.example.com");
  EXPECT_EQ(u.port, 443);
  EXPECT_FALSE(u.literal);

  u = parse_import_url("http://192.0.2.10:8080/x.jpg");
  EXPECT_EQ(u.port, 8080);
  ASSERT_TRUE(u.literal);
  EXPECT_EQ(u.literal->to_string(), "192.0.2.10");

  u = parse_import_url("http://[2001:db8::1]/x.jpg");
  ASSERT_TRUE(u.literal);
  EXPECT_TRUE(u.literal->v6);
  EXPECT_EQ(u.host, "2001:db8::1");
  EXPECT_EQ(u.port, 80);

  EXPECT_EQ(parse_import_url("http://example.com./x").host, "example.com.");
  EXPECT_EQ(parse_import_url("http://a-b_c.example.com/x%20y").scheme, "http");
}

TEST(FetchUrlPolicy, RedirectsResolveRelativeAndRevalidate) {
  const auto base = parse_import_url("http://example.com/dir/page?q=1");
  EXPECT_EQ(resolve_redirect(base, "/root.png").url, "http://example.com/root.png");
  EXPECT_EQ(resolve_redirect(base, "img.png").url, "http://example.com/dir/img.png");
  EXPECT_EQ(resolve_redirect(base, "//cdn.example.net/x").host, "cdn.example.net");
  EXPECT_EQ(resolve_redirect(base, "https://other.example/y").port, 443);
  for (const char* bad : {"file:///etc/passwd", "gopher://example.com/", "http://user:pw@example.com/",
                          "http://2130706433/", "http://127.1/", "", "/a b"}) {
    try {
      resolve_redirect(base, bad);
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.id(), ErrorCode::bad_request) << bad;
    }
  }
}

// The full fetcher, even with allow_private=true (so only URL validation can
// refuse), never opens a socket for a refused URL.
TEST(FetchUrlPolicy, RefusedUrlsNeverConnect) {
  test::HttpFixture server(test::serve(test::response(200, "x")));
  std::atomic<int> sockets{0};
  testing::FetchHooks hooks;
  hooks.on_connect = [&](const IpAddress&, uint16_t) { ++sockets; };
  hooks.resolve = [&](const std::string&) {
    ++sockets;  // a resolution counts as an attempt here
    return std::vector<IpAddress>{};
  };
  FetchConfig config;
  config.allow_private = true;
  const auto file = std::filesystem::temp_directory_path() / ("imgpipe_url_policy_" + std::to_string(::getpid()));
  for (const auto& url : refused_urls(server.port())) {
    try {
      testing::fetch_to_file(url, file, 1024, config, hooks);
      ADD_FAILURE() << "fetched " << url;
    } catch (const Error& e) {
      EXPECT_EQ(e.id(), ErrorCode::bad_request) << url;
    }
  }
  std::filesystem::remove(file);
  EXPECT_EQ(sockets.load(), 0);
  EXPECT_EQ(server.accepts(), 0);
}

}  // namespace
}  // namespace imgpipe::workers::fetch
