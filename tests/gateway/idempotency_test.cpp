// Which failed first attempts bind their Idempotency-Key (docs/api.md
// "Idempotency"), on a real index: the request's own failure for a day; a
// retryable one, a 500 or an older one never.
#include "gateway/idempotency.h"

#include <gtest/gtest.h>

#include "storage/db.h"
#include "tests/storage/temp_dir.h"

namespace imgpipe::gateway {
namespace {

using schemas::ErrorCode;

constexpr int64_t kCreated = 1'800'000'000;

class IdempotentCreatesTest : public ::testing::Test {
 protected:
  // A failed record for `key`, made by a `failed` event as the worker sends it.
  std::string failed(const std::string& key, const std::string& code) {
    const auto id = creates.image_id("key:k1", key);
    schemas::ImageRecord record;
    record.id = id;
    record.owner = "key:k1";
    record.created_at = kCreated;
    record.request_hash = "fp";
    record.status = schemas::kFailed;
    index.apply(schemas::ImageEvent{"failed", id, "req", record, schemas::ErrorDetail{code, "why", "probe"}});
    return id;
  }

  storage::testing::TempDir dir;
  std::unique_ptr<storage::Db> db = storage::Db::open(dir.path());
  storage::ImageIndex index{*db};
  IdempotentCreates creates{"secret", index};
};

TEST_F(IdempotentCreatesTest, TheRequestsOwnFailureBindsTheKeyForADay) {
  for (const char* code : {"invalid_image", "unsupported_format", "image_too_large", "import_failed"}) {
    const auto id = failed(code, code);
    const auto start = creates.begin("key:k1", id, "fp", kCreated + 3600);
    ASSERT_TRUE(start.failure.has_value()) << code;
    EXPECT_EQ(start.failure->info().code, code);
    EXPECT_STREQ(start.failure->what(), "why");
    EXPECT_FALSE(start.claim) << code << ": no new job";
    try {
      creates.begin("key:k1", id, "another", kCreated + 3600);
      ADD_FAILURE() << code << ": another request went ahead";
    } catch (const schemas::Error& e) {
      EXPECT_EQ(e.id(), ErrorCode::idempotency_key_conflict) << code;
    }
    // A day later the key runs again.
    const auto later = creates.begin("key:k1", id, "fp", kCreated + 24 * 3600);
    EXPECT_FALSE(later.failure.has_value()) << code;
    EXPECT_TRUE(later.claim) << code;
  }
}

TEST_F(IdempotentCreatesTest, AFailureThatSaidRetryOrWasOursBindsNothing) {
  for (const char* code : {"service_unavailable", "processing_timeout", "import_timeout", "import_unreachable",
                           "insufficient_storage", "internal_error", "a_code_from_a_newer_worker"}) {
    const auto id = failed(code, code);
    const auto start = creates.begin("key:k1", id, "another request", kCreated + 60);
    EXPECT_FALSE(start.failure.has_value()) << code;
    EXPECT_FALSE(start.replay.has_value()) << code;
    EXPECT_TRUE(start.claim) << code << ": the key runs again";
  }
}

}  // namespace
}  // namespace imgpipe::gateway
