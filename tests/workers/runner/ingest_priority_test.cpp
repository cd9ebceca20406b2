// The waiting client first: a small upload gets its `ready` (the gateway's
// 201) while large images' variants, queued before it, are still to be
// rendered. Real embedded bus, blob store and image engine on corpus photos
// (ops/corpus); one job place and one image slot, so any variant work ahead
// of the upload in line would hold it back. Observes the order of events on
// the images topic and who holds the image slot, never time.

#include <gtest/gtest.h>

#include "schemas/messages.h"
#include "storage/blob_store.h"
#include "storage/db.h"
#include "storage/embedded_bus.h"
#include "tests/storage/temp_dir.h"
#include "tests/workers/runner/corpus_files.h"
#include "workers/image/engine.h"
#include "workers/ingest_pipeline.h"

using namespace std::chrono_literals;
using namespace imgpipe;
namespace fs = std::filesystem;

namespace {

using test::corpus_file;
using test::slurp;

struct Event {
  std::string type, image_id;
};

class IngestPriority : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    workers::WorkerConfig c;
    workers::image::init_engine(c.engine);
  }

  void SetUp() override {
    db_ = storage::Db::open(dir_.path() / "index");
    bus_ = storage::make_embedded_bus(*db_, {1});
    blobs_ = std::make_unique<storage::BlobStore>(dir_.path());
    events_ = bus_->read(storage::topics::images, storage::StartAt::from_beginning());
  }

  void TearDown() override {
    events_->close();
    blobs_.reset();
    bus_.reset();
    db_.reset();
  }

  // Stages the file as the gateway does and publishes its upload job.
  void upload(const std::string& id, const fs::path& file) {
    const std::string bytes = slurp(file);
    {
      std::ofstream out(blobs_->staging_dir() / (id + ".upload"), std::ios::binary);
      out << bytes;
    }
    schemas::IngestJob job;
    job.type = "upload";
    job.image_id = id;
    job.staged_path = id + ".upload";
    job.sha256 = storage::sha256_hex(bytes);
    job.owner = "anon:127.0.0.1";
    job.name = file.filename().string();
    job.request_id = "req-" + id;
    job.created_at = 1'700'000'000;
    bus_->publish_sync(storage::topics::ingest, id, schemas::encode(job), 5s);
  }

  // Reads events in order until `done` holds for what was read (or 120 s).
  template <typename Pred>
  bool read_events_until(Pred done) {
    auto until = std::chrono::steady_clock::now() + 120s;
    while (!done() && std::chrono::steady_clock::now() < until)
      if (auto m = events_->poll(200ms)) {
        auto e = schemas::decode_image_event(m->value);
        seen_.push_back({e.type, e.image_id});
      }
    return done();
  }

  size_t position(const std::string& type, const std::string& id) const {
    for (size_t i = 0; i < seen_.size(); ++i)
      if (seen_[i].type == type && seen_[i].image_id == id) return i;
    return seen_.size();
  }
  bool has(const std::string& type, const std::string& id) const { return position(type, id) < seen_.size(); }

  storage::testing::TempDir dir_;
  std::unique_ptr<storage::Db> db_;
  std::unique_ptr<storage::Bus> bus_;
  std::unique_ptr<storage::BlobStore> blobs_;
  std::unique_ptr<storage::BusConsumer> events_;
  std::vector<Event> seen_;
};

TEST_F(IngestPriority, ASmallUploadIsReadyBeforeVariantsQueuedAheadOfIt) {
  const auto large = corpus_file("landscape.jpg");  // 2560x1600: six variants take a while
  const auto small = corpus_file("under-1mp.jpg");
  ASSERT_TRUE(fs::exists(large) && fs::exists(small)) << "run ops/corpus";
  workers::WorkerConfig config;
  config.jobs = 1;
  config.image_threads = 1;
  workers::IngestPipeline pipeline(*bus_, *blobs_, config);
  pipeline.start();

  const std::vector<std::string> large_ids = {"prio00large1", "prio00large2", "prio00large3"};
  for (const auto& id : large_ids) upload(id, large);
  ASSERT_TRUE(read_events_until([&] {
    for (const auto& id : large_ids)
      if (!has("ready", id)) return false;
    return true;
  })) << "the large uploads did not become ready";
  std::vector<std::string> pending;  // large images whose variants are not announced yet
  for (const auto& id : large_ids)
    if (!has("variants", id)) pending.push_back(id);
  // With one image slot at most one of them is being rendered; the last is
  // still queued behind it.
  ASSERT_GE(pending.size(), 2u) << "the variants finished before the test could queue an upload behind them";

  upload("prio00small1", small);
  ASSERT_TRUE(read_events_until([&] {
    for (const auto& id : large_ids)
      if (!has("variants", id)) return false;
    return has("ready", "prio00small1") && has("variants", "prio00small1");
  })) << "not every image finished";
  pipeline.stop();

  EXPECT_LT(position("ready", "prio00small1"), position("variants", pending.back()))
      << "the small upload waited for variant work queued before it";
  for (const auto& id : large_ids) {
    auto m = blobs_->get_manifest(storage::BlobStore::manifest_of(id));
    ASSERT_TRUE(m) << id;
    EXPECT_EQ(schemas::decode_record(*m).variants.size(), 6u) << id;
  }
}

