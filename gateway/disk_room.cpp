#include "gateway/disk_room.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <utility>

#include "schemas/errors.h"
#include "schemas/log.h"
#include "storage/disk_space.h"

namespace imgpipe::gateway {

namespace {

// The operator hears of a low disk when it starts, then once a minute while
// it lasts (with how many creates were refused meanwhile), and when it ends —
// not once per refused request: a flood of uploads would otherwise fill the
// log, often on the very disk that is full. Per process: the disk is too.
constexpr auto kRepeatEvery = std::chrono::seconds(60);
struct LowDisk {
  std::mutex mu;
  std::atomic<bool> low{false};  // read without the lock on every create
  std::chrono::steady_clock::time_point next_warning;
  uint64_t refused = 0;  // since the last line
} g_low;

void note_low(const std::string& dir, uint64_t available, uint64_t min_free) {
  std::lock_guard lock(g_low.mu);
  ++g_low.refused;
  const auto now = std::chrono::steady_clock::now();
  if (g_low.low && now < g_low.next_warning) return;
  g_low.low = true;
  g_low.next_warning = now + kRepeatEvery;
  log::warn("disk_low", {{"dir", dir},
                         {"available_bytes", available},
                         {"min_free_bytes", min_free},
                         {"refused_creates", std::exchange(g_low.refused, 0)},
                         {"next_warning_s", kRepeatEvery.count()}});
}

void note_room_back(uint64_t min_free) {
  std::lock_guard lock(g_low.mu);
  if (!g_low.low) return;
  g_low.low = false;
  log::info("disk_room_back", {{"min_free_bytes", min_free}, {"refused_creates", std::exchange(g_low.refused, 0)}});
}

}  // namespace

void require_disk_room(const GatewayConfig& config) {
  if (config.min_free_disk_bytes == 0) return;
  for (const auto& dir : config.disk_dirs) {
    const auto available = storage::available_bytes(dir);
    if (!available || *available >= config.min_free_disk_bytes) continue;  // unreadable: the write itself will tell
    note_low(dir, *available, config.min_free_disk_bytes);
    schemas::Error e(schemas::ErrorCode::insufficient_storage,
                     "The server's disk is nearly full; it takes no new images until its operator frees space.");
    e.retry_after_seconds = 60;
    throw e;
  }
  if (g_low.low.load(std::memory_order_relaxed)) note_room_back(config.min_free_disk_bytes);
}

}  // namespace imgpipe::gateway
