#include "storage/embedded_bus.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "storage/partition_key.h"
#include "tests/storage/temp_dir.h"
#include "tests/storage/thread_state.h"

namespace imgpipe::storage {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* topic = "t.events";

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void publish(Bus& bus, const std::string& key, const std::string& value) {
  bus.publish_sync(topic, key, value, 10s);
}

// Polls until `n` messages arrived or nothing more comes for a while.
std::vector<BusMessage> drain(BusConsumer& c, size_t n, std::chrono::milliseconds quiet = 200ms) {
  std::vector<BusMessage> out;
  while (out.size() < n) {
    auto m = c.poll(quiet);
    if (!m) break;
    out.push_back(std::move(*m));
  }
  return out;
}

struct Fixture {
  testing::TempDir dir;
  std::unique_ptr<Db> db;
  std::unique_ptr<Bus> bus;
  explicit Fixture(int partitions = 1) { open(partitions); }
  void open(int partitions = 1) {
    db = Db::open(dir.path() / "index");
    bus = make_embedded_bus(*db, {partitions});
  }
  // What a crash leaves: only what reached the disk.
  void reopen(int partitions = 1) {
    bus.reset();
    db.reset();
    open(partitions);
  }
};

TEST(EmbeddedBus, SubscriberReceivesInOrderWithOffsets) {
  Fixture f;
  EXPECT_EQ(f.bus->kind(), "embedded");
  for (int i = 0; i < 10; ++i) publish(*f.bus, "k" + std::to_string(i), "v" + std::to_string(i));
  auto c = f.bus->subscribe("g", {topic});
  EXPECT_EQ(c->assignment(topic), std::vector<int32_t>{0});
  auto got = drain(*c, 10);
  ASSERT_EQ(got.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(got[i].topic, topic);
    EXPECT_EQ(got[i].partition, 0);
    EXPECT_EQ(got[i].offset, i);
    EXPECT_EQ(got[i].key, "k" + std::to_string(i));
    EXPECT_EQ(got[i].value, "v" + std::to_string(i));
    EXPECT_GT(got[i].timestamp_ms, 0);
  }
  EXPECT_FALSE(c->poll(20ms));

  // A message published while polling wakes the poller.
  std::thread later([&] {
    std::this_thread::sleep_for(50ms);
    publish(*f.bus, "k10", "v10");
  });
  auto m = c->poll(5s);
  later.join();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->offset, 10);
}

TEST(EmbeddedBus, CommitSurvivesReopenAndUncommittedIsRedelivered) {
  Fixture f;
  for (int i = 0; i < 10; ++i) publish(*f.bus, "k", std::to_string(i));
  {
    auto c = f.bus->subscribe("workers", {topic});
    ASSERT_EQ(drain(*c, 10).size(), 10u);
    c->commit(topic, 0, 6);  // 6..9 were delivered but not done
  }
  f.reopen();

  auto states = f.bus->describe(topic, "workers");
  ASSERT_EQ(states.size(), 1u);
  EXPECT_EQ(states[0].low, 0);
  EXPECT_EQ(states[0].high, 10);
  EXPECT_EQ(states[0].committed, 6);
  EXPECT_EQ(f.bus->describe(topic, "other")[0].committed, -1);

  auto c = f.bus->subscribe("workers", {topic});
  auto got = drain(*c, 10);
  ASSERT_EQ(got.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(got[i].offset, 6 + i);
  EXPECT_EQ(got[0].value, "6");

  // Offsets continue after the recovered end.
  publish(*f.bus, "k", "10");
  auto m = c->poll(5s);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->offset, 10);

  // Another group starts from the beginning.
  auto other = f.bus->subscribe("indexer", {topic});
  EXPECT_EQ(drain(*other, 100).size(), 11u);
}

TEST(EmbeddedBus, ReadFromOffsetsTimeAndEnd) {
  Fixture f;
  for (int i = 0; i < 5; ++i) publish(*f.bus, "k", std::to_string(i));
  std::this_thread::sleep_for(20ms);
  const int64_t t = now_ms();
  for (int i = 5; i < 10; ++i) publish(*f.bus, "k", std::to_string(i));

  auto from_start = f.bus->read(topic, StartAt::from_beginning());
  EXPECT_EQ(drain(*from_start, 100, 50ms).size(), 10u);

  auto from_offset = f.bus->read(topic, StartAt::from_offsets({{0, 3}}));
  auto got = drain(*from_offset, 100, 50ms);
  ASSERT_EQ(got.size(), 7u);
  EXPECT_EQ(got.front().offset, 3);

  auto from_time = f.bus->read(topic, StartAt::from_time(t));
  got = drain(*from_time, 100, 50ms);
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got.front().offset, 5);
  EXPECT_GE(got.front().timestamp_ms, t);

  auto from_future = f.bus->read(topic, StartAt::from_time(now_ms() + 60'000));
  EXPECT_FALSE(from_future->poll(20ms));

  auto from_end = f.bus->read(topic, StartAt::from_end());
  EXPECT_EQ(from_end->assignment(topic), std::vector<int32_t>{0});
  EXPECT_FALSE(from_end->poll(20ms));
  publish(*f.bus, "k", "10");
  auto m = from_end->poll(5s);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->offset, 10);
  from_end->commit(topic, 0, 11);  // readers do not commit
  EXPECT_EQ(f.bus->describe(topic, "")[0].committed, -1);
}

