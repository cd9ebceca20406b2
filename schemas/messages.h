#pragma once
// The messages on the topics (contracts: schemas/*.schema.json). JSON with a
// `type` and a schema version `v`. Decoders throw schemas::Error(bad_request)
// naming the field, so a malformed message can be dead-lettered with a reason.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace imgpipe::schemas {

inline constexpr int kSchemaVersion = 1;

// imgpipe.ingest, key = image id.
struct IngestJob {
  std::string type;        // "upload" (claim check on a staged file) or "import" (URL)
  std::string image_id;
  std::string staged_path; // upload: file under the blob store's staging folder (relative name)
  std::string sha256;      // upload: sha256 of the staged file
  std::string url;         // import
  std::string owner;       // "anon:<ip>" or "key:<key_id>"
  std::string ns;          // namespace ("" for none)
  std::vector<std::string> tags;
  std::string name;
  std::string reply_to;    // gateway instance that waits (informational: every gateway reads the images topic)
  std::string request_id;
  int64_t created_at = 0;  // unix seconds
  int64_t expires_at = 0;  // unix seconds, 0 = permanent
  uint64_t max_bytes = 0;  // tier byte limit (imports)
  // The image API's fields (docs/api.md), copied into the record as sent.
  std::string caption;
  std::map<std::string, std::string> labels;    // indexed for listing
  std::map<std::string, std::string> metadata;  // returned, not indexed
  bool is_public = true;                        // false: no viewer page
  int64_t created_ms = 0;    // unix milliseconds: the listing order within a second (0: created_at)
  std::string request_hash;  // an Idempotency-Key create's fingerprint (gateway/idempotency.h)
};

struct VariantRecord {
  std::string size;    // "s", "m", "l"
  std::string format;  // "jpeg", "webp", ...
  int width = 0;
  int height = 0;
  uint64_t bytes = 0;
  std::string blob;    // sha256
};

// An image's state (docs/api.md "status"): only a ready record has the
// original's fields (format, width, height, filesize, blob, variants).
inline constexpr const char* kProcessing = "processing";
inline constexpr const char* kReady = "ready";
inline constexpr const char* kFailed = "failed";

struct ErrorDetail {
  std::string code;     // public error code (errors.h)
  std::string message;
  std::string step;     // pipeline step that failed
};

struct ImageRecord {
  std::string id;
  std::string name;
  std::string owner;
  std::string ns;
  std::vector<std::string> tags;
  std::string format;  // of the original
  int width = 0;
  int height = 0;
  uint64_t filesize = 0;
  std::string blob;    // sha256 of the normalised original
  int64_t created_at = 0;
  int64_t expires_at = 0;
  std::vector<VariantRecord> variants;
  std::string caption;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> metadata;
  bool is_public = true;
  int64_t created_ms = 0;    // as IngestJob's
  std::string request_hash;  // as IngestJob's
  std::string status = kReady;  // kProcessing, kReady or kFailed
  // Failed: why, as the job's `failed` event said (the index keeps it from
  // that event, so a retry with the same Idempotency-Key can be answered
  // the same; gateway/idempotency.h).
  std::optional<ErrorDetail> failure;

  bool ready() const { return status == kReady; }
};

// The record a job's image starts with: the job's fields, in `status`
// (processing or failed); store_original adds the original's.
ImageRecord record_of(const IngestJob& job, const char* status);

// imgpipe.images, key = event_key(event) (compacted: the newest record of
// each key is kept).
struct ImageEvent {
  // "accepted" (the job is taken: a processing record), "ready", "variants",
  // "updated", "deleted", "failed"
  std::string type;
  std::string image_id;
  std::string request_id;
  std::optional<ImageRecord> image;   // accepted, ready, variants, updated; failed: the failed record when known
  std::optional<ErrorDetail> error;   // failed
};

// imgpipe.ingest.dlq, key = image id (or the original key).
struct DeadLetter {
  std::string reason;
  ErrorDetail error;
  std::string original_topic;
  int32_t original_partition = 0;
  int64_t original_offset = 0;
  std::string original_key;
  std::string original_value;  // the message as it was, even if not JSON
};

// The key an image event is published under: the image id, except a
// worker's `variants` event, "id#variants". It lands in the id's partition
// (storage/partition_key.h), so it stays ordered after `ready`, but it is
// no longer the newest record of the id: compaction cannot let it hide a
// later PATCH (`updated`) or a delete, and the index merges it only into a
// ready record it has (storage/image_index.cpp).
std::string event_key(const ImageEvent& event);

std::string encode(const IngestJob& job);
std::string encode(const ImageEvent& event);
std::string encode(const DeadLetter& letter);
std::string encode_record(const ImageRecord& record);

IngestJob decode_ingest_job(const std::string& json);
ImageEvent decode_image_event(const std::string& json);
DeadLetter decode_dead_letter(const std::string& json);
ImageRecord decode_record(const std::string& json);

}  // namespace imgpipe::schemas
