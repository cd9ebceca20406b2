// POST /v1/images (shape C): multipart (file, caption, labels, metadata,
// public, ttl), streamed like /v1/upload, or JSON ({"url", ...}) through the
// import path with all its defences. Anonymous callers may create, within
// the same tier limits as /v1/upload; a key needs the write ability, checked
// before the body is read.
#include <algorithm>

#include <nlohmann/json.hpp>

#include "gateway/http/multipart.h"
#include "gateway/image_fields.h"
#include "gateway/image_ids.h"
#include "gateway/image_names.h"
#include "gateway/image_object.h"
#include "gateway/routes/create_flow.h"
#include "gateway/routes/handlers.h"
#include "gateway/upload_sink.h"
#include "schemas/untrusted_json.h"
#include "workers/fetch/url_policy.h"

namespace imgpipe::gateway::routes {
namespace {

using json = nlohmann::json;
using schemas::Error;
using schemas::ErrorCode;

Response image_created(const GatewayConfig& config, const schemas::ImageRecord& record) {
  auto r = Response::json(201, image_object(config, record).dump(-1, ' ', false, json::error_handler_t::replace));
  r.set("Cache-Control", "no-store");
  return r;
}

// Anonymous creates are public, whatever was asked (the reference's rule).
accounts::Caller creator(Services& s, const Request& request) {
  auto caller = s.accounts.authenticate(request);
  if (caller.account && !caller.account->can("write"))
    throw Error(ErrorCode::forbidden, "This API key lacks the 'write' ability.");
  return caller;
}

// A ttl shortens the tier's expiry, never extends it.
int64_t expiry_with_ttl(int64_t tier_expiry, int64_t created_at, std::optional<int64_t> ttl) {
  if (!ttl) return tier_expiry;
  int64_t asked = created_at + *ttl;
  return tier_expiry ? std::min(tier_expiry, asked) : asked;
}

void apply_fields(schemas::IngestJob& job, const ImageFields& f, bool anonymous) {
  if (f.caption) job.caption = *f.caption;
  if (f.labels) job.labels = *f.labels;
  if (f.metadata) job.metadata = *f.metadata;
  if (f.is_public) job.is_public = anonymous || *f.is_public;
  job.expires_at = expiry_with_ttl(job.expires_at, job.created_at, f.ttl_seconds);
}

ImageFields fields_from_parts(const StagedUpload& staged) {
  ImageFields f;
  if (!staged.caption.empty()) f.caption = check_caption(staged.caption);
  if (!staged.labels.empty()) f.labels = labels_from_text(staged.labels);
  if (!staged.metadata.empty()) f.metadata = metadata_from_text(staged.metadata);
  if (staged.has_public) f.is_public = public_from_text(staged.is_public);
  if (!staged.ttl.empty()) f.ttl_seconds = ttl_from_text(staged.ttl);
  return f;
}

// The parsed fields, for an Idempotency-Key's fingerprint.
json fields_json(const ImageFields& f) {
  json j = json::object();
  if (f.caption) j["caption"] = *f.caption;
  if (f.labels) j["labels"] = *f.labels;
  if (f.metadata) j["metadata"] = *f.metadata;
  if (f.is_public) j["public"] = *f.is_public;
  if (f.ttl_seconds) j["ttl"] = *f.ttl_seconds;
  return j;
}

bool is_multipart(const Request& head) {
  auto type = head.header("Content-Type");
  return type.size() >= 19 && std::equal(type.begin(), type.begin() + 19, "multipart/form-data",
                                         [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
}

}  // namespace

BodyPlan plan_create_image(Services& s, const Request& head, const ErrorStyle& errors) {
  if (!is_multipart(head)) return BufferBody{kImageFieldsJsonLimit};  // JSON: create_image reads it
  auto caller = creator(s, head);
  auto key = IdempotentCreates::key_of(head);
  auto admission = admit_new_image(s, caller, head.content_length, key);
  uint64_t limit = admission->max_bytes;
  refuse_oversized_upload(head, limit);
  auto boundary = multipart_boundary(head.header("Content-Type"));
  auto id = new_image_id();
  Request meta = head;
  auto sink = std::make_unique<UploadSink>(
      s.blobs, id + ".upload", boundary, limit, [&s, meta, id, key, admission, errors](StagedUpload staged, Respond respond) {
        ImageFields fields = fields_from_parts(staged);  // a refusal: the sink removes the staged file
        auto job = new_job(s, meta, "upload", *admission, staged.tags, staged.ns);
        job.image_id = id;
        job.staged_path = staged.file_name;
        job.sha256 = staged.sha256;
        job.name = staged.original_filename;
        clamp_name(job.name);
        apply_fields(job, fields, !admission->caller.account);
        std::optional<IdempotencyKey> idempotency;
        if (key) {
          auto request = fields_json(fields);
          request.update(json{{"route", "images"}, {"sha256", staged.sha256}, {"filename", staged.original_filename},
                              {"content_type", staged.content_type}});
          idempotency = IdempotencyKey{*key, IdempotentCreates::fingerprint(request)};
        }
        submit(s, std::move(job), std::move(respond), errors, admission, image_created, std::move(idempotency));
      });
  return StreamBody{std::move(sink), limit + kMultipartOverhead};
}

void create_image(Services& s, const Call& call) {
  const auto& request = call.request;
  auto caller = creator(s, request);
  auto body = schemas::parse_untrusted_json(request.body);
  if (body.is_discarded() || !body.is_object())
    throw Error(ErrorCode::bad_request,
                "Send multipart/form-data with a 'file', or a JSON object like {\"url\": \"https://...\"}.");
  auto url = body.find("url");
  if (url == body.end() || !url->is_string() || url->get_ref<const std::string&>().empty())
    bad_field("url", "required: the http(s) URL of the image");
  if (url->get_ref<const std::string&>().size() > 2048) bad_field("url", "at most 2048 characters");
  // The worker's own check, now: a URL it would refuse makes no image (and no failed one).
  workers::fetch::parse_import_url(url->get_ref<const std::string&>());
  auto fields = fields_from_json(body, false);
  auto key = IdempotentCreates::key_of(request);
  auto admission = admit_new_image(s, caller, std::nullopt, key);
  auto job = new_job(s, request, "import", *admission, "", "");
  job.image_id = new_image_id();
  job.url = url->get<std::string>();
  job.name = name_from_url(job.url);
  clamp_name(job.name);
  apply_fields(job, fields, !caller.account);
  std::optional<IdempotencyKey> idempotency;
  if (key) {
    auto request_fields = fields_json(fields);
    request_fields.update(json{{"route", "images"}, {"url", job.url}});
    idempotency = IdempotencyKey{*key, IdempotentCreates::fingerprint(request_fields)};
  }
  submit(s, std::move(job), call.respond, call.errors, admission, image_created, std::move(idempotency),
         schemas::as_fetch_failed);
}

}  // namespace imgpipe::gateway::routes
