#pragma once
// The TopicFollower's promises, written once and run on both transports:
// topic_follower_test.cpp (embedded bus, unit) and
// kafka/topic_follower_kafka_test.cpp (a real broker, integration).

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "schemas/errors.h"
#include "storage/bus.h"
#include "storage/db.h"
#include "storage/topic_follower.h"

namespace imgpipe::storage::testing {

using namespace std::chrono_literals;

// A bus and the database the follower keeps its positions in; restart()
// closes both and opens them again on the same folders, as a process restart does.
class FollowerEnv {
 public:
  virtual ~FollowerEnv() = default;
  virtual Bus& bus() = 0;
  virtual Db& db() = 0;
  virtual const std::string& topic() const = 0;
  virtual int partitions() const = 0;
  virtual void restart() = 0;
};

// Records every record the follower applies, with its position written the
// way the real users write theirs: in one atomic write with the effect.
class Recorder {
 public:
  struct Applied {
    int32_t partition;
    int64_t offset;
    std::string value;
    bool caught_up_before;  // what the follower said just before this record
  };

  TopicFollower::Apply apply(Db& db) {
    return [this, &db](const BusMessage& m, WriteOp position) {
      if (m.value.starts_with("bad")) throw schemas::Error(schemas::ErrorCode::bad_request, "a malformed record");
      db.write({{WriteOp::Kind::put, cf::images, "applied/" + m.value, "1"}, std::move(position)}, false);
      std::lock_guard lock(mu_);
      applied_.push_back({m.partition, m.offset, m.value, follower_ && follower_->caught_up()});
      changed_.notify_all();
    };
  }
  void watch(const TopicFollower& f) { follower_ = &f; }

  // Waits until `n` records were applied; false after a generous bound.
  bool wait_for(size_t n) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, 30s, [&] { return applied_.size() >= n; });
  }
  std::vector<Applied> applied() {
    std::lock_guard lock(mu_);
    return applied_;
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  std::vector<Applied> applied_;
  const TopicFollower* follower_ = nullptr;
};

inline void publish_values(Bus& bus, const std::string& topic, const std::string& base, int n) {
  for (int i = 0; i < n; ++i) bus.publish_sync(topic, base + "-key" + std::to_string(i), base + std::to_string(i), 15s);
}

inline std::set<std::string> values_of(const std::vector<Recorder::Applied>& applied) {
  std::set<std::string> out;
  for (const auto& a : applied) out.insert(a.value);
  return out;
}

inline std::set<std::string> expected_values(const std::string& base, int n) {
  std::set<std::string> out;
  for (int i = 0; i < n; ++i) out.insert(base + std::to_string(i));
  return out;
}

inline TopicFollower::Options options_for(FollowerEnv& env) { return {env.topic(), "test", 50ms, {}}; }

// Caught up only once everything on the topic at start is applied, and not before.
inline void catch_up_waits_for_the_high_watermark(FollowerEnv& env) {
  publish_values(env.bus(), env.topic(), "early", 30);
  Recorder recorder;
  TopicFollower follower(env.bus(), env.db(), options_for(env), recorder.apply(env.db()));
  recorder.watch(follower);
  follower.start();
  ASSERT_TRUE(follower.wait_caught_up(60s));
  auto applied = recorder.applied();
  ASSERT_EQ(applied.size(), 30u);
  EXPECT_EQ(values_of(applied), expected_values("early", 30));
  for (const auto& a : applied) EXPECT_FALSE(a.caught_up_before) << a.value << " came after the signal";
  EXPECT_EQ(follower.behind_at_start(), 30);

  // Records published later are applied too; the signal stays up.
  publish_values(env.bus(), env.topic(), "late", 5);
  ASSERT_TRUE(recorder.wait_for(35));
  EXPECT_TRUE(follower.caught_up());
  follower.stop();  // the count is raised after the callback returns
  EXPECT_EQ(follower.applied(), 35);
}

// An empty topic: caught up at once.
inline void empty_topic_is_caught_up_at_start(FollowerEnv& env) {
  Recorder recorder;
  TopicFollower follower(env.bus(), env.db(), options_for(env), recorder.apply(env.db()));
  follower.start();
  EXPECT_TRUE(follower.caught_up());
  EXPECT_EQ(follower.behind_at_start(), 0);
}

