#pragma once
// A bounded LRU of blob contents by blob hash, so hot src variants are
// answered from memory instead of a stat, an open and sendfile per request.
// Blobs are content-addressed and immutable, so an entry is never stale;
// deleting an image only stops the index pointing at the blob (SrcService
// looks the record up on every request before it asks here).

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

namespace imgpipe::gateway {

class BlobCache {
 public:
  using Bytes = std::shared_ptr<const std::string>;

  // Holds at most `max_bytes` of content; blobs larger than `max_item` are
  // never kept. max_bytes 0 turns the cache off.
  BlobCache(uint64_t max_bytes, uint64_t max_item) : max_bytes_(max_bytes), max_item_(max_item) {}

  bool wants(uint64_t size) const { return size <= max_item_ && size <= max_bytes_; }

  Bytes get(const std::string& blob) {
    std::lock_guard lock(mu_);
    auto it = index_.find(blob);
    if (it == index_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);  // most recently used first
    return it->second->second;
  }

  bool contains(const std::string& blob) const {
    std::lock_guard lock(mu_);
    return index_.contains(blob);
  }

  void put(const std::string& blob, Bytes bytes) {
    if (!bytes || !wants(bytes->size())) return;
    std::lock_guard lock(mu_);
    if (index_.contains(blob)) return;
    used_ += bytes->size();
    lru_.emplace_front(blob, std::move(bytes));
    index_.emplace(blob, lru_.begin());
    while (used_ > max_bytes_ && !lru_.empty()) {
      used_ -= lru_.back().second->size();
      index_.erase(lru_.back().first);
      lru_.pop_back();
    }
  }

  uint64_t bytes() const {
    std::lock_guard lock(mu_);
    return used_;
  }

 private:
  const uint64_t max_bytes_;
  const uint64_t max_item_;
  mutable std::mutex mu_;
  std::list<std::pair<std::string, Bytes>> lru_;
  std::unordered_map<std::string, std::list<std::pair<std::string, Bytes>>::iterator> index_;
  uint64_t used_ = 0;
};

}  // namespace imgpipe::gateway
