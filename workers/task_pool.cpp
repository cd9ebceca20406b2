#include "workers/task_pool.h"

#include "schemas/log.h"

namespace imgpipe::workers {

TaskPool::TaskPool(std::string name, size_t threads, size_t max_queued, std::function<void()> on_thread_exit)
    : name_(std::move(name)), max_queued_(max_queued), on_thread_exit_(std::move(on_thread_exit)) {
  for (size_t i = 0; i < std::max<size_t>(threads, 1); ++i) threads_.emplace_back([this] { run(); });
}

TaskPool::~TaskPool() { stop(); }

bool TaskPool::try_submit(std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || queue_.size() >= max_queued_) return false;
    queue_.push_back(std::move(task));
  }
  cv_.notify_one();
  return true;
}

size_t TaskPool::queued() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

size_t TaskPool::busy() const {
  std::lock_guard lock(mutex_);
  return busy_;
}

void TaskPool::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void TaskPool::run() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) break;
      task = std::move(queue_.front());
      queue_.pop_front();
      ++busy_;
    }
    try {
      task();
    } catch (const std::exception& e) {
      log::error("task_failed", {{"pool", name_}, {"error", e.what()}});
    }
    std::lock_guard lock(mutex_);
    --busy_;
  }
  if (on_thread_exit_) on_thread_exit_();
}

}  // namespace imgpipe::workers
