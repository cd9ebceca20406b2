#include "workers/image/variant_policy.h"

#include <algorithm>

namespace imgpipe::workers::image {

std::vector<Format> pregenerated_formats(Format source) {
  const Format own = source == Format::heic ? Format::jpeg : source;
  if (own == Format::webp) return {own};
  return {own, Format::webp};
}

bool servable_format(Format target, Format source) {
  return target == source || target == Format::jpeg || target == Format::png || target == Format::webp ||
         target == Format::avif;
}

Dimensions anchor_dimensions(Dimensions source, std::optional<int> short_edge) {
  if (!short_edge) return source;
  return variant_dimensions(source, std::max(*short_edge, *short_edge_for("l")));
}

}  // namespace imgpipe::workers::image
