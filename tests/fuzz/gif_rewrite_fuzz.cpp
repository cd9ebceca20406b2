// The GIF rewrite on arbitrary bytes: no crash and no read past the input
// (giflib reads through our callback, which ASan watches), and what it makes
// it takes again unchanged: the same screen, frames and bytes.
#include <string>
#include <string_view>

#include "workers/image/gif_rewrite.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using imgpipe::workers::image::detail::rewrite_gif;
  const std::string copy(reinterpret_cast<const char*>(data), size);  // exact-size heap buffer
  const auto first = rewrite_gif(copy, 50);
  if (!first) return 0;
  const auto second = rewrite_gif(first->bytes, 50);
  if (!second || second->bytes != first->bytes || second->frames != first->frames ||
      second->width != first->width || second->height != first->height)
    __builtin_trap();
  return 0;
}
