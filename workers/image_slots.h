#pragma once
// Bounds concurrent libvips work in a worker (--image-threads), ready path
// first: an upload's client waits for its probe + normalise (the 201), while
// nobody waits for pre-generated variants (a src request renders a missing
// one on demand). So background work starts only on an idle slot with no
// ready-path work waiting, and ready-path work never waits for background
// work: it has `slots` places of its own. A variant rendering already under
// way is not interrupted; ready-path work then shares the cores with it
// (at most 2 x slots at once, which bounds memory). Background work is not
// starved for long: the job runner stops taking jobs while too many wait
// (--variant-backlog).

#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace imgpipe::workers {

class ImageSlots {
 public:
  enum class Priority { ready_path, background };

  explicit ImageSlots(size_t slots) : slots_(slots > 0 ? slots : 1) {}
  ImageSlots(const ImageSlots&) = delete;
  ImageSlots& operator=(const ImageSlots&) = delete;

  void acquire(Priority p) {
    std::unique_lock lock(mu_);
    if (p == Priority::ready_path) {
      ++waiting_ready_;
      cv_.wait(lock, [&] { return ready_ < slots_; });
      --waiting_ready_;
      ++ready_;
    } else {
      cv_.wait(lock, [&] { return ready_ + background_ < slots_ && waiting_ready_ == 0; });
      ++background_;
    }
  }

  void release(Priority p) {
    {
      std::lock_guard lock(mu_);
      --(p == Priority::ready_path ? ready_ : background_);
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  const size_t slots_;
  size_t ready_ = 0;       // ready-path holders
  size_t background_ = 0;  // background holders
  size_t waiting_ready_ = 0;
};

}  // namespace imgpipe::workers
