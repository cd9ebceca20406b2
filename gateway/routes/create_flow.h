#pragma once
// The one path from an admitted caller to a created image, shared by shape
// B (/v1/upload, /v1/import) and shape C (POST /v1/images): the job, its
// publication and the wait for the worker's outcome. Only the 201 body differs.

#include <memory>
#include <optional>
#include <string>

#include "gateway/routes/route.h"
#include "gateway/routes/services.h"

namespace imgpipe::gateway::routes {

// Multipart part headers and text fields around the file.
inline constexpr uint64_t kMultipartOverhead = 64 * 1024;

// The one gate before a new image: room on the server's disk
// (gateway/disk_room.h), then the caller's limits (accounts.admit). A
// caller over its limits whose Idempotency-Key already names an image gets
// a replay-only admission: the retry of a create that succeeded is answered
// again (img.pro: "replays the first answer"), anything else is refused.
std::shared_ptr<accounts::Admission> admit_new_image(Services& s, const accounts::Caller& caller,
                                                     std::optional<uint64_t> body_bytes,
                                                     const std::optional<std::string>& idempotency_key);

// A multipart body whose announced length cannot fit the tier's file limit
// is refused before a byte of it is read (413).
void refuse_oversized_upload(const Request& head, uint64_t file_limit);

// A job owned by the admitted caller: owner, expiry and byte limit from the
// caller's tier; tags and namespace for key holders only.
schemas::IngestJob new_job(Services& s, const Request& request, std::string type, const accounts::Admission& admission,
                           const std::string& tags, const std::string& ns);

// The 201 answer for a created image.
using RenderCreated = Response (*)(const GatewayConfig& config, const schemas::ImageRecord& record);

// A create sent with an Idempotency-Key (gateway/idempotency.h): the key and
// the fingerprint of the request's parsed fields and file.
struct IdempotencyKey {
  std::string key;
  std::string fingerprint;
};

// How a route names a job's failure (shape C's URL creates: fetch_failed).
using JobErrors = schemas::Error (*)(const schemas::Error& job_error);

// Publishes the job; answers with render(record), or the job's error (through
// `job_errors` when set). With
// an Idempotency-Key the image id comes from the owner and the key: an image
// made with it is answered again (no second job, no second quota unit), and
// a conflict or a first request still in flight throws 409. A staged upload
// that no job will claim is removed.
void submit(Services& s, schemas::IngestJob job, Respond respond, ErrorStyle errors,
            std::shared_ptr<accounts::Admission> admission, RenderCreated render,
            std::optional<IdempotencyKey> idempotency = std::nullopt, JobErrors job_errors = nullptr);

}  // namespace imgpipe::gateway::routes
