#pragma once
// The workers stop taking jobs before their disk is full. With less than
// `min_free_bytes` available on a watched folder's filesystem, ok() is false
// and the job runner leaves the topic alone (JobRunnerConfig::may_take): a
// job that could not be stored waits in the topic instead of failing for
// good, and the workers go on once space is freed. --min-free-disk-mb sets
// it to half the gateway's reserve, so what the gateway accepted before its
// own refusals began still has room to finish.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace imgpipe::workers {

class DiskWatch {
 public:
  // `min_free_bytes` 0: always ok.
  DiskWatch(std::vector<std::string> dirs, uint64_t min_free_bytes);

  // Whether every watched disk has room; statvfs at most once a second.
  // Logs workers_disk_low (warn) when room runs out, again once a minute
  // while it lasts, and workers_disk_room_back (info) when it returns.
  bool ok();
  // What the last look found (no look of its own): for /metrics.
  bool low() const { return !ok_.load(std::memory_order_relaxed); }

 private:
  const std::vector<std::string> dirs_;
  const uint64_t min_free_;
  std::mutex mu_;
  std::chrono::steady_clock::time_point next_look_{};
  std::chrono::steady_clock::time_point next_warning_{};
  std::atomic<bool> ok_{true};
};

}  // namespace imgpipe::workers
