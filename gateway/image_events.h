#pragma once
// Follows the images topic: applies every event to this gateway's index and
// hands `ready`/`failed` to the requests waiting for them.

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "schemas/messages.h"
#include "storage/bus.h"
#include "storage/image_index.h"
#include "storage/topic_follower.h"

namespace imgpipe::gateway {

// Called once: with the outcome event, or nullopt when the deadline passed.
using OutcomeCallback = std::function<void(std::optional<schemas::ImageEvent>)>;

class ImageEventFollower {
 public:
  ImageEventFollower(storage::Bus& bus, storage::ImageIndex& index);
  ~ImageEventFollower();

  void start();
  void stop();

  // Register before publishing the job, so the outcome cannot be missed.
  // `request_id` set: waits for that request's own event of any type (an
  // update or delete applied here), not for the job's ready/failed.
  void await(const std::string& image_id, std::chrono::steady_clock::time_point deadline, OutcomeCallback done,
             std::string request_id = {});
  size_t waiting() const;
  // Shutdown: every wait, present and future, ends by `until` at the latest
  // (then its request gets 503 with Retry-After), so the HTTP drain can
  // still write the answer instead of cutting the connection.
  void cap_deadlines(std::chrono::steady_clock::time_point until);

  // Sees every event just before the index applies it (usage accounting and
  // the collection of a deleted image's files, late ones included).
  // Set before start().
  void set_observer(std::function<void(const schemas::ImageEvent&)> observer) { observer_ = std::move(observer); }

  // The index has applied everything that was on the topic when we started.
  bool caught_up() const { return follower_.caught_up(); }
  int64_t applied() const { return follower_.applied(); }

 private:
  void apply(const storage::BusMessage& message, storage::WriteOp position);
  void expire_waiters();
  void deliver(const schemas::ImageEvent& event);

  struct Waiter {
    std::chrono::steady_clock::time_point deadline;
    OutcomeCallback done;
    std::chrono::steady_clock::time_point since;
    std::string request_id;
  };
  // While requests have waited long, checks that the bus still answers; if
  // it does not, they get their 503 now instead of at their deadline.
  void probe_bus_for_stale_waiters();
  std::chrono::steady_clock::time_point last_probe_{};

  storage::Bus& bus_;
  storage::ImageIndex& index_;
  mutable std::mutex mutex_;
  std::multimap<std::string, Waiter> waiters_;
  std::optional<std::chrono::steady_clock::time_point> deadline_cap_;  // cap_deadlines()
  std::function<void(const schemas::ImageEvent&)> observer_;
  storage::TopicFollower follower_;  // last: its thread uses the members above
};

}  // namespace imgpipe::gateway
