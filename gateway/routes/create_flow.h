#pragma once
// The one path from an admitted caller to a created image, shared by shape
// B (/v1/upload, /v1/import) and shape C (POST /v1/images): the job, its
// publication and the wait for the worker's outcome. Only the 201 body differs.

#include <memory>
#include <string>

#include "gateway/routes/route.h"
#include "gateway/routes/services.h"

namespace imgpipe::gateway::routes {

// Multipart part headers and text fields around the file.
inline constexpr uint64_t kMultipartOverhead = 64 * 1024;

// A job owned by the admitted caller: owner, expiry and byte limit from the
// caller's tier; tags and namespace for key holders only.
schemas::IngestJob new_job(Services& s, const Request& request, std::string type, const accounts::Admission& admission,
                           const std::string& tags, const std::string& ns);

// The 201 answer for a created image.
using RenderCreated = Response (*)(const GatewayConfig& config, const schemas::ImageRecord& record);

// Publishes the job; answers with render(record), or the job's error.
void submit(Services& s, schemas::IngestJob job, Respond respond, ErrorStyle errors,
            std::shared_ptr<accounts::Admission> admission, RenderCreated render);

}  // namespace imgpipe::gateway::routes
