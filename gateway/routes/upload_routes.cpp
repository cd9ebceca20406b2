// Upload and import: the caller is admitted (rate limits, quotas, the tier's
// file limit) before a byte of the body is read, the job is published and
// the answer waits for the worker's outcome on the images topic.
#include <chrono>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "gateway/api_responses.h"
#include "gateway/disk_room.h"
#include "gateway/http/multipart.h"
#include "gateway/image_ids.h"
#include "gateway/image_names.h"
#include "gateway/routes/create_flow.h"
#include "gateway/routes/handlers.h"
#include "gateway/upload_sink.h"
#include "schemas/log.h"
#include "schemas/untrusted_json.h"
#include "workers/fetch/url_policy.h"

namespace imgpipe::gateway::routes {
namespace {

using schemas::Error;
using schemas::ErrorCode;

// A staged upload no job will claim (a replay, a conflict): removed now.
void discard_staged(Services& s, const schemas::IngestJob& job) {
  if (job.type != "upload" || job.staged_path.empty()) return;
  try {
    s.blobs.remove_staged(std::filesystem::path(job.staged_path).filename().string());
  } catch (...) {  // the store unreachable: the leftover sweeper takes it later
  }
}

// Wall-clock milliseconds on the caller's clock (--clock-file shifts whole seconds).
int64_t created_ms(int64_t created_at) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch());
  return created_at * 1000 + ms.count() % 1000;
}

// Shape B's 201: the upload body, with the viewer page as Location.
Response upload_created(const GatewayConfig& config, const schemas::ImageRecord& record) {
  auto r = Response::json(201, upload_response(config, record, record.owner.rfind("anon:", 0) == 0));
  r.set("Location", viewer_url(config, record.id));
  return r;
}

}  // namespace

std::shared_ptr<accounts::Admission> admit_new_image(Services& s, const accounts::Caller& caller,
                                                     std::optional<uint64_t> body_bytes,
                                                     const std::optional<std::string>& idempotency_key) {
  require_disk_room(s.config);  // first: a refusal for disk costs the caller no rate-limit unit
  try {
    return s.accounts.admit(caller, body_bytes);
  } catch (const Error& e) {
    const auto code = e.info().id;
    if (!idempotency_key || (code != ErrorCode::quota_exceeded && code != ErrorCode::rate_limited) ||
        !s.index.get(s.idempotency.image_id(caller.owner(), *idempotency_key)))
      throw;
    return s.accounts.admit_replay_only(caller, std::current_exception());
  }
}

void refuse_oversized_upload(const Request& head, uint64_t file_limit) {
  if (head.content_length && *head.content_length > file_limit + kMultipartOverhead)
    throw Error(ErrorCode::file_too_large,
                "The file is larger than the limit of " + std::to_string(file_limit / (1024 * 1024)) + " MB.");
}

schemas::IngestJob new_job(Services& s, const Request& request, std::string type, const accounts::Admission& admission,
                           const std::string& tags, const std::string& ns) {
  schemas::IngestJob job;
  job.type = std::move(type);
  job.owner = admission.caller.owner();
  job.created_at = s.config.clock->now();
  job.created_ms = created_ms(job.created_at);
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
            std::shared_ptr<accounts::Admission> admission, RenderCreated render,
            std::optional<IdempotencyKey> idempotency, JobErrors job_errors) {
  std::shared_ptr<IdempotentCreates::Claim> claim;  // held until the outcome is answered
  if (idempotency) {
    job.image_id = s.idempotency.image_id(job.owner, idempotency->key);
    job.request_hash = idempotency->fingerprint;
    IdempotentCreates::Start start;
    try {
      start = s.idempotency.begin(job.owner, job.image_id, job.request_hash, job.created_at);
    } catch (...) {
      discard_staged(s, job);
      throw;
    }
    if (start.replay) {
      discard_staged(s, job);
      log::info("idempotent_replay", {{"image_id", job.image_id}});
      admission->settle();  // not committed: no second unit
      return respond(render(s.config, *start.replay));
    }
    if (start.failure) {  // the first attempt's error, answered again
      discard_staged(s, job);
      log::info("idempotent_replay", {{"image_id", job.image_id}, {"code", start.failure->info().code}});
      admission->settle();
      return respond(error_response(job_errors ? job_errors(*start.failure) : *start.failure, errors));
    }
    if (admission->refused) {  // over the limits, and not a replay after all
      discard_staged(s, job);
      std::rethrow_exception(admission->refused);
    }
    claim = std::move(start.claim);
  }
  auto started = std::chrono::steady_clock::now();
  auto id = job.image_id;
  const auto& config = s.config;
  s.ingest.submit(job, [&config, respond, errors, started, id, admission, render, claim, job_errors,
                        fingerprint = job.request_hash](IngestOutcome outcome) {
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    const auto* record = std::get_if<schemas::ImageRecord>(&outcome);
    // The same key reached another gateway with another request first.
    const bool conflict = record != nullptr && record->request_hash != fingerprint;
    if (record != nullptr && !conflict) admission->commit();
    // The unit is settled before the answer: a client that retries at once
    // (or uploads the next file) must not meet its own finished upload's
    // reservation. A ready image is already counted (the ledger observed its
    // event before this outcome was delivered).
    admission->settle();
    if (const auto* err = std::get_if<Error>(&outcome)) {
      log::info("ingest_failed", {{"image_id", id}, {"code", err->info().code}, {"ms", ms}});
      return respond(error_response(job_errors ? job_errors(*err) : *err, errors));
    }
    if (conflict) return respond(error_response(Error(ErrorCode::idempotency_key_conflict), errors));
    respond(render(config, *record));
  });
}

