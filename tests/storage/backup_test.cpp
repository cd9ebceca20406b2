// storage/backup: a checkpoint of a live RocksDB plus the blobs it names,
// restored into a new folder; real RocksDB and real files.
#include "storage/backup.h"

#include <gtest/gtest.h>

#include <fstream>

#include "schemas/messages.h"
#include "storage/blob_store.h"
#include "storage/db.h"
#include "tests/storage/temp_dir.h"

namespace imgpipe::storage {
namespace {

namespace fs = std::filesystem;

schemas::ImageRecord record(const std::string& id, const std::string& blob, const std::string& variant_blob) {
  schemas::ImageRecord r;
  r.id = id;
  r.blob = blob;
  r.variants.push_back({"s", "jpeg", 10, 10, 3, variant_blob});
  return r;
}

TEST(Backup, SnapshotHoldsExactlyWhatTheCheckpointNames) {
  testing::TempDir tmp;
  auto db = Db::open(tmp.path() / "data/index");
  BlobStore blobs(tmp.path() / "data");
  auto a = blobs.put("original a"), av = blobs.put("variant a");
  db->put(cf::images, "a", schemas::encode_record(record("a", a, av)), true);
  blobs.put_manifest("a.json", schemas::encode_record(record("a", a, av)));
  backup::write_checkpoint(*db, tmp.path() / "backup");

  // After the checkpoint: another image, which the backup must not hold.
  auto b = blobs.put("original b"), bv = blobs.put("variant b");
  db->put(cf::images, "b", schemas::encode_record(record("b", b, bv)), true);

  std::vector<backup::Progress> seen;
  auto s = backup::copy_blobs(tmp.path() / "backup", blobs.root(), tmp.path() / "none",
                              [&](const backup::Progress& p) { seen.push_back(p); });
  EXPECT_EQ(s.images, 1u);
  EXPECT_EQ(s.files, 3u);  // two blobs and a manifest
  EXPECT_EQ(s.linked, 3u);  // same filesystem
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back().done, seen.back().total);
  EXPECT_TRUE(fs::exists(tmp.path() / "backup/BACKUP.json"));

  auto restored = tmp.path() / "restored";
  auto r = backup::restore(tmp.path() / "backup", restored, {});
  EXPECT_EQ(r.images, 1u);
  auto back = Db::open(restored / "index");
  EXPECT_TRUE(back->get(cf::images, "a").has_value());
  EXPECT_FALSE(back->get(cf::images, "b").has_value());
  BlobStore restored_blobs(restored);
  EXPECT_EQ(restored_blobs.read(a), "original a");
  EXPECT_EQ(restored_blobs.read(av), "variant a");
  EXPECT_FALSE(restored_blobs.contains(b));
  EXPECT_TRUE(restored_blobs.get_manifest("a.json").has_value());
  // The restored index is writable and the backup untouched by it.
  back->put(cf::images, "c", "{}", true);
  EXPECT_THROW(backup::restore(tmp.path() / "backup", restored, {}), std::runtime_error);  // not empty
}

TEST(Backup, AMissingBlobFailsTheBackupByName) {
  testing::TempDir tmp;
  auto db = Db::open(tmp.path() / "data/index");
  BlobStore blobs(tmp.path() / "data");
  auto a = blobs.put("original a"), av = blobs.put("variant a");
  db->put(cf::images, "a", schemas::encode_record(record("a", a, av)), true);
  backup::write_checkpoint(*db, tmp.path() / "backup");
  blobs.remove(av);
  try {
    backup::copy_blobs(tmp.path() / "backup", blobs.root(), {}, {});
    FAIL() << "a backup without a referenced blob";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(av), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(tmp.path() / "backup/BACKUP.json"));
  EXPECT_THROW(backup::restore(tmp.path() / "backup", tmp.path() / "r", {}), std::runtime_error);
}

}  // namespace
}  // namespace imgpipe::storage
