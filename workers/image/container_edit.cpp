#include "workers/image/container_edit.h"

#include <stdexcept>

namespace imgpipe::workers::image::detail {
namespace {

uint32_t le32(std::string_view b, size_t at) {
  return uint32_t{static_cast<uint8_t>(b[at])} | (uint32_t{static_cast<uint8_t>(b[at + 1])} << 8) |
         (uint32_t{static_cast<uint8_t>(b[at + 2])} << 16) | (uint32_t{static_cast<uint8_t>(b[at + 3])} << 24);
}

void put_le32(std::string& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + static_cast<size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xFF);
}

bool payload_starts_with(std::string_view segment_payload, std::string_view prefix) {
  return segment_payload.substr(0, prefix.size()) == prefix;
}

}  // namespace

std::string drop_jpeg_metadata(std::string_view in) {
  if (in.size() < 4 || static_cast<uint8_t>(in[0]) != 0xFF || static_cast<uint8_t>(in[1]) != 0xD8)
    throw std::invalid_argument("not a JPEG stream");
  std::string out;
  out.reserve(in.size());
  out.append(in.substr(0, 2));
  size_t pos = 2;
  while (pos < in.size()) {
    if (static_cast<uint8_t>(in[pos]) != 0xFF) throw std::invalid_argument("JPEG marker expected");
    size_t m = pos;
    while (m < in.size() && static_cast<uint8_t>(in[m]) == 0xFF) ++m;  // fill bytes
    if (m >= in.size()) throw std::invalid_argument("truncated JPEG marker");
    const uint8_t marker = static_cast<uint8_t>(in[m]);
    if (marker == 0xDA || marker == 0xD9) {  // SOS / EOI: the rest is image data
      out.append(in.substr(pos));
      return out;
    }
    if ((marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) {  // no length field
      out.append(in.substr(pos, m + 1 - pos));
      pos = m + 1;
      continue;
    }
    if (m + 3 > in.size()) throw std::invalid_argument("truncated JPEG segment");
    const size_t length = (size_t{static_cast<uint8_t>(in[m + 1])} << 8) | static_cast<uint8_t>(in[m + 2]);
    if (length < 2 || m + 1 + length > in.size()) throw std::invalid_argument("bad JPEG segment length");
    const std::string_view payload = in.substr(m + 3, length - 2);
    const bool drop = (marker == 0xE1 && (payload_starts_with(payload, std::string_view("Exif\0\0", 6)) ||
                                          payload_starts_with(payload, "http://ns.adobe.com/xap/1.0/"))) ||
                      marker == 0xED;
    const size_t end = m + 1 + length;
    if (!drop) out.append(in.substr(pos, end - pos));
    pos = end;
  }
  throw std::invalid_argument("JPEG without image data");
}

std::string drop_webp_metadata(std::string_view in) {
  if (in.size() < 12 || in.substr(0, 4) != "RIFF" || in.substr(8, 4) != "WEBP")
    throw std::invalid_argument("not a WebP file");
  const size_t riff_end = std::min<size_t>(in.size(), size_t{le32(in, 4)} + 8);
  std::string out(in.substr(0, 12));
  out.reserve(in.size());
  size_t vp8x_flags_at = std::string::npos;
  size_t pos = 12;
  while (pos + 8 <= riff_end) {
    const std::string_view fourcc = in.substr(pos, 4);
    const size_t size = le32(in, pos + 4);
    const size_t padded = size + (size & 1);
    if (pos + 8 + size > riff_end) throw std::invalid_argument("truncated WebP chunk");
    const size_t end = std::min(riff_end, pos + 8 + padded);
    if (fourcc == "EXIF" || fourcc == "XMP ") {
      pos = end;
      continue;
    }
    if (fourcc == "VP8X" && size >= 1) vp8x_flags_at = out.size() + 8;
    out.append(in.substr(pos, end - pos));
    pos = end;
  }
  if (pos != riff_end) throw std::invalid_argument("trailing bytes in WebP file");
  if (vp8x_flags_at != std::string::npos) {
    constexpr uint8_t kExifFlag = 0x08, kXmpFlag = 0x04;
    out[vp8x_flags_at] = static_cast<char>(static_cast<uint8_t>(out[vp8x_flags_at]) & ~(kExifFlag | kXmpFlag));
  }
  put_le32(out, 4, static_cast<uint32_t>(out.size() - 8));
  return out;
}

bool webp_is_lossless(std::span<const uint8_t> webp) {
  const std::string_view in(reinterpret_cast<const char*>(webp.data()), webp.size());
  if (in.size() < 12 || in.substr(0, 4) != "RIFF" || in.substr(8, 4) != "WEBP") return false;
  size_t pos = 12;
  while (pos + 8 <= in.size()) {
    const std::string_view fourcc = in.substr(pos, 4);
    if (fourcc == "VP8L") return true;
    if (fourcc == "VP8 ") return false;
    if (fourcc == "ANMF") {  // animation frame: its own sub-chunks start after 16 bytes of frame header
      pos += 8 + 16;
      continue;
    }
    const size_t size = le32(in, pos + 4);
    pos += 8 + size + (size & 1);
  }
  return false;
}

}  // namespace imgpipe::workers::image::detail
