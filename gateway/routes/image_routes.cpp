// A key's own images (shape B): GET /v1/images lists them, GET and DELETE
// /v1/images/{id} read and delete one. Anonymous callers have none to list.
#include <cctype>
#include <string>

#include <nlohmann/json.hpp>

#include "gateway/api_responses.h"
#include "gateway/routes/handlers.h"

namespace imgpipe::gateway::routes {
namespace {

using json = nlohmann::json;
using schemas::Error;
using schemas::ErrorCode;

std::string owner_of(Services& s, const Request& request) {
  auto caller = s.accounts.authenticate(request);
  if (!caller.account) throw Error(ErrorCode::unauthorized, "Listing and deleting images needs an API key.");
  return caller.owner();
}

Response private_json(std::string body) {
  auto r = Response::json(200, std::move(body));
  r.set("Cache-Control", "no-store");
  return r;
}

}  // namespace

void list_images(Services& s, const Call& call) {
  const auto& request = call.request;
  auto owner = owner_of(s, request);
  ImageFilter filter;
  filter.ns = request.query_param("namespace").value_or("");
  filter.tag = request.query_param("tag").value_or("");
  for (auto& c : filter.tag) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (auto l = request.query_param("limit")) {
    long limit = 0;
    try {
      limit = std::stol(*l);
    } catch (const std::exception&) {
    }
    if (limit < 1 || limit > 1000) throw Error(ErrorCode::invalid_field, "limit must be 1-1000.");
    filter.limit = static_cast<size_t>(limit);
  }
  json list = json::array();
  for (const auto& r : s.images.list(owner, filter)) list.push_back(json::parse(upload_response(s.config, r, false)));
  call.respond(private_json(json{{"images", list}, {"count", list.size()}}.dump()));
}

void get_image(Services& s, const Call& call) {
  auto record = s.images.get(owner_of(s, call.request), call.params.get("id"));
  if (!record) throw Error(ErrorCode::not_found, "No image with this id.");
  call.respond(private_json(upload_response(s.config, *record, false)));
}

void delete_image(Services& s, const Call& call) {
  auto record = s.images.get(owner_of(s, call.request), call.params.get("id"));
  if (!record) throw Error(ErrorCode::not_found, "No image with this id.");
  s.images.remove(record->id, [id = record->id, respond = call.respond, errors = call.errors](auto err) {
    if (err) return respond(error_response(*err, errors));
    respond(Response::json(200, json{{"id", id}, {"deleted", true}}.dump()));
  });
}

}  // namespace imgpipe::gateway::routes
