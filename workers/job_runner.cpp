#include "workers/job_runner.h"

#include <algorithm>
#include <chrono>

#include "schemas/log.h"

namespace imgpipe::workers {

using namespace std::chrono_literals;

namespace {
constexpr size_t kRememberedKeys = 4096;  // fairness keys whose last start is kept
}  // namespace

JobRunner::JobRunner(storage::Bus& bus, JobRunnerConfig config, ProcessMessage process)
    : bus_(bus), config_(std::move(config)), process_(std::move(process)) {}

JobRunner::~JobRunner() { stop(); }

void JobRunner::start() {
  if (running_.exchange(true)) return;
  consumer_ = bus_.subscribe(config_.group, {config_.topic});
  // The queue never holds more than `concurrency` jobs: the poller waits for capacity.
  pool_ = std::make_unique<TaskPool>("jobs", config_.concurrency, config_.concurrency, config_.on_thread_exit);
  // Likewise later_ bounds this queue.
  later_pool_ = std::make_unique<TaskPool>("later", config_.later_threads, std::max<size_t>(config_.later_limit, 1),
                                           config_.on_thread_exit);
  poller_ = std::thread([this] { poll_loop(); });
}

void JobRunner::stop() {
  if (!running_.exchange(false)) return;
  capacity_.notify_all();
  if (poller_.joinable()) poller_.join();
  pool_->stop();        // urgent parts may still hand over later ones
  later_pool_->stop();  // queued later parts see !running_ and stay uncommitted
  consumer_->close();
}

void JobRunner::pause() {
  paused_ = true;
  log::info("workers_paused");
}

void JobRunner::resume() {
  paused_ = false;
  capacity_.notify_all();  // the poller starts what waited
  log::info("workers_resumed");
}

size_t JobRunner::in_flight() const {
  std::lock_guard lock(mutex_);
  return active_;
}

size_t JobRunner::later_backlog() const {
  std::lock_guard lock(mutex_);
  return later_;
}

size_t JobRunner::waiting() const {
  std::lock_guard lock(mutex_);
  return waiting_.size();
}

bool JobRunner::has_room() const {
  // Every job in flight may still add a later part, so it counts against the
  // backlog too: later parts never exceed --variant-backlog.
  return !paused_ && active_ < config_.concurrency && later_ + active_ < config_.later_limit;
}

std::deque<JobRunner::Waiting>::iterator JobRunner::next_waiting() {
  if (!config_.fairness_key) return waiting_.begin();
  auto turn = [&](const std::string& key) {
    auto it = last_start_.find(key);
    return it == last_start_.end() ? uint64_t{0} : it->second;
  };
  auto best = waiting_.begin();
  for (auto it = std::next(best); it != waiting_.end(); ++it)
    if (turn(it->key) < turn(best->key)) best = it;  // ties: the older
  last_start_[best->key] = ++starts_;
  if (last_start_.size() > kRememberedKeys) {
    // Forget the key whose start is the oldest: it would come first anyway.
    last_start_.erase(std::min_element(last_start_.begin(), last_start_.end(),
                                       [](const auto& a, const auto& b) { return a.second < b.second; }));
  }
  return best;
}

void JobRunner::dispatch() {
  // Paused or out of disk: a job read meanwhile waits (at shutdown it stays
  // uncommitted, for the next consumer) instead of starting after
  // workers_paused or workers_disk_low was logged.
  if (!running_ || (config_.may_take && !config_.may_take())) return;
  std::vector<std::shared_ptr<Job>> start;
  {
    std::lock_guard lock(mutex_);
    while (!waiting_.empty() && has_room()) {
      auto next = next_waiting();
      start.push_back(std::move(next->job));
      waiting_.erase(next);
      ++active_;
    }
  }
  for (auto& job : start)
    if (!pool_->try_submit([this, job] { run_job(std::move(*job)); })) {
      // Cannot happen while active_ bounds the queue; run inline rather than lose it.
      run_job(std::move(*job));
    }
}

void JobRunner::poll_loop() {
  auto last_recommit = std::chrono::steady_clock::now();
  auto recommit_when_due = [&] {
    sync_assignment();
    if (std::chrono::steady_clock::now() - last_recommit <= config_.recommit_every) return;
    last_recommit = std::chrono::steady_clock::now();
    recommit();
  };
  while (running_) {
    recommit_when_due();
    dispatch();
    const bool may_take = !config_.may_take || config_.may_take();
    {
      std::unique_lock lock(mutex_);
      auto may_read = [&] {
        if (!may_take || paused_) return false;
        return config_.read_ahead > 0 ? waiting_.size() < config_.read_ahead : waiting_.empty() && has_room();
      };
      capacity_.wait_for(lock, 200ms, [&] { return !running_ || may_read(); });
      if (!running_) break;
      if (!may_read()) {
        ++times_full_;
        continue;
      }
    }
    std::optional<storage::BusMessage> message;
    try {
      message = consumer_->poll(200ms);
    } catch (const std::exception& e) {
      log::warn("bus_poll_failed", {{"error", e.what()}});
      std::this_thread::sleep_for(1s);
      continue;
    }
    if (!message) continue;
    sync_assignment();
    auto job = std::make_shared<Job>();
    std::string key = config_.fairness_key ? config_.fairness_key(*message) : std::string();
    {
      std::lock_guard assigned_lock(assign_mutex_);
      std::lock_guard lock(mutex_);
      // A message from a partition no longer assigned here (fetched before
      // it left) still runs — processing is idempotent — but commits nothing:
      // its new owner starts from the group's commit.
      if (std::binary_search(assigned_.begin(), assigned_.end(), message->partition)) {
        auto [it, fresh] = progress_.try_emplace({message->topic, message->partition});
        auto& p = it->second;
        if (fresh) p.since = ++stretches_;
        p.in_flight.insert(message->offset);
        p.next_seen = std::max(p.next_seen, message->offset + 1);
        job->since = p.since;
      }
      job->message = std::move(*message);
      waiting_.push_back({job, std::move(key)});
    }
    dispatch();
  }
}

void JobRunner::sync_assignment() {
  // One look at a time, applied in order: a stale look applied after a newer
  // one would end the stretch of a partition that never left.
  std::lock_guard assigned_lock(assign_mutex_);
  std::vector<int32_t> now;
  try {
    now = consumer_->assignment(config_.topic);  // sorted
  } catch (const std::exception& e) {
    log::warn("bus_assignment_failed", {{"error", e.what()}});  // the last view stands
    return;
  }
  if (now == assigned_) return;
  std::vector<int32_t> changed;  // left, or joined (perhaps again, after another member had it)
  std::set_symmetric_difference(assigned_.begin(), assigned_.end(), now.begin(), now.end(),
                                std::back_inserter(changed));
  {
    std::lock_guard lock(mutex_);
    for (auto partition : changed) progress_.erase({config_.topic, partition});
    // Read ahead from a stretch that ended: not started, so left to the
    // partition's next owner (the group's commit is behind them).
    std::erase_if(waiting_, [&](const Waiting& w) {
      return w.job->message.topic == config_.topic &&
             std::binary_search(changed.begin(), changed.end(), w.job->message.partition);
    });
  }
  std::string list;
  for (auto partition : now) list += (list.empty() ? "" : ",") + std::to_string(partition);
  log::info("partitions_assigned", {{"topic", config_.topic}, {"partitions", list}});
  assigned_ = std::move(now);
}

void JobRunner::run_job(Job job) {
  const auto& message = job.message;
  Later later;
  if (!run_with_retry(message, [&] { later = process_(message); })) return;
  if (!later) {
    finished(job, false);
    return;
  }
  {
    // The job's place goes to the next message now; its offset stays in
    // flight (uncommitted) until the later part is done.
    std::lock_guard lock(mutex_);
    --active_;
    ++later_;
  }
  capacity_.notify_all();
  dispatch();
  auto rest = std::make_shared<std::pair<Job, Later>>(std::move(job), std::move(later));
  if (!later_pool_->try_submit([this, rest] { run_later(rest->first, rest->second); })) {
    // Cannot happen while later_ bounds the queue; run inline rather than lose it.
    run_later(rest->first, rest->second);
  }
}

void JobRunner::run_later(const Job& job, const Later& later) {
  if (!running_ || !run_with_retry(job.message, later)) {
    std::lock_guard lock(mutex_);  // stopping: left uncommitted, replayed on restart
    --later_;
    return;
  }
  finished(job, true);
}

bool JobRunner::run_with_retry(const storage::BusMessage& message, const std::function<void()>& part) {
  auto backoff = 500ms;
  for (;;) {
    try {
      part();
      return true;
    } catch (const schemas::Error& e) {
      if (e.id() != schemas::ErrorCode::service_unavailable || !running_) {
        log::error("job_aborted", {{"offset", message.offset}, {"key", message.key}, {"error", e.what()}});
        if (!running_) return false;  // leave it uncommitted: replayed on restart
        return true;
      }
      log::warn("job_retry", {{"offset", message.offset}, {"key", message.key}, {"error", e.what()},
                              {"retry_in_ms", backoff.count()}});
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(10s));
    }
  }
}