TEST(EmbeddedBus, GroupMembersSplitPartitions) {
  Fixture f(4);
  auto a = f.bus->subscribe("g", {topic});
  auto b = f.bus->subscribe("g", {topic});
  auto pa = a->assignment(topic);
  auto pb = b->assignment(topic);
  EXPECT_EQ(pa.size(), 2u);
  EXPECT_EQ(pb.size(), 2u);
  std::set<int32_t> all(pa.begin(), pa.end());
  all.insert(pb.begin(), pb.end());
  EXPECT_EQ(all, (std::set<int32_t>{0, 1, 2, 3}));

  constexpr int n = 400;
  for (int i = 0; i < n; ++i) publish(*f.bus, "key-" + std::to_string(i), std::to_string(i));

  std::vector<BusMessage> got_a, got_b;
  std::thread ta([&] { got_a = drain(*a, n, 300ms); });
  std::thread tb([&] { got_b = drain(*b, n, 300ms); });
  ta.join();
  tb.join();
  EXPECT_FALSE(got_a.empty());
  EXPECT_FALSE(got_b.empty());
  std::set<std::string> values;
  for (const auto& m : got_a) {
    EXPECT_NE(std::find(pa.begin(), pa.end(), m.partition), pa.end());
    EXPECT_TRUE(values.insert(m.value).second) << "delivered twice: " << m.value;
  }
  for (const auto& m : got_b) {
    EXPECT_NE(std::find(pb.begin(), pb.end(), m.partition), pb.end());
    EXPECT_TRUE(values.insert(m.value).second) << "delivered twice: " << m.value;
  }
  EXPECT_EQ(values.size(), static_cast<size_t>(n));

  // The same key always lands in the same partition.
  std::map<std::string, int32_t> partition_of;
  for (const auto& m : got_a) partition_of[m.key] = m.partition;
  for (const auto& m : got_b) partition_of[m.key] = m.partition;
  publish(*f.bus, "key-7", "again");

  // b leaves without committing: a takes every partition and gets b's
  // messages again from the group's committed offset (none: the beginning).
  b->close();
  EXPECT_EQ(a->assignment(topic), (std::vector<int32_t>{0, 1, 2, 3}));
  auto redelivered = drain(*a, n, 300ms);
  EXPECT_EQ(redelivered.size(), got_b.size() + 1);
  for (const auto& m : redelivered) {
    if (m.value == "again") {
      EXPECT_EQ(m.partition, partition_of["key-7"]);
    }
  }
}

