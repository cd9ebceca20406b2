// A variant is the same bytes whichever host made it: the worker's batch
// (render_variants with the pre-generated list, one decode for all sizes) and
// the gateway's on-demand render (render_variant, one request) and a
// VariantRenderer asked one request at a time (the worker now) must agree for
// every size and every format a src URL can ask for. Both are served under one
// URL with `immutable` and the content hash as a strong ETag.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "test_images.h"
#include "workers/image/engine.h"

namespace imgpipe::workers::image {
namespace {

using testing::encode;
using vips::VImage;

// A photo-like texture (gradient plus noise): every resampling path leaves
// its own trace in the bytes, which a smooth gradient might hide.
VImage textured(int width, int height) {
  VImage noise = VImage::gaussnoise(width, height, VImage::option()->set("sigma", 30.0)->set("mean", 0.0));
  VImage rgb = testing::gradient(width, height) + noise.bandjoin(noise * 0.5).bandjoin(noise * -0.7);
  return rgb.cast(VIPS_FORMAT_UCHAR).copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
}

std::string label(const VariantRequest& r) {
  return (r.short_edge ? std::to_string(*r.short_edge) : std::string("full")) + "." + std::string(name(r.format));
}

// What the image host may serve of an original in `source`: each named size
// in each servable format and the full size in every format but the
// source's. AVIF encoding is slow, so one test covers it (every path shares
// the encoder; what differed were the pixels fed to it).
struct Coverage {
  bool full_size = true;
  bool avif = false;
  bool heic = true;  // HEVC encoding (x265) is slower still
};
std::vector<VariantRequest> every_servable(Format source, Coverage c) {
  std::vector<VariantRequest> out;
  for (Format f : {Format::jpeg, Format::png, Format::webp, Format::gif, Format::avif, Format::heic}) {
    if (!servable_format(f, source) || (f == Format::avif && !c.avif && source != Format::avif) ||
        (f == Format::heic && !c.heic))
      continue;
    for (auto size : kVariantSizes) out.push_back({short_edge_for(size), f});
    if (c.full_size && f != source) out.push_back({std::nullopt, f});
  }
  return out;
}

// What derive_variants asks for: kVariantSizes x pregenerated_formats.
std::vector<VariantRequest> worker_batch(Format source) {
  std::vector<VariantRequest> out;
  for (auto size : kVariantSizes)
    for (Format f : pregenerated_formats(source)) out.push_back({short_edge_for(size), f});
  return out;
}

class WorkersImageVariantIdentity : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { testing::ensure_engine(); }
  void TearDown() override { release_thread(); }

  // The stored original, as the worker leaves it.
  std::filesystem::path original(const std::string& name, const std::string& bytes, Format& format) {
    const auto path = dir.write("upload_" + name, bytes);
    const auto n = normalise_file(path, probe_file(path));
    format = n.format;
    return dir.write(name, n.bytes);
  }

  // Every servable variant rendered alone (the gateway), compared with the
  // worker's batch and with one batch of all the others: the same bytes every way.
  void expect_same_bytes_every_path(const std::string& name, const std::string& bytes, Coverage c = {}) {
    Format source{};
    const auto path = original(name, bytes, source);
    const auto all = every_servable(source, c);
    std::map<std::string, EncodedImage> alone;
    for (const auto& r : all) alone.emplace(label(r), render_variant(path, source, r));

    const auto worker = worker_batch(source);
    const auto batch = render_variants(path, source, worker);
    ASSERT_EQ(batch.size(), worker.size());
    for (size_t i = 0; i < worker.size(); ++i) {
      const auto& one = alone.at(label(worker[i]));
      EXPECT_TRUE(one.bytes == batch[i].bytes) << name << " " << label(worker[i]) << ": worker "
                                               << batch[i].bytes.size() << " bytes, on demand " << one.bytes.size()
                                               << " bytes";
    }
    // The rest in one batch, full sizes (their own anchor) mixed with s/m/l.
    std::vector<VariantRequest> rest;
    for (const auto& r : all)
      if (std::none_of(worker.begin(), worker.end(), [&](const auto& w) { return label(w) == label(r); }))
        rest.push_back(r);
    const auto together = render_variants(path, source, rest);
    ASSERT_EQ(together.size(), rest.size());
    for (size_t i = 0; i < rest.size(); ++i) {
      const auto& one = alone.at(label(rest[i]));
      EXPECT_TRUE(one.bytes == together[i].bytes) << name << " " << label(rest[i]) << " differs in a batch";
      EXPECT_EQ(one.format, together[i].format) << name << " " << label(rest[i]);
    }
    // One output at a time through one VariantRenderer (the worker, which
    // yields its image slot between outputs), anchors changing on the way.
    VariantRenderer renderer(path, source);
    for (const auto& r : all)
      EXPECT_TRUE(alone.at(label(r)).bytes == renderer.render(r).bytes) << name << " " << label(r) << " one at a time";
  }

