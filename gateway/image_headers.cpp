#include "gateway/image_headers.h"

#include "schemas/text_rules.h"
#include "workers/image/format.h"

namespace imgpipe::gateway {

void image_answer_headers(Response& r) {
  r.fixed_headers =
      "Cache-Control: public, max-age=31536000, immutable\r\n"
      "X-Content-Type-Options: nosniff\r\n"
      "Content-Security-Policy: default-src 'none'; sandbox\r\n";
}

namespace {

constexpr size_t kMaxStemBytes = 100;

// Letters, digits, '-', '_' and '.' only, and short: what clean_text and the
// structural characters below leave as they are (most names; every image
// answer computes this, so the common case skips the UTF-8 walk).
bool plain_name(std::string_view s) {
  if (s.size() > kMaxStemBytes) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
      return false;
  return true;
}

// The name without what a file system or a header would read as structure.
std::string file_stem(std::string_view name) {
  if (plain_name(name)) {
    auto dot = name.rfind('.');
    if (dot != std::string_view::npos && workers::image::format_from_name(name.substr(dot + 1))) name = name.substr(0, dot);
    auto lead = name.find_first_not_of('.');
    return std::string(lead == std::string_view::npos ? std::string_view() : name.substr(lead));
  }
  std::string cleaned = schemas::clean_text(name, 255);  // valid UTF-8, no control or bidi characters
  std::string stem;
  for (char c : cleaned) {
    bool structural = c == '/' || c == '\\' || c == '"' || c == ':' || c == '*' || c == '?' || c == '<' ||
                      c == '>' || c == '|' || c == ';' || c == '%';
    stem += structural ? '_' : c;
  }
  auto dot = stem.rfind('.');
  if (dot != std::string::npos && workers::image::format_from_name(stem.substr(dot + 1))) stem.resize(dot);
  size_t lead = stem.find_first_not_of(". ");
  stem.erase(0, lead == std::string::npos ? stem.size() : lead);
  return schemas::clean_text(stem, kMaxStemBytes);  // cut at a character boundary, trimmed
}

// Appends `s` with RFC 8187 attr-chars as they are and every other byte as %XX.
void append_percent_encoded(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : s) {
    bool attr_char = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     std::string_view("!#$&+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
    if (attr_char) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
}

// Appends `s` in printable ASCII only; a multi-byte character becomes one '_'.
void append_ascii_fallback(std::string& out, std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x80)
      out += static_cast<char>(c);
    else if ((c & 0xC0) != 0x80)  // the lead byte of a character, not a continuation
      out += '_';
  }
}

}  // namespace

std::string content_disposition(bool attachment, std::string_view name, std::string_view fallback,
                                std::string_view ext) {
  std::string stem = file_stem(name);
  if (stem.empty()) stem = file_stem(fallback);
  if (stem.empty()) stem = "image";
  std::string file = std::move(stem);
  file += '.';
  file += ext;
  // Most names are plain: letters, digits, '-', '_', '.' are the same in
  // both forms, so the file name goes in twice as it is.
  const bool plain = plain_name(file);
  std::string out;
  out.reserve(48 + (plain ? 2 : 4) * file.size());  // one allocation: every image answer carries this header
  out += attachment ? "attachment" : "inline";
  out += "; filename=\"";
  if (plain) out += file;
  else append_ascii_fallback(out, file);
  out += "\"; filename*=UTF-8''";
  if (plain) out += file;
  else append_percent_encoded(out, file);
  return out;
}

}  // namespace imgpipe::gateway
