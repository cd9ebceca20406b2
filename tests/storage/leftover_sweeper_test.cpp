// The leftover sweeper over a real blob store, RocksDB index and embedded
// bus: what crashes and deletions leave goes, what an image, a queued job or
// a fresh write needs stays. Files are aged by setting their times.
#include "storage/leftover_sweeper.h"

#include <gtest/gtest.h>

#include <fstream>

#include "schemas/messages.h"
#include "storage/embedded_bus.h"
#include "storage/image_index.h"
#include "tests/storage/temp_dir.h"

namespace imgpipe::storage {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

void age(const fs::path& p) { fs::last_write_time(p, fs::file_time_type::clock::now() - 2h); }

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

struct Fixture {
  testing::TempDir dir;
  std::unique_ptr<Db> db = Db::open(dir.path() / "index");
  std::unique_ptr<EmbeddedBus> bus = make_embedded_bus(*db, {.partitions = 1, .retention_interval = 0ms});
  BlobStore blobs{dir.path() / "data"};
  ImageIndex index{*db};
  bool ready = true;
  LeftoverSweeper sweeper{blobs, *db, *bus, SweepConfig{}, [this] { return ready; }};

  // An image as the worker leaves it: original, a variant, the manifest.
  schemas::ImageRecord store(const std::string& id) {
    schemas::ImageRecord r;
    r.id = id;
    r.format = "jpeg";
    r.blob = blobs.put("original of " + id);
    r.variants.push_back({"s", "webp", 1, 1, 1, blobs.put("variant of " + id)});
    blobs.put_manifest(id + ".json", schemas::encode_record(r));
    return r;
  }
  void announce(const schemas::ImageRecord& r) {
    index.apply(schemas::ImageEvent{"ready", r.id, "", r, std::nullopt});
  }
  void age_everything() {
    for (const auto& root : {blobs.root(), blobs.staging_dir()})
      for (const auto& e : fs::recursive_directory_iterator(root))
        if (e.is_regular_file()) age(e.path());
  }
};

TEST(LeftoverSweeper, RemovesLeftoversAndKeepsWhatImagesAndQueuedJobsNeed) {
  Fixture f;
  auto live = f.store("live00000001");
  f.announce(live);
  f.index.put_rendered_variant(live.id, {"m", "png", 2, 2, 2, f.blobs.put("on-demand render")});
  auto deleted = f.store("gone00000001");  // deleted: the index dropped it, the files stayed
  // A queued job: staged, stored (crash before `ready`), not committed.
  write_file(f.blobs.staging_dir() / "queued.upload", "staged bytes");
  auto queued = f.store("wait00000001");
  schemas::IngestJob job;
  job.type = "upload";
  job.image_id = queued.id;
  job.staged_path = "queued.upload";
  f.bus->publish_sync(topics::ingest, job.image_id, schemas::encode(job), 10s);
  write_file(f.blobs.staging_dir() / "abandoned.upload", "nobody's");
  write_file(f.blobs.blobs_dir() / "ab" / ".tmp-1-2", "half a blob");
  write_file(f.blobs.manifests_dir() / ".tmp-3-4", "half a manifest");
  f.age_everything();
  write_file(f.blobs.staging_dir() / "fresh.upload", "being received");
  const auto fresh_blob = f.blobs.put("written a moment ago");

  auto r = f.sweeper.sweep();
  EXPECT_TRUE(r.blobs_checked);
  EXPECT_EQ(r.temp_files, 2u);
  EXPECT_EQ(r.staged_files, 1u);
  EXPECT_EQ(r.manifests, 1u);
  EXPECT_EQ(r.blobs, 2u);
  EXPECT_GT(r.bytes_freed, 0u);
  for (const auto& sha : {live.blob, live.variants[0].blob, queued.blob, queued.variants[0].blob, fresh_blob,
                          f.index.find_variant(live.id, "m", "png")->blob})
    EXPECT_TRUE(f.blobs.contains(sha)) << sha;
  EXPECT_FALSE(f.blobs.contains(deleted.blob));
  EXPECT_FALSE(f.blobs.contains(deleted.variants[0].blob));
  EXPECT_FALSE(f.blobs.get_manifest(deleted.id + ".json"));
  EXPECT_TRUE(f.blobs.get_manifest(live.id + ".json"));
  EXPECT_TRUE(f.blobs.get_manifest(queued.id + ".json"));
  EXPECT_TRUE(fs::exists(f.blobs.staging_dir() / "queued.upload"));
  EXPECT_TRUE(fs::exists(f.blobs.staging_dir() / "fresh.upload"));
  EXPECT_FALSE(fs::exists(f.blobs.staging_dir() / "abandoned.upload"));
  EXPECT_EQ(r.blob_files, 6u);  // live x2, its render, queued x2, fresh
  EXPECT_EQ(f.sweeper.last().finished_at, r.finished_at);

  // Once the worker committed the job, its staged file is a leftover too
  // (the worker removes it itself after `ready`; this is the crash case).
  auto worker = f.bus->subscribe("imgpipe-workers", {topics::ingest});
  worker->commit(topics::ingest, 0, 1);
  f.announce(queued);
  r = f.sweeper.sweep();
  EXPECT_EQ(r.staged_files, 1u);
  EXPECT_TRUE(f.blobs.contains(queued.blob));
}

TEST(LeftoverSweeper, ABlobDeduplicatedByANewImageSurvives) {
  Fixture f;
  auto old = f.store("gone00000002");  // deleted long ago
  f.age_everything();
  // A new upload with the same bytes: put() finds the blob and keeps it
  // fresh; its manifest comes a moment later.
  EXPECT_EQ(f.blobs.put("original of gone00000002"), old.blob);
  auto r = f.sweeper.sweep();
  EXPECT_TRUE(f.blobs.contains(old.blob));
  EXPECT_FALSE(f.blobs.contains(old.variants[0].blob));
  EXPECT_EQ(r.blobs, 1u);
}

TEST(LeftoverSweeper, NothingAnImageMightNeedGoesWhileTheIndexCatchesUp) {
  Fixture f;
  f.ready = false;
  auto img = f.store("late00000001");  // announced, but the index has not applied it yet
  f.age_everything();
  auto r = f.sweeper.sweep();
  EXPECT_FALSE(r.blobs_checked);
  EXPECT_EQ(r.manifests + r.blobs, 0u);
  EXPECT_TRUE(f.blobs.contains(img.blob));
}

}  // namespace
}  // namespace imgpipe::storage
