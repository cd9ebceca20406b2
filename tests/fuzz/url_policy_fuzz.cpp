// The import URL and address policy: parse_import_url, resolve_redirect and
// parse_ip_literal on arbitrary text. Accepted URLs must be http(s) with a
// host and no credentials; an accepted literal must survive a round trip.
#include <string>

#include "schemas/errors.h"
#include "workers/fetch/address_policy.h"
#include "workers/fetch/url_policy.h"

using namespace imgpipe::workers::fetch;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  auto split = input.find('\n');
  std::string url = input.substr(0, split);
  std::string location = split == std::string::npos ? "" : input.substr(split + 1);

  if (auto ip = parse_ip_literal(url)) {
    auto again = parse_ip_literal(ip->to_string());
    if (!again || again->to_string() != ip->to_string()) __builtin_trap();
    (void)is_public_address(*ip);
  }
  try {
    ImportUrl u = parse_import_url(url);
    if (u.host.empty() || u.port == 0) __builtin_trap();
    if (u.literal && is_public_address(*u.literal) != is_public_address(*parse_ip_literal(u.literal->to_string())))
      __builtin_trap();
    try {
      ImportUrl next = resolve_redirect(u, location);
      if (next.host.empty() || next.port == 0) __builtin_trap();
    } catch (const imgpipe::schemas::Error&) {
    }
  } catch (const imgpipe::schemas::Error&) {
  }
  return 0;
}
