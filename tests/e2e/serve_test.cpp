// GET src: headers, conditional requests, HEAD, sizes, format conversion,
// errors, and concurrent first requests for one variant.
#include <future>
#include <set>
#include <sstream>
#include <vector>

#include "tests/e2e/harness.h"

namespace imgpipe::e2e {
namespace {

class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_THROW(server_ = &SharedServer::get("serve")) << "server did not start"; }
  void TearDown() override {
    if (HasFailure() && server_) std::cerr << "---- server log ----\n" << server_->log_tail() << "\n";
  }
  ServerProcess& s() { return *server_; }

  // A 1920x1200 JPEG: s, m and l are all real resizes.
  nlohmann::json landscape() { return uploaded("medium.jpg"); }
  // A 720x1440 JPEG: l would be an upscale, so l is the original size.
  nlohmann::json portrait() { return uploaded("portrait.jpg"); }

  nlohmann::json uploaded(const char* name) {
    const auto& r = upload_once(s(), corpus(name));
    EXPECT_EQ(r.status, 201) << r.describe();
    auto j = r.json();
    if (!j.is_object() || !j.contains("src")) ADD_FAILURE() << "upload of " << name << " failed";
    return j;
  }
  static Dims dims(const nlohmann::json& j) { return {j.value("width", 0), j.value("height", 0)}; }

  // A rendition kept in memory only: no file under the data dir is named by
  // its content hash (the ETag), as every stored blob is.
  ::testing::AssertionResult nowhere_on_disk(const Response& r) {
    const std::string etag = r.header("ETag");
    if (etag.size() <= 2) return ::testing::AssertionFailure() << "no ETag";
    const std::string sha = etag.substr(1, etag.size() - 2);
    for (const auto& e : fs::recursive_directory_iterator(s().data_dir()))
      if (e.path().filename() == sha) return ::testing::AssertionFailure() << "stored at " << e.path();
    return ::testing::AssertionSuccess();
  }

  ServerProcess* server_ = nullptr;
};

::testing::AssertionResult strong_etag(const std::string& etag) {
  if (etag.size() >= 3 && etag.front() == '"' && etag.back() == '"') return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "not a strong ETag: [" << etag << "]";
}

void expect_cache_headers(const Response& r) {
  EXPECT_TRUE(strong_etag(r.header("ETag")));
  auto cc = r.header("Cache-Control");
  EXPECT_NE(cc.find("public"), std::string::npos) << cc;
  EXPECT_NE(cc.find("max-age=31536000"), std::string::npos) << cc;
  EXPECT_NE(cc.find("immutable"), std::string::npos) << cc;
  EXPECT_EQ(r.header("X-Content-Type-Options"), "nosniff");
}

TEST_F(ServeTest, OriginalHasTypeAndLongLivedCacheHeaders) {
  auto j = landscape();
  ASSERT_TRUE(j.contains("src"));
  auto r = http_get(j["src"]);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.header("Content-Type"), "image/jpeg");
  expect_cache_headers(r);
  auto d = decode(r.body);
  ASSERT_TRUE(d.ok) << d.error;
  EXPECT_EQ(d.format, "jpeg");
  EXPECT_EQ(d.width, j.value("width", 0));
  EXPECT_EQ(d.height, j.value("height", 0));
  EXPECT_EQ(r.header("Content-Length"), std::to_string(r.body.size()));
}

