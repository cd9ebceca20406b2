// GET /<id>: the viewer page with Open Graph tags and a srcset, safe against
// a hostile name, checked as text and in a real headless browser.
#include <algorithm>
#include <regex>
#include <unistd.h>

#include "tests/e2e/harness.h"

namespace imgpipe::e2e {
namespace {

const std::string kHostileName = "<script>alert(1)</script>\"'&";

// Attributes of one tag, values HTML-unescaped.
std::map<std::string, std::string> attributes(const std::string& tag) {
  std::map<std::string, std::string> out;
  static const std::regex attr(R"re(([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*=\s*("([^"]*)"|'([^']*)'|([^\s"'>]+)))re");
  for (auto it = std::sregex_iterator(tag.begin(), tag.end(), attr); it != std::sregex_iterator(); ++it) {
    const auto& m = *it;
    std::string v = m[3].matched ? m[3].str() : m[4].matched ? m[4].str() : m[5].str();
    std::string k = m[1].str();
    std::transform(k.begin(), k.end(), k.begin(), [](unsigned char c) { return std::tolower(c); });
    out[k] = html_unescape(v);
  }
  return out;
}

std::vector<std::string> tags(const std::string& html, const std::string& name) {
  std::vector<std::string> out;
  std::regex re("<" + name + R"(\b[^>]*>)", std::regex::icase);
  for (auto it = std::sregex_iterator(html.begin(), html.end(), re); it != std::sregex_iterator(); ++it)
    out.push_back(it->str());
  return out;
}

// property= or name= → content=
std::map<std::string, std::string> meta(const std::string& html) {
  std::map<std::string, std::string> out;
  for (auto& t : tags(html, "meta")) {
    auto a = attributes(t);
    std::string key = a.count("property") ? a["property"] : a.count("name") ? a["name"] : "";
    if (!key.empty() && a.count("content")) out[key] = a["content"];
  }
  return out;
}

std::string absolute(const ServerProcess& s, const std::string& url) {
  return url.rfind("http", 0) == 0 ? url : s.url(url);
}

class ViewerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_THROW(server_ = &SharedServer::get("viewer")) << "server did not start"; }
  void TearDown() override {
    if (HasFailure() && server_) std::cerr << "---- server log ----\n" << server_->log_tail() << "\n";
  }
  ServerProcess& s() { return *server_; }
  ServerProcess* server_ = nullptr;
};

TEST_F(ViewerTest, PageHasOpenGraphTagsAndSrcset) {
  const auto& up = upload_once(s(), corpus("medium.jpg"), "Evening glow.jpg");
  ASSERT_EQ(up.status, 201) << up.describe();
  auto j = up.json();
  Dims dims{j.value("width", 0), j.value("height", 0)};
  auto page = http_get(j.value("url", ""));
  ASSERT_EQ(page.status, 200) << page.describe();
  EXPECT_EQ(page.header("Content-Type").rfind("text/html", 0), 0u) << page.header("Content-Type");

  auto m = meta(page.body);
  EXPECT_EQ(m["og:title"], "Evening glow.jpg");
  EXPECT_EQ(m["twitter:card"], "summary_large_image");
  ASSERT_FALSE(m["og:image"].empty()) << page.body.substr(0, 2000);
  std::string og_image = absolute(s(), m["og:image"]);
  EXPECT_NE(og_image.find(j.value("id", "?")), std::string::npos) << og_image;
  EXPECT_NE(og_image.find("size=l"), std::string::npos) << "og:image is not the l variant: " << og_image;
  auto want_l = expected_variant(dims, 1080);
  EXPECT_TRUE(dims_match({std::atoi(m["og:image:width"].c_str()), std::atoi(m["og:image:height"].c_str())}, want_l))
      << "og:image:width/height";
  auto img = http_get(og_image);
  ASSERT_EQ(img.status, 200) << img.describe();
  auto d = decode(img.body);
  ASSERT_TRUE(d.ok) << d.error;
  EXPECT_EQ(std::to_string(d.width), m["og:image:width"]);
  EXPECT_EQ(std::to_string(d.height), m["og:image:height"]);

  // An <img> whose srcset lists s, m and l, each fetchable at its size.
  std::string srcset;
  for (auto& t : tags(page.body, "img")) {
    auto a = attributes(t);
    if (a.count("srcset")) {
      srcset = a["srcset"];
      EXPECT_FALSE(a["src"].empty()) << t;
      break;
    }
  }
  ASSERT_FALSE(srcset.empty()) << "no <img srcset=...> on the page:\n" << page.body.substr(0, 3000);
  std::map<std::string, std::string> by_size;
  std::regex entry(R"(\s*([^\s,]+)(\s+[0-9.]+[wx])?\s*(,|$))");
  for (auto it = std::sregex_iterator(srcset.begin(), srcset.end(), entry); it != std::sregex_iterator(); ++it) {
    std::string u = (*it)[1].str();
    std::smatch sm;
    if (std::regex_search(u, sm, std::regex(R"([?&]size=([sml])\b)"))) by_size[sm[1].str()] = u;
  }
  for (std::string size : {"s", "m", "l"}) {
    SCOPED_TRACE(size);
    ASSERT_TRUE(by_size.count(size)) << "srcset lacks size=" << size << ": " << srcset;
    auto v = http_get(absolute(s(), by_size[size]));
    ASSERT_EQ(v.status, 200) << v.describe();
    auto vd = decode(v.body);
    ASSERT_TRUE(vd.ok) << vd.error;
    EXPECT_TRUE(dims_match({vd.width, vd.height}, expected_variant(dims, short_edge_of(size))));
  }
}

