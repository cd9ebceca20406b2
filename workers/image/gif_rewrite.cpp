#include "workers/image/gif_rewrite.h"

#include <gif_lib.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

namespace imgpipe::workers::image::detail {
namespace {

struct Source {
  std::string_view bytes;
  size_t at = 0;
};

int read_source(GifFileType* gif, GifByteType* into, int wanted) {
  auto* source = static_cast<Source*>(gif->UserData);
  const size_t n = std::min(static_cast<size_t>(std::max(wanted, 0)), source->bytes.size() - source->at);
  std::memcpy(into, source->bytes.data() + source->at, n);
  source->at += n;
  return static_cast<int>(n);
}

int write_sink(GifFileType* gif, const GifByteType* from, int n) {
  static_cast<std::string*>(gif->UserData)->append(reinterpret_cast<const char*>(from), static_cast<size_t>(n));
  return n;
}

struct CloseDecoder {
  void operator()(GifFileType* gif) const {
    int error = 0;
    DGifCloseFile(gif, &error);
  }
};
struct CloseEncoder {
  void operator()(GifFileType* gif) const {
    int error = 0;
    EGifCloseFile(gif, &error);
  }
};
using Decoder = std::unique_ptr<GifFileType, CloseDecoder>;
using Encoder = std::unique_ptr<GifFileType, CloseEncoder>;

constexpr int kGraphicControlLength = 4;

// "NETSCAPE2.0" and its older twin "ANIMEXTS1.0": the block that carries the
// loop count (sub-block 1: two bytes, little-endian).
bool is_loop_block(const GifByteType* id) {
  return id[0] == 11 && (std::memcmp(id + 1, "NETSCAPE2.0", 11) == 0 || std::memcmp(id + 1, "ANIMEXTS1.0", 11) == 0);
}

bool write_loop_block(GifFileType* out, int loops) {
  static constexpr char kId[] = "NETSCAPE2.0";
  const std::array<GifByteType, 3> count = {1, static_cast<GifByteType>(loops & 0xFF),
                                            static_cast<GifByteType>((loops >> 8) & 0xFF)};
  return EGifPutExtensionLeader(out, APPLICATION_EXT_FUNC_CODE) == GIF_OK &&
         EGifPutExtensionBlock(out, 11, kId) == GIF_OK &&
         EGifPutExtensionBlock(out, static_cast<int>(count.size()), count.data()) == GIF_OK &&
         EGifPutExtensionTrailer(out) == GIF_OK;
}

// One extension record: graphic control kept as it is, the first loop count
// written afresh, everything else read past. False on a read or write error.
bool copy_extension(GifFileType* in, GifFileType* out, bool& loop_written) {
  int code = 0;
  GifByteType* block = nullptr;
  if (DGifGetExtension(in, &code, &block) != GIF_OK) return false;
  if (code == GRAPHICS_EXT_FUNC_CODE) {
    if (block == nullptr || block[0] != kGraphicControlLength) return false;
    if (EGifPutExtension(out, code, kGraphicControlLength, block + 1) != GIF_OK) return false;
  }
  const bool loop = code == APPLICATION_EXT_FUNC_CODE && block != nullptr && is_loop_block(block);
  while (block != nullptr) {
    if (DGifGetExtensionNext(in, &block) != GIF_OK) return false;
    if (loop && !loop_written && block != nullptr && block[0] >= 3 && block[1] == 1) {
      if (!write_loop_block(out, block[2] | (block[3] << 8))) return false;
      loop_written = true;
    }
  }
  return true;
}

// One frame, line by line in the order they are stored (interlaced frames
// stay interlaced), so one line is all that is held.
bool copy_frame(GifFileType* in, GifFileType* out, std::vector<GifPixelType>& line) {
  if (DGifGetImageDesc(in) != GIF_OK) return false;
  const GifImageDesc& d = in->Image;
  if (d.Width <= 0 || d.Height <= 0 || d.Left < 0 || d.Top < 0 || d.Left + d.Width > in->SWidth ||
      d.Top + d.Height > in->SHeight)
    return false;
  // giflib 5.2.1's EGifPutImageDesc forgets (leaks) the previous frame's
  // colour table when this frame has none; so it is let go here first.
  if (d.ColorMap == nullptr && out->Image.ColorMap != nullptr) {
    GifFreeMapObject(out->Image.ColorMap);
    out->Image.ColorMap = nullptr;
  }
  if (EGifPutImageDesc(out, d.Left, d.Top, d.Width, d.Height, d.Interlace, d.ColorMap) != GIF_OK) return false;
  line.resize(static_cast<size_t>(d.Width));
  for (int y = 0; y < d.Height; ++y) {
    if (DGifGetLine(in, line.data(), d.Width) != GIF_OK) return false;
    if (EGifPutLine(out, line.data(), d.Width) != GIF_OK) return false;
  }
  return true;
}

}  // namespace

std::optional<RewrittenGif> rewrite_gif(std::string_view gif, int max_frames) {
  Source source{gif};
  int error = 0;
  Decoder in(DGifOpen(&source, read_source, &error));
  if (!in || in->SWidth <= 0 || in->SHeight <= 0) return std::nullopt;

  RewrittenGif result{.bytes = {}, .width = in->SWidth, .height = in->SHeight, .frames = 0};
  result.bytes.reserve(gif.size());
  Encoder out(EGifOpen(&result.bytes, write_sink, &error));
  if (!out) return std::nullopt;
  EGifSetGifVersion(out.get(), true);
  if (EGifPutScreenDesc(out.get(), in->SWidth, in->SHeight, in->SColorResolution, in->SBackGroundColor,
                        in->SColorMap) != GIF_OK)
    return std::nullopt;

  bool loop_written = false;
  std::vector<GifPixelType> line;
  for (;;) {
    GifRecordType record = UNDEFINED_RECORD_TYPE;
    if (DGifGetRecordType(in.get(), &record) != GIF_OK) return std::nullopt;
    if (record == TERMINATE_RECORD_TYPE) break;
    if (record == EXTENSION_RECORD_TYPE) {
      if (!copy_extension(in.get(), out.get(), loop_written)) return std::nullopt;
    } else if (record == IMAGE_DESC_RECORD_TYPE) {
      if (++result.frames > max_frames || !copy_frame(in.get(), out.get(), line)) return std::nullopt;
    } else {
      return std::nullopt;
    }
  }
  if (result.frames == 0) return std::nullopt;
  // Closing writes the trailer; bytes after the source's trailer are not read.
  if (EGifCloseFile(out.release(), &error) != GIF_OK) return std::nullopt;
  return result;
}

}  // namespace imgpipe::workers::image::detail