TEST_F(ServeTest, IfNoneMatchGives304WithNoBody) {
  auto j = landscape();
  ASSERT_TRUE(j.contains("src"));
  for (std::string url : {j["src"].get<std::string>(), with_size(j["src"], "m"),
                          with_size(with_ext(j["src"], "webp"), "s")}) {
    SCOPED_TRACE(url);
    auto first = http_get(url);
    ASSERT_EQ(first.status, 200) << first.describe();
    std::string etag = first.header("ETag");
    ASSERT_TRUE(strong_etag(etag));
    // The exact bytes: a 304 carries no body at all.
    std::string raw = raw_exchange(s().port(), "GET " + path_of(url) + " HTTP/1.1\r\nHost: 127.0.0.1\r\nIf-None-Match: " +
                                                   etag + "\r\nConnection: close\r\n\r\n");
    auto rr = parse_raw(raw);
    EXPECT_EQ(rr.status, 304) << raw.substr(0, 500);
    EXPECT_TRUE(rr.body.empty()) << "304 has a body of " << rr.body.size() << " bytes";
    EXPECT_EQ(rr.headers["ETag"], etag);
    // A different tag gets the full answer.
    auto other = http_get(url, {"If-None-Match: \"not-this-one\""});
    EXPECT_EQ(other.status, 200);
    EXPECT_EQ(other.body, first.body);
  }
}

// The second answer for a URL comes from memory (the first one's header
// block, kept): byte for byte the same status line, headers and body.
TEST_F(ServeTest, ARepeatedAnswerIsTheSameByteForByte) {
  auto j = landscape();
  ASSERT_TRUE(j.contains("src"));
  auto without_request_id = [](const std::string& raw) {
    std::string out;
    std::istringstream lines(raw);
    for (std::string line; std::getline(lines, line);)
      if (line.rfind("X-Request-Id:", 0) != 0) out += line + "\n";
    return out;
  };
  for (std::string url : {j["src"].get<std::string>(), with_size(j["src"], "m"),
                          with_size(with_ext(j["src"], "webp"), "s") + "&download=1"}) {
    SCOPED_TRACE(url);
    const std::string request = "GET " + path_of(url) + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    auto first = raw_exchange(s().port(), request);
    ASSERT_EQ(parse_raw(first).status, 200) << first.substr(0, 500);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(without_request_id(raw_exchange(s().port(), request)), without_request_id(first));
  }
}

