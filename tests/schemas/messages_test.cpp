#include <gtest/gtest.h>

#include "schemas/errors.h"
#include "schemas/messages.h"

using namespace imgpipe::schemas;

namespace {
ErrorCode code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.id();
  }
  return ErrorCode::internal_error;
}
}  // namespace

TEST(IngestJobCodec, UploadRoundTrips) {
  IngestJob job{"upload", "abc123", "abc123.upload", std::string(64, 'f'), "", "anon:127.0.0.1", "proj",
                {"a", "b"}, "photo.jpg", "gw-1", "req-1", 1700000000, 1702592000, 20 << 20, "", {}, {}, true, 1700000000500, "fp"};
  auto back = decode_ingest_job(encode(job));
  EXPECT_EQ(back.type, "upload");
  EXPECT_EQ(back.image_id, "abc123");
  EXPECT_EQ(back.staged_path, "abc123.upload");
  EXPECT_EQ(back.sha256, job.sha256);
  EXPECT_EQ(back.tags, job.tags);
  EXPECT_EQ(back.ns, "proj");
  EXPECT_EQ(back.expires_at, job.expires_at);
  EXPECT_EQ(back.max_bytes, job.max_bytes);
  EXPECT_EQ(back.created_ms, 1700000000500);
  EXPECT_EQ(back.request_hash, "fp");
}

TEST(IngestJobCodec, MinimalImportFromAnOutsideProducer) {
  auto job = decode_ingest_job(R"({"v":1,"type":"import","image_id":"bulk-0001","url":"https://example.com/a.jpg"})");
  EXPECT_EQ(job.url, "https://example.com/a.jpg");
  EXPECT_EQ(job.owner, "bulk");
  EXPECT_EQ(job.expires_at, 0);
}

TEST(IngestJobCodec, RejectsMalformedMessagesWithAReason) {
  for (const char* bad : {"", "garbage", "[]", R"({"type":"upload"})", R"({"type":"import","image_id":"x"})",
                          R"({"type":"eat","image_id":"x"})", R"({"type":"import","image_id":"../etc","url":"u"})",
                          R"({"v":2,"type":"import","image_id":"x","url":"u"})",
                          R"({"type":"import","image_id":7,"url":"u"})",
                          // Numbers that do not fit an integer field (messages_fuzz found 1e30 as "v").
                          R"({"v":1e30,"type":"import","image_id":"x","url":"u"})",
                          R"({"v":1.5,"type":"import","image_id":"x","url":"u"})",
                          R"({"v":99999999999,"type":"import","image_id":"x","url":"u"})"}) {
    EXPECT_EQ(code_of([&] { decode_ingest_job(bad); }), ErrorCode::bad_request) << bad;
  }
}

TEST(ImageEventCodec, ReadyCarriesTheRecordAndVariants) {
  ImageRecord r;
  r.id = "abc";
  r.format = "jpeg";
  r.width = 10;
  r.height = 20;
  r.filesize = 99;
  r.blob = "deadbeef";
  r.created_at = 1;
  r.variants.push_back({"s", "webp", 5, 10, 44, "cafe"});
  auto back = decode_image_event(encode(ImageEvent{"ready", "abc", "req", r, std::nullopt}));
  ASSERT_TRUE(back.image);
  EXPECT_EQ(back.image->width, 10);
  ASSERT_EQ(back.image->variants.size(), 1u);
  EXPECT_EQ(back.image->variants[0].format, "webp");
  EXPECT_EQ(back.image->variants[0].blob, "cafe");
}

TEST(ImageEventCodec, FailedNeedsAnErrorAndUnknownTypesAreRefused) {
  auto failed = decode_image_event(encode(ImageEvent{"failed", "abc", "", std::nullopt, ErrorDetail{"invalid_image", "m", "probe"}}));
  EXPECT_EQ(failed.error->code, "invalid_image");
  EXPECT_EQ(code_of([] { decode_image_event(R"({"type":"failed","image_id":"a"})"); }), ErrorCode::bad_request);
  EXPECT_EQ(code_of([] { decode_image_event(R"({"type":"ready","image_id":"a"})"); }), ErrorCode::bad_request);
  EXPECT_EQ(code_of([] { decode_image_event(R"({"type":"exploded","image_id":"a"})"); }), ErrorCode::bad_request);
}

TEST(DeadLetterCodec, KeepsTheOriginalBytesEvenWhenNotUtf8) {
  DeadLetter d{"malformed message", {"validation_error", "not JSON", "decode"}, "imgpipe.ingest", 3, 42, "k",
               std::string("\xff\xfe garbage", 10)};
  auto back = decode_dead_letter(encode(d));
  EXPECT_EQ(back.original_partition, 3);
  EXPECT_EQ(back.original_offset, 42);
  EXPECT_EQ(back.error.step, "decode");
  EXPECT_NE(back.original_value.find("garbage"), std::string::npos);
}

// Found by tests/fuzz/messages_fuzz (issue 16): a dead letter without its
// nested objects escaped the codec as nlohmann's out_of_range (an uncaught
// exception in whoever read the topic) instead of a malformed-message Error.
TEST(DeadLetterCodec, MissingOrWrongNestedObjectsAreMalformedMessages) {
  const std::string crash = R"({"v": 1, "type": "dead_letter", "reason": "malformed message", "error": {"code": "x"}})";
  EXPECT_EQ(code_of([&] { decode_dead_letter(crash); }), ErrorCode::bad_request);
  EXPECT_EQ(code_of([&] { decode_dead_letter(R"({"reason": "r"})"); }), ErrorCode::bad_request);
  EXPECT_EQ(code_of([&] { decode_dead_letter(R"({"reason": "r", "error": "x", "original": {}})"); }),
            ErrorCode::bad_request);
  EXPECT_EQ(code_of([&] { decode_dead_letter(R"({"reason": "r", "error": {"code": "c"}, "original": [1]})"); }),
            ErrorCode::bad_request);
}
