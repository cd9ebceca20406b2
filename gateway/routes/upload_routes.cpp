// Upload and import: the caller is admitted (rate limits, quotas, the tier's
// file limit) before a byte of the body is read, the job is published and
// the answer waits for the worker's outcome on the images topic.
#include <chrono>

#include <nlohmann/json.hpp>

#include "gateway/api_responses.h"
#include "gateway/http/multipart.h"
#include "gateway/image_ids.h"
#include "gateway/image_names.h"
#include "gateway/routes/create_flow.h"
#include "gateway/routes/handlers.h"
#include "gateway/upload_sink.h"
#include "schemas/log.h"

namespace imgpipe::gateway::routes {
namespace {

using schemas::Error;
using schemas::ErrorCode;

// Shape B's 201: the upload body, with the viewer page as Location.
Response upload_created(const GatewayConfig& config, const schemas::ImageRecord& record) {
  auto r = Response::json(201, upload_response(config, record, record.owner.rfind("anon:", 0) == 0));
  r.set("Location", viewer_url(config, record.id));
  return r;
}

}  // namespace

// A job owned by the admitted caller: owner, expiry and byte limit from the
// caller's tier; tags and namespace for key holders only.
schemas::IngestJob new_job(Services& s, const Request& request, std::string type, const accounts::Admission& admission,
                           const std::string& tags, const std::string& ns) {
  schemas::IngestJob job;
  job.type = std::move(type);
  job.owner = admission.caller.owner();
  job.created_at = s.config.clock->now();
  job.expires_at = admission.expires_at;
  job.max_bytes = admission.max_bytes;
  job.reply_to = s.config.instance_id;
  job.request_id = request.request_id;
  if (admission.caller.account) {  // anonymous uploads carry no tags or namespace
    job.tags = accounts::parse_tags(tags);
    if (!ns.empty()) job.ns = accounts::check_namespace(ns);
  }
  return job;
}

void submit(Services& s, schemas::IngestJob job, Respond respond, ErrorStyle errors,
            std::shared_ptr<accounts::Admission> admission, RenderCreated render) {
  auto started = std::chrono::steady_clock::now();
  auto id = job.image_id;
  const auto& config = s.config;
  s.ingest.submit(job, [&config, respond, errors, started, id, admission, render](IngestOutcome outcome) {
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    if (auto* err = std::get_if<Error>(&outcome)) {
      log::info("ingest_failed", {{"image_id", id}, {"code", err->info().code}, {"ms", ms}});
      return respond(error_response(*err, errors));
    }
    const auto& record = std::get<schemas::ImageRecord>(outcome);
    admission->commit();
    respond(render(config, record));
  });
}

BodyPlan plan_upload(Services& s, const Request& head, const ErrorStyle& errors) {
  // The caller and its limits are known before a byte of the body is read.
  auto admission = s.accounts.admit(s.accounts.authenticate(head), head.content_length);
  uint64_t limit = admission->max_bytes;
  if (head.content_length && *head.content_length > limit + kMultipartOverhead)
    throw Error(ErrorCode::file_too_large,
                "The file is larger than the limit of " + std::to_string(limit / (1024 * 1024)) + " MB.");
  auto boundary = multipart_boundary(head.header("Content-Type"));
  auto id = new_image_id();
  Request meta = head;  // what the completion needs of the request
  auto sink = std::make_unique<UploadSink>(
      s.blobs, id + ".upload", boundary, limit,
      [&s, meta, id, admission, errors](StagedUpload staged, Respond respond) {
        auto job = new_job(s, meta, "upload", *admission, staged.tags, staged.ns);
        job.image_id = id;
        job.staged_path = staged.file_name;
        job.sha256 = staged.sha256;
        job.name = !staged.name.empty() ? staged.name : staged.original_filename;
        clamp_name(job.name);
        submit(s, std::move(job), std::move(respond), errors, admission, upload_created);
      });
  return StreamBody{std::move(sink), limit + kMultipartOverhead};
}

void import_url(Services& s, const Call& call) {
  const auto& request = call.request;
  auto caller = s.accounts.authenticate(request);
  auto body = nlohmann::json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object())
    throw Error(ErrorCode::bad_request, "The body must be a JSON object like {\"url\": \"https://...\"}.");
  auto url = body.find("url");
  if (url == body.end() || !url->is_string() || url->get<std::string>().empty())
    throw Error(ErrorCode::bad_request, "The field 'url' is required.");
  if (url->get<std::string>().size() > 2048) throw Error(ErrorCode::bad_request, "The URL is longer than 2048 characters.");
  // tags: "a,b" or ["a","b"]; namespace: a string. Checked before a unit of quota is taken.
  std::string tags, ns;
  if (auto t = body.find("tags"); t != body.end() && !t->is_null()) {
    if (t->is_string()) tags = t->get<std::string>();
    else if (t->is_array())
      for (const auto& tag : *t) {
        if (!tag.is_string()) throw Error(ErrorCode::invalid_field, "Tags must be strings.");
        tags += (tags.empty() ? "" : ",") + tag.get<std::string>();
      }
    else throw Error(ErrorCode::invalid_field, "The field 'tags' must be a string or a list of strings.");
  }
  if (auto n = body.find("namespace"); n != body.end() && !n->is_null()) {
    if (!n->is_string()) throw Error(ErrorCode::invalid_field, "The field 'namespace' must be a string.");
    ns = n->get<std::string>();
  }
  if (caller.account) {
    accounts::parse_tags(tags);
    if (!ns.empty()) accounts::check_namespace(ns);
  }
  auto admission = s.accounts.admit(caller, std::nullopt);
  auto job = new_job(s, request, "import", *admission, tags, ns);
  job.image_id = new_image_id();
  job.url = url->get<std::string>();
  if (auto name = body.find("name"); name != body.end() && name->is_string()) job.name = name->get<std::string>();
  if (job.name.empty()) job.name = name_from_url(job.url);
  clamp_name(job.name);
  submit(s, std::move(job), call.respond, call.errors, admission, upload_created);
}

}  // namespace imgpipe::gateway::routes
