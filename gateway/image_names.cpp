#include "gateway/image_names.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "schemas/text_rules.h"

namespace imgpipe::gateway {

bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += n;
  }
  return true;
}

void clamp_name(std::string& name) { name = schemas::clean_text(name, 255); }

std::string name_from_url(const std::string& url) {
  auto scheme = url.find("://");
  auto path_start = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  auto path_end = url.find_first_of("?#", scheme == std::string::npos ? 0 : scheme + 3);
  if (path_start == std::string::npos || (path_end != std::string::npos && path_start > path_end)) return "";
  auto path = url.substr(path_start, path_end == std::string::npos ? std::string::npos : path_end - path_start);
  auto raw = path.substr(path.rfind('/') + 1);
  std::string decoded;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '%' && i + 2 < raw.size() && std::isxdigit(static_cast<unsigned char>(raw[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(raw[i + 2]))) {
      decoded += static_cast<char>(std::strtol(raw.substr(i + 1, 2).c_str(), nullptr, 16));
      i += 2;
    } else {
      decoded += raw[i];
    }
  }
  bool printable = valid_utf8(decoded) && std::none_of(decoded.begin(), decoded.end(), [](char c) {
                     auto u = static_cast<unsigned char>(c);
                     return u < 0x20 || u == 0x7F || c == '/' || c == '\\';
                   });
  return printable ? decoded : (valid_utf8(raw) ? raw : "");
}

}  // namespace imgpipe::gateway
