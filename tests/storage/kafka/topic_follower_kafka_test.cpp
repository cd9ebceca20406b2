// The TopicFollower on a real broker (IMGPIPE_TEST_KAFKA): the same
// scenarios as the embedded bus, positions in a real RocksDB.
#include "storage/topic_follower.h"

#include <gtest/gtest.h>

#include "storage/kafka/kafka_bus.h"
#include "tests/storage/kafka/kafka_test_env.h"
#include "tests/storage/temp_dir.h"
#include "tests/storage/topic_follower_scenarios.h"

namespace imgpipe::storage::testing {
namespace {

class KafkaEnv final : public FollowerEnv {
 public:
  KafkaEnv() : topic_(kafka::test::fresh_topic("imgpipe.follower", 3)) { open(); }
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
    bus_ = kafka::make_kafka_bus({kafka::test::broker(), {}, "imgpipe-test"});
  }
  TempDir dir_;
  const std::string topic_;
  std::unique_ptr<Db> db_;
  std::unique_ptr<Bus> bus_;
};

TEST(KafkaTopicFollower, CatchUpWaitsForTheHighWatermark) {
  IMGPIPE_REQUIRE_KAFKA();
  KafkaEnv env;
  catch_up_waits_for_the_high_watermark(env);
}

TEST(KafkaTopicFollower, EmptyTopicIsCaughtUpAtStart) {
  IMGPIPE_REQUIRE_KAFKA();
  KafkaEnv env;
  empty_topic_is_caught_up_at_start(env);
}

TEST(KafkaTopicFollower, EachRecordOnceInPartitionOrder) {
  IMGPIPE_REQUIRE_KAFKA();
  KafkaEnv env;
  each_record_once_in_partition_order(env);
}

TEST(KafkaTopicFollower, PositionsResumeAfterRestart) {
  IMGPIPE_REQUIRE_KAFKA();
  KafkaEnv env;
  positions_resume_after_restart(env);
}

TEST(KafkaTopicFollower, CatchUpOnTheCallingThread) {
  IMGPIPE_REQUIRE_KAFKA();
  KafkaEnv env;
  catch_up_on_the_calling_thread(env);
}

TEST(KafkaTopicFollower, IdleTimeoutGivesUp) {
  IMGPIPE_REQUIRE_KAFKA();
  KafkaEnv env;
  idle_timeout_gives_up(env, kafka::test::fresh_topic("imgpipe.follower-empty", 3));
}

}  // namespace
}  // namespace imgpipe::storage::testing
