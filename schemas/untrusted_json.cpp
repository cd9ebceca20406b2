#include "schemas/untrusted_json.h"

namespace imgpipe::schemas {

bool exceeds_json_limits(std::string_view text, size_t max_depth, size_t max_values) {
  size_t depth = 0, values = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;  // the escaped character cannot end the string
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth || ++values > max_values) return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    } else if (c == ',' && ++values > max_values) {
      return true;
    }
  }
  return false;
}

nlohmann::json parse_untrusted_json(std::string_view text) {
  if (exceeds_json_limits(text, kMaxJsonDepth, kMaxJsonValues)) return nlohmann::json(nlohmann::json::value_t::discarded);
  return nlohmann::json::parse(text, nullptr, false);
}

}  // namespace imgpipe::schemas
