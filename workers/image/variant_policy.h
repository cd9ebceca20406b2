#pragma once
// The variant policy, free of libvips: which variants exist and which decode
// each one is resampled from. The worker (pre-generation) and the gateway
// (on-demand rendering) both follow it through the engine's render_variants /
// render_variant, so a variant's bytes depend only on the stored original,
// its size and its format - never on which host made it or what else was
// rendered with it (a variant is served with `immutable` and its content hash
// as a strong ETag, so two paths must not give two answers).

#include <array>
#include <optional>
#include <string_view>
#include <vector>

#include "workers/image/format.h"
#include "workers/image/sizes.h"

namespace imgpipe::workers::image {

// The named sizes the worker pre-generates, largest first.
inline constexpr std::array<std::string_view, 3> kVariantSizes{"l", "m", "s"};

// Formats the worker pre-generates for an original in `source`: its own
// format (JPEG for HEIC, which most browsers cannot show) and WebP.
std::vector<Format> pregenerated_formats(Format source);

// Whether a src URL may ask for `target` of an original in `source`: the
// conversions JPEG, PNG, WebP and AVIF, plus the original's own format.
bool servable_format(Format target, Format source);

// The anchor of a variant: the one decode it is resampled from. Every short
// edge up to l's (1080) is resampled from the image at l's dimensions
// (shrink-on-load from the original), so l, m and s come from one decode on
// the worker and a lone m or s on demand is made the same way; a full-size
// request (nullopt) or a short edge above l is its own anchor. Never larger
// than `source`.
Dimensions anchor_dimensions(Dimensions source, std::optional<int> short_edge);

}  // namespace imgpipe::workers::image
