#include "workers/fetch/url_policy.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>

#include "schemas/errors.h"

namespace imgpipe::workers::fetch {
namespace {

using schemas::Error;
using schemas::ErrorCode;

[[noreturn]] void refuse(std::string message) { throw Error(ErrorCode::bad_request, std::move(message)); }

struct CurlStr {
  char* p = nullptr;
  ~CurlStr() { curl_free(p); }
  std::string str() const { return p ? std::string(p) : std::string(); }
};

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool iequals_prefix(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && lower(s.substr(0, prefix.size())) == prefix;
}

// WHATWG URL "ends in a number": such a host is an IPv4 address in some
// parser's eyes (inet_aton, browsers, curl's own normaliser), so only the
// canonical dotted quad is accepted.
bool ends_in_number(std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  const auto dot = host.rfind('.');
  const std::string_view last = dot == std::string_view::npos ? host : host.substr(dot + 1);
  if (last.empty()) return false;
  if (std::all_of(last.begin(), last.end(), [](char c) { return c >= '0' && c <= '9'; })) return true;
  if (last.size() >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X')) {
    return std::all_of(last.begin() + 2, last.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
  }
  return false;
}

// LDH labels (plus '_', which real DNS names carry), 1..63 each, 253 total.
bool is_dns_name(std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (host.empty() || host.size() > 253) return false;
  size_t label = 0;
  for (char c : host) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok || ++label > 63) return false;
  }
  return label > 0;
}

struct RawAuthority {
  std::string_view host;  // as written, brackets kept
  bool userinfo = false;
};

// The authority exactly as the client wrote it, to compare with curl's parse.
RawAuthority raw_authority(std::string_view url) {
  const auto sep = url.find("://");
  std::string_view rest = url.substr(sep + 3);
  const auto end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  RawAuthority out;
  if (authority.find('@') != std::string_view::npos) {
    out.userinfo = true;
    return out;
  }
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    out.host = close == std::string_view::npos ? authority : authority.substr(0, close + 1);
  } else {
    out.host = authority.substr(0, authority.find(':'));
  }
  return out;
}

ImportUrl from_handle(std::shared_ptr<Curl_URL> handle, std::string_view raw) {
  CURLU* u = handle.get();
  CurlStr scheme, host, port, user, password, options, zone, full;
  if (curl_url_get(u, CURLUPART_SCHEME, &scheme.p, 0) != CURLUE_OK) refuse("The URL is not valid.");
  const std::string s = lower(scheme.str());
  if (s != "http" && s != "https") refuse("Only http:// and https:// URLs can be imported.");
  // These parts are absent unless the URL has them; any of them refuses.
  if (curl_url_get(u, CURLUPART_USER, &user.p, 0) == CURLUE_OK ||
      curl_url_get(u, CURLUPART_PASSWORD, &password.p, 0) == CURLUE_OK ||
      curl_url_get(u, CURLUPART_OPTIONS, &options.p, 0) == CURLUE_OK) {
    refuse("The URL must not contain a user name or password.");
  }
  if (curl_url_get(u, CURLUPART_ZONEID, &zone.p, 0) == CURLUE_OK) refuse("The URL's host must not carry an IPv6 zone.");
  if (curl_url_get(u, CURLUPART_HOST, &host.p, 0) != CURLUE_OK || !host.p || !*host.p) refuse("The URL has no host.");
  if (curl_url_get(u, CURLUPART_PORT, &port.p, CURLU_DEFAULT_PORT) != CURLUE_OK) refuse("The URL's port is not valid.");
  if (curl_url_get(u, CURLUPART_URL, &full.p, 0) != CURLUE_OK) refuse("The URL is not valid.");

  ImportUrl out;
  out.scheme = s;
  out.url = full.str();
  out.handle = std::move(handle);
  const int port_number = std::atoi(port.p);
  if (port_number <= 0 || port_number > 65535) refuse("The URL's port is not valid.");
  out.port = static_cast<uint16_t>(port_number);

  const RawAuthority written = raw_authority(raw);
  if (written.userinfo) refuse("The URL must not contain a user name or password.");
  std::string parsed_host = lower(host.str());
  if (parsed_host.front() == '[') {
    // IPv6: curl may rewrite the text, so compare the addresses.
    const std::string_view w = written.host;
    if (w.size() < 2 || w.front() != '[' || w.back() != ']') refuse("The URL's host is not valid.");
    const auto a = parse_ip_literal(w.substr(1, w.size() - 2));
    const auto b = parse_ip_literal(std::string_view(parsed_host).substr(1, parsed_host.size() - 2));
    if (!a || !b || !(*a == *b) || !a->v6) refuse("The URL's host is not a valid IPv6 address.");
    out.literal = a;
    out.host = a->to_string();
    return out;
  }
  // curl normalises some host spellings (e.g. "127.1" → "127.0.0.1"): insist
  // that what will be connected to is what the client wrote.
  if (lower(written.host) != parsed_host) refuse("The URL's host must be written as a name or a plain IP address.");
  if (ends_in_number(parsed_host)) {
    auto v4 = parse_ip_literal(parsed_host);
    if (!v4 || v4->v6) refuse("The URL's host must be a name or a dotted IPv4 address such as 192.0.2.1.");
    out.literal = v4;
  } else if (!is_dns_name(parsed_host)) {
    refuse("The URL's host is not a valid DNS name.");
  }
  out.host = std::move(parsed_host);
  return out;
}

