// POST /v1/upload: the response body, every accepted format, every rejection,
// the pixel limit flag, and the real path through the paused worker pool.
#include <chrono>
#include <future>
#include <regex>
#include <set>
#include <thread>

#include "tests/e2e/harness.h"

namespace imgpipe::e2e {
namespace {

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class UploadTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_THROW(server_ = &SharedServer::get("upload")) << "server did not start"; }
  void TearDown() override {
    if (HasFailure() && server_) std::cerr << "---- server log ----\n" << server_->log_tail() << "\n";
  }
  ServerProcess& s() { return *server_; }
  ServerProcess* server_ = nullptr;
};

TEST_F(UploadTest, ResponseHasExactlyTheDocumentedFields) {
  auto file = corpus("landscape.jpg");
  int64_t before = now_s();
  auto r = upload(s(), file);
  int64_t after = now_s();
  ASSERT_EQ(r.status, 201) << r.describe();
  EXPECT_NE(r.header("Content-Type").find("application/json"), std::string::npos) << r.header("Content-Type");
  auto j = r.json();
  ASSERT_TRUE(j.is_object()) << r.describe();

  std::set<std::string> keys;
  for (auto& [k, v] : j.items()) keys.insert(k);
  EXPECT_EQ(keys, (std::set<std::string>{"id", "name", "url", "src", "width", "height", "filesize", "expires_at",
                                         "created_at", "upgrade"}))
      << j.dump(2);

  ASSERT_TRUE(j["id"].is_string());
  std::string id = j["id"];
  EXPECT_TRUE(std::regex_match(id, std::regex("[A-Za-z0-9_-]{4,64}"))) << "id is not URL-safe: " << id;
  EXPECT_EQ(j["name"], "landscape.jpg") << "name must default to the uploaded filename";
  EXPECT_EQ(j["url"], s().base_url() + "/" + id);

  ASSERT_TRUE(j["src"].is_string());
  std::string src = j["src"];
  std::smatch m;
  ASSERT_TRUE(std::regex_match(src, m, std::regex("(http://127\\.0\\.0\\.1:[0-9]+)/([^/?#]+)/([^/?#]+)\\.([a-z]+)")))
      << "src is not <public-url>/<prefix>/<id>.<ext>: " << src;
  EXPECT_EQ(m[1].str(), s().base_url());
  EXPECT_EQ(m[3].str(), id);
  EXPECT_EQ(m[4].str(), "jpeg") << "canonical extension of a JPEG";

  auto want = decode_file_upright(file);
  ASSERT_TRUE(want.ok) << want.error;
  ASSERT_TRUE(j["width"].is_number_integer() && j["height"].is_number_integer()) << j.dump();
  EXPECT_EQ(j["width"].get<int>(), want.width);
  EXPECT_EQ(j["height"].get<int>(), want.height);

  ASSERT_TRUE(j["created_at"].is_number_integer() && j["expires_at"].is_number_integer()) << j.dump();
  int64_t created = j["created_at"], expires = j["expires_at"];
  EXPECT_GE(created, before - 5);
  EXPECT_LE(created, after + 5);
  EXPECT_EQ(expires - created, 30 * 86400);

  ASSERT_TRUE(j["upgrade"].is_object()) << j.dump();
  std::set<std::string> ukeys;
  for (auto& [k, v] : j["upgrade"].items()) {
    ukeys.insert(k);
    EXPECT_TRUE(v.is_string() && !v.get<std::string>().empty()) << "upgrade." << k << " = " << v;
  }
  EXPECT_EQ(ukeys, (std::set<std::string>{"type", "url", "message", "label"}));
  EXPECT_EQ(j["upgrade"]["url"], s().base_url() + "/keys") << "default --upgrade-url: this instance's key page";

  // filesize is the size of the stored original, which GET src returns.
  auto g = http_get(src);
  ASSERT_EQ(g.status, 200) << g.describe();
  ASSERT_TRUE(j["filesize"].is_number_integer());
  EXPECT_EQ(j["filesize"].get<size_t>(), g.body.size());
  auto d = decode(g.body);
  ASSERT_TRUE(d.ok) << d.error;
  EXPECT_EQ(d.format, "jpeg");
  EXPECT_EQ(d.width, want.width);
  EXPECT_EQ(d.height, want.height);
}

