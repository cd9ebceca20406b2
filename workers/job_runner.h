#pragma once
// Consumes a topic as a member of a consumer group and runs each message on a
// bounded pool, off the poll thread, so a slow image never stalls the group.
// Offsets are committed per partition only up to the first message still in
// flight: a crash replays whatever was not finished (at-least-once).

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "storage/bus.h"
#include "workers/task_pool.h"

namespace imgpipe::workers {

struct JobRunnerConfig {
  std::string group = "imgpipe-workers";
  std::string topic = storage::topics::ingest;
  size_t concurrency = 4;  // jobs in flight
  std::function<void()> on_thread_exit;
};

// Processes one message. Returns when its effects are durable (then the
// offset may be committed). Throwing schemas::Error(service_unavailable)
// means "not done, try again later": the runner retries with back-off.
using ProcessMessage = std::function<void(const storage::BusMessage&)>;

class JobRunner {
 public:
  JobRunner(storage::Bus& bus, JobRunnerConfig config, ProcessMessage process);
  ~JobRunner();

  void start();
  void stop();    // finishes jobs in flight, commits, closes the consumer
  void pause();   // stops taking new jobs; jobs in flight finish
  void resume();
  bool paused() const { return paused_; }
  size_t in_flight() const;
  uint64_t processed() const { return processed_; }

 private:
  struct PartitionProgress {
    std::set<int64_t> in_flight;
    int64_t next_seen = -1;
    int64_t committed = -1;
  };

  void poll_loop();
  void run_job(storage::BusMessage message);
  void finished(const std::string& topic, int32_t partition, int64_t offset);
  void recommit();

  storage::Bus& bus_;
  JobRunnerConfig config_;
  ProcessMessage process_;
  std::unique_ptr<storage::BusConsumer> consumer_;
  std::unique_ptr<TaskPool> pool_;
  std::thread poller_;
  std::atomic<bool> running_{false};
  std::atomic<bool> paused_{false};
  std::atomic<uint64_t> processed_{0};
  mutable std::mutex mutex_;
  std::condition_variable capacity_;
  size_t active_ = 0;
  std::map<std::pair<std::string, int32_t>, PartitionProgress> progress_;
  std::mutex commit_mutex_;
  std::map<std::pair<std::string, int32_t>, int64_t> committed_sent_;
};

}  // namespace imgpipe::workers
