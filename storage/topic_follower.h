#pragma once
// Follows one topic into this process's RocksDB: the loop the image index,
// the account store and `imgpipe reindex` share. It keeps a position per
// partition in cf::positions (written by the caller in the same atomic write
// as each record's effect), reads from there, knows the high watermarks it
// must reach to be "caught up", and applies each record through a callback,
// in order within each partition.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "storage/bus.h"
#include "storage/db.h"

namespace imgpipe::storage {

// Next offset per partition stored under `name` in cf::positions.
std::map<int32_t, int64_t> stored_positions(Db& db, std::string_view name);

class TopicFollower {
 public:
  // Applies one record. Write `position` in the same atomic Db::write as the
  // record's effect: after a crash the record is then neither lost nor
  // applied twice. Throw schemas::Error to skip a record that cannot be
  // applied (logged; its position is then written alone, so it is not read again).
  using Apply = std::function<void(const BusMessage& record, WriteOp position)>;
  // Runs on the following thread after every poll, whether a record came or not.
  using OnPoll = std::function<void(const TopicFollower&)>;

  struct Options {
    std::string topic;
    // This follower's key in cf::positions: one name per topic a Db follows.
    std::string positions_name;
    // How long one poll waits, so how often on_poll runs when the topic is quiet.
    std::chrono::milliseconds poll_timeout{100};
    OnPoll on_poll;
  };

  TopicFollower(Bus& bus, Db& db, Options options, Apply apply);
  ~TopicFollower();  // stop()
  TopicFollower(const TopicFollower&) = delete;
  TopicFollower& operator=(const TopicFollower&) = delete;

  // Reads the stored positions and the topic's high watermarks, then follows
  // on a thread of its own until stop(). Poll failures are logged and retried.
  void start();
  void stop();

  // Follows on the calling thread until caught up (true), or until no record
  // arrived for `idle_timeout` while a partition was still behind (false).
  // Poll failures are thrown to the caller.
  bool catch_up(std::chrono::milliseconds idle_timeout);

  // Every record that was on the topic when following began has been applied.
  bool caught_up() const { return caught_up_; }
  // Waits for caught_up(); false when `timeout` passed first.
  bool wait_caught_up(std::chrono::milliseconds timeout);

  // Counts since following began.
  int64_t applied() const { return applied_; }
  int64_t skipped() const { return skipped_; }
  // Records between the stored positions and the high watermarks when following began.
  int64_t behind_at_start() const { return behind_at_start_; }

  std::map<int32_t, int64_t> positions() const { return stored_positions(db_, options_.positions_name); }
  // Forget the positions: the next start() or catch_up() reads from the beginning (reindex).
  void forget_positions();

 private:
  void open();
  bool step();  // one poll; true when a record came
  void run();
  void note_applied(const BusMessage& record);
  WriteOp position_of(const BusMessage& record) const;

  Bus& bus_;
  Db& db_;
  const Options options_;
  const Apply apply_;
  const std::string positions_prefix_;
  std::unique_ptr<BusConsumer> reader_;
  std::map<int32_t, int64_t> target_;  // partition -> high watermark still to reach; following thread only
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<bool> caught_up_{false};
  std::atomic<int64_t> applied_{0}, skipped_{0}, behind_at_start_{0};
  std::mutex mu_;
  std::condition_variable changed_;  // caught up, or stopping
};

}  // namespace imgpipe::storage
