#pragma once
// Validation of an import URL before anything is resolved or connected.
// The URL is parsed once by curl's URL API and that same parsed handle is what
// the fetcher hands to curl (CURLOPT_CURLU), so no second parser can disagree
// about the host (the classic SSRF parser differential).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "workers/fetch/address_policy.h"

struct Curl_URL;  // CURLU from <curl/urlapi.h>; kept out of this header

namespace imgpipe::workers::fetch {

inline constexpr std::size_t kMaxUrlLength = 8192;

struct ImportUrl {
  std::string url;                    // as curl will request it
  std::string scheme;                 // "http" or "https"
  std::string host;                   // lower case, IPv6 without brackets
  uint16_t port = 0;                  // explicit or the scheme's default
  std::optional<IpAddress> literal;   // the host was written as an IP address
  std::shared_ptr<Curl_URL> handle;   // curl's parse, for CURLOPT_CURLU
};

// Throws schemas::Error(bad_request) unless `url` is an absolute http(s) URL
// of at most kMaxUrlLength printable ASCII characters (no control characters,
// spaces, backslashes or non-ASCII bytes), without user name or password,
// whose host is a DNS name, a dotted-quad IPv4 address or a bracketed IPv6
// address without zone. Integer, octal, hex and shortened IPv4 forms
// ("2130706433", "0x7f000001", "0177.0.0.1", "127.1") and percent-encoded
// hosts are refused rather than reinterpreted.
ImportUrl parse_import_url(std::string_view url);

// The absolute URL a Location header value points to, relative to `base`,
// validated as parse_import_url does (throws bad_request).
ImportUrl resolve_redirect(const ImportUrl& base, std::string_view location);

namespace detail {
void ensure_curl_global_init();  // curl_global_init, once per process
}

}  // namespace imgpipe::workers::fetch