  testing::TempDir dir;
};

// Short edge above l: every size differs from the original and from each other.
TEST_F(WorkersImageVariantIdentity, JpegLargerThanLEverySizeAndFormat) {
  expect_same_bytes_every_path("big.jpg", encode(textured(1400, 1150), ".jpg", VImage::option()->set("Q", 90)),
                               {.full_size = false, .avif = true});
}

// Short edge between m and l: l is the original's size, m and s come from it.
TEST_F(WorkersImageVariantIdentity, PngBetweenMAndL) {
  expect_same_bytes_every_path("mid.png", encode(textured(720, 660), ".png"));
}

TEST_F(WorkersImageVariantIdentity, WebpBetweenMAndL) {
  expect_same_bytes_every_path("mid.webp", encode(textured(720, 660), ".webp", VImage::option()->set("Q", 90)));
}

TEST_F(WorkersImageVariantIdentity, AvifBetweenMAndL) {
  expect_same_bytes_every_path("mid.avif", encode(textured(720, 660), ".avif"));
}

// Short edge below s: s, m and l are all the original's size, one image
// (made once by a renderer; the same bytes every way).
TEST_F(WorkersImageVariantIdentity, SmallerThanSIsOneImageAtEverySize) {
  expect_same_bytes_every_path("small.jpg", encode(textured(300, 200), ".jpg", VImage::option()->set("Q", 90)));
  Format source{};
  const auto path = original("small-again.jpg", encode(textured(300, 200), ".jpg"), source);
  VariantRenderer renderer(path, source);
  const auto s = renderer.render({320, Format::webp});
  const auto m = renderer.render({640, Format::webp});
  const auto l = renderer.render({1080, Format::webp});
  EXPECT_EQ(s.size, (Dimensions{300, 200}));
  EXPECT_TRUE(s.bytes == m.bytes && m.bytes == l.bytes);
  EXPECT_TRUE(l.bytes == render_variant(path, source, {1080, Format::webp}).bytes);
}

TEST_F(WorkersImageVariantIdentity, AnimatedGif) {
  expect_same_bytes_every_path("anim.gif", encode(testing::animation(720, 660, 2), ".gif"));
}

TEST_F(WorkersImageVariantIdentity, Heic) {
  const auto heic = testing::heic_bytes_or_empty(textured(720, 660));
  if (heic.empty()) GTEST_SKIP() << "libheif here has no HEVC encoder";
  expect_same_bytes_every_path("mid.heic", heic, {.full_size = true, .avif = false, .heic = false});
}

// A worker that lost m and s makes them again (replay) without l in the
// batch: the same bytes as its first run.
TEST_F(WorkersImageVariantIdentity, RegeneratedSmallerSizesMatchTheFirstRun) {
  Format source{};
  const auto path = original("re.jpg", encode(textured(1400, 1150), ".jpg"), source);
  const auto first = render_variants(path, source, worker_batch(source));
  const auto again = render_variants(path, source, {{640, Format::jpeg}, {320, Format::webp}});
  EXPECT_TRUE(again[0].bytes == first[2].bytes) << "m.jpeg";
  EXPECT_TRUE(again[1].bytes == first[5].bytes) << "s.webp";
}

}  // namespace
}  // namespace imgpipe::workers::image
