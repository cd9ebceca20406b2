#pragma once
// The normalised original of an upright JPEG without decoding its pixels:
// libjpeg entropy-decodes every DCT coefficient and writes them again, so the
// stored file is libjpeg's own output (nothing the client sent is copied as
// bytes) with no marker but JFIF and the ICC profile. Lossless, no second
// generation of JPEG loss, and about 3x cheaper than decode + re-encode for a
// typical photo (docs/performance.md). Internal to imgpipe_image; libjpeg is
// private to jpeg_rewrite.cpp.

#include <optional>
#include <string>
#include <string_view>

namespace imgpipe::workers::image::detail {

struct RewrittenJpeg {
  std::string bytes;
  int width = 0, height = 0;
};

// nullopt where the rewrite does not apply (colour spaces other than YCbCr
// and grey: CMYK and RGB JPEGs go through the full decode). Throws
// std::invalid_argument with libjpeg's message for corrupt or truncated
// data: its warnings (which would decode the rest as grey) count as errors.
std::optional<RewrittenJpeg> rewrite_jpeg(std::string_view jpeg);

}  // namespace imgpipe::workers::image::detail