TEST_F(UploadTest, NameFieldOverridesFilename) {
  auto r = upload(s(), corpus("under-1mp.jpg"), "Harbour at dusk.jpg");
  ASSERT_EQ(r.status, 201) << r.describe();
  EXPECT_EQ(r.json().value("name", ""), "Harbour at dusk.jpg");
}

TEST_F(UploadTest, TwoUploadsGetDistinctIds) {
  auto a = upload(s(), corpus("under-1mp.jpg"), "a");
  auto b = upload(s(), corpus("portrait.jpg"), "b");
  ASSERT_EQ(a.status, 201) << a.describe();
  ASSERT_EQ(b.status, 201) << b.describe();
  EXPECT_NE(a.json().value("id", "x"), b.json().value("id", "x"));
}

// ---- every accepted format ---------------------------------------------------

struct FormatCase {
  const char* file;
  const char* ext;  // canonical extension and decoded format
};

void PrintTo(const FormatCase& c, std::ostream* os) { *os << c.file; }

class UploadFormat : public UploadTest, public ::testing::WithParamInterface<FormatCase> {};

TEST_P(UploadFormat, ReportsCanonicalExtensionAndServesTheOriginal) {
  auto [file_name, ext] = GetParam();
  fs::path file = corpus_dir() / file_name;
  if (!fs::exists(file) && std::string(ext) == "heic")
    GTEST_SKIP() << "corpus has no photo.heic (ops/corpus printed why: no HEVC encoder)";
  file = corpus(file_name);
  auto want = decode_file_upright(file);
  ASSERT_TRUE(want.ok) << "corpus file does not decode: " << want.error;

  auto r = upload_once(s(), file);
  ASSERT_EQ(r.status, 201) << r.describe();
  auto j = r.json();
  std::string src = j.value("src", "");
  EXPECT_EQ(ext_of(src), ext) << src;
  EXPECT_EQ(j.value("width", 0), want.width);
  EXPECT_EQ(j.value("height", 0), want.height);

  auto g = http_get(src);
  ASSERT_EQ(g.status, 200) << g.describe();
  EXPECT_EQ(g.header("Content-Type"), std::string("image/") + ext);
  auto d = decode(g.body);
  ASSERT_TRUE(d.ok) << d.error;
  EXPECT_EQ(d.format, ext);
  EXPECT_EQ(d.sniffed, ext);
  EXPECT_EQ(d.width, want.width);
  EXPECT_EQ(d.height, want.height);
  EXPECT_EQ(j.value("filesize", size_t{0}), g.body.size());
}

INSTANTIATE_TEST_SUITE_P(Formats, UploadFormat,
                         ::testing::Values(FormatCase{"landscape.jpg", "jpeg"}, FormatCase{"tall.png", "png"},
                                           FormatCase{"photo.webp", "webp"}, FormatCase{"animated.gif", "gif"},
                                           FormatCase{"photo.avif", "avif"}, FormatCase{"photo.heic", "heic"}),
                         [](const auto& info) { return std::string(info.param.ext); });

// ---- rejections ----------------------------------------------------------------

TEST_F(UploadTest, NoFilePartIs400ValidationError) {
  Multipart m;
  m.include_file = false;
  m.fields = {{"name", "nothing here"}};
  EXPECT_TRUE(is_error(post_multipart(s().url("/v1/upload"), m), 400, "validation_error"));
}

// `curl -X POST` of an upload with no body (Content-Length: 0, or no
// length at all) gets a 400 it can act on, and the server keeps serving
// (it used to drop the connection and could crash: the body parser was
// taken from an empty optional).
TEST_F(UploadTest, AnEmptyBodyIs400AndTheServerStaysUp) {
  for (const char* route : {"/v1/upload", "/v1/images"}) {
    for (const char* framing : {"Content-Length: 0\r\n", ""}) {
      auto r = parse_raw(raw_exchange(s().port(), std::string("POST ") + route + " HTTP/1.1\r\nHost: x\r\n" + framing +
                                                      "Content-Type: multipart/form-data; boundary=x\r\n"
                                                      "Connection: close\r\n\r\n"));
      EXPECT_EQ(r.status, 400) << route << " " << framing;
      EXPECT_NE(r.body.find("validation_error"), std::string::npos) << r.body;
      EXPECT_NE(r.body.find("multipart body ends before the closing boundary"), std::string::npos) << r.body;
    }
  }
  EXPECT_EQ(http_get(s().url("/healthz")).status, 200);
}

