#include "workers/image/adjust.h"

#include <charconv>

namespace imgpipe::workers::image {
namespace {

// The shortest text that reads back as the same double.
std::string shortest(double v) {
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
  return std::string(buffer, ec == std::errc() ? end : buffer);
}

}  // namespace

std::string adjustments_key(const Adjustments& a) {
  return "b" + shortest(a.brightness) + "-c" + shortest(a.contrast) + "-g" + shortest(a.gamma) + "-s" +
         shortest(a.saturation) + "-blur" + shortest(a.blur) + "-sharp" + shortest(a.sharp);
}

}  // namespace imgpipe::workers::image