// A browser following a link to an image that is gone (or never was), or
// to a page that does not exist, gets a page with a way home; API clients
// and <img> requests keep the JSON error.
TEST_F(ViewerTest, ABrowserGetsAPageForWhatIsMissingAndClientsGetJson) {
  const std::vector<std::string> browser = {"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"};
  for (std::string path : {"/nosuchimage1", "/docs/nope", "/no/such/page"}) {
    SCOPED_TRACE(path);
    auto page = http_get(s().url(path), browser);
    EXPECT_EQ(page.status, 404) << page.describe();
    EXPECT_EQ(page.header("Content-Type").rfind("text/html", 0), 0u) << page.header("Content-Type");
    EXPECT_NE(page.body.find("<h1>Not found</h1>"), std::string::npos) << page.body;
    EXPECT_NE(page.body.find("href=\"/\""), std::string::npos) << "no way home: " << page.body;
    EXPECT_NE(page.header("Content-Security-Policy").find("frame-ancestors 'none'"), std::string::npos);
    EXPECT_EQ(page.header("Cache-Control"), "no-store");
    auto api = http_get(s().url(path));  // curl's Accept: */*
    EXPECT_EQ(api.status, 404);
    EXPECT_EQ(api.json().value("error", ""), "not_found") << api.describe();
  }
  auto img = http_get(s().url("/ab/nosuchimage1.jpg"), {"Accept: image/avif,image/webp,image/*,*/*;q=0.8"});
  EXPECT_EQ(img.status, 404);
  EXPECT_EQ(img.json().value("error", ""), "not_found") << img.describe();
  // A shape C path with a trailing slash answers in shape C's error shape.
  for (std::string path : {"/v1/images/", "/v1/usage/", "/v1/images/abc/"}) {
    auto r = http_get(s().url(path));
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.json()["error"].value("code", ""), "not_found") << path << ": " << r.body;
  }
}

// Link previewers show JPEG, PNG and WebP: an AVIF or HEIC image is shared
// as a JPEG of the l size, with the dimensions it has.
TEST_F(ViewerTest, AvifAndHeicAreSharedAsJpeg) {
  for (std::string file : {"photo.avif", "photo.heic"}) {
    SCOPED_TRACE(file);
    const auto& up = upload_once(s(), corpus(file), file);
    ASSERT_EQ(up.status, 201) << up.describe();
    auto m = meta(http_get(up.json().value("url", "")).body);
    auto og = absolute(s(), m["og:image"]);
    EXPECT_NE(og.find(".jpeg?size=l"), std::string::npos) << og;
    EXPECT_EQ(m["og:image:alt"], file);
    auto img = http_get(og);
    ASSERT_EQ(img.status, 200) << img.describe();
    auto d = decode(img.body);
    ASSERT_TRUE(d.ok) << d.error;
    EXPECT_EQ(d.format, "jpeg");
    EXPECT_EQ(std::to_string(d.width), m["og:image:width"]);
    EXPECT_EQ(std::to_string(d.height), m["og:image:height"]);
  }
}

TEST_F(ViewerTest, HostileNameIsEscaped) {
  const auto& up = upload_once(s(), corpus("under-1mp.jpg"), kHostileName);
  ASSERT_EQ(up.status, 201) << up.describe();
  auto j = up.json();
  EXPECT_EQ(j.value("name", ""), kHostileName) << "the API returns the name as given (JSON-escaped)";
  auto page = http_get(j.value("url", ""));
  ASSERT_EQ(page.status, 200) << page.describe();
  EXPECT_EQ(page.body.find("<script>alert"), std::string::npos) << "raw script from the name is on the page";
  EXPECT_NE(page.body.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos)
      << "escaped name not found:\n" << page.body.substr(0, 3000);
  // The quotes did not break out of the attribute: og:title reads back whole.
  EXPECT_EQ(meta(page.body)["og:title"], kHostileName);
}

