#include "gateway/disk_room.h"

#include <filesystem>

#include "schemas/log.h"
#include "schemas/errors.h"

namespace imgpipe::gateway {

void require_disk_room(const GatewayConfig& config) {
  if (config.min_free_disk_bytes == 0) return;
  for (const auto& dir : config.disk_dirs) {
    std::error_code ec;
    const auto space = std::filesystem::space(dir, ec);
    if (ec || space.available >= config.min_free_disk_bytes) continue;  // unreadable: the write itself will tell
    log::warn("disk_low", {{"dir", dir},
                           {"available_bytes", space.available},
                           {"min_free_bytes", config.min_free_disk_bytes}});
    schemas::Error e(schemas::ErrorCode::insufficient_storage,
                     "The server's disk is nearly full; it takes no new images until its operator frees space.");
    e.retry_after_seconds = 60;
    throw e;
  }
}

}  // namespace imgpipe::gateway
