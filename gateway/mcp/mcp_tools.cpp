#include "gateway/mcp/mcp_tools.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <exception>
#include <string_view>
#include <vector>

#include "gateway/api_responses.h"
#include "gateway/http/error_response.h"
#include "gateway/image_ids.h"
#include "gateway/mcp/api_call.h"
#include "gateway/routes/services.h"
#include "schemas/api_schemas.h"
#include "schemas/errors.h"

namespace imgpipe::gateway::mcp {
namespace {

using json = nlohmann::json;
using schemas::Error;
using schemas::ErrorCode;
using Run = void (*)(routes::Services& s, const Request& outer, const json& args, Respond done);

// A component of schemas/api with its $refs inlined: a tool's outputSchema
// stands alone (the client resolves no #/components).
json component(const std::string& name) {
  const auto& all = schemas::api_schemas();
  std::function<json(const json&)> inline_refs = [&](const json& node) -> json {
    if (node.is_array()) {
      json out = json::array();
      for (const auto& n : node) out.push_back(inline_refs(n));
      return out;
    }
    if (!node.is_object()) return node;
    if (auto ref = node.find("$ref"); ref != node.end() && ref->is_string()) {
      constexpr std::string_view prefix = "#/components/schemas/";
      return inline_refs(all.at(ref->get<std::string>().substr(prefix.size())));
    }
    json out = json::object();
    for (const auto& [k, v] : node.items()) out[k] = inline_refs(v);
    return out;
  };
  return inline_refs(all.at(name));
}

std::string query_escape(std::string_view v) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : v) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += static_cast<char>(c);
    else out += {'%', hex[c >> 4], hex[c & 15]};
  }
  return out;
}

// A path segment from an argument: ids are checked by the API; this only
// keeps the argument inside its segment.
std::string segment(const json& args, const char* name) { return query_escape(args.value(name, "")); }