std::shared_ptr<Curl_URL> new_handle(CURLU* from = nullptr) {
  CURLU* u = from ? curl_url_dup(from) : curl_url();
  if (!u) throw std::bad_alloc();
  return std::shared_ptr<Curl_URL>(u, [](Curl_URL* p) { curl_url_cleanup(p); });
}

void check_text(std::string_view url) {
  if (url.empty()) refuse("The URL is missing.");
  if (url.size() > kMaxUrlLength) refuse("The URL is longer than " + std::to_string(kMaxUrlLength) + " characters.");
  // Printable ASCII only: control characters, spaces and non-ASCII bytes are
  // where parsers disagree (CVE-2023-38545-style confusion, IDN homographs).
  for (char c : url) {
    const auto b = static_cast<unsigned char>(c);
    if (b <= 0x20 || b >= 0x7F || c == '\\') {
      refuse("The URL contains a character that is not allowed (control character, space, backslash or non-ASCII).");
    }
  }
  if (!iequals_prefix(url, "http://") && !iequals_prefix(url, "https://")) {
    refuse("Only http:// and https:// URLs can be imported.");
  }
}

}  // namespace

namespace detail {
void ensure_curl_global_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw Error(ErrorCode::internal_error);
  });
}
}  // namespace detail

ImportUrl parse_import_url(std::string_view url) {
  detail::ensure_curl_global_init();
  check_text(url);
  auto handle = new_handle();
  const std::string text(url);
  if (curl_url_set(handle.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) refuse("The URL is not valid.");
  return from_handle(std::move(handle), url);
}

ImportUrl resolve_redirect(const ImportUrl& base, std::string_view location) {
  detail::ensure_curl_global_init();
  if (location.empty()) refuse("The redirect has no target.");
  if (location.size() > kMaxUrlLength) refuse("The redirect target is too long.");
  // Relative references are resolved by curl against the current URL; the
  // absolute result then goes through the same checks as a client's URL.
  auto handle = new_handle(base.handle.get());
  const std::string text(location);
  for (char c : location) {
    const auto b = static_cast<unsigned char>(c);
    if (b <= 0x20 || b >= 0x7F || c == '\\') refuse("The redirect target contains a character that is not allowed.");
  }
  if (curl_url_set(handle.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) refuse("The redirect target is not valid.");
  CurlStr absolute;
  if (curl_url_get(handle.get(), CURLUPART_URL, &absolute.p, 0) != CURLUE_OK) refuse("The redirect target is not valid.");
  // An absolute Location is checked as written; a relative one as resolved.
  const bool has_scheme = iequals_prefix(location, "http://") || iequals_prefix(location, "https://");
  const std::string target = has_scheme ? text : absolute.str();
  return parse_import_url(target);
}

}  // namespace imgpipe::workers::fetch
