#include "gateway/http/multipart.h"

#include <cstring>
#include <utility>
#include <vector>

#include "schemas/errors.h"

namespace imgpipe::gateway {
namespace {

using schemas::ErrorCode;

[[noreturn]] void bad(std::string message) { throw schemas::Error(ErrorCode::bad_request, std::move(message)); }

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// "type; key=value; key2="quoted \" value"" -> the type, and params with keys
// lower-cased. Used for Content-Type and Content-Disposition.
struct HeaderValue {
  std::string_view type;
  std::vector<std::pair<std::string, std::string>> params;

  const std::string* param(std::string_view key) const {
    for (const auto& [k, v] : params)
      if (k == key) return &v;
    return nullptr;
  }
};

HeaderValue parse_header_value(std::string_view s, std::string_view what) {
  HeaderValue out;
  size_t semi = s.find(';');
  out.type = trim(s.substr(0, semi));
  size_t i = semi == std::string_view::npos ? s.size() : semi;
  while (i < s.size()) {
    // At a ';'.
    ++i;
    while (i < s.size() && is_ows(s[i])) ++i;
    if (i == s.size()) break;  // a trailing ';' is tolerated
    size_t key_start = i;
    while (i < s.size() && s[i] != '=' && s[i] != ';' && !is_ows(s[i])) ++i;
    std::string key;
    for (char c : s.substr(key_start, i - key_start)) key.push_back(lower(c));
    while (i < s.size() && is_ows(s[i])) ++i;
    if (key.empty() || i == s.size() || s[i] != '=') bad("malformed parameter in " + std::string(what));
    ++i;
    while (i < s.size() && is_ows(s[i])) ++i;
    std::string value;
    if (i < s.size() && s[i] == '"') {
      ++i;
      bool closed = false;
      while (i < s.size()) {
        char c = s[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\' && i < s.size()) c = s[i++];  // quoted-pair
        value.push_back(c);
      }
      if (!closed) bad("unterminated quoted string in " + std::string(what));
    } else {
      size_t v_start = i;
      while (i < s.size() && s[i] != ';' && !is_ows(s[i])) ++i;
      value = std::string(s.substr(v_start, i - v_start));
    }
    while (i < s.size() && is_ows(s[i])) ++i;
    if (i < s.size() && s[i] != ';') bad("malformed parameter in " + std::string(what));
    // Two parsers may keep different copies of a repeated parameter (the
    // first, the last): refuse instead of picking one.
    if (out.param(key) != nullptr) bad("repeated parameter '" + key + "' in " + std::string(what));
    out.params.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

// RFC 2046 5.1.1: bchars, 1 to 70 of them, not ending in a space.
bool valid_boundary(std::string_view b) {
  if (b.empty() || b.size() > 70 || b.back() == ' ') return false;
  for (char c : b) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              std::strchr("'()+_,-./:=? ", c) != nullptr;
    if (!ok || c == '\0') return false;
  }
  return true;
}

}  // namespace

std::string multipart_boundary(std::string_view content_type) {
  HeaderValue v = parse_header_value(content_type, "Content-Type");
  if (!iequals(v.type, "multipart/form-data")) bad("Content-Type must be multipart/form-data");
  const std::string* b = v.param("boundary");
  if (b == nullptr) bad("multipart/form-data Content-Type has no boundary parameter");
  if (!valid_boundary(*b)) bad("multipart boundary must be 1 to 70 characters allowed by RFC 2046");
  return *b;
}

MultipartParser::MultipartParser(std::string boundary, Callbacks callbacks, MultipartLimits limits)
    : delimiter_("\r\n--" + boundary), cb_(std::move(callbacks)), limits_(limits) {
  // The delimiter matcher relies on boundaries never holding CR (see scan()).
  if (!valid_boundary(boundary)) bad("multipart boundary must be 1 to 70 characters allowed by RFC 2046");
}

void MultipartParser::feed(const char* p, size_t n) {
  size_t i = 0;
  while (i < n) {
    switch (state_) {
      case State::preamble:
      case State::data:
        i += scan(p + i, n - i, state_ == State::data);
        break;
      case State::boundary_tail: {  // right after "--boundary": "--", padding or CRLF
        char c = p[i++];
        if (c == '-') {
          state_ = State::boundary_dash;
        } else if (c == '\r') {
          state_ = State::boundary_lf;
        } else if (!is_ows(c)) {  // RFC 2046 transport padding is allowed before the CRLF
          bad("malformed multipart boundary line");
        }
        break;
      }
      case State::boundary_dash:
        if (p[i++] != '-') bad("malformed multipart boundary line");
        state_ = State::epilogue;
        break;
      case State::boundary_lf:
        if (p[i++] != '\n') bad("malformed multipart boundary line");
        state_ = State::headers;
        header_block_.clear();
        break;
      case State::headers:
        while (i < n) {
          header_block_.push_back(p[i++]);
          if (header_block_.size() > limits_.max_header_bytes)
            bad("multipart part headers are larger than " + std::to_string(limits_.max_header_bytes) + " bytes");
          std::string_view h = header_block_;
          if (h == "\r\n" || (h.size() >= 4 && h.substr(h.size() - 4) == "\r\n\r\n")) {
            start_part();
            break;
          }
        }
        break;
      case State::epilogue:
        return;  // RFC 2046: the epilogue is ignored
    }
  }
}

size_t MultipartParser::scan(const char* p, size_t n, bool in_data) {
  // delimiter_ is "\r\n--" + boundary and a boundary holds no CR, so a
  // partial match can only start at a CR: on a mismatch, the bytes matched so
  // far are plain data (emitted from delimiter_ itself, no buffering) and the
  // current byte is examined afresh.
  size_t i = 0;
  while (i < n) {
    if (match_ == 0) {
      const void* cr = std::memchr(p + i, '\r', n - i);
      size_t end = cr != nullptr ? static_cast<size_t>(static_cast<const char*>(cr) - p) : n;
      if (in_data) emit(p + i, end - i);
      if (cr == nullptr) return n;
      i = end + 1;
      match_ = 1;
      continue;
    }
    if (p[i] == delimiter_[match_]) {
      ++i;
      if (++match_ == delimiter_.size()) {
        match_ = 0;
        if (in_data) {
          if (cb_.on_part_end) cb_.on_part_end();
        }
        state_ = State::boundary_tail;
        return i;
      }
    } else {
      if (in_data) emit(delimiter_.data(), match_);
      match_ = 0;
    }
  }
  return i;
}

void MultipartParser::emit(const char* data, size_t size) {
  if (size == 0) return;
  part_bytes_ += size;
  if (!part_.filename && part_bytes_ > limits_.max_field_bytes)
    bad("multipart field '" + part_.name + "' is larger than " + std::to_string(limits_.max_field_bytes) + " bytes");
  if (keep_ && cb_.on_part_data) cb_.on_part_data(data, size);
}

void MultipartParser::start_part() {
  if (++parts_ > limits_.max_parts) bad("multipart body has more than " + std::to_string(limits_.max_parts) + " parts");
  part_ = MultipartPart{};
  bool has_disposition = false;
  // Split into lines. Obsolete folding (a line starting with SP/HT) and a
  // repeated header are refused: parsers disagree on what they mean.
  std::vector<std::pair<std::string, std::string>> fields;
  std::string_view block = header_block_;
  while (!block.empty()) {
    size_t eol = block.find("\r\n");
    std::string_view line = block.substr(0, eol);
    block.remove_prefix(eol == std::string_view::npos ? block.size() : eol + 2);
    if (line.empty()) continue;
    if (is_ows(line.front())) bad("multipart part header uses obsolete line folding");
    if (line.find('\0') != std::string_view::npos) bad("multipart part header contains a NUL byte");
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) bad("malformed multipart part header");
    for (const auto& f : fields)
      if (iequals(f.first, line.substr(0, colon)))
        bad("multipart part has more than one " + std::string(line.substr(0, colon)) + " header");
    fields.emplace_back(std::string(line.substr(0, colon)), std::string(trim(line.substr(colon + 1))));
  }
  for (const auto& [name, value] : fields) {
    if (iequals(name, "Content-Disposition")) {
      HeaderValue v = parse_header_value(value, "Content-Disposition");
      if (!iequals(v.type, "form-data")) bad("multipart part Content-Disposition must be form-data");
      const std::string* n = v.param("name");
      if (n == nullptr) bad("multipart part has no name");
      part_.name = *n;
      // RFC 7578 4.2: "filename*" must not be used, so only "filename" counts.
      if (const std::string* f = v.param("filename")) part_.filename = *f;
      has_disposition = true;
    } else if (iequals(name, "Content-Type")) {
      part_.content_type = value;
    }
  }
  if (!has_disposition) bad("multipart part has no Content-Disposition header");
  header_block_.clear();
  part_bytes_ = 0;
  match_ = 0;
  state_ = State::data;
  keep_ = cb_.on_part_begin ? cb_.on_part_begin(part_) : true;
}

void MultipartParser::finish() {
  if (state_ != State::epilogue) bad("multipart body ends before the closing boundary");
}

}  // namespace imgpipe::gateway
