#include "gateway/disk_room.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>

#include <sys/stat.h>

#include "schemas/errors.h"
#include "schemas/log.h"

namespace imgpipe::gateway {

namespace {

// The operator hears of a low disk when it starts, then once a minute while
// it lasts (with how many creates were refused meanwhile), and when it ends —
// not once per refused request: a flood of uploads would otherwise fill the
// log, often on the very disk that is full.
constexpr auto kRepeatEvery = std::chrono::seconds(60);
std::atomic<bool> disk_is_low{false};
std::atomic<int64_t> next_warning_ns{0};
std::atomic<uint64_t> refused_since_warning{0};

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void note_low(const std::filesystem::path& dir, uintmax_t available, uint64_t min_free) {
  const uint64_t refused = ++refused_since_warning;
  const int64_t now = now_ns();
  int64_t due = next_warning_ns.load();
  const bool starts = !disk_is_low.exchange(true);
  if (!starts && now < due) return;
  if (!next_warning_ns.compare_exchange_strong(due, now + std::chrono::nanoseconds(kRepeatEvery).count()) && !starts)
    return;  // another thread just warned
  refused_since_warning -= refused;
  log::warn("disk_low", {{"dir", dir},
                         {"available_bytes", available},
                         {"min_free_bytes", min_free},
                         {"refused_creates", refused},
                         {"next_warning_s", kRepeatEvery.count()}});
}

}  // namespace

void require_disk_room(const GatewayConfig& config) {
  if (config.min_free_disk_bytes == 0) return;
  for (const auto& dir : config.disk_dirs) {
    std::error_code ec;
    const auto space = std::filesystem::space(dir, ec);
    if (ec || space.available >= config.min_free_disk_bytes) continue;  // unreadable: the write itself will tell
    note_low(dir, space.available, config.min_free_disk_bytes);
    schemas::Error e(schemas::ErrorCode::insufficient_storage,
                     "The server's disk is nearly full; it takes no new images until its operator frees space.");
    e.retry_after_seconds = 60;
    throw e;
  }
  if (disk_is_low.exchange(false)) {
    log::info("disk_room_back", {{"min_free_bytes", config.min_free_disk_bytes},
                                 {"refused_creates", refused_since_warning.exchange(0)}});
    next_warning_ns = 0;
  }
}

std::vector<std::string> one_dir_per_filesystem(const std::vector<std::string>& dirs) {
  std::vector<std::string> out;
  std::vector<dev_t> seen;
  for (const auto& dir : dirs) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) == 0) {
      if (std::find(seen.begin(), seen.end(), st.st_dev) != seen.end()) continue;
      seen.push_back(st.st_dev);
    }
    out.push_back(dir);  // unreadable now: kept, checked (and skipped) per create
  }
  return out;
}

}  // namespace imgpipe::gateway
