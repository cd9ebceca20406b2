#include "gateway/image_object.h"

#include <algorithm>
#include <ctime>
#include <utility>

#include "gateway/api_responses.h"
#include "workers/image/sizes.h"

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

workers::image::Dimensions variant_size(const schemas::ImageRecord& r, std::string_view letter) {
  for (const auto& v : r.variants)
    if (v.size == letter && v.width > 0 && v.height > 0) return {v.width, v.height};
  return workers::image::variant_dimensions({r.width, r.height}, *workers::image::short_edge_for(letter));
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
    for (auto [name, letter] : {std::pair{"small", "s"}, {"medium", "m"}, {"large", "l"}}) {
      auto d = variant_size(r, letter);
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
