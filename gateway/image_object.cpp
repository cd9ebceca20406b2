#include "gateway/image_object.h"

#include <algorithm>
#include <ctime>
#include <tuple>

#include "gateway/api_responses.h"

namespace imgpipe::gateway {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

ordered_json iso8601(int64_t unix_seconds) {
  if (unix_seconds == 0) return nullptr;
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf);
}

std::string served_format(const std::string& original_format) {
  if (original_format == "jpeg" || original_format == "heic") return "jpg";
  return original_format;
}

Dims short_edge_size(int width, int height, int short_edge) {
  int shorter = std::min(width, height);
  if (shorter <= 0 || shorter <= short_edge) return {width, height};  // never upscaled
  // Integer arithmetic: 4000x3000 at 320 is 426x320 (rounded down), not 427.
  auto scale = [&](int edge) { return static_cast<int>(static_cast<int64_t>(edge) * short_edge / shorter); };
  return width <= height ? Dims{short_edge, scale(height)} : Dims{scale(width), short_edge};
}

ordered_json image_object(const GatewayConfig& config, const schemas::ImageRecord& r) {
  // Processing or failed: nothing is stored, so what the original decides
  // (url, format, dimensions, bytes, sizes, the page) is null, as the
  // reference says; the fields the create sent are there.
  const bool ready = r.ready();
  auto known = [&](auto value) { return ready ? ordered_json(value) : ordered_json(nullptr); };
  const auto format = served_format(r.format);
  const auto url = src_url(config, r, format);
  ordered_json sizes = ordered_json::object();
  if (ready && r.width > 0 && r.height > 0) {
    for (auto [name, letter, edge] : {std::tuple{"small", "s", 320}, {"medium", "m", 640}, {"large", "l", 1080}}) {
      auto d = short_edge_size(r.width, r.height, edge);
      sizes[name] = ordered_json{{"url", url + "?size=" + letter}, {"width", d.width}, {"height", d.height}};
    }
  }
  ordered_json filename = !r.name.empty() ? ordered_json(r.name) : known(r.id + "." + format);
  // ordered_json: the reference's field order survives dump().
  return ordered_json{
      {"id", r.id},
      {"object", "image"},
      {"url", known(url)},
      {"page_url", ready && r.is_public ? ordered_json(viewer_url(config, r.id)) : ordered_json(nullptr)},
      {"sizes", sizes},
      {"filename", filename},
      {"format", known(format)},
      {"width", known(r.width)},
      {"height", known(r.height)},
      {"bytes", known(r.filesize)},
      {"transformable", !sizes.empty()},
      {"status", r.status},
      {"public", r.is_public},
      {"published_at", ready ? iso8601(r.created_at) : ordered_json(nullptr)},
      {"expires_at", iso8601(r.expires_at)},
      {"created_at", iso8601(r.created_at)},
      {"caption", r.caption.empty() ? ordered_json(nullptr) : ordered_json(r.caption)},
      {"metadata", r.metadata},
      {"labels", r.labels},
      {"nsfw", false},
  };
}

}  // namespace imgpipe::gateway
