// ImageIndex keeps decoded records in memory for hot src requests; these
// check that every write through apply()/clear() is seen by the next get().
#include "storage/image_index.h"

#include <algorithm>

#include <gtest/gtest.h>

#include "schemas/errors.h"
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

// A job's record before its original is stored, owned and labelled: listed.
schemas::ImageEvent job_event(const std::string& type, const std::string& id, const char* status) {
  schemas::IngestJob job;
  job.image_id = id;
  job.owner = "key:k1";
  job.created_at = 1700000000;
  job.labels = {{"env", "prod"}};
  schemas::ImageEvent e{type, id, "req", schemas::record_of(job, status), std::nullopt};
  if (type == "failed") e.error = schemas::ErrorDetail{"invalid_image", "bad", "probe"};
  return e;
}

std::vector<std::string> listed(ImageIndex& index, std::optional<ImageIndex::Label> label = std::nullopt) {
  std::vector<std::string> ids;
  index.list_owner("key:k1", label, "", [&](const std::string& id, std::string_view) {
    ids.push_back(id);
    return true;
  });
  return ids;
}

// docs/api.md "status": accepted starts an image, failed ends a job that
// never stored anything, ready always wins; nothing turns a ready image back.
TEST(ImageIndex, StatusFollowsTheJobAndReadyIsNeverUndone) {
  testing::TempDir dir;
  auto db = Db::open(dir.path());
  ImageIndex index(*db);
  index.apply(job_event("accepted", "p1", schemas::kProcessing));
  ASSERT_TRUE(index.get("p1"));
  EXPECT_EQ(index.get("p1")->status, schemas::kProcessing);
  EXPECT_EQ(listed(index), std::vector<std::string>{"p1"});
  EXPECT_EQ(listed(index, ImageIndex::Label{"env", "prod"}), std::vector<std::string>{"p1"});
  // The worker's own accepted for the same job changes nothing.
  index.apply(job_event("accepted", "p1", schemas::kProcessing));
  EXPECT_EQ(listed(index).size(), 1u);
  // ready replaces it; a later accepted (an idempotent retry) or failed does not undo it.
  auto r = ready("p1", "done.jpg");
  r.image->owner = "key:k1";
  r.image->created_at = 1700000000;
  index.apply(r);
  EXPECT_TRUE(index.get("p1")->ready());
  index.apply(job_event("accepted", "p1", schemas::kProcessing));
  index.apply(job_event("failed", "p1", schemas::kFailed));
  index.apply(schemas::ImageEvent{"failed", "p1", "req", std::nullopt, schemas::ErrorDetail{"internal_error", "", "variants"}});
  EXPECT_TRUE(index.get("p1")->ready());
  EXPECT_EQ(index.get("p1")->name, "done.jpg");
  EXPECT_EQ(listed(index), std::vector<std::string>{"p1"});

  // failed, with its record or (an older worker's event) onto the processing one.
  index.apply(job_event("failed", "f1", schemas::kFailed));
  EXPECT_EQ(index.get("f1")->status, schemas::kFailed);
  index.apply(job_event("accepted", "f2", schemas::kProcessing));
  index.apply(schemas::ImageEvent{"failed", "f2", "req", std::nullopt, schemas::ErrorDetail{"invalid_image", "", "probe"}});
  EXPECT_EQ(index.get("f2")->status, schemas::kFailed);
  EXPECT_EQ(index.get("f2")->labels.at("env"), "prod");
  // The failed record keeps why (an Idempotency-Key retry answers it again).
  ASSERT_TRUE(index.get("f1")->failure.has_value());
  EXPECT_EQ(index.get("f1")->failure->code, "invalid_image");
  EXPECT_EQ(index.get("f1")->failure->message, "bad");
  ASSERT_TRUE(index.get("f2")->failure.has_value());
  EXPECT_EQ(index.get("f2")->failure->step, "probe");
  // Tried again: processing; then a ready after failed wins.
  index.apply(job_event("accepted", "f2", schemas::kProcessing));
  EXPECT_EQ(index.get("f2")->status, schemas::kProcessing);
  EXPECT_FALSE(index.get("f2")->failure.has_value()) << "a new attempt forgets the old failure";
  auto r2 = ready("f2", "x.jpg");
  r2.image->owner = "key:k1";
  index.apply(r2);
  EXPECT_TRUE(index.get("f2")->ready());
  // A failed event about an image never seen leaves nothing to list.
  index.apply(schemas::ImageEvent{"failed", "zz", "req", std::nullopt, schemas::ErrorDetail{"bad_request", "", "decode"}});
  EXPECT_FALSE(index.get("zz"));
  // Deleted while processing: gone, and the worker's late ready does not bring it back.
  index.apply(job_event("accepted", "d1", schemas::kProcessing));
  index.apply(schemas::ImageEvent{"deleted", "d1", "req", std::nullopt, std::nullopt});
  auto late = ready("d1", "late.jpg");
  late.image->owner = "key:k1";
  index.apply(late);
  EXPECT_FALSE(index.get("d1"));
  auto ids = listed(index);
  EXPECT_EQ(std::find(ids.begin(), ids.end(), "d1"), ids.end());
}

// The codec keeps the state: a processing or failed record has none of the
// original's fields, and a record without "status" (every one written
// before it existed) is ready.
TEST(ImageIndex, RecordsKeepTheirStatusThroughTheCodec) {
  auto processing = job_event("accepted", "p1", schemas::kProcessing);
  auto back = schemas::decode_image_event(schemas::encode(processing));
  EXPECT_EQ(back.image->status, schemas::kProcessing);
  EXPECT_EQ(back.image->labels, processing.image->labels);
  EXPECT_EQ(schemas::encode(processing).find("\"blob\""), std::string::npos);
  auto r = ready("p1", "a.jpg");
  EXPECT_EQ(schemas::encode(r).find("\"status\""), std::string::npos);
  EXPECT_TRUE(schemas::decode_image_event(schemas::encode(r)).image->ready());
  // A ready event with a processing record is malformed.
  auto wrong = r;
  wrong.image->status = schemas::kProcessing;
  EXPECT_THROW(schemas::decode_image_event(schemas::encode(wrong)), schemas::Error);
}

}  // namespace
}  // namespace imgpipe::storage
