// JobRunner over the real embedded bus (RocksDB in a temp dir): every message
// processed, commits never pass a message still in flight, and whatever was
// not finished when the runner stopped is delivered again.
#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <functional>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "schemas/errors.h"
#include "storage/db.h"
#include "storage/embedded_bus.h"
#include "storage/partition_key.h"
#include "tests/storage/temp_dir.h"
#include "workers/job_runner.h"

using namespace std::chrono_literals;
using namespace imgpipe;

namespace {

constexpr const char* kTopic = "test.jobs";
constexpr const char* kGroup = "runner-test";

void publish_n(storage::Bus& bus, int n, int from = 0) {
  for (int i = from; i < from + n; ++i) bus.publish_sync(kTopic, "k" + std::to_string(i), std::to_string(i), 5s);
}

int64_t committed(storage::Bus& bus) {
  int64_t sum = 0;
  for (const auto& p : bus.describe(kTopic, kGroup)) sum += std::max<int64_t>(p.committed, 0);
  return sum;
}

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 20s) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

// A part waits at the gate until the test opens it. OpenOnExit opens it when
// the test leaves early too (a failed assertion), so the runner's stop()
// never waits forever on a part that waits for the gate.
class Gate {
 public:
  void open() { std::call_once(once_, [this] { promise_.set_value(); }); }
  void wait() const { opened_.wait(); }

 private:
  std::promise<void> promise_;
  std::shared_future<void> opened_ = promise_.get_future().share();
  std::once_flag once_;
};
struct OpenOnExit {
  Gate& gate;
  ~OpenOnExit() { gate.open(); }
};

// The poller has looked at least twice more and found no room: whatever it
// has not taken by now, it left alone on purpose.
bool poller_looked_again(const workers::JobRunner& runner) {
  auto seen = runner.times_full();
  return eventually([&] { return runner.times_full() >= seen + 2; });
}

workers::JobRunnerConfig config(size_t concurrency) {
  workers::JobRunnerConfig c;
  c.group = kGroup;
  c.topic = kTopic;
  c.concurrency = concurrency;
  return c;
}

// Publishes `n` messages whose keys go to `partition` (of `partitions`).
void publish_to(storage::Bus& bus, int32_t partition, int32_t partitions, int n, int& key) {
  for (int sent = 0; sent < n; ++key) {
    auto k = "k" + std::to_string(key);
    if (storage::partition_for(k, partitions) != partition) continue;
    bus.publish_sync(kTopic, k, std::to_string(key), 5s);
    ++sent;
  }
}

storage::PartitionState partition_state(storage::Bus& bus, int32_t partition) {
  for (const auto& p : bus.describe(kTopic, kGroup))
    if (p.partition == partition) return p;
  return {};
}

bool fully_committed(storage::Bus& bus, int32_t partition) {
  auto p = partition_state(bus, partition);
  return p.high > 0 && p.committed == p.high;
}

}  // namespace

// 200 messages (values from `value_of`) over four partitions, jobs of
// uneven length: each processed once, and the commits reach the end.
static void expect_each_once_and_committed(const workers::JobRunnerConfig& c, const std::function<std::string(int)>& value_of) {
  storage::testing::TempDir dir;
  auto db = storage::Db::open(dir.path() / "db");
  auto bus = storage::make_embedded_bus(*db, {4});
  for (int i = 0; i < 200; ++i) bus->publish_sync(kTopic, "k" + std::to_string(i), value_of(i), 5s);
  std::mutex m;
  std::multiset<std::string> seen;
  workers::JobRunner runner(*bus, c, [&](const storage::BusMessage& msg) -> workers::Later {
    std::this_thread::sleep_for(std::chrono::microseconds(std::hash<std::string>{}(msg.value) % 3000));
    std::lock_guard lock(m);
    seen.insert(msg.value);
    return {};
  });
  runner.start();
  ASSERT_TRUE(eventually([&] { return committed(*bus) == 200; })) << "committed " << committed(*bus);
  runner.stop();
  EXPECT_EQ(seen.size(), 200u);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(seen.count(value_of(i)), 1u) << i;
}

TEST(JobRunner, ProcessesEveryMessageOnceAndCommitsToTheEnd) {
  expect_each_once_and_committed(config(6), [](int i) { return std::to_string(i); });
}

