#pragma once
// Fetches an image URL for /v1/import, safe against server-side request
// forgery: http(s) only, every hop resolved once, every address checked,
// the connection pinned to the checked address, limits enforced while reading.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

namespace imgpipe::workers::fetch {

struct FetchConfig {
  bool allow_private = false;  // UNSAFE: lets imports reach loopback/private addresses (tests, trusted LANs)
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds total_deadline{30000};
  uint64_t min_bytes_per_second = 1024;            // slower than this ...
  std::chrono::seconds min_rate_window{10};        // ... for this long aborts
  int max_redirects = 5;
  std::string user_agent = "imgpipe/0.1 (+https://github.com/imgpipe/imgpipe; image import)";
};

struct FetchResult {
  std::string final_url;
  uint64_t bytes = 0;
  int redirects = 0;
};

// Downloads `url` into `destination` (created or truncated, mode 0600).
// Blocking and thread-safe; run it on a bounded pool. Redirects are followed
// here, each hop validated, resolved and checked like the first; the limit
// counts decoded bytes. On failure the file holds at most `max_bytes` of
// partial data and the caller removes it. Throws schemas::Error:
// bad_request (URL missing, malformed, not http(s), userinfo, control or
// non-ASCII characters, numeric host forms), import_forbidden (a private or
// reserved address, at any hop, or a redirect to a refused URL),
// import_unreachable (no DNS answer, connection refused), import_timeout,
// file_too_large, import_failed (non-2xx status in the message, too many
// redirects, broken transfer, TLS verification). Messages name at most the
// host the URL (or a redirect) wrote, never a resolved address.
FetchResult fetch_to_file(const std::string& url, const std::filesystem::path& destination, uint64_t max_bytes,
                          const FetchConfig& config);

}  // namespace imgpipe::workers::fetch
