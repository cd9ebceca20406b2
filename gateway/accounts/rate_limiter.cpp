#include "gateway/accounts/rate_limiter.h"

#include <algorithm>

namespace imgpipe::gateway::accounts {

std::optional<int64_t> RateLimiter::take(const std::string& key, std::initializer_list<Window> windows) {
  int64_t now = clock_->now();
  std::lock_guard lock(mutex_);
  if (++calls_ % 1024 == 0) prune(now);
  int64_t wait = 0;
  for (const auto& w : windows) {
    int64_t index = now / w.seconds;
    auto it = counts_.find({key, w.seconds, index});
    if (it != counts_.end() && it->second >= w.limit) wait = std::max(wait, (index + 1) * w.seconds - now);
  }
  if (wait > 0) return wait;
  for (const auto& w : windows) ++counts_[{key, w.seconds, now / w.seconds}];
  return std::nullopt;
}

void RateLimiter::refund(const std::string& key, std::initializer_list<Window> windows, int64_t taken_at) {
  std::lock_guard lock(mutex_);
  for (const auto& w : windows) {
    auto it = counts_.find({key, w.seconds, taken_at / w.seconds});
    if (it != counts_.end() && it->second > 0 && --it->second == 0) counts_.erase(it);
  }
}

void RateLimiter::prune(int64_t now) {
  for (auto it = counts_.begin(); it != counts_.end();) {
    const auto& [key, seconds, index] = it->first;
    if (index < now / seconds) it = counts_.erase(it);
    else ++it;
  }
}

}  // namespace imgpipe::gateway::accounts
