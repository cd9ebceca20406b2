#pragma once
// The operator commands' side of a running server's loopback admin API
// (/admin/*): where the server is (<data-dir>/admin.url) and the token it
// wants (<data-dir>/admin.token, mode 0600), and one HTTP call.

#include <filesystem>
#include <string>

namespace imgpipe::ops {

struct AdminAnswer {
  long status = 0;     // 0: no HTTP answer (see error)
  std::string body;
  std::string error;   // transport error, if any
};

// The first line of a file, trailing blanks removed; empty when unreadable.
std::string read_first_line(const std::filesystem::path& p);

// `method` `url` with "Authorization: Bearer <token>" and a JSON `body` (POST).
AdminAnswer admin_call(const std::string& method, const std::string& url, const std::string& token,
                       const std::string& body, long timeout_seconds = 30);

}  // namespace imgpipe::ops
