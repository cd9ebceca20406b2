#pragma once
// Consumes a topic as a member of a consumer group and runs each message on a
// bounded pool, off the poll thread, so a slow image never stalls the group.
// A message may leave work for later (an upload's variants, after its client
// has its 201): that part runs on a second pool and frees the job's place at
// once, so the next client's job starts without waiting for it. Offsets are
// committed per partition only up to the first message not finished, its
// later part included: a crash replays whatever was not done (at-least-once).

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
  // Later parts waiting or running; when this many are, no new message is
  // taken (back-pressure), which bounds both memory and how far the later
  // work falls behind.
  size_t later_limit = 32;
  size_t later_threads = 2;  // threads running later parts
  std::function<void()> on_thread_exit;
};

// What a message leaves to run after its urgent part; empty: nothing.
using Later = std::function<void()>;

// Processes one message. Returns when its urgent effects are durable; the
// offset is committed once the returned Later (if any) has returned too.
// Throwing schemas::Error(service_unavailable) from either means "not done,
// try again later": the runner retries that part with back-off.
using ProcessMessage = std::function<Later(const storage::BusMessage&)>;

class JobRunner {
 public:
  JobRunner(storage::Bus& bus, JobRunnerConfig config, ProcessMessage process);
  ~JobRunner();

  void start();
  void stop();    // finishes jobs in flight, commits, closes the consumer
  void pause();   // stops taking new jobs; jobs in flight finish
  void resume();
  bool paused() const { return paused_; }
  size_t in_flight() const;   // urgent parts
  size_t later_backlog() const;  // later parts waiting or running
  uint64_t processed() const { return processed_; }

 private:
  struct PartitionProgress {
    std::set<int64_t> in_flight;
    int64_t next_seen = -1;
    int64_t committed = -1;
  };

  void poll_loop();
  void run_job(storage::BusMessage message);
  void run_later(const storage::BusMessage& message, const Later& later);
  // Runs `part` until it returns, retrying on service_unavailable; false
  // when the runner stopped first (the message stays uncommitted).
  bool run_with_retry(const storage::BusMessage& message, const std::function<void()>& part);
  void finished(const storage::BusMessage& message, bool was_later);
  void recommit();

  storage::Bus& bus_;
  JobRunnerConfig config_;
  ProcessMessage process_;
  std::unique_ptr<storage::BusConsumer> consumer_;
  std::unique_ptr<TaskPool> pool_;
  std::unique_ptr<TaskPool> later_pool_;
  std::thread poller_;
  std::atomic<bool> running_{false};
  std::atomic<bool> paused_{false};
  std::atomic<uint64_t> processed_{0};
  mutable std::mutex mutex_;
  std::condition_variable capacity_;
  size_t active_ = 0;  // urgent parts queued or running
  size_t later_ = 0;   // later parts queued or running
  std::map<std::pair<std::string, int32_t>, PartitionProgress> progress_;
  std::mutex commit_mutex_;
  std::map<std::pair<std::string, int32_t>, int64_t> committed_sent_;
};

}  // namespace imgpipe::workers
