#include "gateway/http/request_head.h"

#include <array>
#include <cstring>

#include <boost/url/parse.hpp>

namespace imgpipe::gateway {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// RFC 9110 5.6.2 tchar, by table: every byte of every request's field names passes here.
bool is_tchar(char c) {
  static const auto table = [] {
    std::array<bool, 256> t{};
    for (unsigned char x : std::string_view("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~"))
      t[x] = true;
    return t;
  }();
  return table[static_cast<unsigned char>(c)];
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The common request target — "/path?query" of RFC 3986 pchars without
// %-escapes — split without a full URL parse (which was ~10 % of a hot src
// request's instructions). Anything else goes to boost::urls.
bool split_plain_target(std::string_view target, std::string& path, std::string& query) {
  static const auto allowed = [] {
    std::array<bool, 256> t{};
    for (unsigned char c : std::string_view("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/?"))
      t[c] = true;
    return t;
  }();
  if (target.empty() || target.front() != '/') return false;
  for (char c : target)
    if (!allowed[static_cast<unsigned char>(c)]) return false;
  auto q = target.find('?');
  path.assign(target.substr(0, q));
  query.assign(q == std::string_view::npos ? std::string_view() : target.substr(q + 1));
  return true;
}

// Fields a request may carry once: two copies are read differently by
// different parsers (a proxy that keeps the first Authorization and a server
// that keeps the last see two callers; RFC 9112 3.2: two Hosts are a 400).
constexpr std::array<std::string_view, 3> kSingletonFields{"Host", "Authorization", "Idempotency-Key"};

struct FieldCounts {
  int content_lengths = 0, transfer_encodings = 0;
  std::array<int, kSingletonFields.size()> singletons{};
};

// One field line of the header (without its CRLF); counts the fields it sees.
std::optional<std::string> field_ambiguity(std::string_view line, FieldCounts& counts) {
  if (line.front() == ' ' || line.front() == '\t')
    return "The request header uses obsolete line folding (a line starting with a space or tab).";
  size_t colon = line.find(':');
  std::string_view name = line.substr(0, colon);
  bool token = colon != std::string_view::npos && !name.empty();
  for (char c : name) token = token && is_tchar(c);
  if (!token) return "The request header has a malformed field name.";
  std::string_view value = trim(line.substr(colon + 1));
  if (iequals(name, "Content-Length")) {
    if (++counts.content_lengths > 1) return "The request has more than one Content-Length header.";
    bool digits = !value.empty() && value.size() <= 19;
    for (char c : value) digits = digits && c >= '0' && c <= '9';
    if (!digits) return "The request's Content-Length is not a plain decimal number.";
  } else if (iequals(name, "Transfer-Encoding")) {
    if (++counts.transfer_encodings > 1) return "The request has more than one Transfer-Encoding header.";
    if (!iequals(value, "chunked")) return "The request's Transfer-Encoding must be exactly \"chunked\".";
  } else {
    for (size_t i = 0; i < kSingletonFields.size(); ++i)
      if (iequals(name, kSingletonFields[i]) && ++counts.singletons[i] > 1)
        return "The request has more than one " + std::string(kSingletonFields[i]) + " header.";
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> ambiguous_request_head(std::string_view block) {
  // One pass, a line at a time (memchr finds each line's end): this runs on
  // every request. Of several problems the first of these is named: a NUL,
  // a CR that does not end a line, a bare LF, then the first bad field.
  if (std::memchr(block.data(), '\0', block.size())) return "The request header contains a NUL byte.";
  bool lone_cr = false, bare_lf = false, request_line_seen = false, header_over = false;
  std::optional<std::string> field_problem;
  FieldCounts counts;
  const char* p = block.data();
  const char* const end = p + block.size();
  while (p < end) {
    const auto* lf = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    const char* stop = lf ? lf : end;  // the line's bytes: [p, stop)
    const bool crlf = lf && stop > p && stop[-1] == '\r';
    if (lf && !crlf) bare_lf = true;
    const char* content_end = crlf ? stop - 1 : stop;
    if (std::memchr(p, '\r', static_cast<size_t>(content_end - p))) lone_cr = true;
    if (!lf) break;  // an unfinished last line: the parser waits for the rest
    const std::string_view line(p, static_cast<size_t>(content_end - p));
    p = lf + 1;
    if (lone_cr || bare_lf || field_problem || header_over) continue;  // only the line endings still matter
    if (!request_line_seen) {
      request_line_seen = !line.empty();  // RFC 9112 2.2: empty lines before the request line are ignored
    } else if (line.empty()) {
      header_over = true;  // the blank line ending the header
    } else {
      field_problem = field_ambiguity(line, counts);
    }
  }
  if (lone_cr) return "The request header contains a CR that does not end a line.";
  if (bare_lf) return "The request header contains a bare LF line ending.";
  if (field_problem) return field_problem;
  if (counts.content_lengths > 0 && counts.transfer_encodings > 0)
    return "The request has both Content-Length and Transfer-Encoding; send one of them.";
  return std::nullopt;
}

std::optional<std::string> split_request_target(std::string_view target, std::string& path, std::string& query) {
  if (split_plain_target(target, path, query)) return std::nullopt;
  // Raw brackets in the query ("?label[env]=prod", the form img.pro documents
  // and browsers send) are unambiguous: read them as %5B and %5D.
  std::string bracketed;
  if (auto q = target.find('?'); q != std::string_view::npos && target.find_first_of("[]", q) != std::string_view::npos) {
    bracketed.assign(target.substr(0, q));
    for (char c : target.substr(q)) bracketed += c == '[' ? "%5B" : c == ']' ? "%5D" : std::string(1, c);
    target = bracketed;
  }
  auto u = boost::urls::parse_origin_form(target);
  if (!u) u = boost::urls::parse_absolute_uri(target);
  if (!u) return "The request target is not a valid URL path.";
  path = u->path();
  query = std::string(u->encoded_query());
  if (path.find('\0') != std::string::npos || path.empty() || path.front() != '/') return "The request path is invalid.";
  return std::nullopt;
}

}  // namespace imgpipe::gateway
