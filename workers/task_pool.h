#pragma once
// A fixed set of threads running queued tasks, with a bounded queue so that
// memory is bounded by configuration, not by load.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace imgpipe::workers {

class TaskPool {
 public:
  // `on_thread_exit` runs on each worker thread before it ends (e.g. libvips cleanup).
  TaskPool(std::string name, size_t threads, size_t max_queued, std::function<void()> on_thread_exit = {});
  ~TaskPool();
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  // False when the queue is full (the caller answers 503) or the pool stopped.
  bool try_submit(std::function<void()> task);
  size_t queued() const;
  size_t busy() const;
  size_t threads() const { return threads_.size(); }
  // Finishes queued tasks, then joins.
  void stop();

 private:
  void run();

  std::string name_;
  size_t max_queued_;
  std::function<void()> on_thread_exit_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  size_t busy_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace imgpipe::workers
