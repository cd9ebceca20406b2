#pragma once
// Consumes a topic as a member of a consumer group and runs each message on a
// bounded pool, off the poll thread, so a slow image never stalls the group.
// A message may leave work for later (an upload's variants, after its client
// has its 201): that part runs on a second pool and frees the job's place at
// once, so the next client's job starts without waiting for it. Offsets are
// committed per partition only up to the first message not finished, its
// later part included: a crash replays whatever was not done (at-least-once).
// A partition's progress lasts while it is assigned here: once another group
// member has had it, what this runner knew of it is stale (the other moved
// the commit on), so a job that was in flight when it left commits nothing.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

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
  // How often the assigned partitions' commits are sent again (one that
  // failed while the bus was away is not retried by a later message when
  // none comes).
  std::chrono::milliseconds recommit_every{5000};
  // When set and false, no new message is taken (looked at before each one,
  // and every 200 ms while false); jobs in flight finish. The workers' disk
  // watch (workers/disk_watch.h): a job that cannot be stored waits in the
  // topic instead of failing for good.
  std::function<bool()> may_take;
  std::function<void()> on_thread_exit;
  // Messages read ahead of a place to run them (0: one at a time, in topic
  // order). With `fairness_key` (a message's producer: the ingest job's
  // owner), the next to start is the oldest message of the key whose last
  // start is the longest ago (or never): a client's one upload does not
  // queue behind another client's burst, and one producer alone keeps topic order.
  size_t read_ahead = 0;
  std::function<std::string(const storage::BusMessage&)> fairness_key;
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
  // How often the poller found no room for a message (paused, every place
  // taken or the later backlog full) and left the topic alone: a test waits
  // for it to grow to know a message was not taken, instead of sleeping.
  uint64_t times_full() const { return times_full_; }
  // How many times the commits were sent again (recommit_every); a test
  // waits for it to grow instead of sleeping.
  uint64_t recommits() const { return recommits_; }
  size_t waiting() const;  // read ahead, not started (read_ahead)

 private:
  using PartitionKey = std::pair<std::string, int32_t>;
  // One stretch of a partition being assigned here; `since` tells stretches
  // apart (it grows), so a job commits only into the stretch it was taken in.
  struct PartitionProgress {
    uint64_t since = 0;
    std::set<int64_t> in_flight;
    int64_t next_seen = -1;
    int64_t committed = -1;
  };
  struct Job {
    storage::BusMessage message;
    uint64_t since = 0;  // 0: taken from a partition not assigned here; never commits
  };
  struct Waiting {
    std::shared_ptr<Job> job;
    std::string key;  // fairness_key's
  };
  struct SentCommit {
    uint64_t since = 0;
    int64_t next_offset = -1;
  };

  void poll_loop();
  // Forgets the progress of partitions that left or (re)joined this
  // runner's assignment since the last look (before each message is taken
  // and each job's commit, and between polls).
  void sync_assignment();
  // Starts waiting messages while there is room, fairest first.
  void dispatch();
  bool has_room() const;  // under mutex_, may_take aside
  std::deque<Waiting>::iterator next_waiting();  // under mutex_; waiting_ not empty
  void run_job(Job job);
  void run_later(const Job& job, const Later& later);
  // Runs `part` until it returns, retrying on service_unavailable; false
  // when the runner stopped first (the message stays uncommitted).
  bool run_with_retry(const storage::BusMessage& message, const std::function<void()>& part);
  void finished(const Job& job, bool was_later);
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
  std::atomic<uint64_t> times_full_{0};
  std::atomic<uint64_t> recommits_{0};
  std::mutex assign_mutex_;         // sync_assignment; taken before mutex_
  std::vector<int32_t> assigned_;  // as of the last sync_assignment
  uint64_t stretches_ = 0;         // PartitionProgress::since of the newest stretch (under mutex_)
  mutable std::mutex mutex_;
  std::condition_variable capacity_;
  size_t active_ = 0;  // urgent parts queued or running
  size_t later_ = 0;   // later parts queued or running
  std::map<PartitionKey, PartitionProgress> progress_;  // assigned partitions only
  std::deque<Waiting> waiting_;                   // read, in flight for the commits, not started
  std::map<std::string, uint64_t> last_start_;   // fairness key -> its last start (the 4096 latest keys)
  uint64_t starts_ = 0;
  std::mutex commit_mutex_;
  std::map<PartitionKey, SentCommit> committed_sent_;
};

}  // namespace imgpipe::workers
