// IngestPipeline::process is idempotent (what `imgpipe replay` and every
// redelivery rely on), over the real embedded bus (RocksDB in a temp dir), the
// real blob store and the real image engine, on a real photo from the corpus
// (tests/corpus, made by ops/corpus): the same message twice keeps the id and
// the blobs, creates no new file and announces `ready` again; a lost variant
// is made again, byte for byte.
#include <set>

#include <gtest/gtest.h>

#include "schemas/messages.h"
#include "storage/blob_store.h"
#include "storage/db.h"
#include "storage/embedded_bus.h"
#include "tests/storage/temp_dir.h"
#include "tests/workers/runner/corpus_files.h"
#include "workers/image/engine.h"
#include "workers/ingest_pipeline.h"
#include "workers/steps/job_context.h"

using namespace std::chrono_literals;
using namespace imgpipe;
namespace fs = std::filesystem;

namespace {

using test::corpus_file;
using test::slurp;

// Every regular file under dir (blob files), by relative path.
std::set<std::string> files_under(const fs::path& dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator(); ++it)
    if (it->is_regular_file()) out.insert(fs::relative(it->path(), dir).string());
  return out;
}

// Every event on the images topic, in order.
std::vector<schemas::ImageEvent> image_events(storage::Bus& bus) {
  std::vector<schemas::ImageEvent> out;
  int64_t total = 0;
  for (const auto& p : bus.describe(storage::topics::images, "")) total += p.high - p.low;
  auto reader = bus.read(storage::topics::images, storage::StartAt::from_beginning());
  auto until = std::chrono::steady_clock::now() + 10s;
  while (static_cast<int64_t>(out.size()) < total && std::chrono::steady_clock::now() < until)
    if (auto m = reader->poll(200ms)) out.push_back(schemas::decode_image_event(m->value));
  reader->close();
  return out;
}

std::vector<schemas::ImageEvent> of_type(const std::vector<schemas::ImageEvent>& all, const std::string& type) {
  std::vector<schemas::ImageEvent> out;
  for (const auto& e : all)
    if (e.type == type) out.push_back(e);
  return out;
}

class IngestIdempotency : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    workers::WorkerConfig c;
    workers::image::init_engine(c.engine);  // once per process
  }

  void SetUp() override {
    photo_ = corpus_file("landscape.jpg");
    ASSERT_TRUE(fs::exists(photo_)) << photo_ << " is missing: run ops/corpus";
    db_ = storage::Db::open(dir_.path() / "index");
    bus_ = storage::make_embedded_bus(*db_, {1});
    blobs_ = std::make_unique<storage::BlobStore>(dir_.path());
    workers::WorkerConfig config;
    config.jobs = 1;
    config.image_threads = 1;
    pipeline_ = std::make_unique<workers::IngestPipeline>(*bus_, *blobs_, config);  // driven by hand
  }

  void TearDown() override {
    pipeline_.reset();
    blobs_.reset();
    bus_.reset();
    db_.reset();
  }

  // Stages the photo as the gateway does and publishes its upload job;
  // returns the job's message as a worker would receive it.
  storage::BusMessage stage_upload(const std::string& id) {
    const std::string bytes = slurp(photo_);
    const std::string staged = id + ".upload";
    {
      std::ofstream out(blobs_->staging_dir() / staged, std::ios::binary);
      out << bytes;
    }
    schemas::IngestJob job;
    job.type = "upload";
    job.image_id = id;
    job.staged_path = staged;
    job.sha256 = storage::sha256_hex(bytes);
    job.owner = "anon:127.0.0.1";
    job.name = "landscape.jpg";
    job.request_id = "req-" + id;
    job.created_at = 1'700'000'000;
    bus_->publish_sync(storage::topics::ingest, id, schemas::encode(job), 5s);
    auto reader = bus_->read(storage::topics::ingest, storage::StartAt::from_beginning());
    std::optional<storage::BusMessage> m;
    for (int i = 0; i < 50 && !m; ++i) m = reader->poll(100ms);
    reader->close();
    if (!m) throw std::runtime_error("the job did not arrive on the ingest topic");
    return *m;
  }

  schemas::ImageRecord manifest(const std::string& id) {
    auto m = blobs_->get_manifest(storage::BlobStore::manifest_of(id));
    if (!m) throw std::runtime_error("no manifest for " + id);
    return schemas::decode_record(*m);
  }

  storage::testing::TempDir dir_;
  fs::path photo_;
  std::unique_ptr<storage::Db> db_;
  std::unique_ptr<storage::Bus> bus_;
  std::unique_ptr<storage::BlobStore> blobs_;
  std::unique_ptr<workers::IngestPipeline> pipeline_;
};

// Record as JSON, for comparisons with a readable diff.
std::string json_of(const schemas::ImageRecord& r) { return schemas::encode_record(r); }

