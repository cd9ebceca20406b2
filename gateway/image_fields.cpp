#include "gateway/image_fields.h"

#include <nlohmann/json.hpp>

#include "schemas/errors.h"
#include "schemas/untrusted_json.h"

namespace imgpipe::gateway {
namespace {

using json = nlohmann::json;

bool has_control(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

// Bounds count characters (UTF-8 code points), as JSON Schema's maxLength does.
size_t characters(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

StringMap string_map(std::string_view field, const json& j, size_t max_count, size_t max_key, size_t max_value) {
  const std::string name(field);
  if (!j.is_object()) bad_field(field, "must be a JSON object of strings");
  if (j.size() > max_count) bad_field(field, "at most " + std::to_string(max_count) + " entries");
  StringMap out;
  for (const auto& [key, value] : j.items()) {
    if (key.empty() || characters(key) > max_key || has_control(key))
      bad_field(field, "keys are 1-" + std::to_string(max_key) + " characters without control characters");
    if (!value.is_string()) bad_field(field, "the value of '" + key + "' must be a string");
    const auto& v = value.get_ref<const std::string&>();
    if (characters(v) > max_value || has_control(v))
      bad_field(field, "values are at most " + std::to_string(max_value) + " characters without control characters");
    out.emplace(key, v);
  }
  return out;
}

json parse_text(std::string_view field, const std::string& text) {
  auto j = schemas::parse_untrusted_json(text);
  if (j.is_discarded()) bad_field(field, "must be a JSON object of strings, sent as text");
  return j;
}

}  // namespace

void bad_field(std::string_view field, const std::string& message) {
  schemas::Error e(schemas::ErrorCode::invalid_field, "The field '" + std::string(field) + "' is invalid: " + message + ".");
  e.extra_json = json{{"details", {{std::string(field), message}}}}.dump();
  throw e;
}

std::string check_caption(const std::string& text) {
  if (characters(text) > kMaxCaption) bad_field("caption", "at most " + std::to_string(kMaxCaption) + " characters");
  return text;
}

StringMap labels_from_text(const std::string& text) {
  return string_map("labels", parse_text("labels", text), kMaxLabels, kMaxLabelKey, kMaxLabelValue);
}

StringMap metadata_from_text(const std::string& text) {
  return string_map("metadata", parse_text("metadata", text), kMaxMetadata, kMaxMetadataKey, kMaxMetadataValue);
}

bool public_from_text(const std::string& text) {
  if (text == "true" || text == "1") return true;
  if (text == "false" || text == "0") return false;
  bad_field("public", "must be true or false");
}

int64_t ttl_from_text(const std::string& text) {
  int64_t unit = 1;
  std::string digits = text;
  if (!digits.empty()) {
    switch (digits.back()) {
      case 's': unit = 1; digits.pop_back(); break;
      case 'm': unit = 60; digits.pop_back(); break;
      case 'h': unit = 3600; digits.pop_back(); break;
      case 'd': unit = 86400; digits.pop_back(); break;
      default: break;
    }
  }
  if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos)
    bad_field("ttl", "seconds, or a number with s, m, h or d (5m to 90d)");
  int64_t seconds = std::stoll(digits) * unit;
  if (seconds < kMinTtl || seconds > kMaxTtl) bad_field("ttl", "between 5m and 90d");
  return seconds;
}

ImageFields fields_from_json(const json& body, bool allow_filename) {
  ImageFields f;
  for (const auto& [key, value] : body.items()) {
    if (key == "url") continue;  // the create's own field
    if (key == "caption") {
      if (value.is_null()) f.caption = "";
      else if (!value.is_string()) bad_field("caption", "must be a string or null");
      else f.caption = check_caption(value.get<std::string>());
    } else if (key == "labels") {
      f.labels = value.is_null() ? StringMap{} : string_map("labels", value, kMaxLabels, kMaxLabelKey, kMaxLabelValue);
    } else if (key == "metadata") {
      f.metadata = value.is_null() ? StringMap{}
                                   : string_map("metadata", value, kMaxMetadata, kMaxMetadataKey, kMaxMetadataValue);
    } else if (key == "public") {
      if (!value.is_boolean()) bad_field("public", "must be true or false");
      f.is_public = value.get<bool>();
    } else if (key == "filename" && allow_filename) {
      if (!value.is_string() || value.get_ref<const std::string&>().empty() ||
          characters(value.get_ref<const std::string&>()) > kMaxFilename || has_control(value.get_ref<const std::string&>()))
        bad_field("filename", "1-" + std::to_string(kMaxFilename) + " characters without control characters");
      f.filename = value.get<std::string>();
    } else if (key == "ttl" && !allow_filename) {
      f.ttl_seconds = ttl_from_text(value.is_string() ? value.get<std::string>() : value.dump());
    } else {
      bad_field(key, "is not a field of this request");
    }
  }
  return f;
}

}  // namespace imgpipe::gateway
