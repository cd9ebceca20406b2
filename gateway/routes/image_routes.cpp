// img.pro's images API (shape C) on a key's own images: GET /v1/images
// (list), GET/PATCH/DELETE /v1/images/{id}, DELETE /v1/images/batch,
// GET /v1/usage. Creates are in image_create_routes.cpp. The key's ability
// (read for GET, write for the rest) is checked before the body is read.
#include <algorithm>
#include <cctype>
#include <ctime>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "gateway/image_fields.h"
#include "gateway/image_names.h"
#include "gateway/image_object.h"
#include "gateway/routes/handlers.h"
#include "schemas/untrusted_json.h"

namespace imgpipe::gateway::routes {
namespace {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;
using schemas::Error;
using schemas::ErrorCode;

constexpr size_t kMaxIds = 50, kMaxBatch = 100;

Response private_json(int status, const ordered_json& body) {
  auto r = Response::json(status, body.dump(-1, ' ', false, ordered_json::error_handler_t::replace));
  r.set("Cache-Control", "no-store");
  return r;
}

ordered_json deleted_object(const std::string& id) {
  return ordered_json{{"id", id}, {"object", "image"}, {"deleted", true}};
}

json parse_body(const Request& request) {
  auto body = schemas::parse_untrusted_json(request.body);
  if (body.is_discarded() || !body.is_object()) throw Error(ErrorCode::bad_request, "The body must be a JSON object.");
  return body;
}

size_t parse_limit(const Request& request) {
  auto l = request.query_param("limit");
  if (!l) return 50;
  if (l->empty() || l->size() > 3 || l->find_first_not_of("0123456789") != std::string::npos || std::stoi(*l) < 1 ||
      std::stoi(*l) > 100)
    bad_field("limit", "an integer from 1 to 100");
  return static_cast<size_t>(std::stoi(*l));
}

// "label[env]=prod": the key between the brackets. "label[]" names no key:
// refused rather than ignored (a filter silently dropped lists everything).
std::optional<Label> label_param(const std::string& name, const std::string& value) {
  if (name == "label[]") bad_field("label", "a label filter names its key: label[KEY]=VALUE");
  if (name.size() < 8 || name.rfind("label[", 0) != 0 || name.back() != ']') return std::nullopt;
  return Label{name.substr(6, name.size() - 7), value};
}

// The label filters of a listing, in the query's order.
std::vector<Label> label_filters(const Request& request) {
  std::vector<Label> labels;
  for (const auto& [name, value] : request.query_params())
    if (auto l = label_param(name, value)) labels.push_back(std::move(*l));
  return labels;
}

std::vector<std::string> split_ids(const std::string& raw) {
  std::vector<std::string> ids;
  size_t start = 0;
  while (start <= raw.size()) {
    auto comma = raw.find(',', start);
    auto id = raw.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!id.empty() && std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return ids;
}

ordered_json list_body(const GatewayConfig& config, const std::vector<schemas::ImageRecord>& images, bool has_more,
                       const std::string& next_cursor) {
  ordered_json data = ordered_json::array();
  for (const auto& r : images) data.push_back(image_object(config, r));
  return ordered_json{{"object", "list"},
                      {"data", std::move(data)},
                      {"pagination",
                       ordered_json{{"has_more", has_more},
                                    {"next_cursor", has_more ? ordered_json(next_cursor) : ordered_json(nullptr)}}}};
}

std::string period_end(int64_t now) {
  std::time_t t = static_cast<std::time_t>(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  tm.tm_mday = 1;
  tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
  if (++tm.tm_mon == 12) {
    tm.tm_mon = 0;
    ++tm.tm_year;
  }
  return iso8601(static_cast<int64_t>(timegm(&tm))).get<std::string>();
}

}  // namespace

accounts::Caller key_with(Services& s, const Request& request, const char* ability) {
  auto caller = s.accounts.authenticate(request);
  if (!caller.account) throw Error(ErrorCode::unauthorized, "This endpoint needs an API key.");
  if (!caller.account->can(ability))
    throw Error(ErrorCode::forbidden, std::string("This API key lacks the '") + ability + "' ability.");
  return caller;
}

void list_images(Services& s, const Call& call) {
  const auto& request = call.request;
  auto owner = key_with(s, request, "read").owner();
  auto limit = parse_limit(request);
  auto labels = label_filters(request);
  if (auto ids = request.query_param("ids")) {
    // An ids lookup answers those images; a filter beside it would be ignored.
    if (!labels.empty()) bad_field("ids", "cannot be combined with label filters");
    auto wanted = split_ids(*ids);
    if (wanted.size() > kMaxIds) bad_field("ids", "at most " + std::to_string(kMaxIds) + " ids");
    if (auto cursor = request.query_param("cursor"); cursor && !cursor->empty()) {
      ImageQuery check;  // an ids lookup has no pages, but a cursor sent with it is still checked
      check.limit = 1;
      check.cursor = *cursor;
      s.images.list(owner, check);
    }
    std::vector<schemas::ImageRecord> found;
    for (const auto& id : wanted)  // unknown and other owners' ids are left out
      if (auto r = s.images.get(owner, id)) found.push_back(std::move(*r));
    return call.respond(private_json(200, list_body(s.config, found, false, "")));
  }
  ImageQuery query;
  query.limit = limit;
  query.cursor = request.query_param("cursor").value_or("");
  query.ns = request.query_param("namespace").value_or("");
  query.tag = request.query_param("tag").value_or("");
  for (auto& c : query.tag) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  query.labels = std::move(labels);
  auto page = s.images.list(owner, query);
  call.respond(private_json(200, list_body(s.config, page.images, page.has_more, page.next_cursor)));
}

void get_image(Services& s, const Call& call) {
  auto record = s.images.get(key_with(s, call.request, "read").owner(), call.params.get("id"));
  if (!record) throw Error(ErrorCode::not_found, "No image with this id.");
  call.respond(private_json(200, image_object(s.config, *record)));
}

void update_image(Services& s, const Call& call) {
  auto owner = key_with(s, call.request, "write").owner();
  auto record = s.images.get(owner, call.params.get("id"));
  if (!record) throw Error(ErrorCode::not_found, "No image with this id.");
  auto fields = fields_from_json(parse_body(call.request), true);
  // `updated` events carry whole ready records: one made from a processing
  // record could undo the worker's `ready` on the compacted topic.
  if (!record->ready())
    throw Error(ErrorCode::image_not_ready, record->status == schemas::kFailed
                                                ? "The image failed to process; it can only be deleted."
                                                : "The image is still processing; update it once its status is ready.");
  if (fields.caption) record->caption = *fields.caption;
  if (fields.labels) record->labels = *fields.labels;
  if (fields.metadata) record->metadata = *fields.metadata;
  if (fields.is_public) record->is_public = *fields.is_public;
  if (fields.filename) {
    record->name = *fields.filename;
    clamp_name(record->name);
  }
  auto updated = std::make_shared<schemas::ImageRecord>(*record);
  s.images.update(*updated, call.request.request_id,
                  [updated, &config = s.config, respond = call.respond, errors = call.errors](auto err) {
                    if (err) return respond(error_response(*err, errors));
                    respond(private_json(200, image_object(config, *updated)));
                  });
}

void delete_image(Services& s, const Call& call) {
  auto record = s.images.get(key_with(s, call.request, "write").owner(), call.params.get("id"));
  if (!record) throw Error(ErrorCode::not_found, "No image with this id.");
  s.images.remove(record->id, call.request.request_id,
                  [id = record->id, respond = call.respond, errors = call.errors](auto err) {
                    if (err) return respond(error_response(*err, errors));
                    respond(private_json(200, deleted_object(id)));
                  });
}

// Idempotent: an id already gone (or never the caller's) counts as deleted,
// so a retried batch answers the same; only a bus failure is an error.
void delete_images_batch(Services& s, const Call& call) {
  auto owner = key_with(s, call.request, "write").owner();
  auto body = parse_body(call.request);
  auto ids = body.find("ids");
  if (ids == body.end() || !ids->is_array() || ids->empty()) bad_field("ids", "a non-empty list of image ids");
  if (ids->size() > kMaxBatch) bad_field("ids", "at most " + std::to_string(kMaxBatch) + " ids");
  std::vector<std::string> wanted;
  for (const auto& id : *ids) {
    if (!id.is_string()) bad_field("ids", "image ids are strings");
    if (std::find(wanted.begin(), wanted.end(), id.get<std::string>()) == wanted.end()) wanted.push_back(id.get<std::string>());
  }
  struct Batch {
    std::mutex mu;
    size_t left;
    ordered_json data = ordered_json::array(), errors = ordered_json::array();
    Respond respond;
  };
  auto batch = std::make_shared<Batch>();
  batch->left = wanted.size();
  batch->respond = call.respond;
  auto one_done = [batch](const std::string& id, std::optional<Error> err) {
    std::lock_guard lock(batch->mu);
    if (err)
      batch->errors.push_back(ordered_json{
          {"id", id}, {"error", ordered_json{{"code", "delete_failed"}, {"message", std::string(err->what())}}}});
    else
      batch->data.push_back(deleted_object(id));
    if (--batch->left == 0)
      batch->respond(private_json(
          200, ordered_json{{"object", "batch_result"}, {"data", batch->data}, {"errors", batch->errors}}));
  };
  for (const auto& id : wanted) {
    if (!s.images.get(owner, id)) {
      one_done(id, std::nullopt);
      continue;
    }
    s.images.remove(id, call.request.request_id + "/" + id, [id, one_done](auto err) { one_done(id, std::move(err)); });
  }
}

void get_usage(Services& s, const Call& call) {
  auto caller = key_with(s, call.request, "read");
  const auto& account = *caller.account;
  const auto& plan = s.accounts.config().tiers.plan(account.plan);
  auto usage = s.accounts.ledger().usage(caller.owner());
  auto images = static_cast<int64_t>(s.accounts.ledger().images_of(caller.owner()).size());
  ordered_json body = {
      {"object", "usage"},
      {"plan", plan.name},
      {"limits_enforced", true},
      {"limits",
       ordered_json{
           {"images", ordered_json{{"used", images}, {"limit", nullptr}}},
           {"uploads", ordered_json{{"used", usage.uploads},
                                    {"limit", plan.uploads_per_month},
                                    {"period_end", period_end(s.accounts.now())}}},
           {"storage", ordered_json{{"used_bytes", usage.bytes}, {"limit_bytes", plan.storage_bytes}}}}},
      {"totals", ordered_json{{"images_stored", images}, {"bytes_stored", usage.bytes}}}};
  call.respond(private_json(200, body));
}

}  // namespace imgpipe::gateway::routes
