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

// `?size=social`: the social card (fit.h).
inline constexpr std::string_view kSocialSize = "social";

// Dimensions of a variant whose short edge is `short_edge`. The short edge
// becomes exactly `short_edge`, the long edge is rounded to nearest and at
// least 1; an image whose short edge is already <= target is returned as is.
Dimensions variant_dimensions(Dimensions source, int short_edge);

}  // namespace imgpipe::workers::image