TEST(JobRunner, NeverCommitsPastAMessageStillInFlight) {
  storage::testing::TempDir dir;
  auto db = storage::Db::open(dir.path() / "db");
  auto bus = storage::make_embedded_bus(*db, {1});
  publish_n(*bus, 10);
  Gate release;
  std::atomic<int> done{0};
  workers::JobRunner runner(*bus, config(4), [&](const storage::BusMessage& msg) -> workers::Later {
    if (msg.value == "2") release.wait();  // offset 2 is slow
    ++done;
    return {};
  });
  OpenOnExit open_on_exit{release};
  runner.start();
  // Nine finished and accounted for (their commits decided): only 2 in flight.
  ASSERT_TRUE(eventually([&] { return done == 9 && runner.in_flight() == 1; }));
  ASSERT_TRUE(eventually([&] { return committed(*bus) >= 2; }));
  EXPECT_EQ(committed(*bus), 2) << "offsets 0 and 1 are done; 2 is still in flight";
  release.open();
  ASSERT_TRUE(eventually([&] { return committed(*bus) == 10; }));
  runner.stop();
}

TEST(JobRunner, UnfinishedWorkIsDeliveredAgainAfterARestart) {
  storage::testing::TempDir dir;
  std::set<std::string> first_run, second_run;
  {
    auto db = storage::Db::open(dir.path() / "db");
    auto bus = storage::make_embedded_bus(*db, {1});
    publish_n(*bus, 20);
    std::mutex m;
    workers::JobRunner runner(*bus, config(1), [&](const storage::BusMessage& msg) -> workers::Later {
      std::lock_guard lock(m);
      first_run.insert(msg.value);
      return {};
    });
    runner.pause();  // nothing is taken before we look
    runner.start();
    runner.resume();
    ASSERT_TRUE(eventually([&] { return committed(*bus) >= 5; }));
    runner.pause();
    runner.stop();
  }
  {
    auto db = storage::Db::open(dir.path() / "db");
    auto bus = storage::make_embedded_bus(*db, {1});
    auto start_at = committed(*bus);
    std::mutex m;
    workers::JobRunner runner(*bus, config(3), [&](const storage::BusMessage& msg) -> workers::Later {
      std::lock_guard lock(m);
      second_run.insert(msg.value);
      return {};
    });
    runner.start();
    ASSERT_TRUE(eventually([&] { return committed(*bus) == 20; }));
    runner.stop();
    // Everything from the committed offset on came again; nothing before it.
    for (int i = 0; i < 20; ++i) {
      bool expected_again = i >= start_at;
      EXPECT_EQ(second_run.count(std::to_string(i)) == 1, expected_again) << i;
    }
  }
  std::set<std::string> all = first_run;
  all.insert(second_run.begin(), second_run.end());
  EXPECT_EQ(all.size(), 20u) << "nothing lost";
}

TEST(JobRunner, PausedRunnerTakesNothing) {
  storage::testing::TempDir dir;
  auto db = storage::Db::open(dir.path() / "db");
  auto bus = storage::make_embedded_bus(*db, {1});
  std::atomic<int> done{0};
  workers::JobRunner runner(*bus, config(2), [&](const storage::BusMessage&) -> workers::Later {
    ++done;
    return {};
  });
  runner.pause();
  runner.start();
  publish_n(*bus, 5);
  ASSERT_TRUE(poller_looked_again(runner));
  EXPECT_EQ(done, 0);
  runner.resume();
  ASSERT_TRUE(eventually([&] { return done == 5; }));
  runner.stop();
}

// may_take false (the workers' disk is low): messages stay in the topic,
// uncommitted, and are taken once it is true again.
TEST(JobRunner, NoRoomToTakeLeavesMessagesInTheTopic) {
  storage::testing::TempDir dir;
  auto db = storage::Db::open(dir.path() / "db");
  auto bus = storage::make_embedded_bus(*db, {1});
  std::atomic<int> done{0};
  std::atomic<bool> room{false};
  auto c = config(2);
  c.may_take = [&] { return room.load(); };
  workers::JobRunner runner(*bus, c, [&](const storage::BusMessage&) -> workers::Later {
    ++done;
    return {};
  });
  runner.start();
  publish_n(*bus, 5);
  ASSERT_TRUE(poller_looked_again(runner));
  EXPECT_EQ(done, 0);
  EXPECT_LE(partition_state(*bus, 0).committed, 0) << "nothing committed";
  room = true;
  ASSERT_TRUE(eventually([&] { return done == 5; }));
  ASSERT_TRUE(eventually([&] { return fully_committed(*bus, 0); }));
  runner.stop();
}

