#include "storage/kafka/kafka_bus.h"

#include <future>
#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "storage/partition_key.h"
#include "tests/storage/thread_state.h"
#include "tests/storage/kafka/kafka_test_env.h"

namespace imgpipe::storage::kafka {
namespace {

using namespace std::chrono_literals;
using test::broker;
using Clock = std::chrono::steady_clock;

std::unique_ptr<Bus> bus_for_tests() { return make_kafka_bus({broker(), {}, "imgpipe-test"}); }

// Polls until `n` messages arrived or `limit` passed.
std::vector<BusMessage> drain(BusConsumer& c, std::size_t n, std::chrono::milliseconds limit = 20s) {
  std::vector<BusMessage> out;
  const auto deadline = Clock::now() + limit;
  while (out.size() < n && Clock::now() < deadline)
    if (auto m = c.poll(200ms)) out.push_back(std::move(*m));
  return out;
}

// Publishes key<i>/value<i> for i in [from, to) and waits for every ack.
void publish_range(Bus& bus, const std::string& topic, int from, int to) {
  for (int i = from; i < to; ++i)
    bus.publish_sync(topic, "key" + std::to_string(i), "value" + std::to_string(i), 15s);
}

std::set<std::string> values(const std::vector<BusMessage>& ms) {
  std::set<std::string> out;
  for (const auto& m : ms) out.insert(m.value);
  return out;
}

std::set<std::string> value_range(int from, int to) {
  std::set<std::string> out;
  for (int i = from; i < to; ++i) out.insert("value" + std::to_string(i));
  return out;
}

TEST(KafkaBus, KindIsKafka) {
  // No broker needed: the client connects lazily.
  EXPECT_EQ(make_kafka_bus({"127.0.0.1:1", {}, "t"})->kind(), "kafka");
}

TEST(KafkaBus, UnknownPropertyIsAnOperatorError) {
  EXPECT_THROW(make_kafka_bus({"127.0.0.1:1", {{"no.such.property", "1"}}, "t"}), std::invalid_argument);
  EXPECT_THROW(make_kafka_bus({"", {}, "t"}), std::invalid_argument);
}

TEST(KafkaBus, PublishIsAcknowledgedAndReadableFromBeginningOffsetsAndTime) {
  IMGPIPE_REQUIRE_KAFKA();
  auto bus = bus_for_tests();
  const auto topic = test::fresh_topic("imgpipe.ingest", 4);

  publish_range(*bus, topic, 0, 20);

  auto all = drain(*bus->read(topic, StartAt::from_beginning()), 20);
  ASSERT_EQ(all.size(), 20u);
  EXPECT_EQ(values(all), value_range(0, 20));
  std::map<int32_t, int64_t> per_partition;
  for (const auto& m : all) {
    EXPECT_EQ(m.topic, topic);
    EXPECT_EQ(m.key, "key" + m.value.substr(5));
    EXPECT_GT(m.timestamp_ms, 0);
    ++per_partition[m.partition];
  }
  EXPECT_GT(per_partition.size(), 1u) << "keys are spread over partitions";

  // The same key always lands in the same partition.
  bus->publish_sync(topic, "key3", "again", 15s);
  auto tail = drain(*bus->read(topic, StartAt::from_beginning()), 21);
  ASSERT_EQ(tail.size(), 21u);
  int32_t key3_partition = -1, again_partition = -2;
  for (const auto& m : tail) {
    if (m.value == "value3") key3_partition = m.partition;
    if (m.value == "again") again_partition = m.partition;
  }
  EXPECT_EQ(key3_partition, again_partition);

  // From offsets: skip the first message of every partition (missing
  // partitions start at the beginning, so name all of them).
  std::map<int32_t, int64_t> from_one;
  for (int32_t p = 0; p < 4; ++p) from_one[p] = 1;
  std::size_t nonempty = 0;
  for (const auto& s : bus->describe(topic, "")) nonempty += s.high > 0 ? 1 : 0;
  auto skipped = drain(*bus->read(topic, StartAt::from_offsets(from_one)), 21 - nonempty, 20s);
  EXPECT_EQ(skipped.size(), 21 - nonempty);
  for (const auto& m : skipped) EXPECT_GE(m.offset, 1);

  // From time: only what was published after the instant.
  int64_t newest = 0;
  for (const auto& m : tail) newest = std::max(newest, m.timestamp_ms);
  std::this_thread::sleep_for(20ms);
  publish_range(*bus, topic, 100, 105);
  auto later = drain(*bus->read(topic, StartAt::from_time(newest + 1)), 5);
  EXPECT_EQ(values(later), value_range(100, 105));
  auto reader = bus->read(topic, StartAt::from_time(newest + 1));
  auto later_again = drain(*reader, 6, 2s);
  EXPECT_EQ(later_again.size(), 5u) << "nothing before the instant";

  // From the end: only what comes next.
  auto at_end = bus->read(topic, StartAt::from_end());
  EXPECT_EQ(at_end->assignment(topic), (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_FALSE(at_end->poll(1s).has_value());
  bus->publish_sync(topic, "k", "after-end", 15s);
  auto next = drain(*at_end, 1);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].value, "after-end");
}

// An image's variants event ("id#variants", schemas::event_key) lands in
// the id's partition, after its ready event, in the partition the embedded
// bus would choose (storage/partition_key.h) and Kafka's Java client would
// choose for the id.
TEST(KafkaBus, AKeysPartitionPartChoosesItsPartition) {
  IMGPIPE_REQUIRE_KAFKA();
  auto bus = bus_for_tests();
  const auto topic = test::fresh_topic("imgpipe.images", 4);
  for (int i = 0; i < 16; ++i) {
    bus->publish_sync(topic, "img" + std::to_string(i), "ready" + std::to_string(i), 15s);
    bus->publish_sync(topic, "img" + std::to_string(i) + "#variants", "variants" + std::to_string(i), 15s);
  }
  auto all = drain(*bus->read(topic, StartAt::from_beginning()), 32);
  ASSERT_EQ(all.size(), 32u);
  std::map<std::string, std::pair<int32_t, int64_t>> where;  // value -> partition, offset
  std::set<int32_t> used;
  for (const auto& m : all) {
    where[m.value] = {m.partition, m.offset};
    used.insert(m.partition);
    EXPECT_EQ(m.partition, partition_for(m.key, 4)) << m.key;
  }
  for (int i = 0; i < 16; ++i) {
    const auto ready = where["ready" + std::to_string(i)], variants = where["variants" + std::to_string(i)];
    EXPECT_EQ(ready.first, variants.first) << i;
    EXPECT_LT(ready.second, variants.second) << i;
  }
  EXPECT_GT(used.size(), 1u) << "ids are still spread over partitions";
}

TEST(KafkaBus, GroupMembersSplitPartitionsAndANewMemberResumesAfterTheCommit) {
  IMGPIPE_REQUIRE_KAFKA();
  auto bus = bus_for_tests();
  const auto topic = test::fresh_topic("imgpipe.ingest", 4);
  const auto group = test::unique_name("imgpipe-workers");
  publish_range(*bus, topic, 0, 40);

  auto a = bus->subscribe(group, {topic});
  auto b = bus->subscribe(group, {topic});
  // Each message once per member, the last copy wins (a rebalance may hand a
  // partition over before its messages were committed: they come again).
  std::map<std::string, BusMessage> seen;
  const auto deadline = Clock::now() + 45s;
  while (Clock::now() < deadline) {
    for (auto* c : {a.get(), b.get()})
      if (auto m = c->poll(100ms)) seen[m->value] = *m;
    if (seen.size() == 40 && a->assignment(topic).size() == 2 && b->assignment(topic).size() == 2) break;
  }
  ASSERT_EQ(seen.size(), 40u) << "every message delivered";
  auto pa = a->assignment(topic), pb = b->assignment(topic);
  ASSERT_EQ(pa.size(), 2u);
  ASSERT_EQ(pb.size(), 2u);
  std::set<int32_t> both(pa.begin(), pa.end());
  both.insert(pb.begin(), pb.end());
  EXPECT_EQ(both, (std::set<int32_t>{0, 1, 2, 3}));

  // Commit the first half of every partition, each through its owner.
  std::map<int32_t, std::vector<int64_t>> offsets;
  for (const auto& [v, m] : seen) offsets[m.partition].push_back(m.offset);
  std::map<int32_t, int64_t> committed;
  for (auto& [p, os] : offsets) {
    std::sort(os.begin(), os.end());
    committed[p] = static_cast<int64_t>(os.size() / 2);
    auto* owner = std::find(pa.begin(), pa.end(), p) != pa.end() ? a.get() : b.get();
    owner->commit(topic, p, committed[p]);
  }

  // describe: high watermarks and the group's commits.
  auto states = bus->describe(topic, group);
  ASSERT_EQ(states.size(), 4u);
  for (const auto& s : states) {
    EXPECT_EQ(s.low, 0);
    EXPECT_EQ(s.high, static_cast<int64_t>(offsets[s.partition].size())) << "partition " << s.partition;
    const auto it = committed.find(s.partition);
    EXPECT_EQ(s.committed, it == committed.end() ? -1 : it->second) << "partition " << s.partition;
  }
  auto no_group = bus->describe(topic, "");
  for (const auto& s : no_group) EXPECT_EQ(s.committed, -1);

  a->close();
  b->close();
  EXPECT_FALSE(a->poll(100ms).has_value()) << "closed consumers return nothing";

  // A new member resumes after the commit: it gets exactly the uncommitted half.
  std::size_t expected = 0;
  std::set<std::string> want;
  for (const auto& [v, m] : seen)
    if (m.offset >= committed[m.partition]) {
      want.insert(v);
      ++expected;
    }
  auto c = bus->subscribe(group, {topic});
  auto resumed = drain(*c, expected, 30s);
  EXPECT_EQ(values(resumed), want);
  EXPECT_FALSE(c->poll(1s).has_value()) << "nothing before the commit comes again";
}

TEST(KafkaBus, CloseWakesABlockedPoll) {
  IMGPIPE_REQUIRE_KAFKA();
  auto bus = bus_for_tests();
  const auto topic = test::fresh_topic("imgpipe.images", 1);
  auto c = bus->subscribe(test::unique_name("imgpipe-close"), {topic});
  std::atomic<pid_t> poller_tid{0};
  auto polled = std::async(std::launch::async, [&] {
    poller_tid = ::gettid();
    return c->poll(std::chrono::hours(1));
  });
  EXPECT_TRUE(storage::testing::wait_until_sleeping(poller_tid)) << "the poller never blocked";
  c->close();
  ASSERT_EQ(polled.wait_for(60s), std::future_status::ready) << "close() did not wake the poll";
  EXPECT_FALSE(polled.get().has_value());
}

TEST(KafkaBus, PublishToADeadBrokerFailsWithServiceUnavailableWithinTheTimeout) {
  // 127.0.0.1:1: nothing listens, every connection is refused.
  KafkaBusConfig config{"127.0.0.1:1", {}, "imgpipe-test"};
  config.publish_timeout = 2s;
  auto bus = make_kafka_bus(config);

  std::promise<std::optional<schemas::Error>> result;
  bus->publish("imgpipe.ingest", "id", "{}", [&](std::optional<schemas::Error> e) { result.set_value(std::move(e)); });
  auto f = result.get_future();
  ASSERT_EQ(f.wait_for(60s), std::future_status::ready) << "never a hang";
  auto err = f.get();
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->id(), schemas::ErrorCode::service_unavailable);

  try {
    bus->publish_sync("imgpipe.ingest", "id", "{}", 10s);
    ADD_FAILURE() << "publish_sync returned";
  } catch (const schemas::Error& e) {
    EXPECT_EQ(e.id(), schemas::ErrorCode::service_unavailable);
  }

  // Destroying the bus with a publish in flight fails it, once, and returns.
  std::promise<std::optional<schemas::Error>> pending;
  bus->publish("imgpipe.ingest", "id", "{}", [&](std::optional<schemas::Error> e) { pending.set_value(std::move(e)); });
  bus.reset();  // returns (a hang here is the test's timeout)
  auto late = pending.get_future();
  ASSERT_EQ(late.wait_for(0s), std::future_status::ready);
  ASSERT_TRUE(late.get().has_value());
}

}  // namespace
}  // namespace imgpipe::storage::kafka