// Kafka's murmur2, checked against the Java client's own test values
// (clients/src/test/.../UtilsTest.java testMurmur2), so a key lands in the
// partition any Kafka client would choose.
TEST(PartitionKey, Murmur2IsKafkasAndTheIdChoosesThePartition) {
  const std::pair<std::string, int32_t> java[] = {{"21", -973932308},
                                                  {"foobar", -790332482},
                                                  {"a-little-bit-long-string", -985981536},
                                                  {"a-little-bit-longer-string", -1486304829},
                                                  {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
                                                  {"abc", 479470107}};
  for (const auto& [key, hash] : java) EXPECT_EQ(static_cast<int32_t>(murmur2(key)), hash) << key;
  EXPECT_EQ(partition_part("img1#variants"), "img1");
  EXPECT_EQ(partition_part("img1"), "img1");
  for (int i = 0; i < 64; ++i) {
    const auto id = "img" + std::to_string(i);
    EXPECT_EQ(partition_for(id + "#variants", 7), partition_for(id, 7));
    EXPECT_EQ(partition_for(id, 7), static_cast<int32_t>((murmur2(id) & 0x7fffffff) % 7));
  }
}

TEST(EmbeddedBus, AKeysPartitionPartChoosesItsPartition) {
  Fixture f(4);
  for (int i = 0; i < 16; ++i) {
    publish(*f.bus, "img" + std::to_string(i), "ready");
    publish(*f.bus, "img" + std::to_string(i) + "#variants", "variants");
  }
  auto all = drain(*f.bus->read(topic, StartAt::from_beginning()), 32);
  ASSERT_EQ(all.size(), 32u);
  std::set<int32_t> used;
  for (const auto& m : all) {
    EXPECT_EQ(m.partition, partition_for(m.key, 4)) << m.key;
    used.insert(m.partition);
  }
  EXPECT_GT(used.size(), 1u);
}

// The gateway publishes an image's `accepted` event and its job without
// waiting in between on this bus (gateway/ingest_client.cpp): that is safe
// only because a publish is never durable before an earlier one.
TEST(EmbeddedBus, PublishesAreDurableInOrderAcrossTopics) {
  Fixture f(4);
  EXPECT_TRUE(f.bus->durable_in_order());
  std::mutex mu;
  std::vector<std::string> acked;
  std::promise<void> last;
  constexpr int n = 200;
  for (int i = 0; i < n; ++i) {
    const std::string t = i % 2 ? "t.jobs" : "t.events";
    f.bus->publish(t, "k" + std::to_string(i), std::to_string(i), [&, i](std::optional<schemas::Error> err) {
      EXPECT_FALSE(err);
      std::lock_guard lock(mu);
      acked.push_back(std::to_string(i));
      if (i == n - 1) last.set_value();
    });
  }
  last.get_future().wait();
  ASSERT_EQ(acked.size(), static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) EXPECT_EQ(acked[static_cast<size_t>(i)], std::to_string(i)) << "acknowledged out of order";
  EXPECT_EQ(drain(*f.bus->read("t.events", StartAt::from_beginning()), n / 2).size(), static_cast<size_t>(n / 2));
}

TEST(EmbeddedBus, OnePartitionGoesToTheFirstMember) {
  Fixture f(1);
  auto a = f.bus->subscribe("g", {topic});
  auto b = f.bus->subscribe("g", {topic});
  EXPECT_EQ(a->assignment(topic), std::vector<int32_t>{0});
  EXPECT_TRUE(b->assignment(topic).empty());
  publish(*f.bus, "k", "v");
  EXPECT_FALSE(b->poll(50ms));
  EXPECT_TRUE(a->poll(1s));
  a.reset();  // leaving hands the partition over
  EXPECT_EQ(b->assignment(topic), std::vector<int32_t>{0});
}

TEST(EmbeddedBus, ConcurrentPublishesAreAllAcknowledgedOnce) {
  Fixture f;
  constexpr int threads = 8, per_thread = 125, total = threads * per_thread;
  std::mutex mu;
  std::condition_variable cv;
  int acked = 0, failed = 0;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i)
        f.bus->publish(topic, "k" + std::to_string(t), std::to_string(t) + "/" + std::to_string(i),
                       [&](std::optional<schemas::Error> err) {
                         std::lock_guard lock(mu);
                         (err ? failed : acked)++;
                         cv.notify_all();
                       });
    });
  for (auto& t : pool) t.join();
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 30s, [&] { return acked + failed == total; }));
    EXPECT_EQ(failed, 0);
  }
  EXPECT_EQ(f.bus->describe(topic, "")[0].high, total);

  f.reopen();  // acknowledged means on disk
  auto r = f.bus->read(topic, StartAt::from_beginning());
  auto got = drain(*r, total + 1, 100ms);
  ASSERT_EQ(got.size(), static_cast<size_t>(total));
  std::set<std::string> values;
  std::map<std::string, int> last_of_thread;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].offset, static_cast<int64_t>(i));
    EXPECT_TRUE(values.insert(got[i].value).second);
    // Each thread's messages keep their order.
    const auto slash = got[i].value.find('/');
    const auto who = got[i].value.substr(0, slash);
    const int seq = std::stoi(got[i].value.substr(slash + 1));
    if (last_of_thread.count(who)) {
      EXPECT_GT(seq, last_of_thread[who]);
    }
    last_of_thread[who] = seq;
  }
}

TEST(EmbeddedBus, AnEmptyPollReturnsNothingAtItsTimeout) {
  Fixture f;
  auto c = f.bus->subscribe("g", {topic});
  auto polled = std::async(std::launch::async, [&] { return c->poll(100ms); });
  ASSERT_EQ(polled.wait_for(60s), std::future_status::ready) << "a 100 ms poll never returned";
  EXPECT_FALSE(polled.get());
}

TEST(EmbeddedBus, CloseWakesABlockedPoll) {
  Fixture f;
  auto c = f.bus->subscribe("g", {topic});
  std::optional<BusMessage> result;
  std::atomic<bool> returned{false};
  std::atomic<pid_t> poller_tid{0};
  std::thread poller([&] {
    poller_tid = ::gettid();
    result = c->poll(std::chrono::hours(1));  // only close() can end this poll within the test
    returned = true;
  });
  EXPECT_TRUE(storage::testing::wait_until_sleeping(poller_tid)) << "the poller never blocked";
  EXPECT_FALSE(returned);
  c->close();
  poller.join();
  EXPECT_FALSE(result);
  EXPECT_FALSE(c->poll(1s));  // closed: returns at once
}

TEST(EmbeddedBus, PollAfterShutdownThrows) {
  Fixture f;
  auto c = f.bus->subscribe("g", {topic});
  f.bus.reset();
  try {
    c->poll(10ms);
    FAIL() << "expected an error";
  } catch (const schemas::Error& e) {
    EXPECT_EQ(e.id(), schemas::ErrorCode::service_unavailable);
  }
}

TEST(EmbeddedBus, InvalidTopicIsRejected) {
  Fixture f;
  EXPECT_THROW(f.bus->publish_sync(std::string("bad\0topic", 9), "k", "v", 1s), schemas::Error);
  EXPECT_THROW(f.bus->subscribe("g", {"bad/topic"}), schemas::Error);
}

}  // namespace
}  // namespace imgpipe::storage