// Room running out while a poll waits holds the message it brought (the
// disk filled between the look and the fetch): it runs once there is room.
TEST(JobRunner, AMessageFetchedAsRoomRanOutWaitsForRoom) {
  storage::testing::TempDir dir;
  auto db = storage::Db::open(dir.path() / "db");
  auto bus = storage::make_embedded_bus(*db, {1});
  publish_n(*bus, 1);
  std::atomic<int> done{0}, looks{0};
  std::atomic<bool> room{false};
  auto c = config(1);
  c.may_take = [&] { return looks++ == 0 || room.load(); };  // room before the poll, none after
  workers::JobRunner runner(*bus, c, [&](const storage::BusMessage&) -> workers::Later {
    ++done;
    return {};
  });
  runner.start();
  ASSERT_TRUE(eventually([&] { return looks >= 4; }));
  EXPECT_EQ(done, 0) << "ran with no room";
  EXPECT_LE(partition_state(*bus, 0).committed, 0) << "nothing committed";
  room = true;
  ASSERT_TRUE(eventually([&] { return done == 1; }));
  ASSERT_TRUE(eventually([&] { return fully_committed(*bus, 0); }));
  runner.stop();
}

// A message's later part (an upload's variants) frees the job's place at
// once but holds its offset: nothing is committed past it until it is done.
TEST(JobRunner, ALaterPartFreesTheJobPlaceButHoldsTheCommit) {
  storage::testing::TempDir dir;
  auto db = storage::Db::open(dir.path() / "db");
  auto bus = storage::make_embedded_bus(*db, {1});
  publish_n(*bus, 10);
  Gate release;
  std::atomic<int> urgent_done{0}, later_done{0};
  workers::JobRunner runner(*bus, config(1), [&](const storage::BusMessage& msg) -> workers::Later {
    ++urgent_done;
    if (msg.value != "0") return {};
    return [&] {
      release.wait();
      ++later_done;
    };
  });
  OpenOnExit open_on_exit{release};
  runner.start();
  // One job at a time, yet all ten urgent parts ran (and were accounted
  // for) while 0's later part waits.
  ASSERT_TRUE(eventually([&] { return urgent_done == 10 && runner.in_flight() == 0; })) << urgent_done;
  EXPECT_EQ(later_done, 0);
  EXPECT_EQ(runner.later_backlog(), 1u);
  EXPECT_EQ(committed(*bus), 0) << "offset 0's later part is not done";
  release.open();
  ASSERT_TRUE(eventually([&] { return committed(*bus) == 10; }));
  EXPECT_EQ(later_done, 1);
  runner.stop();
}

// At --variant-backlog later parts waiting, no new message is taken: the
// backlog (memory, and how far variants fall behind) stays bounded.
TEST(JobRunner, AFullLaterBacklogStopsTakingMessages) {
  storage::testing::TempDir dir;
  auto db = storage::Db::open(dir.path() / "db");
  auto bus = storage::make_embedded_bus(*db, {1});
  publish_n(*bus, 10);
  Gate release;
  std::atomic<int> urgent_done{0};
  auto c = config(2);
  c.later_limit = 3;
  c.later_threads = 1;
  workers::JobRunner runner(*bus, c, [&](const storage::BusMessage&) -> workers::Later {
    ++urgent_done;
    return [&] { release.wait(); };
  });
  OpenOnExit open_on_exit{release};
  runner.start();
  ASSERT_TRUE(eventually([&] { return urgent_done >= 3 && runner.later_backlog() == 3; }));
  ASSERT_TRUE(poller_looked_again(runner));
  EXPECT_EQ(urgent_done, 3) << "taken past the backlog limit";
  EXPECT_EQ(runner.later_backlog(), 3u);
  release.open();
  ASSERT_TRUE(eventually([&] { return committed(*bus) == 10; }));
  EXPECT_EQ(urgent_done, 10);
  runner.stop();
}

