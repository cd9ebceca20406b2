#include "storage/blob_cache.h"

#include <unistd.h>

#include <algorithm>
#include <vector>

namespace imgpipe::storage {
namespace fs = std::filesystem;

BlobCache::BlobCache(fs::path blobs_dir, uint64_t max_bytes, std::chrono::milliseconds in_use)
    : blobs_(std::move(blobs_dir)), max_bytes_(max_bytes), in_use_(in_use) {
  struct Found {
    fs::file_time_type at;
    std::string sha256;
    uint64_t size;
  };
  std::vector<Found> found;
  std::error_code ec;
  for (fs::directory_iterator fan(blobs_, ec), end; !ec && fan != end; fan.increment(ec)) {
    std::error_code inner;
    for (fs::directory_iterator it(fan->path(), inner), stop; !inner && it != stop; it.increment(inner)) {
      const auto name = it->path().filename().string();
      if (name.size() != 64) continue;  // temporary files are the sweeper's
      std::error_code e1, e2;
      const auto size = it->file_size(e1);
      const auto at = it->last_write_time(e2);
      if (!e1 && !e2) found.push_back({at, name, size});
    }
  }
  std::sort(found.begin(), found.end(), [](const Found& a, const Found& b) { return a.at > b.at; });
  // Taken in as long unused, newest first, so eviction starts at the oldest.
  const auto long_ago = std::chrono::steady_clock::time_point{};
  std::lock_guard lock(mu_);
  for (auto& f : found) {
    lru_.push_back({f.sha256, f.size, long_ago});
    index_[lru_.back().sha256] = std::prev(lru_.end());
    bytes_ += f.size;
  }
  evict_locked();
}

void BlobCache::used(const std::string& sha256, uint64_t size) {
  std::lock_guard lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (auto it = index_.find(sha256); it != index_.end()) {
    bytes_ -= it->second->size;
    lru_.erase(it->second);
    index_.erase(it);
  }
  lru_.push_front({sha256, size, now});
  index_[sha256] = lru_.begin();
  bytes_ += size;
  evict_locked();
}

void BlobCache::forget(const std::string& sha256) {
  std::lock_guard lock(mu_);
  auto it = index_.find(sha256);
  if (it == index_.end()) return;
  bytes_ -= it->second->size;
  lru_.erase(it->second);
  index_.erase(it);
}

void BlobCache::evict_locked() {
  const auto in_use_since = std::chrono::steady_clock::now() - in_use_;
  while (bytes_ > max_bytes_ && !lru_.empty()) {
    const Entry& oldest = lru_.back();
    if (oldest.used > in_use_since) return;  // everything left was just used
    const auto path = blobs_ / oldest.sha256.substr(0, 2) / oldest.sha256;
    ::unlink(path.c_str());  // already gone is as good
    bytes_ -= oldest.size;
    index_.erase(oldest.sha256);
    lru_.pop_back();
  }
}

uint64_t BlobCache::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

uint64_t BlobCache::files() const {
  std::lock_guard lock(mu_);
  return lru_.size();
}

}  // namespace imgpipe::storage
