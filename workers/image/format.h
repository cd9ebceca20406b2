#pragma once
// Image formats we accept and serve, detected from bytes, never from names.

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace imgpipe::workers::image {

enum class Format { jpeg, png, webp, gif, avif, heic };

std::string_view extension(Format f);  // canonical: "jpeg", "png", "webp", "gif", "avif", "heic"
std::string_view mime_type(Format f);  // "image/jpeg", ...
std::string_view name(Format f);       // same as extension
std::optional<Format> format_from_name(std::string_view name);  // "jpeg"/"jpg"/"png"/... as in a src URL

// Detects the format from the first bytes of a file (at least 32 are needed).
// nullopt for anything else: SVG, PDF, PSD, HTML, text, TIFF, ...
std::optional<Format> sniff(std::span<const uint8_t> head);

}  // namespace imgpipe::workers::image
