#pragma once
// `w`/`h`/`fit` on a src URL (img.pro's newer transforms) and the social
// card: where a picture goes in a box. Free of libvips, so it is unit-tested
// on its own; the engine only follows the geometry.

#include <optional>
#include <string>
#include <string_view>

#include "workers/image/sizes.h"

namespace imgpipe::workers::image {

// As img.pro (and Cloudflare's image resizing, which it follows) names them:
//  scale_down  within the box, aspect kept, never enlarged (the default);
//  crop        fills the box, cut to it, never enlarged (smaller: scale_down);
//  cover       fills the box, cut to it, enlarged when needed;
//  pad         within the box, enlarged when needed, padded to the box;
//  card        pad without enlarging: `?size=social` (not a `fit=` value).
enum class FitMode { scale_down, crop, cover, pad, card };

std::optional<FitMode> fit_mode_from_name(std::string_view name);  // "scale-down", "crop", "cover", "pad"

// The largest box side a URL may ask for; a larger `w`/`h` is ignored.
inline constexpr int kMaxFitSide = 4096;

struct Fit {
  Dimensions box;  // a side 0: not constrained (only `w` or only `h` given)
  FitMode mode = FitMode::scale_down;
  bool operator==(const Fit&) const = default;
};

// The social card: 1200x630, the size Open Graph and other link previews ask for.
inline constexpr Fit kSocialCard{{1200, 630}, FitMode::card};

// The image resized to `picture`, then cut (crop, cover) or padded (pad,
// card) to `canvas`, centred. Sides are rounded down, at least 1. nullopt:
// no side given, or the picture would exceed what libvips can address
// (an extreme aspect ratio under cover); the caller ignores the transform.
struct FitGeometry {
  Dimensions picture, canvas;
  bool operator==(const FitGeometry&) const = default;
};
std::optional<FitGeometry> fit_geometry(Dimensions source, const Fit& fit);

// A name for a fit, unique per box and mode: "w800h0-scale-down".
std::string fit_key(const Fit& fit);

}  // namespace imgpipe::workers::image