TEST_F(UploadTest, FileUnderAnotherFieldNameIs400ValidationError) {
  Multipart m;
  m.file = corpus("under-1mp.jpg");
  m.field = "image";
  m.content_type = "image/jpeg";
  EXPECT_TRUE(is_error(post_multipart(s().url("/v1/upload"), m), 400, "validation_error"));
}

TEST_F(UploadTest, Over20MBWithContentLengthIs413) {
  auto big = corpus("big.jpg");
  ASSERT_GT(fs::file_size(big), 20u * 1024 * 1024);
  Multipart m;
  m.file = big;
  m.content_type = "image/jpeg";
  EXPECT_TRUE(is_error(post_multipart(s().url("/v1/upload"), m), 413, "file_too_large"));
  EXPECT_EQ(http_get(s().url("/healthz")).status, 200) << "server unhealthy after an oversized upload";
}

TEST_F(UploadTest, Over20MBChunkedIs413) {
  Multipart m;
  m.file = corpus("big.jpg");
  m.content_type = "image/jpeg";
  m.chunked = true;
  EXPECT_TRUE(is_error(post_multipart(s().url("/v1/upload"), m), 413, "file_too_large"));
  EXPECT_EQ(http_get(s().url("/healthz")).status, 200) << "server unhealthy after an oversized upload";
}

class UploadUnsupported : public UploadTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(UploadUnsupported, Is415UnsupportedFormat) {
  EXPECT_TRUE(is_error(upload(s(), corpus(GetParam())), 415, "unsupported_format"));
}

