#pragma once
// Field access for the message decoders: every failure is a bad_request that
// names the field, so a malformed message is dead-lettered with a reason.
// Internal to schemas/.

#include <string>

#include <nlohmann/json.hpp>

#include "schemas/errors.h"

namespace imgpipe::schemas::json_fields {

[[noreturn]] inline void bad(const std::string& what) {
  throw Error(ErrorCode::bad_request, "Malformed message: " + what);
}

inline nlohmann::json parse_object(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) bad("not a JSON object");
  return j;
}

template <typename T>
T field(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) bad(std::string("missing field '") + name + "'");
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    bad(std::string("field '") + name + "' has the wrong type");
  }
}

// A nested object; j.at() would throw nlohmann's out_of_range past the codec
// wall (found by tests/fuzz/messages_fuzz).
inline const nlohmann::json& object_field(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_object()) bad(std::string("field '") + name + "' must be an object");
  return *it;
}

template <typename T>
T optional_field(const nlohmann::json& j, const char* name, T fallback) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    bad(std::string("field '") + name + "' has the wrong type");
  }
}

}  // namespace imgpipe::schemas::json_fields
