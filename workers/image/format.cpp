#include "workers/image/format.h"

#include <algorithm>
#include <array>
#include <string>

namespace imgpipe::workers::image {
namespace {

bool starts_with(std::span<const uint8_t> head, std::string_view magic, size_t at = 0) {
  if (head.size() < at + magic.size()) return false;
  return std::equal(magic.begin(), magic.end(), head.begin() + static_cast<std::ptrdiff_t>(at),
                    [](char m, uint8_t b) { return static_cast<uint8_t>(m) == b; });
}

uint32_t be32(std::span<const uint8_t> b, size_t at) {
  return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) | (uint32_t{b[at + 2]} << 8) | uint32_t{b[at + 3]};
}

// HEIF brands (ISO/IEC 23008-12 and the AVIF spec). A brand names what a
// reader needs; "mif1"/"msf1" only say "some HEIF image", so they decide
// only when nothing more specific is listed.
constexpr std::array<std::string_view, 2> kAvifBrands{"avif", "avis"};
constexpr std::array<std::string_view, 7> kHeicBrands{"heic", "heix", "hevc", "heim", "heis", "hevm", "hevs"};
constexpr std::array<std::string_view, 2> kGenericHeifBrands{"mif1", "msf1"};

template <size_t N>
bool in(const std::array<std::string_view, N>& set, std::string_view brand) {
  return std::find(set.begin(), set.end(), brand) != set.end();
}

std::optional<Format> sniff_ftyp(std::span<const uint8_t> head) {
  // size(4) "ftyp" major(4) minor_version(4) compatible(4)*
  if (head.size() < 16 || !starts_with(head, "ftyp", 4)) return std::nullopt;
  const uint32_t box_size = be32(head, 0);
  // 0 means "to the end of the file"; 1 (a 64-bit size) never occurs for ftyp.
  if (box_size != 0 && (box_size < 16 || box_size % 4 != 0)) return std::nullopt;
  const size_t end = box_size == 0 ? head.size() : std::min<size_t>(box_size, head.size());

  auto brand_at = [&](size_t at) {
    return std::string_view(reinterpret_cast<const char*>(head.data()) + at, 4);
  };
  const std::string_view major = brand_at(8);
  if (in(kAvifBrands, major)) return Format::avif;
  if (in(kHeicBrands, major)) return Format::heic;

  bool any_avif = false, any_heic = false, any_generic = in(kGenericHeifBrands, major);
  for (size_t at = 16; at + 4 <= end; at += 4) {
    const std::string_view b = brand_at(at);
    any_avif |= in(kAvifBrands, b);
    any_heic |= in(kHeicBrands, b);
    any_generic |= in(kGenericHeifBrands, b);
  }
  if (any_avif) return Format::avif;
  if (any_heic || any_generic) return Format::heic;
  return std::nullopt;  // mp4, mov, 3gp, jp2 ... are ISO-BMFF too
}

}  // namespace

std::string_view extension(Format f) {
  switch (f) {
    case Format::jpeg: return "jpeg";
    case Format::png: return "png";
    case Format::webp: return "webp";
    case Format::gif: return "gif";
    case Format::avif: return "avif";
    case Format::heic: return "heic";
  }
  return "bin";
}

std::string_view mime_type(Format f) {
  switch (f) {
    case Format::jpeg: return "image/jpeg";
    case Format::png: return "image/png";
    case Format::webp: return "image/webp";
    case Format::gif: return "image/gif";
    case Format::avif: return "image/avif";
    case Format::heic: return "image/heic";
  }
  return "application/octet-stream";
}

std::string_view name(Format f) { return extension(f); }

std::optional<Format> format_from_name(std::string_view n) {
  // ASCII case folding into a small buffer: this runs on every src request.
  char folded[4];
  if (n.size() > sizeof folded) return std::nullopt;  // no name is longer
  for (size_t i = 0; i < n.size(); ++i) folded[i] = n[i] >= 'A' && n[i] <= 'Z' ? static_cast<char>(n[i] - 'A' + 'a') : n[i];
  const std::string_view lower(folded, n.size());
  if (lower == "jpeg" || lower == "jpg" || lower == "jpe") return Format::jpeg;
  if (lower == "png") return Format::png;
  if (lower == "webp") return Format::webp;
  if (lower == "gif") return Format::gif;
  if (lower == "avif") return Format::avif;
  if (lower == "heic" || lower == "heif") return Format::heic;
  return std::nullopt;
}

std::optional<Format> sniff(std::span<const uint8_t> head) {
  if (starts_with(head, "\xFF\xD8\xFF")) return Format::jpeg;
  if (starts_with(head, "\x89PNG\r\n\x1A\n")) return Format::png;
  if (starts_with(head, "RIFF") && starts_with(head, "WEBP", 8)) return Format::webp;
  if (starts_with(head, "GIF87a") || starts_with(head, "GIF89a")) return Format::gif;
  return sniff_ftyp(head);
}

}  // namespace imgpipe::workers::image
