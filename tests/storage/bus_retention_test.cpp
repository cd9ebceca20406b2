// The embedded bus's topic policies (design: Topics): ingest and dead
// letters trimmed by age and size, images and accounts compacted by key,
// never past a consumer group's committed offset, in the background of
// publishes and reads. Time is an injected clock: records age without sleeps.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "schemas/messages.h"
#include "storage/embedded_bus.h"
#include "storage/image_index.h"
#include "tests/storage/temp_dir.h"

namespace imgpipe::storage {
namespace {

using namespace std::chrono_literals;
constexpr int64_t kDay = 24LL * 3600 * 1000;

struct FakeClock {
  std::atomic<int64_t> ms{1'800'000'000'000};
  std::function<int64_t()> fn() {
    return [this] { return ms.load(); };
  }
};

struct Fixture {
  testing::TempDir dir;
  FakeClock clock;
  std::unique_ptr<Db> db;
  std::unique_ptr<EmbeddedBus> bus;
  explicit Fixture(EmbeddedBusConfig config = {}) {
    config.retention_interval = 0ms;  // passes run when the test says
    config.clock = clock.fn();
    db = Db::open(dir.path() / "index");
    bus = make_embedded_bus(*db, config);
  }
};

std::string ingest_job(int i) {
  // About 400 bytes, like a real upload job.
  return R"({"v":1,"type":"upload","image_id":"img)" + std::to_string(i) + R"(","staged_path":"x.upload",)" +
         R"("pad":")" + std::string(300, 'p') + R"("})";
}

// Publishes without waiting for each sync (a burst shares syncs, as
// concurrent uploads do), then waits for the last one.
void publish_burst(Bus& bus, const std::string& topic, std::vector<std::pair<std::string, std::string>> messages) {
  auto last = std::move(messages.back());
  messages.pop_back();
  for (auto& [k, v] : messages) bus.publish(topic, std::move(k), std::move(v), [](auto) {});
  bus.publish_sync(topic, std::move(last.first), std::move(last.second), 30s);
}

// Publishes n jobs and lets a worker group read and commit all of them.
void publish_and_consume(Bus& bus, BusConsumer& worker, int first, int n) {
  std::vector<std::pair<std::string, std::string>> jobs;
  for (int i = first; i < first + n; ++i) jobs.emplace_back("img" + std::to_string(i), ingest_job(i));
  publish_burst(bus, topics::ingest, std::move(jobs));
  int64_t next = -1;
  for (int got = 0; got < n; ++got) {
    auto m = worker.poll(10s);
    ASSERT_TRUE(m.has_value());
    next = m->offset + 1;
  }
  worker.commit(topics::ingest, 0, next);
}

std::vector<BusMessage> read_all(Bus& bus, const std::string& topic, const StartAt& from) {
  auto reader = bus.read(topic, from);
  std::vector<BusMessage> out;
  while (auto m = reader->poll(200ms)) out.push_back(std::move(*m));
  return out;
}

TEST(BusRetention, IngestBySizeLevelsOffAndReplayWorksWithinRetention) {
  EmbeddedBusConfig config;
  config.retention_bytes = 256 << 10;
  Fixture f(config);
  auto worker = f.bus->subscribe("imgpipe-workers", {topics::ingest});
  std::vector<uint64_t> sizes;
  for (int round = 0; round < 30; ++round) {  // 30000 jobs, about 12 MB
    publish_and_consume(*f.bus, *worker, round * 1000, 1000);
    f.clock.ms += 60'000;
    f.bus->apply_retention();
    sizes.push_back(f.db->disk_bytes(cf::bus_log));
  }
  // Level: the last ten rounds hold no more than round ten did (plus a
  // file's slack), and far less than the 12 MB written.
  const uint64_t at_ten = sizes[9];
  for (size_t i = 20; i < sizes.size(); ++i) EXPECT_LE(sizes[i], at_ten * 3 / 2) << "round " << i;
  EXPECT_LT(sizes.back(), 2u << 20);
  RecordProperty("bus_log_bytes_round_10", std::to_string(at_ten));
  RecordProperty("bus_log_bytes_round_30", std::to_string(sizes.back()));

  // What is within retention replays: from an offset and from a time.
  auto state = f.bus->describe(topics::ingest, "imgpipe-workers");
  ASSERT_EQ(state.size(), 1u);
  EXPECT_GT(state[0].low, 0);
  EXPECT_EQ(state[0].high, 30000);
  auto kept = read_all(*f.bus, topics::ingest, StartAt::from_beginning());
  ASSERT_FALSE(kept.empty());
  EXPECT_EQ(kept.front().offset, state[0].low);
  EXPECT_EQ(kept.back().offset, 29999);
  for (size_t i = 1; i < kept.size(); ++i) ASSERT_EQ(kept[i].offset, kept[i - 1].offset + 1) << "no holes";
  EXPECT_LE(kept.size() * 400, 256u << 10);
  auto last_round = read_all(*f.bus, topics::ingest, StartAt::from_time(f.clock.ms - 60'000));
  const int64_t first = std::max<int64_t>(29000, state[0].low);
  ASSERT_EQ(last_round.size(), static_cast<size_t>(30000 - first));
  EXPECT_EQ(last_round.front().offset, first);
  EXPECT_EQ(last_round.front().value, ingest_job(static_cast<int>(first)));
}

TEST(BusRetention, IngestByAgeAndNeverPastACommittedOffset) {
  Fixture f;  // defaults: 7 days, 1 GiB
  auto worker = f.bus->subscribe("imgpipe-workers", {topics::ingest});
  publish_and_consume(*f.bus, *worker, 0, 100);
  // 50 more that the group has not committed yet.
  for (int i = 100; i < 150; ++i) f.bus->publish_sync(topics::ingest, "img" + std::to_string(i), ingest_job(i), 10s);
  f.clock.ms += 6 * kDay;
  EXPECT_EQ(f.bus->apply_retention().removed, 0u) << "younger than 7 days";
  f.clock.ms += 2 * kDay;
  auto report = f.bus->apply_retention();
  EXPECT_EQ(report.removed, 100u);
  EXPECT_GT(report.held_back, 0u);
  EXPECT_EQ(f.bus->describe(topics::ingest, "")[0].low, 100);
  // The uncommitted jobs all reach the worker.
  for (int i = 100; i < 150; ++i) {
    auto m = worker->poll(10s);
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->offset, i);
  }
  worker->commit(topics::ingest, 0, 150);
  // The last record stays: it carries the next offset across a restart.
  f.bus->apply_retention();
  EXPECT_EQ(f.bus->describe(topics::ingest, "")[0].low, 149);
  f.bus.reset();
  f.bus = make_embedded_bus(*f.db, {.partitions = 1, .retention_interval = 0ms, .clock = f.clock.fn()});
  f.bus->publish_sync(topics::ingest, "img150", ingest_job(150), 10s);
  EXPECT_EQ(f.bus->describe(topics::ingest, "")[0].high, 151);
}

TEST(BusRetention, PublishesAndGroupReadsGoOnDuringPassesAndLoseNothing) {
  EmbeddedBusConfig config;
  config.retention_bytes = 64 << 10;
  Fixture f(config);
  constexpr int kJobs = 20000;
  std::atomic<bool> done{false};
  // The group exists before the first job (as the serve process's workers do).
  auto worker = f.bus->subscribe("imgpipe-workers", {topics::ingest});
  worker->commit(topics::ingest, 0, 0);
  std::thread producer([&] {
    for (int i = 0; i < kJobs; ++i) f.bus->publish(topics::ingest, "k" + std::to_string(i), ingest_job(i), [](auto) {});
    f.bus->publish_sync(topics::ingest, "last", "end", 30s);
  });
  std::vector<int64_t> seen;
  std::thread consumer([&] {
    while (seen.size() < kJobs + 1) {
      auto m = worker->poll(10s);
      if (!m) break;
      seen.push_back(m->offset);
      if (seen.size() % 100 == 0) worker->commit(topics::ingest, 0, m->offset + 1);
    }
    done = true;
  });
  uint64_t removed = 0;
  while (!done) removed += f.bus->apply_retention().removed;
  producer.join();
  consumer.join();
  ASSERT_EQ(seen.size(), size_t{kJobs + 1});
  for (size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], static_cast<int64_t>(i)) << "in order, no gap";
  EXPECT_GT(removed, 0u) << "passes ran while the log was in use";
}

// An image event as the worker and the gateway write them.
std::string image_event(const std::string& type, int id, int version, bool with_variants) {
  schemas::ImageEvent e;
  e.type = type;
  e.image_id = "img" + std::to_string(id);
  if (type == "failed") {
    e.error = schemas::ErrorDetail{"insufficient_storage", "full", "variants"};
  } else if (type != "deleted") {
    schemas::ImageRecord r;
    r.id = e.image_id;
    r.name = "photo " + std::to_string(id) + " v" + std::to_string(version);
    r.owner = "anon";
    r.format = "jpeg";
    r.width = 100 + id;
    r.height = 80;
    r.filesize = 1000;
    r.blob = std::string(64, 'a');
    r.created_at = 1'800'000'000;
    r.tags = {"type", "deleted"};  // must not look like a deletion
    if (with_variants) r.variants.push_back({"s", "webp", 32, 24, 100, std::string(64, 'b')});
    e.image = r;
  }
  return schemas::encode(e);
}

// Every record of an index, by id.
std::map<std::string, std::string> records(Db& db) {
  std::map<std::string, std::string> out;
  db.scan(cf::images, "", [&](std::string_view k, std::string_view v) {
    out.emplace(k, v);
    return true;
  });
  return out;
}

// Applies every event of the images topic to a fresh index, like `imgpipe reindex`.
std::map<std::string, std::string> rebuilt_index(Bus& bus, const std::filesystem::path& dir) {
  auto db = Db::open(dir);
  ImageIndex index(*db);
  for (const auto& m : read_all(bus, topics::images, StartAt::from_beginning()))
    index.apply(schemas::decode_image_event(m.value));
  return records(*db);
}

TEST(BusRetention, ImagesCompactedByKeyRebuildTheSameIndexAndLevelOff) {
  Fixture f;
  testing::TempDir other;
  // The live index follows the topic as a gateway does, while it is compacted.
  ImageIndex live(*f.db);
  auto follower = f.bus->read(topics::images, StartAt::from_beginning());
  std::vector<std::pair<std::string, std::string>> burst;
  auto publish = [&](const std::string& type, int id, int version, bool variants) {
    auto value = image_event(type, id, version, variants);
    burst.emplace_back(schemas::event_key(schemas::decode_image_event(value)), std::move(value));
  };
  auto flush = [&] {
    publish_burst(*f.bus, topics::images, std::move(burst));
    burst.clear();
    const auto high = f.bus->describe(topics::images, "")[0].high;
    for (int64_t at = -1; at + 1 < high;) {
      auto m = follower->poll(10s);
      ASSERT_TRUE(m.has_value());
      live.apply(schemas::decode_image_event(m->value));
      at = m->offset;
    }
  };
  constexpr int kImages = 1000;
  std::vector<uint64_t> sizes;
  for (int round = 0; round < 12; ++round) {  // 36000 events over 1000 ids
    for (int id = 0; id < kImages; ++id) {
      publish("ready", id, round, false);
      publish("variants", id, round, true);
      publish("updated", id, round, true);
    }
    flush();
    f.clock.ms += 3600'000;
    f.bus->apply_retention();
    sizes.push_back(f.db->disk_bytes(cf::bus_log));
  }
  for (size_t i = 6; i < sizes.size(); ++i) EXPECT_LE(sizes[i], sizes[3] * 3 / 2) << "round " << i;
  RecordProperty("images_log_bytes_round_4", std::to_string(sizes[3]));
  RecordProperty("images_log_bytes_round_12", std::to_string(sizes.back()));

  // Deletions and a failure after ready (a variant that could not be stored).
  for (int id = 0; id < 100; ++id) publish("deleted", id, 0, false);
  for (int id = 100; id < 110; ++id) publish("failed", id, 0, false);
  publish("ready", 5000, 0, false);
  flush();
  f.bus->apply_retention();
  EXPECT_EQ(rebuilt_index(*f.bus, other.path() / "a"), records(*f.db)) << "the compacted topic rebuilds the same index";
  auto kept = read_all(*f.bus, topics::images, StartAt::from_beginning());
  EXPECT_EQ(kept.size(), size_t{kImages + (kImages - 100) + 10 + 1})
      << "one per id and one per id#variants but those of deleted ids, deletions still there, failures too";

  // After the tombstone delay the deletions and lone failures are gone too.
  f.clock.ms += 2 * kDay;
  f.bus->apply_retention();
  kept = read_all(*f.bus, topics::images, StartAt::from_beginning());
  EXPECT_EQ(kept.size(), size_t{2 * (kImages - 100) + 1});
  EXPECT_EQ(rebuilt_index(*f.bus, other.path() / "b"), records(*f.db));
  EXPECT_EQ(records(*f.db).size(), size_t{kImages - 100 + 1});
}

// A worker announces variants after `ready`, as a later part, so its
// `variants` event (the job's fields) can come after a PATCH or a delete.
// Under its own key (schemas::event_key) it can no longer be the newest
// record of the id: after compaction, and after the tombstone delay, a
// rebuilt index still has the edit and not the deleted image.
TEST(BusRetention, AnEditOrADeleteOutlivesALateVariantsEvent) {
  Fixture f;
  testing::TempDir other;
  ImageIndex live(*f.db);
  auto publish = [&](schemas::ImageEvent e) {
    f.bus->publish_sync(topics::images, schemas::event_key(e), schemas::encode(e), 10s);
    live.apply(e);
  };
  auto event = [](const std::string& type, int id, bool with_variants) {
    return schemas::decode_image_event(image_event(type, id, 0, with_variants));
  };
  auto edited = event("updated", 1, false);
  edited.image->caption = "edited after upload";
  publish(event("ready", 1, false));
  publish(edited);
  publish(event("variants", 1, true));  // the job's record: no caption
  publish(event("ready", 2, false));
  publish(event("deleted", 2, false));
  publish(event("variants", 2, true));  // after the delete
  publish(event("ready", 3, false));
  publish(event("variants", 3, true));
  publish(event("deleted", 3, false));
  publish(event("ready", 4, false));  // the last record of a partition always stays

  auto check = [&](const std::string& dir) {
    auto rebuilt = rebuilt_index(*f.bus, other.path() / dir);
    EXPECT_EQ(rebuilt, records(*f.db)) << dir;
    ASSERT_EQ(rebuilt.count("img1"), 1u) << dir;
    const auto one = schemas::decode_record(rebuilt["img1"]);
    EXPECT_EQ(one.caption, "edited after upload") << dir;
    EXPECT_EQ(one.variants.size(), 1u) << dir;
    EXPECT_EQ(rebuilt.count("img2"), 0u) << dir;
    EXPECT_EQ(rebuilt.count("img3"), 0u) << dir;
  };
  f.bus->apply_retention();
  check("compacted");
  f.clock.ms += 2 * kDay;
  f.bus->apply_retention();
  check("past the tombstone delay");
  std::set<std::string> keys;
  for (const auto& m : read_all(*f.bus, topics::images, StartAt::from_beginning())) keys.insert(m.key);
  EXPECT_EQ(keys, (std::set<std::string>{"img1", "img1#variants", "img2#variants", "img4"}))
      << "a deletion takes the older variants with it; a later one is all that is left of the id";
}

TEST(BusRetention, AccountsKeepTheLastEventPerKey) {
  Fixture f;
  std::vector<std::pair<std::string, std::string>> events;
  for (int v = 0; v < 50; ++v)
    for (int k = 0; k < 20; ++k) events.emplace_back("key_" + std::to_string(k), R"({"v":)" + std::to_string(v) + "}");
  publish_burst(*f.bus, topics::accounts, std::move(events));
  f.bus->apply_retention();
  auto kept = read_all(*f.bus, topics::accounts, StartAt::from_beginning());
  ASSERT_EQ(kept.size(), 20u);
  std::set<std::string> keys;
  for (const auto& m : kept) {
    keys.insert(m.key);
    EXPECT_EQ(m.value, R"({"v":49})");
  }
  EXPECT_EQ(keys.size(), 20u);
}

}  // namespace
}  // namespace imgpipe::storage
