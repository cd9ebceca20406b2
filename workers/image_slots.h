#pragma once
// Bounds concurrent libvips work in a worker (--image-threads), ready path
// first: an upload's client waits for its probe + normalise (the 201), while
// nobody waits for pre-generated variants (a src request renders a missing
// one on demand). So background work starts only on an idle slot with no
// ready-path work waiting, and ready-path work never waits for background
// work: it has `slots` places of its own. Background work takes a slot per
// output (one variant's encode), so ready-path work shares the cores with at
// most one output per background holder, and no new output starts while
// ready-path work holds every slot or waits for one (at most 2 x slots
// libvips calls at once). Between its steps (hashing, storing, publishing) a
// job a client waits for holds no slot, yet it will want one again soon: so
// background work also leaves a slot to each such job in flight (ReadyJob),
// and with as many in flight as slots it waits. Background work is not
// starved for long: the job runner stops taking jobs while too many wait
// (--variant-backlog), and then no job is in flight.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>

namespace imgpipe::workers {

class ImageSlots {
 public:
  enum class Priority { ready_path, background };

  // Who holds and waits for slots (tests watch it: state, wait_until).
  struct State {
    size_t ready = 0;               // ready-path holders
    size_t background = 0;          // background holders
    size_t waiting_ready = 0;
    size_t waiting_background = 0;
    size_t ready_jobs = 0;           // jobs between probe and ready (ReadyJob)
    uint64_t background_grants = 0;  // background acquisitions so far
  };

  explicit ImageSlots(size_t slots) : slots_(slots > 0 ? slots : 1) {}
  ImageSlots(const ImageSlots&) = delete;
  ImageSlots& operator=(const ImageSlots&) = delete;

  void acquire(Priority p) {
    {
      std::unique_lock lock(mu_);
      const bool ready = p == Priority::ready_path;
      ++(ready ? s_.waiting_ready : s_.waiting_background);
      cv_.notify_all();  // wait_until may be watching
      if (ready) {
        cv_.wait(lock, [&] { return s_.ready < slots_; });
        --s_.waiting_ready;
        ++s_.ready;
      } else {
        cv_.wait(lock, [&] {
          return s_.ready + s_.background < slots_ && s_.waiting_ready == 0 &&
                 s_.background + s_.ready_jobs < slots_;
        });
        --s_.waiting_background;
        ++s_.background;
        ++s_.background_grants;
      }
    }
    cv_.notify_all();
  }

  void release(Priority p) {
    {
      std::lock_guard lock(mu_);
      --(p == Priority::ready_path ? s_.ready : s_.background);
    }
    cv_.notify_all();
  }

  // Marks one job a client waits for as in flight, from its first image step
  // to its `ready` (RAII).
  class ReadyJob {
   public:
    explicit ReadyJob(ImageSlots& s) : s_(s) { s_.change_ready_jobs(+1); }
    ~ReadyJob() { s_.change_ready_jobs(-1); }
    ReadyJob(const ReadyJob&) = delete;
    ReadyJob& operator=(const ReadyJob&) = delete;

   private:
    ImageSlots& s_;
  };

  State state() {
    std::lock_guard lock(mu_);
    return s_;
  }

  // Waits until `done(state)` holds; false if `timeout` passed first.
  template <typename Pred>
  bool wait_until(Pred done, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return done(static_cast<const State&>(s_)); });
  }

 private:
  void change_ready_jobs(int delta) {
    {
      std::lock_guard lock(mu_);
      s_.ready_jobs = delta > 0 ? s_.ready_jobs + 1 : s_.ready_jobs - 1;
    }
    cv_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  const size_t slots_;
  State s_;
};

}  // namespace imgpipe::workers