// Issue 16: the download links save the file (Content-Disposition:
// attachment, which a browser honours even across origins, unlike the
// `download` attribute) under the image's name, cleaned: one header line, no
// quote, no path separator, the served format's extension.
TEST_F(ViewerTest, DownloadLinksSaveTheFileUnderItsCleanedName) {
  const std::string hostile = "..\\../Caf\xC3\xA9 \"x\";\r\nSet-Cookie: a=1\xE2\x80\xAE.jpg";
  const auto& up = upload_once(s(), corpus("under-1mp.jpg"), hostile);
  ASSERT_EQ(up.status, 201) << up.describe();
  auto page = http_get(up.json().value("url", ""));
  ASSERT_EQ(page.status, 200) << page.describe();
  std::vector<std::string> hrefs;
  for (auto& t : tags(page.body, "a"))
    if (t.find(" download") != std::string::npos) hrefs.push_back(attributes(t)["href"]);
  ASSERT_EQ(hrefs.size(), 4u) << page.body.substr(0, 3000);
  for (const auto& href : hrefs) {
    SCOPED_TRACE(href);
    EXPECT_NE(href.find("download=1"), std::string::npos);
    auto r = http_get(absolute(s(), href));
    ASSERT_EQ(r.status, 200) << r.describe();
    EXPECT_EQ(r.header("Set-Cookie"), "") << "the name injected a header";
    std::string cd = r.header("Content-Disposition");
    ASSERT_EQ(cd.rfind("attachment; filename=\"", 0), 0u) << cd;
    EXPECT_EQ(std::count(cd.begin(), cd.end(), '"'), 2) << cd;
    for (unsigned char c : cd) EXPECT_TRUE(c >= 0x20 && c < 0x7F) << cd;
    auto start = cd.find('"') + 1;
    std::string filename = cd.substr(start, cd.find('"', start) - start);
    EXPECT_EQ(filename.find_first_of("/\\"), std::string::npos) << filename;
    EXPECT_TRUE(!filename.empty() && filename.front() != '.') << filename;
    EXPECT_NE(filename.find("Caf_"), std::string::npos) << filename;
    std::string path = path_of(absolute(s(), href));
    path = path.substr(0, path.find('?'));
    std::string ext = path.substr(path.rfind('.'));
    EXPECT_EQ(filename.substr(filename.size() - ext.size()), ext) << filename;
    EXPECT_NE(cd.find("; filename*=UTF-8''"), std::string::npos) << cd;
    EXPECT_NE(cd.find("Caf%C3%A9%20"), std::string::npos) << cd;
    EXPECT_EQ(cd.find("%E2%80%AE"), std::string::npos) << "the right-to-left override survived: " << cd;
  }
  // Opened in the browser (no download=1): inline, under the same name.
  auto inline_answer = http_get(up.json().value("src", ""));
  ASSERT_EQ(inline_answer.status, 200) << inline_answer.describe();
  EXPECT_EQ(inline_answer.header("Content-Disposition").rfind("inline; filename=\"_.._Caf_ _x__", 0), 0u)
      << inline_answer.header("Content-Disposition");
  auto bad = http_get(up.json().value("src", "") + "?download=yes");
  EXPECT_EQ(bad.status, 400) << bad.describe();
}

TEST_F(ViewerTest, HeadlessChromiumRendersThePageWithoutRunningTheName) {
  const fs::path chromium = "/usr/bin/chromium";
  if (!fs::exists(chromium)) GTEST_SKIP() << "/usr/bin/chromium is missing (ops/setup --test installs it)";
  const auto& up = upload_once(s(), corpus("under-1mp.jpg"), kHostileName);
  ASSERT_EQ(up.status, 201) << up.describe();
  std::string url = up.json().value("url", "");

  char tmpl[] = "/tmp/imgpipe-e2e-chromium.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  fs::path dir = tmpl;
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{dir};
  std::vector<std::string> base{chromium.string(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                                "--disable-sync", "--user-data-dir=" + (dir / "profile").string(),
                                "--virtual-time-budget=5000"};
  auto dump_args = base;
  dump_args.insert(dump_args.end(), {"--dump-dom", url});
  auto dump = run(dump_args, 60s);
  ASSERT_FALSE(dump.timed_out) << "chromium --dump-dom did not finish in 60 s (an alert() run from the page "
                                   "blocks headless Chromium, so a script injected through the name hangs here)";
  EXPECT_EQ(dump.exit_code, 0) << dump.out.substr(0, 2000);
  // The DOM as the browser built it: the tags are there, the name is text.
  EXPECT_NE(dump.out.find("og:image"), std::string::npos) << dump.out.substr(0, 3000);
  EXPECT_NE(dump.out.find("<img"), std::string::npos) << dump.out.substr(0, 3000);
  EXPECT_EQ(dump.out.find("<script>alert(1)"), std::string::npos) << "the name became a script element";

  auto shot_args = base;
  fs::path shot = dir / "shot.png";
  shot_args.insert(shot_args.end(), {"--window-size=1280,900", "--screenshot=" + shot.string(), url});
  auto r = run(shot_args, 60s);
  ASSERT_FALSE(r.timed_out) << "chromium --screenshot did not finish in 60 s";
  ASSERT_TRUE(fs::exists(shot)) << r.out.substr(0, 2000);
  EXPECT_GT(fs::file_size(shot), 0u);
  auto d = decode(read_file(shot));
  ASSERT_TRUE(d.ok) << d.error;
  EXPECT_EQ(d.format, "png");
  EXPECT_GT(d.width, 0);
}

}  // namespace
}  // namespace imgpipe::e2e
