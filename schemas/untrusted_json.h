#pragma once
// JSON from outside the process (request bodies, bus messages a producer
// wrote): parsed only when it nests at most kMaxJsonDepth levels. nlohmann's
// parser copes with any depth, but copying or comparing a value recurses
// once per level, so a 300 KB body of nested arrays overflowed the stack of
// the thread that copied part of it. No message or API body we accept nests
// deeper than a few levels.

#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

namespace imgpipe::schemas {

inline constexpr size_t kMaxJsonDepth = 64;

// Whether arrays and objects in `text` nest deeper than `max_depth` (strings
// skipped; on text that is not JSON the answer does not matter: it will not parse).
bool nests_deeper_than(std::string_view text, size_t max_depth);

// The parsed value, or a discarded one (is_discarded()) when `text` is not
// JSON or nests deeper than kMaxJsonDepth.
nlohmann::json parse_untrusted_json(std::string_view text);

}  // namespace imgpipe::schemas