// Every record once; within a partition, in offset order with no gap.
inline void each_record_once_in_partition_order(FollowerEnv& env) {
  publish_values(env.bus(), env.topic(), "v", 60);
  Recorder recorder;
  TopicFollower follower(env.bus(), env.db(), options_for(env), recorder.apply(env.db()));
  follower.start();
  ASSERT_TRUE(follower.wait_caught_up(60s));
  auto applied = recorder.applied();
  ASSERT_EQ(applied.size(), 60u);
  EXPECT_EQ(values_of(applied), expected_values("v", 60));
  std::map<int32_t, int64_t> next;
  for (const auto& a : applied) {
    EXPECT_EQ(a.offset, next[a.partition]) << "partition " << a.partition;
    next[a.partition] = a.offset + 1;
  }
  if (env.partitions() > 1) {
    EXPECT_GT(next.size(), 1u) << "the keys should spread over partitions";
  }
  EXPECT_EQ(follower.positions(), next);
  for (const auto& v : expected_values("v", 60)) EXPECT_TRUE(env.db().get(cf::images, "applied/" + v));
}

// After a restart the follower resumes from its stored positions: nothing
// applied twice, nothing lost; a malformed record is skipped once, not re-read.
inline void positions_resume_after_restart(FollowerEnv& env) {
  publish_values(env.bus(), env.topic(), "first", 20);
  env.bus().publish_sync(env.topic(), "bad-key", "bad-record", 15s);
  {
    Recorder recorder;
    TopicFollower follower(env.bus(), env.db(), options_for(env), recorder.apply(env.db()));
    follower.start();
    ASSERT_TRUE(follower.wait_caught_up(60s));
    EXPECT_EQ(follower.applied(), 20);
    EXPECT_EQ(follower.skipped(), 1);
  }
  env.restart();
  publish_values(env.bus(), env.topic(), "second", 10);
  Recorder recorder;
  TopicFollower follower(env.bus(), env.db(), options_for(env), recorder.apply(env.db()));
  follower.start();
  EXPECT_EQ(follower.behind_at_start(), 10);
  ASSERT_TRUE(follower.wait_caught_up(60s));
  EXPECT_EQ(values_of(recorder.applied()), expected_values("second", 10));
  EXPECT_EQ(recorder.applied().size(), 10u);
  EXPECT_EQ(follower.skipped(), 0);

  // forget_positions(): the next catch-up reads everything again.
  follower.stop();
  follower.forget_positions();
  EXPECT_TRUE(follower.positions().empty());
  Recorder again;
  TopicFollower from_start(env.bus(), env.db(), options_for(env), again.apply(env.db()));
  ASSERT_TRUE(from_start.catch_up(30s));
  EXPECT_EQ(from_start.applied(), 30);
  EXPECT_EQ(from_start.skipped(), 1);
}

// catch_up() on the calling thread returns true at the high watermark.
inline void catch_up_on_the_calling_thread(FollowerEnv& env) {
  publish_values(env.bus(), env.topic(), "x", 12);
  Recorder recorder;
  int polls = 0;
  auto options = options_for(env);
  options.on_poll = [&](const TopicFollower&) { ++polls; };
  TopicFollower follower(env.bus(), env.db(), options, recorder.apply(env.db()));
  ASSERT_TRUE(follower.catch_up(30s));
  EXPECT_EQ(values_of(recorder.applied()), expected_values("x", 12));
  EXPECT_GE(polls, 12);
}

// A bus that describes the real topic but whose readers receive nothing, as
// when the transport stops delivering: the reader follows an empty topic.
class SilentReaderBus final : public Bus {
 public:
  SilentReaderBus(Bus& inner, std::string empty_topic) : inner_(inner), empty_topic_(std::move(empty_topic)) {}
  void publish(const std::string& t, std::string k, std::string v, PublishDone d) override {
    inner_.publish(t, std::move(k), std::move(v), std::move(d));
  }
  std::unique_ptr<BusConsumer> subscribe(const std::string& g, const std::vector<std::string>& t) override {
    return inner_.subscribe(g, t);
  }
  std::unique_ptr<BusConsumer> read(const std::string&, const StartAt& from) override {
    return inner_.read(empty_topic_, from);
  }
  std::vector<PartitionState> describe(const std::string& t, const std::string& g) override {
    return inner_.describe(t, g);
  }
  std::string kind() const override { return inner_.kind(); }

 private:
  Bus& inner_;
  std::string empty_topic_;
};

// No record for the idle timeout while behind: catch_up() gives up and says so.
inline void idle_timeout_gives_up(FollowerEnv& env, const std::string& empty_topic) {
  publish_values(env.bus(), env.topic(), "never", 3);
  SilentReaderBus silent(env.bus(), empty_topic);
  Recorder recorder;
  TopicFollower follower(silent, env.db(), options_for(env), recorder.apply(env.db()));
  EXPECT_FALSE(follower.catch_up(300ms));
  EXPECT_FALSE(follower.caught_up());
  EXPECT_EQ(follower.behind_at_start(), 3);
  EXPECT_TRUE(recorder.applied().empty());
  EXPECT_TRUE(follower.positions().empty());
}

}  // namespace imgpipe::storage::testing
