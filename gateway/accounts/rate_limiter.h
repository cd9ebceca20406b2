#pragma once
// Fixed-window counters (per hour, per day, ...) keyed by a string: the
// client IP for anonymous uploads, the email and the IP for key creation.
// In memory, per gateway: N gateways allow up to N times the limit in the
// worst case (docs/accounts.md).

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "gateway/accounts/clock.h"

namespace imgpipe::gateway::accounts {

struct Window {
  int64_t seconds;  // 3600, 86400
  int64_t limit;
};

class RateLimiter {
 public:
  explicit RateLimiter(std::shared_ptr<const Clock> clock) : clock_(std::move(clock)) {}

  // Takes one unit from every window of `key` (all or none). nullopt when
  // taken; otherwise the seconds until the fullest window resets.
  std::optional<int64_t> take(const std::string& key, std::initializer_list<Window> windows);
  // Gives back a unit taken by take() (the request failed before it counted).
  void refund(const std::string& key, std::initializer_list<Window> windows, int64_t taken_at);
  int64_t now() const { return clock_->now(); }

 private:
  void prune(int64_t now);

  std::shared_ptr<const Clock> clock_;
  std::mutex mutex_;
  // (key, window seconds, window index) -> count
  std::map<std::tuple<std::string, int64_t, int64_t>, int64_t> counts_;
  uint64_t calls_ = 0;
};

}  // namespace imgpipe::gateway::accounts
