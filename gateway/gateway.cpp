#include "gateway/gateway.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "gateway/api_responses.h"
#include "gateway/error_response.h"
#include "gateway/image_ids.h"
#include "gateway/image_names.h"
#include "gateway/metrics.h"
#include "gateway/upload_sink.h"
#include "gateway/viewer_page.h"
#include "schemas/log.h"

namespace imgpipe::gateway {
namespace {

using schemas::Error;
using schemas::ErrorCode;

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

constexpr uint64_t kMultipartOverhead = 64 * 1024;  // part headers and text fields around the file

}  // namespace

Gateway::Gateway(GatewayConfig config, storage::Bus& bus, storage::ImageIndex& index, storage::BlobStore& blobs,
                 accounts::AccountsService* accounts)
    : config_(std::move(config)),
      bus_(bus),
      index_(index),
      blobs_(blobs),
      events_(bus, index),
      ingest_(config_, bus, events_),
      src_(config_, index, blobs),
      accounts_(accounts) {
  if (accounts_) {
    events_.set_observer([a = accounts_](const schemas::ImageEvent& event) { a->observe(event); });
    accounts_->set_index_ready([this] { return ready(); });
  }
}

Gateway::~Gateway() { stop(); }

void Gateway::start() {
  if (accounts_) accounts_->start();
  events_.start();
}
void Gateway::stop() {
  events_.stop();
  if (accounts_) accounts_->stop();
}

BodyPlan Gateway::plan_body(const Request& head) {
  if (head.method == "POST" && head.path == "/v1/upload") return plan_upload(head);
  if (head.method == "POST" && head.path == "/v1/import") return BufferBody{16 * 1024};
  return BufferBody{16 * 1024};
}

BodyPlan Gateway::plan_upload(const Request& head) {
  try {
    // The caller and its limits are known before a byte of the body is read.
    std::shared_ptr<accounts::Admission> admission;
    if (accounts_) admission = accounts_->admit(accounts_->authenticate(head), head.content_length);
    else if (!head.header("Authorization").empty())
      throw Error(ErrorCode::unauthorized, "API keys are not enabled on this server.");
    uint64_t limit = admission ? admission->max_bytes : config_.anonymous_max_bytes;
    if (head.content_length && *head.content_length > limit + kMultipartOverhead)
      throw Error(ErrorCode::file_too_large,
                  "The file is larger than the limit of " + std::to_string(limit / (1024 * 1024)) + " MB.");
    auto boundary = multipart_boundary(head.header("Content-Type"));
    auto id = new_image_id();
    Request meta = head;  // what the completion needs of the request
    auto sink = std::make_unique<UploadSink>(
        blobs_, id + ".upload", boundary, limit, [this, meta, id, admission](StagedUpload staged, Respond respond) {
          auto job = new_job(meta, "upload");
          if (admission) bind_caller(job, *admission, staged.tags, staged.ns);
          job.image_id = id;
          job.staged_path = staged.file_name;
          job.sha256 = staged.sha256;
          job.name = !staged.name.empty() ? staged.name : staged.original_filename;
          clamp_name(job.name);
          submit(std::move(job), std::move(respond), admission);
        });
    return StreamBody{std::move(sink), limit + kMultipartOverhead};
  } catch (const Error& e) {
    return RejectBody{error_response(e, config_.upgrade_url)};
  }
}

schemas::IngestJob Gateway::new_job(const Request& request, std::string type) {
  schemas::IngestJob job;
  job.type = std::move(type);
  job.owner = "anon:" + request.peer_ip;
  job.created_at = unix_now();
  job.expires_at = job.created_at + config_.anonymous_retention_days * 86400;
  job.max_bytes = config_.anonymous_max_bytes;
  job.reply_to = config_.instance_id;
  job.request_id = request.request_id;
  return job;
}

void Gateway::bind_caller(schemas::IngestJob& job, const accounts::Admission& admission, const std::string& tags,
                          const std::string& ns) {
  job.owner = admission.caller.owner();
  job.expires_at = admission.expires_at;
  job.max_bytes = admission.max_bytes;
  if (!admission.caller.account) return;  // anonymous uploads carry no tags or namespace
  job.tags = accounts::parse_tags(tags);
  if (!ns.empty()) job.ns = accounts::check_namespace(ns);
}

void Gateway::submit(schemas::IngestJob job, Respond respond, std::shared_ptr<accounts::Admission> admission) {
  auto started = std::chrono::steady_clock::now();
  auto id = job.image_id;
  ingest_.submit(job, [this, respond, started, id, admission](IngestOutcome outcome) {
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    if (auto* err = std::get_if<Error>(&outcome)) {
      log::info("ingest_failed", {{"image_id", id}, {"code", err->info().code}, {"ms", ms}});
      return respond(error_response(*err, config_.upgrade_url));
    }
    const auto& record = std::get<schemas::ImageRecord>(outcome);
    if (admission) admission->commit();
    auto r = Response::json(201, upload_response(config_, record, record.owner.rfind("anon:", 0) == 0));
    r.set("Location", viewer_url(config_, record.id));
    respond(std::move(r));
  });
}

void Gateway::handle_import(const Request& request, Respond respond) {
  std::shared_ptr<accounts::Admission> admission;
  if (!accounts_ && !request.header("Authorization").empty())
    throw Error(ErrorCode::unauthorized, "API keys are not enabled on this server.");
  auto caller = accounts_ ? std::optional(accounts_->authenticate(request)) : std::nullopt;
  auto body = nlohmann::json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object())
    throw Error(ErrorCode::bad_request, "The body must be a JSON object like {\"url\": \"https://...\"}.");
  auto url = body.find("url");
  if (url == body.end() || !url->is_string() || url->get<std::string>().empty())
    throw Error(ErrorCode::bad_request, "The field 'url' is required.");
  if (url->get<std::string>().size() > 2048) throw Error(ErrorCode::bad_request, "The URL is longer than 2048 characters.");
  auto job = new_job(request, "import");
  job.image_id = new_image_id();
  job.url = url->get<std::string>();
  if (auto name = body.find("name"); name != body.end() && name->is_string()) job.name = name->get<std::string>();
  if (job.name.empty()) job.name = name_from_url(job.url);
  clamp_name(job.name);
  if (caller) {
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
    if (caller->account) {
      accounts::parse_tags(tags);
      if (!ns.empty()) accounts::check_namespace(ns);
    }
    admission = accounts_->admit(*caller, std::nullopt);
    bind_caller(job, *admission, tags, ns);
  }
  submit(std::move(job), std::move(respond), admission);
}

