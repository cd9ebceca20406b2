#include "schemas/text_rules.h"

#include <algorithm>
#include <cstdint>

#include "schemas/errors.h"

namespace imgpipe::schemas {
namespace {

// Decodes one UTF-8 character at s[i] strictly (RFC 3629: shortest form,
// no surrogates, at most U+10FFFF). Returns its length, 0 when invalid.
size_t decode(std::string_view s, size_t i, char32_t& cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  size_t n;
  char32_t min;
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  } else if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2, min = 0x80, cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3, min = 0x800, cp = b0 & 0x0F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4, min = 0x10000, cp = b0 & 0x07;
  } else {
    return 0;  // a continuation byte, an overlong 2-byte lead (C0, C1) or past U+10FFFF
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

bool is_control(char32_t cp) { return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F); }
bool is_bidi_control(char32_t cp) { return (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069); }

void cut_at_boundary(std::string& s, size_t max_bytes) {
  if (s.size() <= max_bytes) return;
  size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  s.resize(cut);
}

}  // namespace

std::string text_problem(std::string_view s, size_t max_bytes) {
  if (s.size() > max_bytes) return "is longer than " + std::to_string(max_bytes) + " bytes";
  for (size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    size_t n = decode(s, i, cp);
    if (n == 0) return "is not valid UTF-8";
    if (is_control(cp)) return "contains a control character";
    if (is_bidi_control(cp)) return "contains a bidirectional control character";
    i += n;
  }
  return "";
}

std::string clean_text(std::string_view s, size_t max_bytes) {
  std::string out;
  out.reserve(std::min(s.size(), max_bytes + 4));
  for (size_t i = 0; i < s.size() && out.size() <= max_bytes;) {
    char32_t cp = 0;
    size_t n = decode(s, i, cp);
    if (n == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD for the one bad byte; decoding resumes at the next
      i += 1;
      continue;
    }
    if (cp == '\t' || cp == '\r' || cp == '\n') {
      out += ' ';
    } else if (!is_control(cp) && !is_bidi_control(cp)) {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  cut_at_boundary(out, max_bytes);
  size_t b = out.find_first_not_of(' ');
  if (b == std::string::npos) return "";
  out.erase(0, b);
  out.erase(out.find_last_not_of(' ') + 1);
  return out;
}

void require_clean_text(std::string_view s, size_t max_bytes, std::string_view field) {
  auto problem = text_problem(s, max_bytes);
  if (!problem.empty()) throw Error(ErrorCode::invalid_field, "The field '" + std::string(field) + "' " + problem + ".");
}

}  // namespace imgpipe::schemas
