#pragma once
// The accounts flags of `imgpipe serve|gateway` (API keys, verification
// mail, tiers, trusted proxies, retention), kept apart from serve_options.cpp.

#include <filesystem>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "gateway/accounts/accounts_service.h"

namespace imgpipe::ops {

struct AccountOptions {
  std::string token_secret;                 // --token-secret / IMGPIPE_TOKEN_SECRET; empty: <data-dir>/token.secret
  bool token_secret_given = false;
  std::string smtp_url, smtp_from;          // --smtp-url, --smtp-from
  int smtp_retry_min = 10, smtp_retry_max = 3600;  // --smtp-retry-min, --smtp-retry-max (seconds)
  std::vector<std::string> trusted_proxies; // --trusted-proxy CIDR, repeatable
  std::string plans_file;                   // --plans-file
  long long anon_per_hour = 0, anon_per_day = 0;  // --anonymous-uploads-per-hour/-day; 0: the plans file or 20/100
  long long sweep_interval = 60;            // --sweep-interval seconds (GatewayConfig: the retention sweeper)
  long long blob_grace = 600;               // --blob-grace seconds (GatewayConfig: the retention sweeper)
  uint64_t anonymous_max_bytes = 20ull << 20;  // --anonymous-max-mb (ops/serve_options.cpp): the anonymous tier's file limit
  std::string clock_file;                   // --clock-file (tests only)
};

void add_account_options(boost::program_options::options_description& into, AccountOptions& o);
// Every problem with the values, for the caller to report at once.
std::vector<std::string> check_account_options(const boost::program_options::variables_map& vm, AccountOptions& o);

// The service's configuration: reads or creates <data-dir>/token.secret and
// <data-dir>/admin.token, loads the plans file, parses the proxies. Throws
// std::runtime_error.
gateway::accounts::AccountsConfig make_accounts_config(const AccountOptions& o, const std::filesystem::path& data_dir);

// Where `imgpipe keys` finds a running server: <data-dir>/admin.url.
void write_admin_url(const std::filesystem::path& data_dir, const std::string& listen, unsigned port);

}  // namespace imgpipe::ops