// Standard base64 (RFC 4648 section 4), padding optional, an optional
// "data:...;base64," prefix; anything else is invalid_field, never a guess.
std::string decode_base64(std::string_view text) {
  if (text.rfind("data:", 0) == 0) {
    auto comma = text.find(',');
    if (comma == std::string_view::npos || text.substr(0, comma).find(";base64") == std::string_view::npos)
      throw Error(ErrorCode::invalid_field, "'data' is a data: URL without ;base64.");
    text.remove_prefix(comma + 1);
  }
  std::string padded(text);
  while (padded.size() % 4) padded += '=';
  size_t pad = 0;  // '=' only as the last one or two characters
  for (size_t i = 0; i < padded.size(); ++i) {
    unsigned char c = padded[i];
    bool ok = c == '=' ? i + 2 >= padded.size() : pad == 0 && (std::isalnum(c) || c == '+' || c == '/');
    if (!ok) throw Error(ErrorCode::invalid_field, "'data' is not base64 (character " + std::to_string(i) + ").");
    if (c == '=') ++pad;
  }
  if (padded.empty()) throw Error(ErrorCode::invalid_field, "'data' is empty.");
  std::string out(padded.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(padded.data()), static_cast<int>(padded.size()));
  if (n < 0) throw Error(ErrorCode::invalid_field, "'data' is not base64.");
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

std::string json_field(const json& args, const char* name) {
  return args[name].is_string() ? args[name].get<std::string>() : args[name].dump();
}

void send_json(routes::Services& s, const Request& outer, const char* method, std::string path, const json& body,
               Respond done) {
  auto r = api_request(outer, method, std::move(path));
  r.headers.emplace_back("Content-Type", "application/json");
  r.body = body.dump();
  call_api(*s.api, std::move(r), std::move(done));
}

// --- the tools' requests (the shape C images API) ---

void create_from_url(routes::Services& s, const Request& outer, const json& args, Respond done) {
  send_json(s, outer, "POST", "/v1/images", args, std::move(done));
}

// A multipart POST /v1/images of the decoded bytes: the same streamed
// upload path (magic sniffing, the tier's byte limit) as a browser's.
void create_from_base64(routes::Services& s, const Request& outer, const json& args, Respond done) {
  auto bytes = decode_base64(args.at("data").get<std::string>());
  std::string boundary = "imgpipe-mcp-" + new_image_id() + new_image_id();
  auto part = [&](const char* name) {
    return "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n";
  };
  std::string filename = args.value("filename", "image");
  for (auto& c : filename)
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '_';
  auto r = api_request(outer, "POST", "/v1/images");
  r.headers.emplace_back("Content-Type", "multipart/form-data; boundary=" + boundary);
  for (const char* name : {"caption", "labels", "metadata", "public"})
    if (args.contains(name)) r.body += part(name) + json_field(args, name) + "\r\n";
  r.body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + filename +
            "\"\r\nContent-Type: application/octet-stream\r\n\r\n";
  r.body.reserve(r.body.size() + bytes.size() + boundary.size() + 8);
  r.body += bytes;
  bytes = {};
  r.body += "\r\n--" + boundary + "--\r\n";
  call_api(*s.api, std::move(r), std::move(done));
}

void get_image(routes::Services& s, const Request& outer, const json& args, Respond done) {
  call_api(*s.api, api_request(outer, "GET", "/v1/images/" + segment(args, "id")), std::move(done));
}

void list_images(routes::Services& s, const Request& outer, const json& args, Respond done) {
  std::string q;
  auto add = [&](const std::string& name, const std::string& v) { q += (q.empty() ? "?" : "&") + name + "=" + query_escape(v); };
  if (args.contains("limit")) add("limit", std::to_string(args["limit"].get<int64_t>()));
  if (args.contains("cursor")) add("cursor", args["cursor"].get<std::string>());
  if (args.contains("labels"))
    for (const auto& [k, v] : args["labels"].items()) {
      if (!v.is_string()) throw Error(ErrorCode::invalid_field, "Label values must be strings.");
      // Escaped brackets: the query as the transport hands it on (request_head.cpp).
      add("label%5B" + query_escape(k) + "%5D", v.get<std::string>());
    }
  call_api(*s.api, api_request(outer, "GET", "/v1/images" + q), std::move(done));
}

void update_image(routes::Services& s, const Request& outer, const json& args, Respond done) {
  json body = args;
  body.erase("id");
  send_json(s, outer, "PATCH", "/v1/images/" + segment(args, "id"), body, std::move(done));
}

void delete_images(routes::Services& s, const Request& outer, const json& args, Respond done) {
  send_json(s, outer, "DELETE", "/v1/images/batch", {{"ids", args.at("ids")}}, std::move(done));
}

void get_usage(routes::Services& s, const Request& outer, const json&, Respond done) {
  call_api(*s.api, api_request(outer, "GET", "/v1/usage"), std::move(done));
}

// The src URL of a size and format: public like the src URLs the API hands
// out, so any caller may ask; an image that is not live is not_found.
void image_url(routes::Services& s, const Request&, const json& args, Respond done) {
  auto id = args.at("id").get<std::string>();
  auto record = plausible_image_id(id) ? s.index.get(id) : std::nullopt;
  if (!record || !record->ready() || s.config.expired(*record)) throw Error(ErrorCode::not_found, "No image with this id.");
  std::string format = args.value("format", "");
  std::string size = args.value("size", "");
  std::string query;
  auto add = [&](const std::string& name, const std::string& value) {
    if (!value.empty()) query += (query.empty() ? "?" : "&") + name + "=" + value;
  };
  add("size", size);
  if (args.contains("w")) add("w", std::to_string(args["w"].get<int>()));
  if (args.contains("h")) add("h", std::to_string(args["h"].get<int>()));
  add("fit", args.value("fit", ""));
  auto url = src_url(s.config, *record, format) + query;
  json body = {{"id", id}, {"url", url}, {"format", format.empty() ? record->format : format},
               {"size", size.empty() ? "original" : size}};
  done(Response::json(200, body.dump()));
}

struct Tool {
  const char* name;
  const char* title;
  const char* description;
  const char* input;   // JSON Schema as JSON text
  const char* output;  // a schemas/api component, or JSON Schema text
  bool read_only, destructive;
  Run run;
};

constexpr const char* kFields =
    R"("caption": {"type": "string", "description": "a caption, the alt text"},
       "labels": {"type": "object", "additionalProperties": {"type": "string"}, "description": "key holders: string labels, to filter by in list_images"},
       "metadata": {"type": "object", "additionalProperties": {"type": "string"}, "description": "key holders: string metadata"},
       "public": {"type": "boolean", "description": "key holders: false hides the viewer page; anonymous images are always public"})";

