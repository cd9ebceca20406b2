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

// nullopt where the rewrite does not apply: colour spaces other than YCbCr
// and grey (CMYK, RGB), and any file libjpeg complains about, warnings
// included (truncated, corrupt, or only untidy like stray bytes between
// markers). Those take the full decode, whose libvips rules (fail_on=error)
// decide what is refused: the rewrite accepts nothing the decode would not.
std::optional<RewrittenJpeg> rewrite_jpeg(std::string_view jpeg);

}  // namespace imgpipe::workers::image::detail
