#pragma once
// Variant size arithmetic, free of libvips so it is unit-testable.
// Sizes constrain the short edge; aspect kept; never upscaled.

#include <optional>
#include <string_view>

namespace imgpipe::workers::image {

struct Dimensions {
  int width = 0;
  int height = 0;
  bool operator==(const Dimensions&) const = default;
};

// Short-edge targets of the named sizes: s=320, m=640, l=1080.
std::optional<int> short_edge_for(std::string_view size_name);

// `?size=social`: a card of exactly this size for Open Graph and other link
// previews (1200x630, their recommended size), the image contained in it.
inline constexpr std::string_view kSocialSize = "social";
inline constexpr Dimensions kSocialCard{1200, 630};

// The largest size of `source` inside `box`, aspect kept (rounded down, at
// least 1), never upscaled: what a card shows of the image.
Dimensions contained_dimensions(Dimensions source, Dimensions box);

// Dimensions of a variant whose short edge is `short_edge`. The short edge
// becomes exactly `short_edge`, the long edge is rounded to nearest and at
// least 1; an image whose short edge is already <= target is returned as is.
Dimensions variant_dimensions(Dimensions source, int short_edge);

}  // namespace imgpipe::workers::image
