// The leftover sweeper on a blob store backed by a real S3 store (SeaweedFS):
// the folder's rules, applied to the bucket's objects. Objects cannot be
// aged, so leftovers are judged with no grace period, and a pass is repeated
// until the store's second-resolution times have passed (a condition).
#include <gtest/gtest.h>

#include <algorithm>

#include "schemas/messages.h"
#include "storage/embedded_bus.h"
#include "storage/image_index.h"
#include "storage/leftover_sweeper.h"
#include "storage/s3/s3_blob_store.h"
#include "tests/storage/s3/s3_test_config.h"
#include "tests/storage/temp_dir.h"

namespace imgpipe::storage {
namespace {

using namespace std::chrono_literals;

struct Fixture {
  testing::TempDir dir;
  std::shared_ptr<s3::S3BlobStore> remote = std::make_shared<s3::S3BlobStore>(s3::testenv::test_store_config());
  std::unique_ptr<Db> db = Db::open(dir.path() / "index");
  std::unique_ptr<EmbeddedBus> bus = make_embedded_bus(*db, {.partitions = 1, .retention_interval = 0ms});
  BlobStore blobs{dir.path() / "data"};
  ImageIndex index{*db};
  Fixture() { blobs.set_remote(remote); }

  schemas::ImageRecord store(const std::string& id) {
    schemas::ImageRecord r;
    r.id = id;
    r.format = "jpeg";
    r.blob = blobs.put("original of " + id);
    r.variants.push_back({"s", "webp", 1, 1, 1, blobs.put("variant of " + id)});
    blobs.put_manifest(id + ".json", schemas::encode_record(r));
    return r;
  }
  void stage(const std::string& name) {
    auto w = blobs.open_remote_staged(name);
    w->write("staged bytes of " + name);
    w->finish();
  }
  bool staged(const std::string& name) { return remote->read_staged(name).has_value(); }
};

TEST(S3LeftoverSweeper, RemovesTheStoresLeftoversAndKeepsWhatImagesAndQueuedJobsNeed) {
  Fixture f;
  auto live = f.store("live00000001");
  f.index.apply(schemas::ImageEvent{"ready", live.id, "", live, std::nullopt});
  auto deleted = f.store("gone00000001");
  f.stage("queued.upload");
  auto queued = f.store("wait00000001");
  schemas::IngestJob job;
  job.type = "upload";
  job.image_id = queued.id;
  job.staged_path = "queued.upload";
  f.bus->publish_sync(topics::ingest, job.image_id, schemas::encode(job), 10s);
  f.stage("abandoned.upload");

  // Within the grace period nothing goes.
  LeftoverSweeper patient(f.blobs, *f.db, *f.bus, SweepConfig{}, [] { return true; });
  auto r = patient.sweep();
  EXPECT_TRUE(r.blobs_checked);
  EXPECT_EQ(r.staged_files + r.manifests + r.blobs, 0u);
  EXPECT_EQ(r.blob_files, 6u);
  EXPECT_TRUE(f.staged("abandoned.upload"));

  SweepConfig no_grace;
  no_grace.grace = 0s;
  LeftoverSweeper eager(f.blobs, *f.db, *f.bus, no_grace, [] { return true; });
  SweepReport total;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while ((f.staged("abandoned.upload") || total.blobs < 2) && std::chrono::steady_clock::now() < deadline) {
    r = eager.sweep();
    total.staged_files += r.staged_files;
    total.manifests += r.manifests;
    total.blobs += r.blobs;
  }
  EXPECT_EQ(total.staged_files, 1u);
  EXPECT_EQ(total.manifests, 1u);
  EXPECT_EQ(total.blobs, 2u);
  EXPECT_FALSE(f.staged("abandoned.upload"));
  EXPECT_TRUE(f.staged("queued.upload"));
  for (const auto& sha : {live.blob, live.variants[0].blob, queued.blob, queued.variants[0].blob})
    EXPECT_TRUE(f.remote->contains(sha)) << sha;
  EXPECT_FALSE(f.remote->contains(deleted.blob));
  EXPECT_FALSE(f.remote->contains(deleted.variants[0].blob));
  EXPECT_FALSE(f.remote->get_manifest(deleted.id + ".json"));
  EXPECT_TRUE(f.remote->get_manifest(live.id + ".json"));
  EXPECT_EQ(r.blob_files, 4u);
}

TEST(S3LeftoverSweeper, AbortsMultipartUploadsLeftOpenOnceOlderThanTheGrace) {
  Fixture f;
  // What a gateway killed mid-upload leaves: a part sent, never completed;
  // and what a killed writer of a large blob (a worker, `imgpipe blobs
  // migrate` never run again) leaves under blobs/.
  auto& s3 = f.remote->client();
  const auto key = f.remote->staging_key("killed.upload");
  const auto id = s3.create_multipart(key);
  s3.upload_part(key, id, 1, std::string(5 << 20, 'k'));
  const auto blob = f.remote->blob_key(std::string(64, 'b'));
  s3.upload_part(blob, s3.create_multipart(blob), 1, std::string(5 << 20, 'b'));
  const auto prefix = s3.config().prefix + "/";
  auto open_uploads = s3.list_multipart_uploads(prefix);
  std::sort(open_uploads.begin(), open_uploads.end());
  ASSERT_EQ(open_uploads, (std::vector<std::string>{blob, key}));

  LeftoverSweeper patient(f.blobs, *f.db, *f.bus, SweepConfig{}, [] { return true; });
  EXPECT_EQ(patient.sweep().multipart_uploads, 0u);
  EXPECT_EQ(s3.list_multipart_uploads(prefix).size(), 2u);

  SweepConfig no_grace;
  no_grace.grace = 0s;
  LeftoverSweeper eager(f.blobs, *f.db, *f.bus, no_grace, [] { return true; });
  uint64_t aborted = 0;
  const auto deadline = std::chrono::steady_clock::now() + 10s;  // the store's times are to the second
  while (!s3.list_multipart_uploads(prefix).empty() && std::chrono::steady_clock::now() < deadline)
    aborted += eager.sweep().multipart_uploads;
  EXPECT_TRUE(s3.list_multipart_uploads(prefix).empty());
  EXPECT_EQ(aborted, 2u);
  EXPECT_EQ(f.remote->read_staged("killed.upload"), std::nullopt);
}

TEST(S3LeftoverSweeper, ABlobDeduplicatedByANewImageSurvives) {
  Fixture f;
  const std::string bytes = "original of an image deleted long ago";
  const auto sha = f.remote->put(bytes);  // written by another process, long ago
  const RemoteEntry old{sha, bytes.size(), std::chrono::system_clock::time_point{}};
  const auto cutoff = std::chrono::system_clock::now() - 1h;
  // A new upload with the same bytes: the store keeps the object as it was
  // (create-only), so this store remembers the put for the sweeper.
  EXPECT_EQ(f.blobs.put(bytes), sha);
  EXPECT_FALSE(f.blobs.remove_remote_if_older(RemoteArea::blobs, old, cutoff));
  EXPECT_TRUE(f.remote->contains(sha));
  // Another store (process) made no such put: there it is a leftover.
  testing::TempDir other_dir;
  BlobStore other(other_dir.path());
  other.set_remote(f.remote);
  EXPECT_TRUE(other.remove_remote_if_older(RemoteArea::blobs, old, cutoff));
  EXPECT_FALSE(f.remote->contains(sha));
}

}  // namespace
}  // namespace imgpipe::storage