const std::vector<Tool>& tools() {
  static const std::string url_input =
      std::string(R"({"type": "object", "required": ["url"], "additionalProperties": false, "properties": {
        "url": {"type": "string", "maxLength": 2048, "description": "a public http(s) URL of the image; private and local addresses are refused"},)") +
      kFields + "}}";
  static const std::string base64_input =
      std::string(R"({"type": "object", "required": ["data"], "additionalProperties": false, "properties": {
        "data": {"type": "string", "contentEncoding": "base64", "description": "the image file, base64 (standard alphabet); at most the caller's tier file limit once decoded"},
        "filename": {"type": "string", "maxLength": 200, "description": "the original file name"},)") +
      kFields + "}}";
  static const std::string update_input =
      std::string(R"({"type": "object", "required": ["id"], "additionalProperties": false, "properties": {
        "id": {"type": "string", "description": "the image id"},
        "caption": {"type": ["string", "null"], "description": "a caption; null clears it"},
        "labels": {"type": ["object", "null"], "additionalProperties": {"type": "string"}, "description": "replaces the labels; null clears them"},
        "metadata": {"type": ["object", "null"], "additionalProperties": {"type": "string"}, "description": "replaces the metadata; null clears it"},
        "public": {"type": "boolean", "description": "false hides the viewer page"},
        "filename": {"type": "string", "description": "a new file name"}}})");
  static const std::vector<Tool> list = {
      {"create_image_from_url", "Import an image from a URL",
       "The server fetches the image from a public URL and stores it. Anonymous images expire; a key's count "
       "against its plan. Answers the Image: `url` (the file), `sizes`, `page_url` (the viewer page).",
       url_input.c_str(), "Image", false, false, create_from_url},
      {"create_image_from_base64", "Upload an image from base64 bytes",
       "Stores an image sent as base64 (JPEG, PNG, WebP, GIF, AVIF, HEIC), within the caller's tier file limit. "
       "Answers the Image: `url` (the file), `sizes`, `page_url` (the viewer page).",
       base64_input.c_str(), "Image", false, false, create_from_base64},
      {"get_image", "Get one of your images", "An image of the calling key, by id (a key with the read ability).",
       R"({"type": "object", "required": ["id"], "additionalProperties": false, "properties": {"id": {"type": "string", "description": "the image id"}}})",
       "Image", true, false, get_image},
      {"list_images", "List your images",
       "The calling key's images, newest first, a page at a time: pass pagination.next_cursor back as `cursor`. "
       "`labels` keeps images carrying every given label (a key with the read ability).",
       R"({"type": "object", "additionalProperties": false, "properties": {
           "labels": {"type": "object", "additionalProperties": {"type": "string"}, "description": "only images with all these labels"},
           "cursor": {"type": "string", "description": "the previous page's pagination.next_cursor"},
           "limit": {"type": "integer", "minimum": 1, "maximum": 100, "description": "page size; 50 by default"}}})",
       "ImageList", true, false, list_images},
      {"update_image", "Update one of your images",
       "Changes only the fields given (a key with the write ability).", update_input.c_str(), "Image", false, false,
       update_image},
      {"delete_images", "Delete your images",
       "Deletes up to 100 images of the calling key with all their sizes; an id already gone counts as deleted "
       "(a key with the write ability).",
       R"({"type": "object", "required": ["ids"], "additionalProperties": false, "properties": {
           "ids": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 100, "description": "image ids"}}})",
       "BatchResult", false, true, delete_images},
      {"get_usage", "Your plan, limits and usage", "The calling key's plan, its limits and what is used this month.",
       R"({"type": "object", "additionalProperties": false, "properties": {}})", "Usage", true, false, get_usage},
      {"image_url", "The URL of an image in a size and format",
       "The file URL of an image: `size` s, m or l (short edge 320, 640, 1080 px, never upscaled), social "
       "(a 1200x630 link-preview card) or the original, or a box `w` x `h` with `fit` (scale-down, the default, "
       "never enlarges; crop; cover; pad), which wins over `size`; `format` jpg, png, webp or avif, or the original's.",
       R"({"type": "object", "required": ["id"], "additionalProperties": false, "properties": {
           "id": {"type": "string", "description": "the image id"},
           "size": {"type": "string", "enum": ["s", "m", "l", "social"], "description": "omit for the original size"},
           "w": {"type": "integer", "minimum": 1, "maximum": 4096, "description": "box width, px"},
           "h": {"type": "integer", "minimum": 1, "maximum": 4096, "description": "box height, px"},
           "fit": {"type": "string", "enum": ["scale-down", "crop", "cover", "pad"], "description": "how the image fits the box"},
           "format": {"type": "string", "enum": ["jpg", "jpeg", "png", "webp", "avif"], "description": "omit for the original format"}}})",
       R"({"type": "object", "required": ["id", "url", "format", "size"], "properties": {
           "id": {"type": "string"}, "url": {"type": "string"}, "format": {"type": "string"},
           "size": {"type": "string", "enum": ["s", "m", "l", "social", "original"]}}})",
       true, false, image_url},
  };
  return list;
}

