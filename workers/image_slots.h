#pragma once
// Bounds concurrent libvips work in a worker (--image-threads), ready path
// first: an upload's client waits for its probe + normalise (the 201), while
// nobody waits for pre-generated variants (a src request renders a missing
// one on demand). So variant work takes a free slot only when no probe or
// normalise is waiting. Under a steady stream of uploads variants wait; they
// are never needed for correctness.

#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace imgpipe::workers {

class ImageSlots {
 public:
  enum class Priority { ready_path, background };

  explicit ImageSlots(size_t slots) : free_(slots > 0 ? slots : 1) {}
  ImageSlots(const ImageSlots&) = delete;
  ImageSlots& operator=(const ImageSlots&) = delete;

  void acquire(Priority p) {
    std::unique_lock lock(mu_);
    if (p == Priority::ready_path) {
      ++waiting_ready_;
      cv_.wait(lock, [&] { return free_ > 0; });
      --waiting_ready_;
    } else {
      cv_.wait(lock, [&] { return free_ > 0 && waiting_ready_ == 0; });
    }
    --free_;
  }

  void release() {
    {
      std::lock_guard lock(mu_);
      ++free_;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  size_t free_;
  size_t waiting_ready_ = 0;
};

}  // namespace imgpipe::workers
