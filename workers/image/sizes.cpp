#include "workers/image/sizes.h"

#include <algorithm>
#include <cmath>

namespace imgpipe::workers::image {

std::optional<int> short_edge_for(std::string_view size_name) {
  if (size_name == "s") return 320;
  if (size_name == "m") return 640;
  if (size_name == "l") return 1080;
  return std::nullopt;
}

Dimensions variant_dimensions(Dimensions source, int short_edge) {
  const int short_side = std::min(source.width, source.height);
  if (short_edge <= 0 || short_side <= short_edge) return source;  // never upscale
  const int long_side = std::max(source.width, source.height);
  // Integer arithmetic, rounded down as img.pro does (4000x3000 at 320 is
  // 426x320): the sizes an image object announces are the files served.
  const int64_t scaled = int64_t{long_side} * short_edge / short_side;
  const int new_long = static_cast<int>(std::max<int64_t>(1, scaled));
  return source.width <= source.height ? Dimensions{short_edge, new_long} : Dimensions{new_long, short_edge};
}

}  // namespace imgpipe::workers::image
