#include "gateway/image_events.h"

#include <algorithm>

#include "schemas/errors.h"
#include "schemas/log.h"

namespace imgpipe::gateway {

using namespace std::chrono_literals;

ImageEventFollower::ImageEventFollower(storage::Bus& bus, storage::ImageIndex& index)
    : bus_(bus),
      index_(index),
      follower_(bus, index.db(),
                {storage::topics::images, storage::ImageIndex::positions_name, 100ms,
                 [this](const storage::TopicFollower&) {
                   expire_waiters();
                   probe_bus_for_stale_waiters();
                 }},
                [this](const storage::BusMessage& message, storage::WriteOp position) {
                  apply(message, std::move(position));
                }) {}

ImageEventFollower::~ImageEventFollower() { stop(); }

void ImageEventFollower::start() { follower_.start(); }

void ImageEventFollower::stop() {
  follower_.stop();
  std::multimap<std::string, Waiter> left;
  {
    std::lock_guard lock(mutex_);
    left.swap(waiters_);
  }
  for (auto& [id, w] : left) w.done(std::nullopt);
}

void ImageEventFollower::await(const std::string& image_id, std::chrono::steady_clock::time_point deadline,
                               OutcomeCallback done, std::string request_id) {
  std::lock_guard lock(mutex_);
  if (deadline_cap_) deadline = std::min(deadline, *deadline_cap_);
  waiters_.emplace(image_id, Waiter{deadline, std::move(done), std::chrono::steady_clock::now(), std::move(request_id)});
}

void ImageEventFollower::cap_deadlines(std::chrono::steady_clock::time_point until) {
  std::lock_guard lock(mutex_);
  deadline_cap_ = until;
  for (auto& [id, w] : waiters_) w.deadline = std::min(w.deadline, until);
}

size_t ImageEventFollower::waiting() const {
  std::lock_guard lock(mutex_);
  return waiters_.size();
}

void ImageEventFollower::apply(const storage::BusMessage& message, storage::WriteOp position) {
  auto event = schemas::decode_image_event(message.value);
  if (observer_) observer_(event);
  index_.apply(event, {std::move(position)});
  deliver(event);
}

void ImageEventFollower::deliver(const schemas::ImageEvent& event) {
  const bool outcome = event.type == "ready" || event.type == "failed";
  std::vector<OutcomeCallback> due;
  {
    std::lock_guard lock(mutex_);
    auto [first, last] = waiters_.equal_range(event.image_id);
    for (auto it = first; it != last;) {
      const auto& want = it->second.request_id;
      if (want.empty() ? outcome : want == event.request_id) {
        due.push_back(std::move(it->second.done));
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& done : due) done(event);
}

void ImageEventFollower::probe_bus_for_stale_waiters() {
  constexpr auto kStale = 5s;  // a healthy pipeline usually answers well before
  auto now = std::chrono::steady_clock::now();
  if (now - last_probe_ < 2s) return;
  last_probe_ = now;
  {
    std::lock_guard lock(mutex_);
    bool stale = std::any_of(waiters_.begin(), waiters_.end(), [&](const auto& w) { return now - w.second.since > kStale; });
    if (!stale) return;
  }
  try {
    bus_.describe(storage::topics::images, "");
    return;  // the bus answers: the jobs are just slow, keep waiting
  } catch (const std::exception& e) {
    log::warn("bus_unreachable_failing_waiters", {{"error", e.what()}});
  }
  std::vector<OutcomeCallback> due;
  {
    std::lock_guard lock(mutex_);
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (now - it->second.since > kStale) {
        due.push_back(std::move(it->second.done));
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& done : due) done(std::nullopt);  // 503 with Retry-After
}

void ImageEventFollower::expire_waiters() {
  std::vector<OutcomeCallback> due;
  auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mutex_);
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (it->second.deadline <= now) {
        due.push_back(std::move(it->second.done));
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& done : due) done(std::nullopt);
}

}  // namespace imgpipe::gateway
