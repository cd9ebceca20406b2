#include "storage/topic_follower.h"

#include <algorithm>
#include <vector>

#include "schemas/errors.h"
#include "schemas/log.h"

namespace imgpipe::storage {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::map<int32_t, int64_t> stored_positions(Db& db, std::string_view name) {
  const std::string prefix = std::string(name) + '\0';
  std::map<int32_t, int64_t> out;
  db.scan(cf::positions, prefix, [&](std::string_view key, std::string_view value) {
    out[static_cast<int32_t>(read_be32(key.substr(prefix.size())))] = static_cast<int64_t>(read_be64(value));
    return true;
  });
  return out;
}

TopicFollower::TopicFollower(Bus& bus, Db& db, Options options, Apply apply)
    : bus_(bus),
      db_(db),
      options_(std::move(options)),
      apply_(std::move(apply)),
      positions_prefix_(options_.positions_name + '\0') {}

TopicFollower::~TopicFollower() { stop(); }

void TopicFollower::forget_positions() {
  std::vector<WriteOp> batch;
  db_.scan(cf::positions, positions_prefix_, [&](std::string_view key, std::string_view) {
    batch.push_back({WriteOp::Kind::remove, cf::positions, std::string(key), ""});
    return true;
  });
  if (!batch.empty()) db_.write(batch, true);
}

WriteOp TopicFollower::position_of(const BusMessage& record) const {
  return {WriteOp::Kind::put, cf::positions, positions_prefix_ + be32(static_cast<uint32_t>(record.partition)),
          be64(static_cast<uint64_t>(record.offset + 1))};
}

void TopicFollower::open() {
  auto from = positions();
  // The target is the high watermark of each partition as it is now; a
  // partition whose stored position (or first retained offset) is already
  // there has nothing to catch up.
  target_.clear();
  int64_t behind = 0;
  for (const auto& p : bus_.describe(options_.topic, "")) {
    const auto it = from.find(p.partition);
    const int64_t next = std::max(it == from.end() ? 0 : it->second, p.low);
    if (next < p.high) {
      target_[p.partition] = p.high;
      behind += p.high - next;
    }
  }
  applied_ = 0;
  skipped_ = 0;
  behind_at_start_ = behind;
  log::info("follower_catch_up",
            {{"topic", options_.topic}, {"partitions_behind", target_.size()}, {"records_behind", behind}});
  reader_ = bus_.read(options_.topic, StartAt::from_offsets(std::move(from)));
  if (target_.empty()) {
    std::lock_guard lock(mu_);
    caught_up_ = true;
  } else {
    caught_up_ = false;
  }
  changed_.notify_all();
}

bool TopicFollower::step() {
  auto record = reader_->poll(options_.poll_timeout);
  if (!record) return false;
  try {
    apply_(*record, position_of(*record));
    ++applied_;
  } catch (const schemas::Error& e) {
    ++skipped_;
    log::error("follower_record_skipped", {{"topic", options_.topic},
                                           {"partition", record->partition},
                                           {"offset", record->offset},
                                           {"error", e.what()}});
    db_.write({position_of(*record)}, false);
  }
  note_applied(*record);
  return true;
}

void TopicFollower::note_applied(const BusMessage& record) {
  if (caught_up_) return;
  auto it = target_.find(record.partition);
  if (it != target_.end() && record.offset + 1 >= it->second) target_.erase(it);
  if (!target_.empty()) return;
  {
    std::lock_guard lock(mu_);
    caught_up_ = true;
  }
  changed_.notify_all();
  log::info("follower_caught_up", {{"topic", options_.topic}, {"applied", applied_.load()}, {"skipped", skipped_.load()}});
}

void TopicFollower::start() {
  if (running_.exchange(true)) return;
  try {
    open();
  } catch (...) {
    running_ = false;
    throw;
  }
  thread_ = std::thread([this] { run(); });
}

void TopicFollower::run() {
  while (running_) {
    try {
      step();
    } catch (const std::exception& e) {
      log::warn("follower_poll_failed", {{"topic", options_.topic}, {"error", e.what()}});
      std::unique_lock lock(mu_);
      changed_.wait_for(lock, 500ms, [this] { return !running_; });  // the bus may come back
    }
    if (options_.on_poll) options_.on_poll(*this);
  }
}

void TopicFollower::stop() {
  {
    std::lock_guard lock(mu_);
    if (!running_.exchange(false)) return;
  }
  changed_.notify_all();
  if (reader_) reader_->close();
  if (thread_.joinable()) thread_.join();
  reader_.reset();
}

bool TopicFollower::catch_up(std::chrono::milliseconds idle_timeout) {
  open();
  auto last_record = Clock::now();
  while (!caught_up_) {
    if (step())
      last_record = Clock::now();
    else if (Clock::now() - last_record >= idle_timeout)
      break;
    if (options_.on_poll) options_.on_poll(*this);
  }
  reader_->close();
  reader_.reset();
  return caught_up_;
}

bool TopicFollower::wait_caught_up(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, timeout, [this] { return caught_up_.load(); });
}

}  // namespace imgpipe::storage