// A variant render takes the image slot per output, not per image: ready-path
// work that comes while an image's variants render waits for (or shares the
// cores with) one encode, not six. The test holds a ready-path slot of the
// pipeline's own ImageSlots (as a probe would) to stop the render at a known
// point, then lets a real upload through.
TEST_F(IngestPriority, VariantsYieldTheImageSlotBetweenOutputs) {
  const auto large = corpus_file("landscape.jpg");
  const auto small = corpus_file("under-1mp.jpg");
  ASSERT_TRUE(fs::exists(large) && fs::exists(small)) << "run ops/corpus";
  workers::WorkerConfig config;
  config.jobs = 1;
  config.image_threads = 1;
  workers::IngestPipeline pipeline(*bus_, *blobs_, config);
  auto& slots = pipeline.image_slots();
  using State = workers::ImageSlots::State;
  constexpr auto kPatience = std::chrono::milliseconds(120'000);
  pipeline.start();

  upload("prio00large4", large);
  ASSERT_TRUE(read_events_until([&] { return has("ready", "prio00large4"); }));
  ASSERT_TRUE(slots.wait_until([](const State& s) { return s.background == 1; }, kPatience))
      << "the variants did not start";

  // Ready-path work arrives while the first output renders: the render
  // finishes that output and then waits, the image's other five not begun.
  slots.acquire(workers::ImageSlots::Priority::ready_path);
  const bool yielded =
      slots.wait_until([](const State& s) { return s.background == 0 && s.waiting_background == 1; }, kPatience);
  // A real upload comes too and waits for the one slot (the test holds it).
  upload("prio00small2", small);
  const bool small_waits = slots.wait_until([](const State& s) { return s.waiting_ready == 1; }, kPatience);
  const State at_yield = slots.state();
  slots.release(workers::ImageSlots::Priority::ready_path);
  ASSERT_TRUE(yielded) << "the render kept the slot for the whole image";
  ASSERT_TRUE(small_waits) << "the small upload never asked for an image slot";
  EXPECT_LT(at_yield.background_grants, 6u) << "outputs rendered while ready-path work held the slot";

  ASSERT_TRUE(read_events_until([&] {
    return has("variants", "prio00large4") && has("ready", "prio00small2") && has("variants", "prio00small2");
  })) << "not every image finished";
  pipeline.stop();
  EXPECT_LT(position("ready", "prio00small2"), position("variants", "prio00large4"))
      << "the small upload waited for the rest of an image whose variants were rendering";

  // One slot per output, six for each image, and the same six variants as
  // before: each blob decodes as the size and format its record says.
  EXPECT_EQ(slots.state().background_grants, 12u);
  for (const std::string id : {"prio00large4", "prio00small2"}) {
    auto m = blobs_->get_manifest(storage::BlobStore::manifest_of(id));
    ASSERT_TRUE(m) << id;
    const auto record = schemas::decode_record(*m);
    EXPECT_EQ(record.variants.size(), 6u) << id;
    for (const auto& v : record.variants) {
      const auto probe = workers::image::probe_file(blobs_->path_of(v.blob));
      EXPECT_EQ(workers::image::name(probe.format), v.format) << id << " " << v.size;
      EXPECT_EQ(probe.stored, (workers::image::Dimensions{v.width, v.height})) << id << " " << v.size << "." << v.format;
    }
  }
}

}  // namespace
