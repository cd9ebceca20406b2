#include "workers/disk_watch.h"

#include <utility>

#include "schemas/log.h"
#include "storage/disk_space.h"

namespace imgpipe::workers {

namespace {
constexpr auto kLookEvery = std::chrono::seconds(1);
constexpr auto kRepeatEvery = std::chrono::seconds(60);
}  // namespace

DiskWatch::DiskWatch(std::vector<std::string> dirs, uint64_t min_free_bytes)
    : dirs_(std::move(dirs)), min_free_(min_free_bytes) {}

bool DiskWatch::ok() {
  if (min_free_ == 0) return true;
  std::lock_guard lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (now < next_look_) return ok_;
  next_look_ = now + kLookEvery;
  for (const auto& dir : dirs_) {
    const auto available = storage::available_bytes(dir);
    if (!available || *available >= min_free_) continue;  // unreadable: the write itself will tell
    if (ok_ || now >= next_warning_) {
      log::warn("workers_disk_low", {{"dir", dir},
                                     {"available_bytes", *available},
                                     {"min_free_bytes", min_free_},
                                     {"next_warning_s", kRepeatEvery.count()}});
      next_warning_ = now + kRepeatEvery;
    }
    ok_ = false;
    return false;
  }
  if (!ok_) log::info("workers_disk_room_back", {{"min_free_bytes", min_free_}});
  ok_ = true;
  return true;
}

}  // namespace imgpipe::workers
