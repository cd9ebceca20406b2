#pragma once
// The Image object of img.pro's shape C (/v1/images; docs/api.md): every
// field always present, in the reference's order, null or {} when unknown.

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "gateway/gateway_config.h"
#include "schemas/messages.h"

namespace imgpipe::gateway {

// ISO 8601 in UTC ("2024-01-01T00:00:00Z"); null for 0.
nlohmann::ordered_json iso8601(int64_t unix_seconds);

// The served format's name: "jpg" for JPEG and HEIC (served as JPEG).
std::string served_format(const std::string& original_format);

// A size of the short-edge rule: the short edge becomes `short_edge`, aspect
// kept, rounded down, never upscaled.
struct Dims {
  int width = 0, height = 0;
};
Dims short_edge_size(int width, int height, int short_edge);

// The Image of a record: ready (the original is stored), or processing or
// failed (url, format, width, height, bytes, page_url, published_at null).
nlohmann::ordered_json image_object(const GatewayConfig& config, const schemas::ImageRecord& record);

}  // namespace imgpipe::gateway
