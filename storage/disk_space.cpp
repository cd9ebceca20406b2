#include "storage/disk_space.h"

#include <algorithm>
#include <filesystem>

#include <sys/stat.h>

namespace imgpipe::storage {

std::optional<uint64_t> available_bytes(const std::string& dir) {
  std::error_code ec;
  const auto space = std::filesystem::space(dir, ec);
  if (ec) return std::nullopt;
  return space.available;
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
    out.push_back(dir);  // unreadable now: kept, checked (and skipped) each time
  }
  return out;
}

}  // namespace imgpipe::storage
