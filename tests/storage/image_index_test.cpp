// ImageIndex keeps decoded records in memory for hot src requests; these
// check that every write through apply()/clear() is seen by the next get().
#include "storage/image_index.h"

#include <gtest/gtest.h>

#include "tests/storage/temp_dir.h"

namespace imgpipe::storage {
namespace {

schemas::ImageEvent ready(const std::string& id, const std::string& name) {
  schemas::ImageRecord r;
  r.id = id;
  r.name = name;
  r.format = "jpeg";
  r.blob = std::string(64, 'a');
  return schemas::ImageEvent{"ready", id, "req", r, std::nullopt};
}

TEST(ImageIndex, CachedRecordFollowsUpdatesAndDeletes) {
  testing::TempDir dir;
  auto db = Db::open(dir.path());
  ImageIndex index(*db);
  EXPECT_FALSE(index.get("abc"));
  index.apply(ready("abc", "first"));
  ASSERT_TRUE(index.get("abc"));
  EXPECT_EQ(index.get_shared("abc")->name, "first");  // now cached
  auto updated = ready("abc", "second");
  updated.type = "updated";
  index.apply(updated);
  EXPECT_EQ(index.get("abc")->name, "second");
  index.apply(schemas::ImageEvent{"deleted", "abc", "req", std::nullopt, std::nullopt});
  EXPECT_FALSE(index.get("abc"));
  EXPECT_FALSE(index.get_shared("abc"));
}

TEST(ImageIndex, ClearForgetsCachedRecords) {
  testing::TempDir dir;
  auto db = Db::open(dir.path());
  ImageIndex index(*db);
  index.apply(ready("abc", "first"));
  ASSERT_TRUE(index.get("abc"));
  index.clear();
  EXPECT_FALSE(index.get("abc"));
}

TEST(ImageIndex, CapacityBoundsTheCache) {
  testing::TempDir dir;
  auto db = Db::open(dir.path());
  ImageIndex index(*db, 2);
  for (const char* id : {"a1", "a2", "a3"}) index.apply(ready(id, id));
  for (const char* id : {"a1", "a2", "a3", "a1"}) EXPECT_EQ(index.get(id)->name, id);
}

}  // namespace
}  // namespace imgpipe::storage
