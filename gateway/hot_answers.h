#pragma once
// The src answers given most recently, by request target: a bounded LRU, so
// that the images asked for now keep their place however many others were
// asked for before (SrcService::hot_answer). What an entry holds, and when
// it is still true, is the caller's business; this only keeps and drops.

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace imgpipe::gateway {

template <class Answer>
class HotAnswers {
 public:
  using Entry = std::shared_ptr<const Answer>;

  explicit HotAnswers(size_t max_entries) : max_(max_entries) {}

  // The entry for `target`, made the most recently used; nullptr if none.
  Entry find(std::string_view target) {
    std::lock_guard lock(mu_);
    auto it = index_.find(target);
    if (it == index_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->second;
  }

  // Keeps `entry` for `target` (replacing one kept before), dropping the
  // least recently used entry when full.
  void put(const std::string& target, Entry entry) {
    if (max_ == 0) return;
    std::lock_guard lock(mu_);
    if (auto it = index_.find(target); it != index_.end()) {
      it->second->second = std::move(entry);
      lru_.splice(lru_.begin(), lru_, it->second);
      return;
    }
    if (index_.size() >= max_) {
      index_.erase(lru_.back().first);  // its key views the node's string: first
      lru_.pop_back();
    }
    lru_.emplace_front(target, std::move(entry));
    index_.emplace(lru_.front().first, lru_.begin());
  }

  // Drops the entry for `target` if it is still `entry` (a newer one stays).
  void drop(const std::string& target, const Entry& entry) {
    std::lock_guard lock(mu_);
    auto it = index_.find(target);
    if (it == index_.end() || it->second->second != entry) return;
    auto node = it->second;
    index_.erase(it);  // its key views the node's string: first
    lru_.erase(node);
  }

  size_t size() const {
    std::lock_guard lock(mu_);
    return index_.size();
  }

 private:
  const size_t max_;
  mutable std::mutex mu_;
  using Node = std::pair<std::string, Entry>;
  std::list<Node> lru_;  // most recently used first
  // Keys view the targets held by lru_'s nodes (a list node never moves).
  std::unordered_map<std::string_view, typename std::list<Node>::iterator> index_;
};

}  // namespace imgpipe::gateway