const Tool* find_tool(std::string_view name) {
  for (const auto& t : tools())
    if (name == t.name) return &t;
  return nullptr;
}

bool has_type(const json& value, const json& type) {
  if (type.is_array()) {
    for (const auto& t : type)
      if (has_type(value, t)) return true;
    return false;
  }
  auto t = type.get<std::string>();
  if (t == "string") return value.is_string();
  if (t == "integer") return value.is_number_integer();
  if (t == "number") return value.is_number();
  if (t == "boolean") return value.is_boolean();
  if (t == "array") return value.is_array();
  if (t == "object") return value.is_object();
  if (t == "null") return value.is_null();
  return true;
}

// The arguments against the tool's inputSchema: required, unknown names,
// types, enums and array items: the shape a tool's code relies on. Value
// rules (URL, tags, limits) are the API's, checked when the tool calls it.
void check_arguments(const json& schema, const json& args) {
  if (!args.is_object()) throw Error(ErrorCode::invalid_field, "The arguments must be an object.");
  for (const auto& name : schema.value("required", json::array()))
    if (!args.contains(name.get<std::string>()))
      throw Error(ErrorCode::invalid_field, "The argument '" + name.get<std::string>() + "' is required.");
  const auto& props = schema["properties"];
  for (const auto& [name, value] : args.items()) {
    if (!props.contains(name)) throw Error(ErrorCode::invalid_field, "Unknown argument '" + name + "'.");
    const auto& p = props[name];
    if (p.contains("type") && !has_type(value, p["type"]))
      throw Error(ErrorCode::invalid_field, "The argument '" + name + "' must be of type " + p["type"].dump() + ".");
    if (p.contains("enum") && std::find(p["enum"].begin(), p["enum"].end(), value) == p["enum"].end())
      throw Error(ErrorCode::invalid_field, "The argument '" + name + "' must be one of " + p["enum"].dump() + ".");
    if (p.contains("items") && p["items"].contains("type"))
      for (const auto& item : value)
        if (!has_type(item, p["items"]["type"]))
          throw Error(ErrorCode::invalid_field, "The items of '" + name + "' must be of type " + p["items"]["type"].dump() + ".");
    if (value.is_array() && ((p.contains("minItems") && value.size() < p["minItems"]) ||
                             (p.contains("maxItems") && value.size() > p["maxItems"])))
      throw Error(ErrorCode::invalid_field, "The argument '" + name + "' has too few or too many items.");
    if (value.is_number() && ((p.contains("minimum") && value < p["minimum"]) || (p.contains("maximum") && value > p["maximum"])))
      throw Error(ErrorCode::invalid_field, "The argument '" + name + "' is out of range.");
  }
}

}  // namespace

