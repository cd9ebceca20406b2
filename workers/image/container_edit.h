#pragma once
// Byte-level edits of encoder output, free of libvips. libvips 8.14 has no
// "keep ICC only" save option (8.15's `keep` is the fix): without `strip` its
// JPEG and WebP savers always attach an EXIF block rebuilt from header
// fields, with `strip` they drop the ICC profile too. So we save without
// `strip` (metadata already reduced to the ICC profile) and cut the rebuilt
// EXIF/XMP blocks out of the container here. Internal to imgpipe_image.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace imgpipe::workers::image::detail {

// Removes APP1 Exif and XMP segments and APP13 (Photoshop/IPTC) segments
// before the first SOS; everything else (APP0 JFIF, APP2 ICC, tables,
// entropy-coded data) is copied unchanged. Throws std::invalid_argument if
// the stream is not a well-formed JPEG.
std::string drop_jpeg_metadata(std::string_view jpeg);

// Removes the "EXIF" and "XMP " chunks of a WebP file, clears their VP8X
// flags and fixes the RIFF size. Throws std::invalid_argument if malformed.
std::string drop_webp_metadata(std::string_view webp);

// True if the first image chunk of a WebP file is VP8L (lossless).
bool webp_is_lossless(std::span<const uint8_t> webp);

}  // namespace imgpipe::workers::image::detail
