#pragma once
// The local copies of a remote store's blobs (blobs/ under --data-dir),
// bounded by size: least recently used first out. Filled by reads only
// (BlobStore::path_of brings a missing blob here); what a worker writes goes
// to the store alone.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

namespace imgpipe::storage {

class BlobCache {
 public:
  // Takes in the files already under `blobs_dir` (oldest first, by time).
  // Files used within the last `in_use` are never evicted: a path just
  // handed out is about to be opened (an open file survives its unlink), so
  // the bound can be passed briefly under a burst of cold reads.
  static constexpr std::chrono::milliseconds kInUse{10000};
  BlobCache(std::filesystem::path blobs_dir, uint64_t max_bytes, std::chrono::milliseconds in_use = kInUse);

  // `sha256` was just read (a hit) or brought in (a fill): most recent now;
  // then the least recently used go while the total is over max_bytes.
  void used(const std::string& sha256, uint64_t size);
  void forget(const std::string& sha256);

  uint64_t bytes() const;
  uint64_t files() const;
  uint64_t max_bytes() const { return max_bytes_; }

 private:
  struct Entry {
    std::string sha256;
    uint64_t size;
    std::chrono::steady_clock::time_point used;
  };
  void evict_locked();

  const std::filesystem::path blobs_;
  const uint64_t max_bytes_;
  const std::chrono::milliseconds in_use_;
  mutable std::mutex mu_;
  std::list<Entry> lru_;  // front: most recent
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  uint64_t bytes_ = 0;
};

}  // namespace imgpipe::storage
