#pragma once
// The image API's editable fields (caption, labels, metadata, public,
// filename, ttl): their rules, written once for POST (multipart text or
// JSON) and PATCH. Every failure is Error(invalid_field), 422, with
// `details` naming the field (docs/api.md "Labels and metadata").

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace imgpipe::gateway {

using StringMap = std::map<std::string, std::string>;

// The bounds, documented in docs/api.md.
inline constexpr size_t kMaxLabels = 20, kMaxLabelKey = 64, kMaxLabelValue = 256;
inline constexpr size_t kMaxMetadata = 50, kMaxMetadataKey = 64, kMaxMetadataValue = 1024;
inline constexpr size_t kMaxCaption = 1000, kMaxFilename = 255;
inline constexpr int64_t kMinTtl = 300, kMaxTtl = 90 * 86400;

struct ImageFields {
  std::optional<std::string> caption;
  std::optional<StringMap> labels, metadata;
  std::optional<bool> is_public;
  std::optional<std::string> filename;
  std::optional<int64_t> ttl_seconds;
};

// A 422 naming `field`.
[[noreturn]] void bad_field(std::string_view field, const std::string& message);

// From a JSON object (POST JSON, PATCH): only the fields present. Fields
// other than these and `url` are refused, so a typo is not silently lost.
ImageFields fields_from_json(const nlohmann::json& body, bool allow_filename);

// From multipart text fields, as sent.
std::string check_caption(const std::string& text);
StringMap labels_from_text(const std::string& text);    // a JSON object as text
StringMap metadata_from_text(const std::string& text);  // a JSON object as text
bool public_from_text(const std::string& text);          // "true" / "false"
int64_t ttl_from_text(const std::string& text);          // "3600", "5m", "12h", "90d"

}  // namespace imgpipe::gateway
