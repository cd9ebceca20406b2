#pragma once
// The Image object of img.pro's shape C (/v1/images; docs/api.md): every
// field always present, in the reference's order, null or {} when unknown.

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "gateway/gateway_config.h"
#include "schemas/messages.h"
#include "workers/image/sizes.h"

namespace imgpipe::gateway {

// ISO 8601 in UTC ("2024-01-01T00:00:00Z"); null for 0.
nlohmann::ordered_json iso8601(int64_t unix_seconds);

// The served format's name: "jpg" for JPEG and HEIC (served as JPEG).
std::string served_format(const std::string& original_format);

// The dimensions of size `letter`'s files ("s", "m" or "l"): a stored
// variant's own (an image made before a change of the rounding keeps its
// files), else the workers' rule (workers/image/sizes.h) every variant follows.
workers::image::Dimensions variant_size(const schemas::ImageRecord& record, std::string_view letter);

// The Image of a record: ready (the original is stored), or processing or
// failed (url, format, width, height, bytes, page_url, published_at null).
nlohmann::ordered_json image_object(const GatewayConfig& config, const schemas::ImageRecord& record);

}  // namespace imgpipe::gateway