BodyPlan plan_upload(Services& s, const Request& head, const ErrorStyle& errors) {
  // The caller and its limits are known before a byte of the body is read.
  auto key = IdempotentCreates::key_of(head);
  auto admission = admit_new_image(s, s.accounts.authenticate(head), head.content_length, key);
  uint64_t limit = admission->max_bytes;
  refuse_oversized_upload(head, limit);
  auto boundary = multipart_boundary(head.header("Content-Type"));
  auto id = new_image_id();
  Request meta = head;  // what the completion needs of the request
  auto sink = std::make_unique<UploadSink>(
      s.blobs, id + ".upload", boundary, limit,
      [&s, meta, id, key, admission, errors](StagedUpload staged, Respond respond) {
        auto job = new_job(s, meta, "upload", *admission, staged.tags, staged.ns);
        job.image_id = id;
        job.staged_path = staged.file_name;
        job.sha256 = staged.sha256;
        job.name = !staged.name.empty() ? staged.name : staged.original_filename;
        clamp_name(job.name);
        std::optional<IdempotencyKey> idempotency;
        if (key)
          idempotency = IdempotencyKey{*key, IdempotentCreates::fingerprint(nlohmann::json{
                                                 {"route", "upload"}, {"sha256", staged.sha256},
                                                 {"filename", staged.original_filename},
                                                 {"content_type", staged.content_type}, {"name", staged.name},
                                                 {"tags", staged.tags}, {"namespace", staged.ns}})};
        submit(s, std::move(job), std::move(respond), errors, admission, upload_created, std::move(idempotency));
      });
  return StreamBody{std::move(sink), limit + kMultipartOverhead};
}

void import_url(Services& s, const Call& call) {
  const auto& request = call.request;
  auto caller = s.accounts.authenticate(request);
  auto body = schemas::parse_untrusted_json(request.body);
  if (body.is_discarded() || !body.is_object())
    throw Error(ErrorCode::bad_request, "The body must be a JSON object like {\"url\": \"https://...\"}.");
  auto url = body.find("url");
  if (url == body.end() || !url->is_string() || url->get<std::string>().empty())
    throw Error(ErrorCode::bad_request, "The field 'url' is required.");
  if (url->get<std::string>().size() > 2048) throw Error(ErrorCode::bad_request, "The URL is longer than 2048 characters.");
  // The worker's own check, now: a URL it would refuse makes no image (and no failed one).
  workers::fetch::parse_import_url(url->get<std::string>());
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
  auto key = IdempotentCreates::key_of(request);
  auto admission = admit_new_image(s, caller, std::nullopt, key);
  auto job = new_job(s, request, "import", *admission, tags, ns);
  job.image_id = new_image_id();
  job.url = url->get<std::string>();
  if (auto name = body.find("name"); name != body.end() && name->is_string()) job.name = name->get<std::string>();
  if (job.name.empty()) job.name = name_from_url(job.url);
  clamp_name(job.name);
  std::optional<IdempotencyKey> idempotency;
  if (key)
    idempotency = IdempotencyKey{*key, IdempotentCreates::fingerprint(nlohmann::json{
                                           {"route", "import"}, {"url", job.url}, {"name", job.name},
                                           {"tags", tags}, {"namespace", ns}})};
  submit(s, std::move(job), call.respond, call.errors, admission, upload_created, std::move(idempotency));
}

}  // namespace imgpipe::gateway::routes
