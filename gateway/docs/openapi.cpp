#include "gateway/docs/openapi.h"

#include <map>
#include <set>
#include <string>

#include "gateway/docs/route_docs.h"
#include "gateway/routes/route_table.h"
#include "schemas/api_schemas.h"

namespace imgpipe::gateway::docs {
namespace {

using json = nlohmann::json;
using schemas::ErrorCode;

constexpr routes::Method kMethods[] = {routes::GET, routes::POST, routes::PUT, routes::PATCH, routes::DELETE};

const char* method_name(routes::Method m) {
  switch (m) {
    case routes::GET: return "get";
    case routes::POST: return "post";
    case routes::PUT: return "put";
    case routes::PATCH: return "patch";
    case routes::DELETE: return "delete";
  }
  return "";
}

json ref(std::string_view name) { return {{"$ref", "#/components/schemas/" + std::string(name)}}; }

json security_of(Access access) {
  switch (access) {
    case Access::anyone: return json::array({json::object(), {{"bearerKey", json::array()}}});
    case Access::key_read: return json::array({{{"bearerKey", {"read"}}}});
    case Access::key_write: return json::array({{{"bearerKey", {"write"}}}});
  }
  return json::array();
}

json header(std::string_view description, json schema = {{"type", "string"}}) {
  return {{"description", description}, {"schema", std::move(schema)}};
}

json answer_content(const AnswerDoc& a) {
  if (!*a.content_type) return nullptr;
  std::string_view schema = a.schema;
  json s = schema == "binary" ? json{{"type", "string"}, {"contentMediaType", a.content_type}}
           : schema.empty()   ? json{{"type", "string"}}
                              : ref(schema);
  return {{a.content_type, {{"schema", std::move(s)}}}};
}

// One response per status: the codes the route can answer with it, an
// example body per code, Retry-After where any of them is retryable.
void add_errors(json& responses, const RouteDoc& doc, ApiFamily family) {
  std::map<int, std::vector<const schemas::ErrorInfo*>> by_status;
  std::set<ErrorCode> seen;
  auto add = [&](ErrorCode c) {
    if (seen.insert(c).second) by_status[schemas::error_info(c).http_status].push_back(&schemas::error_info(c));
  };
  for (auto c : doc.errors) add(c);
  for (auto c : common_errors()) add(c);
  const bool nested = family == ApiFamily::shape_c;
  for (const auto& [status, infos] : by_status) {
    json codes = json::array(), examples = json::object();
    std::string description;
    bool retry = false;
    for (const auto* info : infos) {
      codes.push_back(info->code);
      description += (description.empty() ? "" : ", ") + std::string(info->code);
      retry |= info->retryable;
      schemas::Error e(info->id);
      examples[std::string(info->code) + "_" + std::to_string(status)] = {
          {"summary", info->message}, {"value", nested ? schemas::nested_error_json(e) : schemas::error_json(e)}};
    }
    json code_rule = nested ? json{{"properties", {{"error", {{"properties", {{"code", {{"enum", codes}}}}}}}}}}
                            : json{{"properties", {{"error", {{"enum", codes}}}}}};
    json response = {{"description", "Error codes: " + description + " (see /docs/errors)."},
                     {"headers", {{"Cache-Control", header("always no-store")}}}};
    if (retry)
      response["headers"]["Retry-After"] =
          header("seconds to wait (retryable codes)", {{"type", "integer"}, {"minimum", 1}});
    json content = {{"schema", {{"allOf", {ref(nested ? "ErrorC" : "ErrorB"), code_rule}}}}, {"examples", examples}};
    auto& existing = responses[std::to_string(status)];
    if (existing.is_null()) existing = std::move(response);
    else existing["description"] = existing["description"].get<std::string>() + " " + description;
    existing["content"]["application/json"] = std::move(content);
  }
}

json operation(const RouteDoc& doc, ApiFamily family, const std::vector<const RouteDoc*>& by_id_ops) {
  json op = {{"operationId", doc.operation_id}, {"summary", doc.summary}, {"tags", {doc.tag}},
             {"security", security_of(doc.access)}};
  if (*doc.description) op["description"] = doc.description;
  json params = json::array();
  for (const auto& p : doc.params) {
    json param = {{"name", p.name}, {"in", p.in}, {"required", p.required}, {"schema", json::parse(p.schema)}};
    if (*p.description) param["description"] = p.description;
    params.push_back(std::move(param));
  }
  if (doc.idempotency_key)
    params.push_back({{"name", "Idempotency-Key"}, {"in", "header"}, {"required", false},
                      {"schema", {{"type", "string"}, {"pattern", "^[!-~]{1,255}$"}}},
                      {"description", "1-255 printable ASCII characters: the same key with the same request replays the first answer for 24 hours (docs/api.md)"}});
  if (!params.empty()) op["parameters"] = std::move(params);
  if (!doc.bodies.empty()) {
    json content = json::object();
    for (const auto& b : doc.bodies) content[b.content_type] = {{"schema", ref(b.schema)}};
    op["requestBody"] = {{"required", true}, {"content", std::move(content)}};
  }
  json responses = json::object();
  for (const auto& a : doc.answers) {
    json r = {{"description", a.description}};
    if (auto c = answer_content(a); !c.is_null()) r["content"] = std::move(c);
    if (a.etag) r["headers"]["ETag"] = header("a strong validator of the bytes");
    if (a.location) r["headers"]["Location"] = header("the image's viewer page");
    // Links: an answer carrying an image id feeds every operation on that id.
    std::string_view schema = a.schema;
    if (schema == "ImageB" || schema == "Image")
      for (const auto* target : by_id_ops)
        if (target != &doc)
          r["links"][target->operation_id] = {{"operationId", target->operation_id},
                                              {"parameters", {{"id", "$response.body#/id"}}}};
    responses[std::to_string(a.status)] = std::move(r);
  }
  add_errors(responses, doc, family);
  op["responses"] = std::move(responses);
  return op;
}

}  // namespace

json openapi_document(std::string_view server_url) {
  const auto table = routes::route_table();
  std::vector<const RouteDoc*> by_id_ops;
  for (const auto& d : route_docs())
    if (d.published && std::string_view(d.path) == "/v1/images/{id}") by_id_ops.push_back(&d);

  json paths = json::object();
  for (const auto& row : table)
    for (auto m : kMethods) {
      if (!(row.methods & m)) continue;
      const auto* doc = find_route_doc(m, row.path.text());
      if (!doc || !doc->published) continue;  // route_docs_test.cpp: every row has an entry
      paths[std::string(row.path.text())][method_name(m)] = operation(*doc, row.family, by_id_ops);
    }

  json doc = {
      {"openapi", "3.1.0"},
      {"info",
       {{"title", "imgpipe"},
        {"version", "0.1.0"},
        {"description",
         "A self-hosted image host that speaks the img.pro API. Errors carry a stable code and an action "
         "(/docs/errors); agents start at /llms.txt."}}},
      {"paths", std::move(paths)},
      {"components",
       {{"schemas", schemas::api_schemas()},
        {"securitySchemes",
         {{"bearerKey",
           {{"type", "http"},
            {"scheme", "bearer"},
            {"description", "An API key from POST /v1/keys. Keys carry the abilities read (GET) and write "
                            "(POST, PATCH, DELETE); anonymous callers may only create."}}}}}}},
  };
  // The action names come from the error table, not a copy of them.
  json actions = json::array();
  for (auto a : {schemas::ActionType::fix_request, schemas::ActionType::retry, schemas::ActionType::wait,
                 schemas::ActionType::verify, schemas::ActionType::upgrade, schemas::ActionType::register_key,
                 schemas::ActionType::contact})
    actions.push_back(schemas::action_name(a));
  doc["components"]["schemas"]["ErrorB"]["properties"]["action"]["properties"]["type"]["enum"] = actions;
  if (!server_url.empty()) doc["servers"] = json::array({{{"url", server_url}}});
  return doc;
}

}  // namespace imgpipe::gateway::docs
