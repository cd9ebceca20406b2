#include "workers/image/format.h"
#include "workers/image/sizes.h"
#include "workers/image/variant_policy.h"

#include <gtest/gtest.h>

namespace imgpipe::workers::image {
namespace {

TEST(WorkersImageSizes, NamedSizes) {
  EXPECT_EQ(short_edge_for("s"), 320);
  EXPECT_EQ(short_edge_for("m"), 640);
  EXPECT_EQ(short_edge_for("l"), 1080);
  EXPECT_EQ(short_edge_for("xl"), std::nullopt);
  EXPECT_EQ(short_edge_for("S"), std::nullopt);
  EXPECT_EQ(short_edge_for(""), std::nullopt);
}

struct Case {
  Dimensions source;
  int short_edge;
  Dimensions expected;
};

class WorkersImageVariantDimensions : public ::testing::TestWithParam<Case> {};

TEST_P(WorkersImageVariantDimensions, ShortEdgeRule) {
  const Case& c = GetParam();
  EXPECT_EQ(variant_dimensions(c.source, c.short_edge), c.expected)
      << c.source.width << "x" << c.source.height << " @" << c.short_edge;
}

INSTANTIATE_TEST_SUITE_P(
    WorkersImage, WorkersImageVariantDimensions,
    ::testing::Values(
        Case{{3000, 4000}, 320, {320, 426}},     // portrait: 426.67 rounds down (img.pro's example)
        Case{{4000, 3000}, 320, {426, 320}},     // landscape, same numbers turned
        Case{{4000, 3000}, 1080, {1440, 1080}},  // exact
        Case{{1001, 1501}, 320, {320, 479}},     // odd sizes: 479.84
        Case{{640, 1001}, 320, {320, 500}},      // 500.5
        Case{{1001, 640}, 320, {500, 320}},
        Case{{1003, 1000}, 640, {641, 640}},     // 641.92
        Case{{2000, 2000}, 320, {320, 320}},     // square
        Case{{321, 321}, 320, {320, 320}},
        Case{{100, 50}, 320, {100, 50}},         // tiny: never upscaled
        Case{{320, 999}, 320, {320, 999}},       // already at the target
        Case{{1080, 1920}, 1080, {1080, 1920}},
        Case{{1, 10000}, 320, {1, 10000}},       // 1xN: short edge 1
        Case{{10000, 1}, 320, {10000, 1}},
        Case{{10000, 400}, 320, {8000, 320}},
        Case{{400, 10000}, 640, {400, 10000}},
        Case{{65535, 321}, 320, {65330, 320}}));  // 65330.8

TEST(WorkersImageSizes, LongEdgeAtLeastOne) {
  // The long edge never drops below the short one, so it is never below 1.
  const auto d = variant_dimensions({330, 331}, 1);
  EXPECT_EQ(d, (Dimensions{1, 1}));
}

TEST(WorkersImageFormat, NamesAndMimeTypes) {
  EXPECT_EQ(extension(Format::jpeg), "jpeg");
  EXPECT_EQ(extension(Format::heic), "heic");
  EXPECT_EQ(name(Format::webp), "webp");
  EXPECT_EQ(mime_type(Format::png), "image/png");
  EXPECT_EQ(mime_type(Format::avif), "image/avif");
  EXPECT_EQ(mime_type(Format::gif), "image/gif");
  EXPECT_EQ(format_from_name("jpg"), Format::jpeg);
  EXPECT_EQ(format_from_name("JPEG"), Format::jpeg);
  EXPECT_EQ(format_from_name("heif"), Format::heic);
  EXPECT_EQ(format_from_name("webp"), Format::webp);
  EXPECT_EQ(format_from_name("svg"), std::nullopt);
  EXPECT_EQ(format_from_name(""), std::nullopt);
  EXPECT_EQ(format_from_name("jpegs"), std::nullopt);  // longer than any name
  EXPECT_EQ(format_from_name("WebP"), Format::webp);
  for (Format f : {Format::jpeg, Format::png, Format::webp, Format::gif, Format::avif, Format::heic})
    EXPECT_EQ(format_from_name(extension(f)), f);
}

TEST(WorkersImageVariantPolicy, SizesUpToLAreAnchoredAtL) {
  const Dimensions big{2560, 1600};
  const Dimensions l = variant_dimensions(big, 1080);
  for (int edge : {320, 640, 1080, 100}) EXPECT_EQ(anchor_dimensions(big, edge), l) << edge;
  EXPECT_EQ(anchor_dimensions(big, std::nullopt), big);  // full size: its own anchor
  EXPECT_EQ(anchor_dimensions(big, 1200), variant_dimensions(big, 1200));
  const Dimensions mid{900, 700};  // l would upscale: the original is the anchor
  EXPECT_EQ(anchor_dimensions(mid, 320), mid);
}

TEST(WorkersImageVariantPolicy, FormatsPregeneratedAndServable) {
  EXPECT_EQ(pregenerated_formats(Format::jpeg), (std::vector<Format>{Format::jpeg, Format::webp}));
  EXPECT_EQ(pregenerated_formats(Format::heic), (std::vector<Format>{Format::jpeg, Format::webp}));
  EXPECT_EQ(pregenerated_formats(Format::webp), (std::vector<Format>{Format::webp}));
  EXPECT_EQ(pregenerated_formats(Format::gif), (std::vector<Format>{Format::gif, Format::webp}));
  for (Format f : {Format::jpeg, Format::png, Format::webp, Format::avif}) EXPECT_TRUE(servable_format(f, Format::gif));
  EXPECT_TRUE(servable_format(Format::gif, Format::gif));
  EXPECT_FALSE(servable_format(Format::gif, Format::jpeg));
  EXPECT_TRUE(servable_format(Format::heic, Format::heic));
  EXPECT_FALSE(servable_format(Format::heic, Format::png));
}

}  // namespace
}  // namespace imgpipe::workers::image
