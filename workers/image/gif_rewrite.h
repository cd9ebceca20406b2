#pragma once
// The normalised original of a GIF without quantising its frames again:
// giflib decodes each frame to its palette indices and LZW-codes them again,
// so the stored file is giflib's output (nothing the client sent is copied as
// bytes) and keeps only what draws the animation: the screen, the colour
// tables, each frame's graphic control (delay, disposal, transparency) and
// the loop count. Comments, plain text, XMP and every other application block
// are dropped. Lossless, and several times cheaper than libvips' decode and
// cgif's re-encode, which quantises every frame again (docs/performance.md).
// Internal to imgpipe_image; giflib is private to gif_rewrite.cpp.

#include <optional>
#include <string>
#include <string_view>

namespace imgpipe::workers::image::detail {

struct RewrittenGif {
  std::string bytes;
  int width = 0, height = 0;  // the logical screen
  int frames = 0;
};

// nullopt where the rewrite does not apply: anything giflib cannot read, a
// frame that does not lie inside the screen, a graphic control block of the
// wrong length, no frame, or more than `max_frames` frames (stops reading
// there). Those take the full decode, whose libvips rules decide what is
// refused; the caller decodes what this returns before keeping it.
std::optional<RewrittenGif> rewrite_gif(std::string_view gif, int max_frames);

}  // namespace imgpipe::workers::image::detail