TEST_F(IngestIdempotency, SameMessageTwiceKeepsTheRecordAndCreatesNoFile) {
  auto message = stage_upload("idemp0000001");
  pipeline_->process(message);
  auto first = manifest("idemp0000001");
  ASSERT_FALSE(first.blob.empty());
  ASSERT_TRUE(blobs_->contains(first.blob));
  ASSERT_EQ(first.variants.size(), 6u) << json_of(first);  // s/m/l in JPEG and WebP
  for (const auto& v : first.variants) EXPECT_TRUE(blobs_->contains(v.blob)) << v.size << " " << v.format;
  const auto files_after_first = files_under(dir_.path() / "blobs");
  ASSERT_EQ(files_after_first.size(), 7u) << "the original and six variants";
  EXPECT_FALSE(fs::exists(blobs_->staging_dir() / "idemp0000001.upload")) << "staged file removed after ready";

  pipeline_->process(message);  // redelivered: the staged file is gone, the original is stored
  auto second = manifest("idemp0000001");
  EXPECT_EQ(json_of(second), json_of(first));
  EXPECT_EQ(second.blob, first.blob);
  EXPECT_EQ(files_under(dir_.path() / "blobs"), files_after_first) << "no new blob file";

  auto events = image_events(*bus_);
  auto ready = of_type(events, "ready");
  ASSERT_EQ(ready.size(), 2u) << events.size() << " events";
  EXPECT_TRUE(of_type(events, "failed").empty());
  ASSERT_TRUE(ready[0].image && ready[1].image);
  EXPECT_EQ(ready[0].image_id, "idemp0000001");
  EXPECT_EQ(ready[1].image_id, "idemp0000001");
  EXPECT_EQ(ready[1].request_id, ready[0].request_id);
  // The first `ready` is announced before the variants exist, the replayed
  // one carries the stored record with them: identical but for the variants.
  auto without_variants = [](schemas::ImageRecord r) {
    r.variants.clear();
    return json_of(r);
  };
  EXPECT_EQ(without_variants(*ready[1].image), without_variants(*ready[0].image));
  EXPECT_EQ(json_of(*ready[1].image), json_of(first)) << "the replayed ready carries the stored record";
  // No dead letter either time.
  int64_t dlq = 0;
  for (const auto& p : bus_->describe(storage::topics::ingest_dlq, "")) dlq += p.high - p.low;
  EXPECT_EQ(dlq, 0);
}

TEST_F(IngestIdempotency, ALostVariantIsMadeAgainWithTheSameBytes) {
  auto message = stage_upload("idemp0000002");
  pipeline_->process(message);
  auto first = manifest("idemp0000002");
  ASSERT_EQ(first.variants.size(), 6u) << json_of(first);
  const auto files_before = files_under(dir_.path() / "blobs");

  // Lose the m WebP variant (a disk cleaned by hand, a partial restore).
  const schemas::VariantRecord* lost = nullptr;
  for (const auto& v : first.variants)
    if (v.size == "m" && v.format == "webp") lost = &v;
  ASSERT_NE(lost, nullptr) << json_of(first);
  const auto lost_path = blobs_->path_of(lost->blob);
  const auto lost_bytes = slurp(lost_path);
  ASSERT_TRUE(fs::remove(lost_path));
  ASSERT_FALSE(blobs_->contains(lost->blob));

  pipeline_->process(message);
  ASSERT_TRUE(blobs_->contains(lost->blob)) << "the lost variant was not made again (or not byte-identical): before "
                                            << json_of(first) << "\nafter " << json_of(manifest("idemp0000002"));
  EXPECT_EQ(storage::sha256_hex(slurp(lost_path)), lost->blob);
  EXPECT_EQ(slurp(lost_path), lost_bytes);
  auto second = manifest("idemp0000002");
  EXPECT_EQ(second.blob, first.blob);
  std::map<std::string, std::string> want, got;
  for (const auto& v : first.variants) want[v.size + "." + v.format] = v.blob;
  for (const auto& v : second.variants) got[v.size + "." + v.format] = v.blob;
  EXPECT_EQ(got, want);
  EXPECT_EQ(files_under(dir_.path() / "blobs"), files_before);
}

TEST_F(IngestIdempotency, ALostOriginalIsNotRedoneWithoutItsSource) {
  // The original's blob is gone and the staged file was cleaned after
  // `ready`: the job cannot be redone and must say so (failed + DLQ), never
  // announce a record whose original is missing.
  auto message = stage_upload("idemp0000003");
  pipeline_->process(message);
  auto first = manifest("idemp0000003");
  ASSERT_TRUE(fs::remove(blobs_->path_of(first.blob)));
  pipeline_->process(message);
  auto events = image_events(*bus_);
  EXPECT_EQ(of_type(events, "ready").size(), 1u);
  auto failed = of_type(events, "failed");
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].image_id, "idemp0000003");
  int64_t dlq = 0;
  for (const auto& p : bus_->describe(storage::topics::ingest_dlq, "")) dlq += p.high - p.low;
  EXPECT_EQ(dlq, 1);
}

}  // namespace
