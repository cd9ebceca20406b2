// The TopicFollower on the embedded bus: a real RocksDB in a temp folder.
#include "storage/topic_follower.h"

#include <gtest/gtest.h>

#include "storage/embedded_bus.h"
#include "tests/storage/temp_dir.h"
#include "tests/storage/topic_follower_scenarios.h"

namespace imgpipe::storage::testing {
namespace {

class EmbeddedEnv final : public FollowerEnv {
 public:
  EmbeddedEnv() { open(); }
  Bus& bus() override { return *bus_; }
  Db& db() override { return *db_; }
  const std::string& topic() const override { return topic_; }
  int partitions() const override { return 3; }
  void restart() override {
    bus_.reset();
    db_.reset();
    open();
  }

 private:
  void open() {
    db_ = Db::open(dir_.path() / "index");
    bus_ = make_embedded_bus(*db_, {partitions()});
  }
  TempDir dir_;
  const std::string topic_ = "t.follower";
  std::unique_ptr<Db> db_;
  std::unique_ptr<Bus> bus_;
};

TEST(TopicFollower, CatchUpWaitsForTheHighWatermark) {
  EmbeddedEnv env;
  catch_up_waits_for_the_high_watermark(env);
}

TEST(TopicFollower, EmptyTopicIsCaughtUpAtStart) {
  EmbeddedEnv env;
  empty_topic_is_caught_up_at_start(env);
}

TEST(TopicFollower, EachRecordOnceInPartitionOrder) {
  EmbeddedEnv env;
  each_record_once_in_partition_order(env);
}

TEST(TopicFollower, PositionsResumeAfterRestart) {
  EmbeddedEnv env;
  positions_resume_after_restart(env);
}

TEST(TopicFollower, CatchUpOnTheCallingThread) {
  EmbeddedEnv env;
  catch_up_on_the_calling_thread(env);
}

TEST(TopicFollower, IdleTimeoutGivesUp) {
  EmbeddedEnv env;
  idle_timeout_gives_up(env, "t.empty");
}

}  // namespace
}  // namespace imgpipe::storage::testing
