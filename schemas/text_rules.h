#pragma once
// The one rule for user-supplied text that is stored or echoed — image
// names, file names, tags, namespaces, emails, account names (issue 16):
// valid UTF-8 (no overlong forms, no surrogates), no C0 or C1 control
// characters, no DEL, no bidirectional overrides or isolates
// (U+202A-U+202E, U+2066-U+2069: "Trojan Source", CVE-2021-42574), and a
// stated length in bytes.
//
// Cleaned where that is harmless (names: clean_text), refused with
// 422 validation_error where it is not (tags, namespace, email:
// require_clean_text).

#include <cstddef>
#include <string>
#include <string_view>

namespace imgpipe::schemas {

// What is wrong with `s` under the rule, in words for a client ("" if nothing).
std::string text_problem(std::string_view s, size_t max_bytes);

// `s` made to follow the rule: each invalid UTF-8 sequence becomes U+FFFD,
// tab, CR and LF become a space, other control characters and bidi controls
// are dropped, spaces at both ends are trimmed, and the result is cut to
// `max_bytes` at a character boundary.
std::string clean_text(std::string_view s, size_t max_bytes);

// Throws Error(invalid_field) naming `field` unless `s` follows the rule.
void require_clean_text(std::string_view s, size_t max_bytes, std::string_view field);

}  // namespace imgpipe::schemas
