// Where a picture goes for `w`/`h`/`fit` and the social card (fit.h).
#include "workers/image/adjust.h"
#include "workers/image/fit.h"

#include <gtest/gtest.h>

namespace imgpipe::workers::image {
namespace {

struct Case {
  const char* label;
  Dimensions source;
  Fit fit;
  Dimensions picture, canvas;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.label; }

class WorkersImageFit : public ::testing::TestWithParam<Case> {};

TEST_P(WorkersImageFit, Geometry) {
  const Case& c = GetParam();
  auto g = fit_geometry(c.source, c.fit);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->picture, c.picture);
  EXPECT_EQ(g->canvas, c.canvas);
}

using M = FitMode;
INSTANTIATE_TEST_SUITE_P(
    WorkersImage, WorkersImageFit,
    ::testing::Values(
        // scale-down: within the box, never enlarged; one side given, the other follows.
        Case{"scale_down_width", {1920, 1200}, {{300, 0}, M::scale_down}, {300, 187}, {300, 187}},
        Case{"scale_down_height", {1920, 1200}, {{0, 300}, M::scale_down}, {480, 300}, {480, 300}},
        Case{"scale_down_box", {1920, 1200}, {{300, 300}, M::scale_down}, {300, 187}, {300, 187}},
        Case{"scale_down_never_enlarges", {200, 100}, {{1000, 1000}, M::scale_down}, {200, 100}, {200, 100}},
        // crop: fills the box and is cut to it, never enlarged.
        Case{"crop_box", {1920, 1200}, {{300, 300}, M::crop}, {480, 300}, {300, 300}},
        Case{"crop_smaller_source", {200, 100}, {{300, 300}, M::crop}, {200, 100}, {200, 100}},
        Case{"crop_one_side_larger", {300, 200}, {{400, 100}, M::crop}, {300, 200}, {300, 100}},
        // cover: fills the box, enlarged when needed.
        Case{"cover_box", {1920, 1200}, {{300, 300}, M::cover}, {480, 300}, {300, 300}},
        Case{"cover_enlarges", {200, 100}, {{400, 400}, M::cover}, {800, 400}, {400, 400}},
        Case{"cover_width_only", {200, 100}, {{400, 0}, M::cover}, {400, 200}, {400, 200}},
        // pad: within the box, enlarged when needed, padded to it.
        Case{"pad_box", {1920, 1200}, {{300, 300}, M::pad}, {300, 187}, {300, 300}},
        Case{"pad_enlarges", {200, 100}, {{400, 400}, M::pad}, {400, 200}, {400, 400}},
        // card: pad without enlarging, the social card's 1200x630.
        Case{"card_16_9", {4000, 2250}, kSocialCard, {1120, 630}, {1200, 630}},
        Case{"card_wide", {2400, 900}, kSocialCard, {1200, 450}, {1200, 630}},
        Case{"card_tall", {900, 2400}, kSocialCard, {236, 630}, {1200, 630}},  // 236.25
        Case{"card_small", {300, 200}, kSocialCard, {300, 200}, {1200, 630}},
        Case{"card_exact", {2400, 1260}, kSocialCard, {1200, 630}, {1200, 630}},
        Case{"at_least_one_pixel", {100000, 1}, kSocialCard, {1200, 1}, {1200, 630}}),
    [](const auto& info) { return std::string(info.param.label); });

TEST(WorkersImageFitNames, ModesAndKeys) {
  EXPECT_EQ(fit_mode_from_name("scale-down"), FitMode::scale_down);
  EXPECT_EQ(fit_mode_from_name("crop"), FitMode::crop);
  EXPECT_EQ(fit_mode_from_name("cover"), FitMode::cover);
  EXPECT_EQ(fit_mode_from_name("pad"), FitMode::pad);
  EXPECT_EQ(fit_mode_from_name("card"), std::nullopt);  // the social card is not a fit= value
  EXPECT_EQ(fit_mode_from_name("contain"), std::nullopt);
  EXPECT_EQ(fit_key({{800, 0}, FitMode::scale_down}), "w800h0-scale-down");
  EXPECT_NE(fit_key({{800, 0}, FitMode::crop}), fit_key({{0, 800}, FitMode::crop}));
}

TEST(WorkersImageAdjustments, KeysNameEveryValue) {
  EXPECT_FALSE(Adjustments{}.any());
  EXPECT_TRUE((Adjustments{.brightness = 1.5}).any());
  EXPECT_EQ(adjustments_key({.brightness = 1.5, .blur = 20}), "b1.5-c1-g1-s1-blur20-sharp0");
  EXPECT_NE(adjustments_key({.contrast = 0.1}), adjustments_key({.contrast = 0.10000000000000002}));
}

TEST(WorkersImageFitNames, NothingToFitOrTooLargeToAddress) {
  EXPECT_EQ(fit_geometry({100, 100}, {{0, 0}, FitMode::scale_down}), std::nullopt);
  // cover of a 1x100000 strip into 4096x4096 would be 4096 x 409,600,000 before the cut.
  EXPECT_EQ(fit_geometry({1, 100000}, {{4096, 4096}, FitMode::cover}), std::nullopt);
}

}  // namespace
}  // namespace imgpipe::workers::image
