#include "workers/image/fit.h"

#include <algorithm>
#include <cstdint>

namespace imgpipe::workers::image {
namespace {

// A scale factor num/den, compared and applied in integers so the side that
// binds lands on the box exactly.
struct Scale {
  int64_t num, den;
  bool operator<(const Scale& o) const { return num * o.den < o.num * den; }
};

constexpr Scale kOne{1, 1};
constexpr int64_t kMaxPictureSide = 65535;

int64_t scaled(int side, Scale s) { return std::max<int64_t>(1, int64_t{side} * s.num / s.den); }

}  // namespace

std::optional<FitMode> fit_mode_from_name(std::string_view name) {
  if (name == "scale-down") return FitMode::scale_down;
  if (name == "crop") return FitMode::crop;
  if (name == "cover") return FitMode::cover;
  if (name == "pad") return FitMode::pad;
  return std::nullopt;
}

std::optional<FitGeometry> fit_geometry(Dimensions source, const Fit& fit) {
  const bool by_width = fit.box.width > 0, by_height = fit.box.height > 0;
  if ((!by_width && !by_height) || source.width <= 0 || source.height <= 0) return std::nullopt;
  const Scale to_width{fit.box.width, source.width}, to_height{fit.box.height, source.height};
  // Within the box: the smaller ratio; filling it: the larger (one side given: that one).
  const Scale contain = !by_width ? to_height : !by_height ? to_width : std::min(to_width, to_height);
  const Scale fill = !by_width ? to_height : !by_height ? to_width : std::max(to_width, to_height);
  Scale s = contain;
  switch (fit.mode) {
    case FitMode::scale_down:
    case FitMode::card: s = std::min(contain, kOne); break;
    case FitMode::crop: s = std::min(fill, kOne); break;
    case FitMode::cover: s = fill; break;
    case FitMode::pad: s = contain; break;
  }
  const int64_t w = scaled(source.width, s), h = scaled(source.height, s);
  if (w > kMaxPictureSide || h > kMaxPictureSide) return std::nullopt;
  const Dimensions picture{static_cast<int>(w), static_cast<int>(h)};
  // The canvas: the box where the mode fills or pads it, the picture elsewhere.
  auto side = [&](int box, int pic) {
    switch (fit.mode) {
      case FitMode::scale_down: return pic;
      case FitMode::crop:
      case FitMode::cover: return box > 0 ? std::min(box, pic) : pic;
      case FitMode::pad:
      case FitMode::card: return box > 0 ? box : pic;
    }
    return pic;
  };
  return FitGeometry{picture, {side(fit.box.width, picture.width), side(fit.box.height, picture.height)}};
}

std::string fit_key(const Fit& fit) {
  static constexpr std::string_view names[] = {"scale-down", "crop", "cover", "pad", "card"};
  return "w" + std::to_string(fit.box.width) + "h" + std::to_string(fit.box.height) + "-" +
         std::string(names[static_cast<int>(fit.mode)]);
}

}  // namespace imgpipe::workers::image
