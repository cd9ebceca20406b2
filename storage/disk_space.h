#pragma once
// Free space on the filesystems the service writes to: read by the gateway's
// reserve (gateway/disk_room.h), the workers' (workers/disk_watch.h) and
// /metrics.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace imgpipe::storage {

// Bytes available to us on `dir`'s filesystem; nullopt when it cannot be read.
std::optional<uint64_t> available_bytes(const std::string& dir);

// `dirs` less those on a filesystem an earlier one is on (by st_dev), so each
// disk is checked once (the data dir usually holds the blobs too).
std::vector<std::string> one_dir_per_filesystem(const std::vector<std::string>& dirs);

}  // namespace imgpipe::storage