// A commit that failed (the bus was away, a rebalance) is not retried by
// the next message when no message comes: re-send each assigned partition's
// position now and then, so the group's lag returns to 0 once the bus is back.
// Only the commits of the current stretch of each assigned partition
// (sync_assignment has just run): a position from before the partition was
// elsewhere would move the group's commit back behind its other owner's.
void JobRunner::recommit() {
  ++recommits_;
  std::map<PartitionKey, SentCommit> sent;
  {
    std::lock_guard lock(commit_mutex_);
    sent = committed_sent_;
  }
  std::vector<std::pair<PartitionKey, int64_t>> positions;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [tp, c] : sent)
      if (auto it = progress_.find(tp); it != progress_.end() && it->second.since == c.since)
        positions.emplace_back(tp, c.next_offset);
  }
  for (const auto& [tp, next] : positions) {
    try {
      consumer_->commit(tp.first, tp.second, next);
    } catch (const std::exception& e) {
      log::warn("commit_failed", {{"topic", tp.first}, {"partition", tp.second}, {"error", e.what()}});
    }
  }
}

// Called once per message, when all of it is done (urgent and later part).
void JobRunner::finished(const Job& job, bool was_later) {
  const auto& topic = job.message.topic;
  const auto partition = job.message.partition;
  ++processed_;
  sync_assignment();  // the partition may have gone while the job ran
  int64_t commit_to = -1;
  {
    std::lock_guard lock(mutex_);
    // The partition's stretch the job was taken in has ended: nothing to commit.
    if (auto it = progress_.find({topic, partition}); it != progress_.end() && it->second.since == job.since) {
      auto& p = it->second;
      p.in_flight.erase(job.message.offset);
      int64_t next = p.in_flight.empty() ? p.next_seen : *p.in_flight.begin();
      if (next > p.committed) commit_to = p.committed = next;
    }
    --(was_later ? later_ : active_);
  }
  capacity_.notify_all();
  dispatch();
  if (commit_to >= 0) {
    // Commits from several job threads must never move an offset backwards,
    // nor one from an earlier stretch of the partition overwrite a later one.
    std::lock_guard commit_lock(commit_mutex_);
    auto& sent = committed_sent_[{topic, partition}];
    if (job.since < sent.since || (job.since == sent.since && commit_to <= sent.next_offset)) return;
    sent = {job.since, commit_to};
    try {
      consumer_->commit(topic, partition, commit_to);
    } catch (const std::exception& e) {
      // Not fatal: the messages are redelivered and processing is idempotent.
      log::warn("commit_failed", {{"topic", topic}, {"partition", partition}, {"error", e.what()}});
    }
  }
}

}  // namespace imgpipe::workers
