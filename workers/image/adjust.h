#pragma once
// img.pro's colour multipliers and blur/sharpen on a src URL: what they are
// and their names. Free of libvips; the engine applies them (engine.cpp).

#include <string>

namespace imgpipe::workers::image {

// Multipliers (img.pro: 0-10): 1 changes nothing. brightness scales every
// channel; contrast scales the distance from mid-grey; gamma above 1
// lightens the midtones, below 1 darkens them; saturation 0 is grey, 2 twice
// as vivid. blur: a radius in px (Gaussian, sigma half of it), 0 none.
// sharp: strength (libvips' sharpen, slope in flat areas), 0 none.
struct Adjustments {
  double brightness = 1, contrast = 1, gamma = 1, saturation = 1;
  double blur = 0, sharp = 0;
  bool any() const { return *this != Adjustments{}; }
  bool operator==(const Adjustments&) const = default;
};

// The ranges a URL may ask for; a value outside is ignored.
inline constexpr double kMaxMultiplier = 10, kMaxBlur = 250, kMaxSharp = 10;

// A name unique per set of values, for caches: "b1.5-c1-g1-s1-blur0-sharp0".
std::string adjustments_key(const Adjustments& a);

}  // namespace imgpipe::workers::image
