// The same variant, byte for byte, whichever path made it (the variant
// policy, workers/README.md): a server started with --no-pregenerate renders every size
// and format on demand; a server that pre-generates lets its worker make
// s/m/l in the source format and WebP. The worker's files, the on-demand
// answers and what the second server serves are the same bytes under the same
// strong ETag - a cache may hold either. Runs on the embedded bus, or on
// Kafka with IMGPIPE_E2E_BUS=kafka.
#include "tests/e2e/harness.h"

namespace imgpipe::e2e {
namespace {

using json = nlohmann::json;

json manifest(const ServerProcess& s, const std::string& id) {
  const auto path = s.data_dir() / "manifests" / (id + ".json");
  std::error_code ec;
  if (!fs::exists(path, ec)) return nullptr;
  return json::parse(read_file(path), nullptr, false);
}

fs::path blob_path(const ServerProcess& s, const std::string& sha) {
  return s.data_dir() / "blobs" / sha.substr(0, 2) / sha;
}

// Every variant a src URL can ask for of a JPEG: s, m and l in JPEG, PNG,
// WebP and AVIF, and the full size in the three other formats. Keys are
// "size.format" ("o" for full size); values are the URL made from `src`.
std::map<std::string, std::string> every_variant(const std::string& src) {
  std::map<std::string, std::string> out;
  for (const char* format : {"jpeg", "png", "webp", "avif"}) {
    for (const char* size : {"s", "m", "l"})
      out[std::string(size) + "." + format] = with_size(with_ext(src, format), size);
    if (std::string_view(format) != "jpeg") out[std::string("o.") + format] = with_ext(src, format);
  }
  return out;
}

// A render slower than the handler timeout (a full-size AVIF on a busy
// machine) answers 503 with Retry-After and goes on; the retry gets it.
Response get_variant(const std::string& url) {
  Response r;
  eventually([&] { return (r = http_get(url)).status != 503 || r.header("Retry-After").empty(); }, 300s, 1s);
  return r;
}

TEST(Variants, OnDemandAndPregeneratedAreTheSameBytesAndETags) {
  ServerOptions no_pregenerate;
  no_pregenerate.extra_args = {"--no-pregenerate"};
  ServerProcess on_demand(no_pregenerate);
  ServerProcess pregenerating;
  ASSERT_NO_THROW(on_demand.start());
  ASSERT_NO_THROW(pregenerating.start());
  // 1920x1200: l, m and s are all smaller than the original and than each other.
  const auto photo = corpus("medium.jpg");
  const auto a = upload(on_demand, photo);
  const auto b = upload(pregenerating, photo);
  ASSERT_EQ(a.status, 201) << a.describe();
  ASSERT_EQ(b.status, 201) << b.describe();
  const std::string a_id = a.json().value("id", ""), b_id = b.json().value("id", "");

  // The worker has made its six variants once its manifest lists them.
  json made;
  ASSERT_TRUE(eventually([&] {
    made = manifest(pregenerating, b_id);
    return made.is_object() && made["variants"].size() == 6;
  }, 60s)) << made.dump() << "\n" << pregenerating.log_tail();

  // On demand: every size and format.
  std::map<std::string, Response> rendered;
  for (const auto& [name, url] : every_variant(a.json().value("src", ""))) {
    auto r = get_variant(url);
    ASSERT_EQ(r.status, 200) << name << ": " << r.describe();
    EXPECT_TRUE(decode(r.body).ok) << name;
    EXPECT_FALSE(r.header("ETag").empty()) << name;
    EXPECT_NE(r.header("Cache-Control").find("immutable"), std::string::npos) << name;
    rendered.emplace(name, std::move(r));
  }
  // Pre-generation really was off there.
  const auto a_manifest = manifest(on_demand, a_id);
  ASSERT_TRUE(a_manifest.is_object());
  EXPECT_EQ(a_manifest["variants"].size(), 0u) << a_manifest.dump();

  // The worker's files are the on-demand bytes, under the same ETag.
  for (const auto& v : made["variants"]) {
    const std::string name = v["size"].get<std::string>() + "." + v["format"].get<std::string>();
    ASSERT_TRUE(rendered.count(name)) << name;
    const auto& r = rendered.at(name);
    const std::string blob = v["blob"].get<std::string>();
    EXPECT_EQ(r.header("ETag"), "\"" + blob + "\"") << name << " differs between the worker and on-demand rendering";
    EXPECT_TRUE(r.body == read_file(blob_path(pregenerating, blob)))
        << name << ": worker " << v["bytes"] << " bytes, on demand " << r.body.size();
  }

  // And the pre-generating server serves every one of them the same way,
  // whether its worker made it or it renders it now.
  for (const auto& [name, url] : every_variant(b.json().value("src", ""))) {
    auto r = get_variant(url);
    ASSERT_EQ(r.status, 200) << name << ": " << r.describe();
    EXPECT_EQ(r.header("ETag"), rendered.at(name).header("ETag")) << name;
    EXPECT_TRUE(r.body == rendered.at(name).body) << name;
  }
}

}  // namespace
}  // namespace imgpipe::e2e
