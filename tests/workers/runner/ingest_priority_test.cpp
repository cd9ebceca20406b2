// The waiting client first: a small upload gets its `ready` (the gateway's
// 201) while large images' variants, queued before it, are still to be
// rendered. Real embedded bus, blob store and image engine on corpus photos
// (ops/corpus); one job place and one image slot, so any variant work ahead
// of the upload in line would hold it back. Observes the order of events on
// the images topic, never time.

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
    auto m = blobs_->get_manifest(workers::manifest_name(id));
    ASSERT_TRUE(m) << id;
    EXPECT_EQ(schemas::decode_record(*m).variants.size(), 6u) << id;
  }
}

}  // namespace
