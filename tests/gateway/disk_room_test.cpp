#include "gateway/disk_room.h"
#include "storage/disk_space.h"

#include <filesystem>

#include <gtest/gtest.h>
#include <unistd.h>

namespace imgpipe::gateway {
namespace {

namespace fs = std::filesystem;

// The data dir and its blob folder are usually one disk: checked once.
TEST(DiskRoom, EachFilesystemIsCheckedOnce) {
  const fs::path root = fs::temp_directory_path() / ("imgpipe-disk-room-" + std::to_string(::getpid()));
  fs::create_directories(root / "blobs");
  const auto dirs = storage::one_dir_per_filesystem({root.string(), (root / "blobs").string(), "/proc", "/no/such/dir"});
  EXPECT_EQ(dirs, (std::vector<std::string>{root.string(), "/proc", "/no/such/dir"}));
  fs::remove_all(root);
}

TEST(DiskRoom, NoReserveNeverRefuses) {
  GatewayConfig config;
  config.min_free_disk_bytes = 0;
  config.disk_dirs = {"/proc"};  // 0 bytes available
  EXPECT_NO_THROW(require_disk_room(config));
}

}  // namespace
}  // namespace imgpipe::gateway