void Gateway::handle_viewer(const Request& request, Respond respond) {
  auto id = request.path.substr(1);
  auto record = plausible_image_id(id) ? index_.get(id) : std::nullopt;
  if (!record || config_.expired(*record))
    return respond(error_response(Error(ErrorCode::not_found, "No image with this id.")));
  auto r = Response::html(200, viewer_page(config_, *record));
  r.set("Cache-Control", "public, max-age=300");
  r.set("X-Content-Type-Options", "nosniff");
  r.set("Content-Security-Policy", "default-src 'none'; img-src *; style-src 'unsafe-inline'");
  respond(std::move(r));
}

void Gateway::handle(Request request, Respond respond) {
  try {
    const auto& m = request.method;
    const auto& p = request.path;
    bool get = m == "GET" || m == "HEAD";
    if (p == "/healthz" && get) return respond(Response::json(200, R"({"status":"ok"})"));
    if (accounts_ && accounts_->handle(request, respond)) return;
    if (p == "/metrics" && get) return respond(metrics_response());
    if (p == "/readyz" && get)
      return respond(ready() ? Response::json(200, R"({"status":"ready"})")
                             : Response::json(503, R"({"status":"catching_up"})"));
    if (p == "/v1/import") {
      if (m != "POST") throw Error(ErrorCode::method_not_allowed);
      return handle_import(request, respond);
    }
    if (p == "/v1/upload") throw Error(ErrorCode::method_not_allowed, "Upload with POST multipart/form-data.");
    if (p == "/" && get) return respond(Response::html(200, upload_page(config_)));
    if (SrcService::matches(p)) {
      if (!get) throw Error(ErrorCode::method_not_allowed);
      return src_.handle(request, respond);
    }
    if (get && p.size() > 1 && p.find('/', 1) == std::string::npos) return handle_viewer(request, respond);
    throw Error(ErrorCode::not_found);
  } catch (const Error& e) {
    respond(error_response(e, config_.upgrade_url));
  } catch (const std::exception& e) {
    respond(error_response(e, request.request_id));
  }
}

}  // namespace imgpipe::gateway