INSTANTIATE_TEST_SUITE_P(Files, UploadUnsupported,
                         ::testing::Values("drawing.svg", "document.pdf", "layers.psd", "notes.txt", "page.jpg"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& c : n) if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

TEST_F(UploadTest, TruncatedJpegIs422InvalidImage) {
  EXPECT_TRUE(is_error(upload(s(), corpus("truncated.jpg")), 422, "invalid_image"));
}

TEST_F(UploadTest, PixelBombIs422ImageTooLarge) {
  auto bomb = corpus("bomb.png");
  auto d = decode_file_upright(bomb);  // header only matters; 1-bit so decoding is cheap
  ASSERT_GT(static_cast<int64_t>(d.width) * d.height, 100'000'000) << "corpus bomb is not over 100 MP";
  EXPECT_TRUE(is_error(upload(s(), bomb), 422, "image_too_large"));
  EXPECT_EQ(http_get(s().url("/healthz")).status, 200) << "server unhealthy after a pixel bomb";
}

TEST(UploadMaxPixels, FlagLowersThePixelLimit) {
  ServerOptions o;
  o.extra_args = {"--max-pixels", "1000000"};
  ServerProcess s(o);
  ASSERT_NO_THROW(s.start());
  auto over = decode_file_upright(corpus("over-1mp.jpg"));
  auto under = decode_file_upright(corpus("under-1mp.jpg"));
  ASSERT_GT(over.width * over.height, 1'000'000);
  ASSERT_LT(under.width * under.height, 1'000'000);
  EXPECT_TRUE(is_error(upload(s, corpus("over-1mp.jpg")), 422, "image_too_large")) << s.log_tail();
  auto ok = upload(s, corpus("under-1mp.jpg"));
  EXPECT_EQ(ok.status, 201) << ok.describe() << "\n" << s.log_tail();
}

// The real path: the gateway answers only after a worker made the image
// ready. With the workers paused (SIGUSR1) the upload waits; SIGUSR2 lets it
// through.
TEST(UploadPipeline, PausedWorkersHoldTheUploadUntilResumed) {
  ServerProcess s;
  ASSERT_NO_THROW(s.start());
  s.signal(SIGUSR1);
  ASSERT_TRUE(eventually([&] { return s.log_tail().find("\"workers_paused\"") != std::string::npos; }))
      << "SIGUSR1 was not handled\n" << s.log_tail();
  ASSERT_TRUE(s.running()) << "SIGUSR1 killed the server\n" << s.log_tail();
  auto f = std::async(std::launch::async, [&] { return upload(s, corpus("under-1mp.jpg")); });
  ASSERT_EQ(f.wait_for(2500ms), std::future_status::timeout)
      << "upload completed while workers were paused: " << f.get().describe() << "\n" << s.log_tail();
  s.signal(SIGUSR2);
  ASSERT_EQ(f.wait_for(60s), std::future_status::ready) << "upload did not complete after SIGUSR2\n" << s.log_tail();
  auto r = f.get();
  EXPECT_EQ(r.status, 201) << r.describe() << "\n" << s.log_tail();
  EXPECT_EQ(s.stop(), 0) << s.log_tail();
}


// Issue 16: a name is cleaned, never refused and never stored raw — sent as
// the `name` field and as the file part's filename.
TEST_F(UploadTest, HostileNamesAreStoredClean) {
  for (const auto& h : hostile_texts()) {
    SCOPED_TRACE(h.label);
    auto r = upload(s(), corpus("under-1mp.jpg"), h.text);
    ASSERT_EQ(r.status, 201) << r.describe();
    std::string name = r.json().value("name", "");
    EXPECT_EQ(text_flaw(name, 255), "") << name;
    EXPECT_FALSE(name.empty());
    auto listed = http_get(s().url("/" + r.json().value("id", "")));  // the viewer page echoes the name too
    EXPECT_EQ(listed.body.find(h.text), std::string::npos);
  }
  // In the Content-Disposition filename (a header: no CR/LF; NUL is refused there).
  for (const auto& h : hostile_texts()) {
    if (h.label == "CRLF" || h.label == "10KB") continue;  // cannot be a header value / over the part-header limit
    SCOPED_TRACE("filename " + h.label);
    Multipart m;
    m.file = corpus("under-1mp.jpg");
    m.filename = h.text;
    auto r = post_multipart(s().url("/v1/upload"), m);
    if (h.label == "NUL") {
      EXPECT_TRUE(is_error(r, 400, "validation_error"));
      continue;
    }
    ASSERT_EQ(r.status, 201) << r.describe();
    std::string name = r.json().value("name", "");
    EXPECT_EQ(text_flaw(name, 255), "") << name;
  }
}

// Issue 16: a form field or the file sent twice is ambiguous, so refused.
TEST_F(UploadTest, RepeatedFieldsAndTwoFilePartsAre400) {
  Multipart twice;
  twice.file = corpus("under-1mp.jpg");
  twice.fields = {{"name", "a"}, {"name", "b"}};
  EXPECT_TRUE(is_error(post_multipart(s().url("/v1/upload"), twice), 400, "validation_error"));

  const std::string b = "xXx";
  std::string jpeg = read_file(corpus("under-1mp.jpg"));
  std::string part = "--" + b + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n\r\n" + jpeg + "\r\n";
  std::string body = part + part + "--" + b + "--\r\n";
  auto raw = parse_raw(raw_exchange(s().port(), "POST /v1/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                                                "Content-Type: multipart/form-data; boundary=" + b +
                                                "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body));
  EXPECT_EQ(raw.status, 400);
  EXPECT_NE(raw.body.find("exactly one 'file' part"), std::string::npos) << raw.body;

  std::string one = part + "--" + b + "--\r\n";
  raw = parse_raw(raw_exchange(s().port(), "POST /v1/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                                           "Content-Type: multipart/form-data; boundary=" + b + "; boundary=other\r\n"
                                           "Content-Length: " + std::to_string(one.size()) + "\r\n\r\n" + one));
  EXPECT_EQ(raw.status, 400);
  EXPECT_NE(raw.body.find("repeated parameter 'boundary'"), std::string::npos) << raw.body;
}

}  // namespace
}  // namespace imgpipe::e2e