// A later part not done when the runner stopped (a crash after `ready`,
// before the variants) comes back: its message is delivered again.
TEST(JobRunner, ALaterPartNotDoneAtStopIsDeliveredAgain) {
  storage::testing::TempDir dir;
  {
    auto db = storage::Db::open(dir.path() / "db");
    auto bus = storage::make_embedded_bus(*db, {1});
    publish_n(*bus, 3);
    std::atomic<int> urgent_done{0}, later_tries{0};
    workers::JobRunner runner(*bus, config(1), [&](const storage::BusMessage& msg) -> workers::Later {
      ++urgent_done;
      if (msg.value != "1") return {};
      return [&] {  // the bus is away: never done in this run
        ++later_tries;
        throw schemas::Error(schemas::ErrorCode::service_unavailable, "bus away");
      };
    });
    runner.start();
    ASSERT_TRUE(eventually([&] { return urgent_done == 3 && later_tries >= 1; }));
    runner.stop();
    EXPECT_EQ(committed(*bus), 1) << "nothing past offset 1, whose later part is not done";
  }
  auto db = storage::Db::open(dir.path() / "db");
  auto bus = storage::make_embedded_bus(*db, {1});
  std::mutex m;
  std::set<std::string> again;
  workers::JobRunner runner(*bus, config(1), [&](const storage::BusMessage& msg) -> workers::Later {
    std::lock_guard lock(m);
    again.insert(msg.value);
    return [] {};
  });
  runner.start();
  ASSERT_TRUE(eventually([&] { return committed(*bus) == 3; }));
  runner.stop();
  EXPECT_EQ(again, (std::set<std::string>{"1", "2"}));
}

// Two runners in one group (as two worker processes on Kafka): a partition
// that goes to the other member and comes back keeps the commit that member
// made. The runner used to keep its old position and send it again every
// recommit, moving the group's commit back: the lag never drained (seen in
// Distributed.BrokerOutageAnswers503AndRecoversByItself after a rebalance).
TEST(JobRunner, APartitionBackFromAnotherMemberKeepsThatMembersCommit) {
  storage::testing::TempDir dir;
  auto db = storage::Db::open(dir.path() / "db");
  auto bus = storage::make_embedded_bus(*db, {2});
  auto fast = config(2);
  fast.recommit_every = 20ms;
  auto nothing_later = [](const storage::BusMessage&) -> workers::Later { return {}; };
  workers::JobRunner first(*bus, fast, nothing_later);
  first.start();
  int key = 0;
  publish_to(*bus, 0, 2, 3, key);
  publish_to(*bus, 1, 2, 3, key);
  ASSERT_TRUE(eventually([&] { return fully_committed(*bus, 0) && fully_committed(*bus, 1); }));

  // The second member joins and takes partition 1, then moves it on.
  workers::JobRunner second(*bus, fast, nothing_later);
  second.start();
  publish_to(*bus, 1, 2, 4, key);
  ASSERT_TRUE(eventually([&] { return second.processed() == 4 && fully_committed(*bus, 1); }));
  EXPECT_EQ(first.processed(), 6u);
  const auto end = partition_state(*bus, 1).high;

  // It leaves: partition 1 is the first member's again, with nothing new on it.
  second.stop();
  const auto recommits = first.recommits();
  ASSERT_TRUE(eventually([&] { return first.recommits() >= recommits + 5; }));
  EXPECT_EQ(partition_state(*bus, 1).committed, end) << "the commit went back to the first member's old position";
  first.stop();
}

// A job still running when its partition went to another member, which has
// since moved the commit on, commits nothing when it ends.
TEST(JobRunner, AJobInFlightWhenItsPartitionLeftCommitsNothing) {
  storage::testing::TempDir dir;
  auto db = storage::Db::open(dir.path() / "db");
  auto bus = storage::make_embedded_bus(*db, {2});
  Gate release;
  OpenOnExit open_on_exit{release};
  std::atomic<bool> held{false};
  workers::JobRunner first(*bus, config(2), [&](const storage::BusMessage& msg) -> workers::Later {
    if (msg.partition == 1) {
      held = true;
      release.wait();
    }
    return {};
  });
  first.start();
  int key = 0;
  publish_to(*bus, 1, 2, 1, key);
  ASSERT_TRUE(eventually([&] { return held.load(); }));

  // The second member gets partition 1 from its commit (nothing yet): it runs
  // the held message again and the ones after it.
  workers::JobRunner second(*bus, config(2), [](const storage::BusMessage&) -> workers::Later { return {}; });
  second.start();
  publish_to(*bus, 1, 2, 3, key);
  ASSERT_TRUE(eventually([&] { return second.processed() == 4 && fully_committed(*bus, 1); }));

  release.open();
  ASSERT_TRUE(eventually([&] { return first.processed() == 1; }));
  EXPECT_EQ(partition_state(*bus, 1).committed, 4) << "the held job moved the commit back";
  second.stop();
  first.stop();
}

