#pragma once
// Test seams for the fetcher: swap the resolver and the address policy, and
// observe every socket curl opens. Production code calls fetch_to_file() from
// url_fetcher.h, which uses none of these.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "workers/fetch/address_policy.h"
#include "workers/fetch/url_fetcher.h"

namespace imgpipe::workers::fetch::testing {

struct FetchHooks {
  // Replaces is_public_address() (FetchConfig::allow_private still skips it).
  std::function<bool(const IpAddress&)> address_allowed;
  // Replaces getaddrinfo(); an empty result means "does not resolve".
  std::function<std::vector<IpAddress>(const std::string& host)> resolve;
  // Called just before curl's socket for a connection is created.
  std::function<void(const IpAddress&, uint16_t port)> on_connect;
};

FetchResult fetch_to_file(const std::string& url, const std::filesystem::path& destination, uint64_t max_bytes,
                          const FetchConfig& config, const FetchHooks& hooks);

}  // namespace imgpipe::workers::fetch::testing