TEST_F(ServeTest, HeadHasTheSameHeadersAndNoBody) {
  auto j = landscape();
  ASSERT_TRUE(j.contains("src"));
  for (std::string url : {j["src"].get<std::string>(), with_size(j["src"], "l")}) {
    SCOPED_TRACE(url);
    auto get = http_get(url);
    ASSERT_EQ(get.status, 200) << get.describe();
    std::string raw = raw_exchange(s().port(), "HEAD " + path_of(url) +
                                                   " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    auto head = parse_raw(raw);
    EXPECT_EQ(head.status, 200) << raw.substr(0, 500);
    EXPECT_TRUE(head.body.empty()) << "HEAD answered with " << head.body.size() << " body bytes";
    for (auto h : {"Content-Type", "ETag", "Cache-Control", "X-Content-Type-Options"})
      EXPECT_EQ(head.headers[h], get.header(h)) << h;
    EXPECT_EQ(head.headers["Content-Length"], std::to_string(get.body.size()));
  }
}

TEST_F(ServeTest, SizesConstrainTheShortEdge) {
  auto j = landscape();
  ASSERT_TRUE(j.contains("src"));
  std::set<std::string> etags;
  for (auto size : {"s", "m", "l"}) {
    SCOPED_TRACE(size);
    auto r = http_get(with_size(j["src"], size));
    ASSERT_EQ(r.status, 200) << r.describe();
    EXPECT_EQ(r.header("Content-Type"), "image/jpeg");
    expect_cache_headers(r);
    etags.insert(r.header("ETag"));
    auto d = decode(r.body);
    ASSERT_TRUE(d.ok) << d.error;
    EXPECT_EQ(d.format, "jpeg");
    EXPECT_TRUE(dims_match({d.width, d.height}, expected_variant(dims(j), short_edge_of(size))));
  }
  EXPECT_EQ(etags.size(), 3u) << "each size needs its own ETag";
}

TEST_F(ServeTest, SizesNeverUpscale) {
  auto j = portrait();
  ASSERT_TRUE(j.contains("src"));
  ASSERT_LT(std::min(j.value("width", 0), j.value("height", 0)), 1080) << "corpus portrait must be under 1080";
  for (auto size : {"s", "m", "l"}) {
    SCOPED_TRACE(size);
    auto r = http_get(with_size(j["src"], size));
    ASSERT_EQ(r.status, 200) << r.describe();
    auto d = decode(r.body);
    ASSERT_TRUE(d.ok) << d.error;
    auto want = expected_variant(dims(j), short_edge_of(size));
    EXPECT_TRUE(dims_match({d.width, d.height}, want));
  }
  // l of a 720-wide image is the original size exactly.
  auto l = decode(http_get(with_size(j["src"], "l")).body);
  EXPECT_EQ(l.width, j.value("width", 0));
  EXPECT_EQ(l.height, j.value("height", 0));
}

struct Conversion {
  const char* ext;     // in the URL
  const char* format;  // decoded
  const char* mime;
};

void PrintTo(const Conversion& c, std::ostream* os) { *os << c.ext; }

class ServeConvert : public ServeTest, public ::testing::WithParamInterface<Conversion> {};

TEST_P(ServeConvert, ExtensionChoosesTheFormatAtEverySize) {
  auto [ext, format, mime] = GetParam();
  auto j = landscape();
  ASSERT_TRUE(j.contains("src"));
  for (std::string size : {"", "s", "m", "l"}) {
    SCOPED_TRACE("size=" + size);
    std::string url = with_ext(j["src"], ext);
    if (!size.empty()) url = with_size(url, size);
    auto r = http_get(url);
    ASSERT_EQ(r.status, 200) << url << ": " << r.describe();
    EXPECT_EQ(r.header("Content-Type"), mime);
    expect_cache_headers(r);
    auto d = decode(r.body);
    ASSERT_TRUE(d.ok) << d.error;
    EXPECT_EQ(d.format, format);
    EXPECT_EQ(d.sniffed, format);
    EXPECT_TRUE(dims_match({d.width, d.height}, expected_variant(dims(j), short_edge_of(size))));
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, ServeConvert,
                         ::testing::Values(Conversion{"jpg", "jpeg", "image/jpeg"},
                                           Conversion{"jpeg", "jpeg", "image/jpeg"},
                                           Conversion{"png", "png", "image/png"},
                                           Conversion{"webp", "webp", "image/webp"},
                                           Conversion{"avif", "avif", "image/avif"}),
                         [](const auto& info) { return std::string(info.param.ext); });

// img.pro's `size=social`: a 1200x630 card (the picture contained, centred
// on white) in whatever format the URL asks for, cached like any variant.
TEST_F(ServeTest, SizeSocialIsA1200By630CardInEveryFormat) {
  for (auto j : {landscape(), portrait()}) {
    ASSERT_TRUE(j.contains("src"));
    for (Conversion c : {Conversion{"jpg", "jpeg", "image/jpeg"}, Conversion{"webp", "webp", "image/webp"},
                         Conversion{"png", "png", "image/png"}}) {
      const std::string url = with_size(with_ext(j["src"], c.ext), "social");
      SCOPED_TRACE(url);
      auto r = http_get(url);
      ASSERT_EQ(r.status, 200) << r.describe();
      EXPECT_EQ(r.header("Content-Type"), c.mime);
      expect_cache_headers(r);
      auto d = decode(r.body);
      ASSERT_TRUE(d.ok) << d.error;
      EXPECT_EQ(d.format, c.format);
      EXPECT_EQ(d.width, 1200);
      EXPECT_EQ(d.height, 630);
      auto again = http_get(url);
      EXPECT_EQ(again.header("ETag"), r.header("ETag"));
      EXPECT_TRUE(again.body == r.body);
    }
  }
}

// `format=` overrides the extension (img.pro's newer URLs); a value this
// image cannot be served in is ignored, as img.pro ignores invalid values.
TEST_F(ServeTest, FormatParameterOverridesTheExtension) {
  auto j = landscape();
  ASSERT_TRUE(j.contains("src"));
  const std::string src = j["src"];
  struct Case {
    std::string url;
    const char* format;
    int short_edge;  // 0: full size
  };
  for (const Case& c : {Case{src + "?format=webp", "webp", 0}, Case{with_size(src, "s") + "&format=png", "png", 320},
                        Case{with_ext(src, "png") + "?format=jpg", "jpeg", 0},
                        Case{with_ext(src, "bmp") + "?format=avif", "avif", 0},  // the override wins
                        Case{src + "?format=bogus", "jpeg", 0}, Case{src + "?format=gif", "jpeg", 0},
                        Case{src + "?format=auto", "jpeg", 0}}) {
    SCOPED_TRACE(c.url);
    auto r = http_get(c.url);
    ASSERT_EQ(r.status, 200) << r.describe();
    EXPECT_EQ(r.header("Content-Type"), "image/" + std::string(c.format));
    auto d = decode(r.body);
    ASSERT_TRUE(d.ok) << d.error;
    EXPECT_EQ(d.format, c.format);
    EXPECT_EQ(d.sniffed, c.format);
    const Dims want = c.short_edge ? expected_variant(dims(j), c.short_edge) : dims(j);
    EXPECT_TRUE(dims_match({d.width, d.height}, want));
  }
  // A download is named for what it holds.
  auto r = http_get(src + "?format=webp&download=1");
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_NE(r.header("Content-Disposition").find(".webp\""), std::string::npos) << r.header("Content-Disposition");
}

// img.pro's `w`/`h`/`fit`: the box and mode give the output's size, order
// does not matter, an invalid value is ignored, and a fit is kept in memory
// only (any box may be asked for; the disk keeps only the named sizes).
TEST_F(ServeTest, WidthHeightAndFitGiveThatSizeAndAreKeptInMemoryOnly) {
  auto j = landscape();  // 1920x1200
  ASSERT_TRUE(j.contains("src"));
  const std::string src = j["src"];
  struct Case {
    std::string query;
    int width, height;
  };
  for (const Case& c : {Case{"w=300", 300, 187}, Case{"h=300", 480, 300}, Case{"w=300&h=300", 300, 187},
                        Case{"w=300&h=300&fit=scale-down", 300, 187}, Case{"w=300&h=300&fit=crop", 300, 300},
                        Case{"fit=cover&h=300&w=300", 300, 300}, Case{"w=300&h=300&fit=pad", 300, 300},
                        Case{"w=3000&fit=cover", 3000, 1875},  // cover and pad may enlarge
                        Case{"w=300&fit=bogus", 300, 187},     // an unknown fit: the default
                        Case{"w=300&size=s", 300, 187}}) {     // w/h win over size
    SCOPED_TRACE(c.query);
    auto r = http_get(src + "?" + c.query);
    ASSERT_EQ(r.status, 200) << r.describe();
    EXPECT_EQ(r.header("Content-Type"), "image/jpeg");
    expect_cache_headers(r);
    auto d = decode(r.body);
    ASSERT_TRUE(d.ok) << d.error;
    EXPECT_EQ(d.format, "jpeg");
    EXPECT_EQ(d.width, c.width);
    EXPECT_EQ(d.height, c.height);
    EXPECT_TRUE(nowhere_on_disk(r));
  }
  // Rendered once, then answered from memory.
  for (int i = 0; i < 3; ++i) ASSERT_EQ(http_get(src + "?w=223").status, 200);
  std::istringstream log(s().log_tail(64 << 20));
  int renders = 0;
  for (std::string line; std::getline(log, line);)
    renders += line.find("rendered_on_demand") != std::string::npos && line.find("\"w223h0-scale-down\"") != std::string::npos;
  EXPECT_EQ(renders, 1);
  // The same fit in another order is the same bytes; another format converts.
  auto a = http_get(src + "?w=300&h=300&fit=crop"), b = http_get(src + "?fit=crop&h=300&w=300");
  EXPECT_EQ(a.header("ETag"), b.header("ETag"));
  EXPECT_TRUE(a.body == b.body);
  auto webp = http_get(with_ext(src, "webp") + "?w=300");
  ASSERT_EQ(webp.status, 200) << webp.describe();
  auto d = decode(webp.body);
  EXPECT_EQ(d.format, "webp");
  EXPECT_EQ(d.width, 300);
  // Invalid sides are ignored (img.pro's rule); a fit that changes nothing is the original itself.
  const auto original = http_get(src);
  ASSERT_EQ(original.status, 200);
  for (auto query : {"w=0", "w=-5", "w=4097", "w=abc", "w=3000", "w=3000&h=3000"}) {
    SCOPED_TRACE(query);
    auto r = http_get(src + "?" + query);
    ASSERT_EQ(r.status, 200) << r.describe();
    EXPECT_EQ(r.header("ETag"), original.header("ETag"));
  }
}

// img.pro's colour multipliers, blur and sharp: each makes its own
// rendition (in memory only); a value out of range or not a number is
// ignored, which leaves the plain size.
TEST_F(ServeTest, ColourBlurAndSharpenMakeTheirOwnRenditionAndInvalidValuesAreIgnored) {
  auto j = landscape();  // 1920x1200
  ASSERT_TRUE(j.contains("src"));
  const std::string small = with_size(j["src"], "s");
  auto plain = http_get(small);
  ASSERT_EQ(plain.status, 200) << plain.describe();
  std::set<std::string> etags{plain.header("ETag")};
  for (auto query : {"brightness=1.5", "contrast=0.5", "gamma=2", "saturation=0", "blur=20", "sharp=3",
                     "brightness=0.5&saturation=2&blur=1"}) {
    SCOPED_TRACE(query);
    auto r = http_get(small + "&" + query);
    ASSERT_EQ(r.status, 200) << r.describe();
    expect_cache_headers(r);
    auto d = decode(r.body);
    ASSERT_TRUE(d.ok) << d.error;
    EXPECT_EQ(d.format, "jpeg");
    EXPECT_TRUE(dims_match({d.width, d.height}, expected_variant(dims(j), 320)));
    EXPECT_TRUE(etags.insert(r.header("ETag")).second) << "the same bytes as another rendition";
    EXPECT_TRUE(nowhere_on_disk(r));
  }
  for (auto query : {"brightness=11", "brightness=-1", "contrast=abc", "gamma=", "blur=251", "sharp=1e9",
                     "saturation=nan", "brightness=1"}) {
    SCOPED_TRACE(query);
    auto r = http_get(small + "&" + query);
    ASSERT_EQ(r.status, 200) << r.describe();
    EXPECT_EQ(r.header("ETag"), plain.header("ETag"));
  }
}

TEST_F(ServeTest, UnknownIdIs404NotFound) {
  auto j = landscape();
  ASSERT_TRUE(j.contains("src"));
  std::string src = j["src"];
  std::string id = j.value("id", "");
  std::string missing = src;
  missing.replace(missing.rfind(id), id.size(), "zzzzzzzzzzzz");
  EXPECT_TRUE(is_error(http_get(missing), 404, "not_found")) << missing;
  EXPECT_TRUE(is_error(http_get(with_size(with_ext(missing, "webp"), "m")), 404, "not_found"));
  EXPECT_EQ(http_get(s().url("/zzzzzzzzzzzz")).status, 404) << "viewer for an unknown id";
}

TEST_F(ServeTest, BadSizeIs400ValidationError) {
  auto j = landscape();
  ASSERT_TRUE(j.contains("src"));
  EXPECT_TRUE(is_error(http_get(with_size(j["src"], "xl")), 400, "validation_error"));
  EXPECT_TRUE(is_error(http_get(with_size(j["src"], "xxl")), 400, "validation_error"));
  EXPECT_TRUE(is_error(http_get(with_size(j["src"], "Social")), 400, "validation_error"));
}

TEST_F(ServeTest, BadExtensionIs400ValidationError) {
  auto j = landscape();
  ASSERT_TRUE(j.contains("src"));
  for (auto ext : {"bmp", "svg", "tiff"}) {
    SCOPED_TRACE(ext);
    EXPECT_TRUE(is_error(http_get(with_ext(j["src"], ext)), 400, "validation_error"));
  }
}

// 16 clients ask at once for a variant nobody asked for before (PNG is not
// pre-generated): all get 200 and the same bytes and ETag.
TEST_F(ServeTest, ConcurrentFirstRequestsForOneVariantAgree) {
  const auto& up = upload(s(), corpus("over-1mp.jpg"), "concurrency");  // a fresh image: no variant exists
  ASSERT_EQ(up.status, 201) << up.describe();
  auto j = up.json();
  std::string url = with_size(with_ext(j["src"], "png"), "m");
  std::vector<std::future<Response>> fs;
  std::promise<void> go;
  std::shared_future<void> go_f = go.get_future().share();
  for (int i = 0; i < 16; ++i)
    fs.push_back(std::async(std::launch::async, [&, go_f] {
      go_f.wait();
      return http_get(url);
    }));
  go.set_value();
  std::vector<Response> rs;
  for (auto& f : fs) rs.push_back(f.get());
  for (size_t i = 0; i < rs.size(); ++i) {
    ASSERT_EQ(rs[i].status, 200) << "request " << i << ": " << rs[i].describe();
    EXPECT_EQ(rs[i].header("ETag"), rs[0].header("ETag")) << "request " << i;
    EXPECT_EQ(rs[i].body, rs[0].body) << "request " << i << " got different bytes";
  }
  auto d = decode(rs[0].body);
  ASSERT_TRUE(d.ok) << d.error;
  EXPECT_EQ(d.format, "png");
  EXPECT_TRUE(dims_match({d.width, d.height}, expected_variant(dims(j), 640)));
}


// Issue 16: user content is inert wherever it is opened. Every image answer
// — original, pre-made variant, on-demand render, 304 — is sandboxed, keeps
// its declared type, and the type comes from the decoded bytes only.
void expect_inert(const std::string& what, int status, const std::string& csp, const std::string& nosniff,
                  const std::string& type) {
  SCOPED_TRACE(what);
  EXPECT_TRUE(status == 200 || status == 304) << status;
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("sandbox"), std::string::npos) << csp;
  EXPECT_EQ(nosniff, "nosniff");
  if (status == 200) {
    EXPECT_EQ(type.rfind("image/", 0), 0u) << type;
  }
}

TEST_F(ServeTest, EveryImageAnswerIsSandboxedWithItsDecodedType) {
  Multipart m;
  m.file = corpus("medium.jpg");
  m.filename = "page.html";          // the name and the declared type say HTML...
  m.content_type = "text/html";
  auto up = post_multipart(s().url("/v1/upload"), m);
  ASSERT_EQ(up.status, 201) << up.describe();
  auto j = up.json();
  for (std::string url : {j["src"].get<std::string>(), with_size(j["src"], "m"),
                          with_size(with_ext(j["src"], "png"), "s"), with_ext(j["src"], "webp")}) {
    auto r = http_get(url);
    ASSERT_EQ(r.status, 200) << url << " " << r.describe();
    expect_inert(url, r.status, r.header("Content-Security-Policy"), r.header("X-Content-Type-Options"),
                 r.header("Content-Type"));
    EXPECT_EQ(r.header("Content-Type"), "image/" + decode(r.body).format) << url;  // ...the bytes decide
    auto rr = parse_raw(raw_exchange(s().port(), "GET " + path_of(url) + " HTTP/1.1\r\nHost: 127.0.0.1\r\nIf-None-Match: " +
                                                     r.header("ETag") + "\r\nConnection: close\r\n\r\n"));
    ASSERT_EQ(rr.status, 304) << url;
    expect_inert(url + " (304)", rr.status, rr.headers["Content-Security-Policy"], rr.headers["X-Content-Type-Options"],
                 "");
  }
}

}  // namespace
}  // namespace imgpipe::e2e
