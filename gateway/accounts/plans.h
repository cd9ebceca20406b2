#pragma once
// The tiers of the img.pro table as operator configuration: the anonymous
// tier (per client IP), the plans a key can be on, and retention. Defaults
// follow the reference; `--plans-file` replaces any of them.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace imgpipe::gateway::accounts {

struct Plan {
  std::string name;
  int64_t uploads_per_month = 100;
  uint64_t storage_bytes = 5ull << 30;     // 5 GB
  uint64_t max_file_bytes = 70ull << 20;   // 70 MB
};

struct AnonymousTier {
  int64_t uploads_per_hour = 20;   // per client IP
  int64_t uploads_per_day = 100;   // per client IP
  uint64_t max_file_bytes = 20ull << 20;  // --anonymous-max-mb
  int64_t retention_days = 30;
};

struct TierConfig {
  AnonymousTier anonymous;
  int64_t unverified_retention_days = 30;  // verified keys keep uploads forever
  std::string default_plan = "free";       // new keys start here
  std::map<std::string, Plan> plans;       // by name

  // The plan named `name`, or the default plan when it is unknown.
  const Plan& plan(const std::string& name) const;
  bool has_plan(const std::string& name) const { return plans.count(name) > 0; }
};

// free (100/mo, 5 GB), pro (1,000/mo, 50 GB), business (10,000/mo, 500 GB),
// enterprise (100,000/mo, 5 TB); 70 MB files on all.
TierConfig default_tiers();

// Reads a JSON file (format: docs/accounts.md) over the defaults. Throws
// std::runtime_error naming every problem.
TierConfig load_tiers(const std::filesystem::path& file);

}  // namespace imgpipe::gateway::accounts
