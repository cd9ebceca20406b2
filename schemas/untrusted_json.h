#pragma once
// JSON from outside the process (request bodies, bus messages a producer
// wrote): parsed only when it nests at most kMaxJsonDepth levels and holds
// at most kMaxJsonValues arrays, objects and members. nlohmann's parser
// copes with any depth, but copying or comparing a value recurses once per
// level, so a 300 KB body of nested arrays overflowed the stack of the
// thread that copied part of it; and a body of `[],[],…` takes about ten
// times its size as a tree. No message or API body we accept nests deeper
// than a few levels or holds more than a few hundred values.

#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

namespace imgpipe::schemas {

inline constexpr size_t kMaxJsonDepth = 64;
inline constexpr size_t kMaxJsonValues = 100'000;

// Whether arrays and objects in `text` nest deeper than `max_depth`, or it
// has more than `max_values` arrays, objects and separators (strings
// skipped; on text that is not JSON the answer does not matter: it will not parse).
bool exceeds_json_limits(std::string_view text, size_t max_depth, size_t max_values);

// The parsed value, or a discarded one (is_discarded()) when `text` is not
// JSON or passes kMaxJsonDepth or kMaxJsonValues.
nlohmann::json parse_untrusted_json(std::string_view text);

}  // namespace imgpipe::schemas
