#pragma once
// Field access for the message decoders: every failure is a bad_request that
// names the field, so a malformed message is dead-lettered with a reason.
// Internal to schemas/.

#include <limits>
#include <string>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "schemas/errors.h"
#include "schemas/untrusted_json.h"

namespace imgpipe::schemas::json_fields {

[[noreturn]] inline void bad(const std::string& what) {
  throw Error(ErrorCode::bad_request, "Malformed message: " + what);
}

inline nlohmann::json parse_object(const std::string& text) {
  auto j = parse_untrusted_json(text);
  if (j.is_discarded() || !j.is_object()) bad("not a JSON object (or nested too deeply)");
  return j;
}

// get<T>, but an integer field must hold an integer that fits T: nlohmann
// converts 1e30 to int with undefined behaviour (found by messages_fuzz).
template <typename T>
T get_checked(const nlohmann::json& value, const char* name) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    auto wrong = [&] { bad(std::string("field '") + name + "' must be an integer in range"); };
    if (value.is_number_unsigned()) {
      if (value.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<T>::max())) wrong();
    } else if (value.is_number_integer()) {
      const auto v = value.get<int64_t>();
      if constexpr (std::is_unsigned_v<T>) {
        if (v < 0) wrong();
      } else if (v < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
                 v > static_cast<int64_t>(std::numeric_limits<T>::max())) {
        wrong();
      }
    } else {
      wrong();
    }
  }
  return value.get<T>();
}

template <typename T>
T field(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) bad(std::string("missing field '") + name + "'");
  try {
    return get_checked<T>(*it, name);
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
    return get_checked<T>(*it, name);
  } catch (const nlohmann::json::exception&) {
    bad(std::string("field '") + name + "' has the wrong type");
  }
}

}  // namespace imgpipe::schemas::json_fields