// ---- read ahead, fair between producers --------------------------------------------

workers::JobRunnerConfig fair_config(size_t concurrency, size_t read_ahead) {
  auto c = config(concurrency);
  c.read_ahead = read_ahead;
  c.fairness_key = [](const storage::BusMessage& m) { return m.value.substr(0, m.value.find(':')); };
  return c;
}

// One place: while a's first job runs, a's burst and b's one message are
// read; b's starts next, before the rest of a's, which then keep their order.
TEST(JobRunner, ReadAheadStartsTheProducerWhoStartedLeastRecentlyFirst) {
  storage::testing::TempDir dir;
  auto db = storage::Db::open(dir.path() / "db");
  auto bus = storage::make_embedded_bus(*db, {1});
  for (int i = 0; i < 6; ++i) bus->publish_sync(kTopic, "a" + std::to_string(i), "a:" + std::to_string(i), 5s);
  bus->publish_sync(kTopic, "b0", "b:0", 5s);
  Gate gate;
  OpenOnExit open_on_exit{gate};
  std::mutex m;
  std::vector<std::string> order;
  workers::JobRunner runner(*bus, fair_config(1, 8), [&](const storage::BusMessage& msg) -> workers::Later {
    {
      std::lock_guard lock(m);
      order.push_back(msg.value);
    }
    if (msg.value == "a:0") gate.wait();
    return {};
  });
  runner.start();
  ASSERT_TRUE(eventually([&] { return runner.waiting() == 6; })) << runner.waiting();
  gate.open();
  ASSERT_TRUE(eventually([&] { return committed(*bus) == 7; })) << "committed " << committed(*bus);
  runner.stop();
  EXPECT_EQ(order, (std::vector<std::string>{"a:0", "b:0", "a:1", "a:2", "a:3", "a:4", "a:5"}));
}

// Read but not started when the runner stops: delivered again, nothing lost,
// and the commit never passed them.
TEST(JobRunner, ReadAheadMessagesNotStartedAtStopAreDeliveredAgain) {
  storage::testing::TempDir dir;
  std::set<std::string> first_run, second_run;
  {
    auto db = storage::Db::open(dir.path() / "db");
    auto bus = storage::make_embedded_bus(*db, {1});
    for (int i = 0; i < 5; ++i) bus->publish_sync(kTopic, "k" + std::to_string(i), "p:" + std::to_string(i), 5s);
    Gate gate;
    OpenOnExit open_on_exit{gate};
    workers::JobRunner runner(*bus, fair_config(1, 8), [&](const storage::BusMessage& msg) -> workers::Later {
      first_run.insert(msg.value);  // one place: one job at a time
      gate.wait();
      return {};
    });
    runner.start();
    ASSERT_TRUE(eventually([&] { return runner.waiting() == 4; })) << runner.waiting();
    runner.pause();  // the waiting four stay waiting
    gate.open();
    ASSERT_TRUE(eventually([&] { return committed(*bus) == 1; }));
    ASSERT_TRUE(poller_looked_again(runner));
    runner.stop();
    EXPECT_EQ(first_run, (std::set<std::string>{"p:0"}));
  }
  {
    auto db = storage::Db::open(dir.path() / "db");
    auto bus = storage::make_embedded_bus(*db, {1});
    EXPECT_EQ(committed(*bus), 1);
    std::mutex m;
    workers::JobRunner runner(*bus, fair_config(2, 8), [&](const storage::BusMessage& msg) -> workers::Later {
      std::lock_guard lock(m);
      second_run.insert(msg.value);
      return {};
    });
    runner.start();
    ASSERT_TRUE(eventually([&] { return committed(*bus) == 5; }));
    runner.stop();
  }
  EXPECT_EQ(second_run, (std::set<std::string>{"p:1", "p:2", "p:3", "p:4"}));
}

// Many producers, several places, read ahead: every message once, commits to the end.
TEST(JobRunner, ReadAheadProcessesEveryMessageOnceAndCommitsToTheEnd) {
  expect_each_once_and_committed(fair_config(4, 12),
                                 [](int i) { return std::to_string(i % 5) + ":" + std::to_string(i); });
}