const nlohmann::json& tool_list() {
  static const json list = [] {
    json out = json::array();
    for (const auto& t : tools()) {
      std::string_view output = t.output;
      json entry = {{"name", t.name},
                    {"title", t.title},
                    {"description", t.description},
                    {"inputSchema", json::parse(t.input)},
                    {"outputSchema", output.front() == '{' ? json::parse(output) : component(t.output)},
                    {"annotations", {{"title", t.title}, {"readOnlyHint", t.read_only},
                                     {"destructiveHint", t.destructive}, {"idempotentHint", t.read_only},
                                     {"openWorldHint", std::string_view(t.name) == "create_image_from_url"}}}};
      out.push_back(std::move(entry));
    }
    return out;
  }();
  return list;
}

bool has_tool(std::string_view name) { return find_tool(name) != nullptr; }

uint64_t max_call_bytes(uint64_t max_file_bytes) { return (max_file_bytes + 2) / 3 * 4 + 64 * 1024; }

json tool_result(const Response& answer, std::string_view public_url) {
  auto body = json::parse(answer.body, nullptr, false);
  if (answer.status < 300) {
    if (!body.is_object()) body = json{{"text", answer.body}};
    return {{"content", json::array({{{"type", "text"}, {"text", body.dump()}}})}, {"structuredContent", body},
            {"isError", false}};
  }
  // Shape B is flat ({"error": code, "message", "action"}), shape C nested ({"error": {"code", ...}}).
  json e = body.is_object() ? body.value("error", json()) : json();
  json src = e.is_object() ? e : body;
  std::string code = e.is_object() ? e.value("code", "") : e.is_string() ? e.get<std::string>() : "";
  if (code.empty()) code = "internal_error";
  std::string message = src.is_object() ? src.value("message", "") : "";
  json action = src.is_object() ? src.value("action", json::object()) : json::object();
  json error = {{"code", code}, {"status", answer.status}, {"message", message}, {"action", action},
                {"docs", std::string(public_url) + "/docs/errors#" + code + "-" + std::to_string(answer.status)}};
  for (const auto& [name, value] : answer.headers)
    if (name == "Retry-After") error["retry_after"] = std::atoi(value.c_str());
  std::string text = code + " (HTTP " + std::to_string(answer.status) + "): " + message;
  if (action.is_object() && action.contains("type")) {
    text += " Action: " + action["type"].get<std::string>();
    if (action.contains("label")) text += ": " + action["label"].get<std::string>();
    if (action.contains("url")) text += " (" + action["url"].get<std::string>() + ")";
  }
  return {{"content", json::array({{{"type", "text"}, {"text", text}}})}, {"structuredContent", {{"error", error}}},
          {"isError", true}};
}

void call_tool(routes::Services& s, const Request& outer, std::string_view name, const json& arguments,
               std::function<void(json)> done) {
  const Tool* tool = find_tool(name);
  std::string public_url = s.config.public_url;
  Respond answer = [done, public_url](Response r) { done(tool_result(r, public_url)); };
  try {
    static const std::vector<json> inputs = [] {
      std::vector<json> v;
      for (const auto& t : tools()) v.push_back(json::parse(t.input));
      return v;
    }();
    check_arguments(inputs[static_cast<size_t>(tool - tools().data())], arguments);
    tool->run(s, outer, arguments, answer);
  } catch (...) {
    answer(error_response(std::current_exception(), {}, outer.request_id));
  }
}

}  // namespace imgpipe::gateway::mcp
