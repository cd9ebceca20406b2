#include "gateway/mcp/mcp_server.h"

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "gateway/mcp/mcp_tools.h"
#include "gateway/routes/services.h"
#include "schemas/untrusted_json.h"

namespace imgpipe::gateway::mcp {
namespace {

using json = nlohmann::json;

// JSON-RPC and MCP error codes (JSON-RPC 2.0; MCP 2026-07-28 basic/index).
constexpr int kParseError = -32700, kInvalidRequest = -32600, kMethodNotFound = -32601, kInvalidParams = -32602,
              kHeaderMismatch = -32020, kUnsupportedVersion = -32022;
constexpr const char* kVersionKey = "io.modelcontextprotocol/protocolVersion";
constexpr const char* kCapabilitiesKey = "io.modelcontextprotocol/clientCapabilities";
constexpr const char* kServerInfoKey = "io.modelcontextprotocol/serverInfo";
constexpr const char* kInstructions =
    "imgpipe hosts images. Create one from a URL or from base64 bytes; the answer carries `url` (a viewer page) "
    "and `src` (the file). image_url gives the file in another size (s, m, l) or format. Without a key you may "
    "only create (anonymous images expire); send 'Authorization: Bearer KEY' to get, list and delete your own. "
    "Errors carry a stable code and an action; see /docs/errors.";

const json kServerInfo = {{"name", "imgpipe"}, {"title", "imgpipe"}, {"version", "0.1.0"}};

// The HTTP status of a JSON-RPC error, as the official SDK's servers send it.
int status_of(int code) {
  switch (code) {
    case kParseError: case kInvalidRequest: case kInvalidParams: case kHeaderMismatch: case kUnsupportedVersion:
      return 400;
    case kMethodNotFound: return 404;
    default: return 200;
  }
}

Response answer(int status, const json& body) {
  auto r = Response::json(status, body.dump(-1, ' ', false, json::error_handler_t::replace));
  r.set("Cache-Control", "no-store");
  return r;
}

Response rpc_error(const json& id, int code, std::string message, json data = nullptr, int status = 0) {
  json error = {{"code", code}, {"message", std::move(message)}};
  if (!data.is_null()) error["data"] = std::move(data);
  return answer(status ? status : status_of(code), {{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(error)}});
}

Response rpc_result(const json& id, json result) {
  return answer(200, {{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}});
}

Response accepted() {
  Response r;
  r.status = 202;
  r.set("Cache-Control", "no-store");
  return r;
}

bool starts_with_ci(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), text.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
         });
}

// scheme://host[:port] of a URL.
std::string_view origin_of(std::string_view url) {
  auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return url;
  auto path = url.find('/', scheme + 3);
  return path == std::string_view::npos ? url : url.substr(0, path);
}

bool handshake_version(std::string_view v) {
  return std::find(std::begin(kHandshakeVersions), std::end(kHandshakeVersions), v) != std::end(kHandshakeVersions);
}

json supported_versions() {
  json v = json::array({kModernVersion});
  for (const char* h : kHandshakeVersions) v.push_back(h);
  return v;
}

// Results of the 2026-07-28 revision say they are final ("complete");
// cacheable ones say for how long and for whom.
json stamp(json result, bool modern, int64_t ttl_ms = -1) {
  if (!modern) return result;
  result["resultType"] = "complete";
  if (ttl_ms >= 0) {
    result["ttlMs"] = ttl_ms;
    result["cacheScope"] = "public";
  }
  return result;
}

}  // namespace

void handle_post(routes::Services& s, const Request& request, Respond respond) {
  // DNS rebinding (Streamable HTTP, security): a browser page of another
  // origin may not drive this server; clients that are not browsers send no Origin.
  if (auto origin = request.header("Origin"); !origin.empty() && origin != origin_of(s.config.public_url))
    return respond(rpc_error(nullptr, kInvalidRequest, "This Origin may not call /mcp.", nullptr, 403));
  // Only JSON: a cross-site form cannot post text/plain here.
  if (!starts_with_ci(request.header("Content-Type"), "application/json"))
    return respond(rpc_error(nullptr, kInvalidRequest, "The body must be JSON (Content-Type: application/json).",
                             nullptr, 415));
  auto message = schemas::parse_untrusted_json(request.body);
  if (message.is_discarded()) return respond(rpc_error(nullptr, kParseError, "The body is not JSON (or nests deeper than 64 levels)."));
  if (message.is_array())
    return respond(rpc_error(nullptr, kInvalidRequest, "Batches are not supported: send one message per POST."));
  if (!message.is_object() || message.value("jsonrpc", json()) != "2.0")
    return respond(rpc_error(nullptr, kInvalidRequest, "Not a JSON-RPC 2.0 message."));
  auto method_it = message.find("method");
  if (method_it == message.end()) {
    // A response to a server request (this server sends none): acknowledged.
    if (message.contains("id") && (message.contains("result") || message.contains("error"))) return respond(accepted());
    return respond(rpc_error(nullptr, kInvalidRequest, "A request needs a method."));
  }
  if (!method_it->is_string()) return respond(rpc_error(nullptr, kInvalidRequest, "The method must be a string."));
  const std::string method = *method_it;
  if (!message.contains("id")) return respond(accepted());  // a notification: nothing to answer
  const json id = message["id"];
  if (!id.is_string() && !id.is_number_integer())
    return respond(rpc_error(nullptr, kInvalidRequest, "The id must be a string or an integer."));
  json params = message.value("params", json::object());
  if (!params.is_object()) return respond(rpc_error(id, kInvalidParams, "params must be an object."));

  // The revision: a 2026-07-28 request names it in params._meta (and the
  // header must agree); otherwise the handshake's, from the header.
  auto version_header = std::string(request.header("MCP-Protocol-Version"));
  const json meta = params.value("_meta", json::object());
  bool modern = meta.is_object() && meta.contains(kVersionKey);
  if (modern) {
    const json& v = meta[kVersionKey];
    if (!v.is_string()) return respond(rpc_error(id, kInvalidParams, "The protocol version must be a string."));
    if (version_header != v.get<std::string>())
      return respond(rpc_error(id, kHeaderMismatch, "MCP-Protocol-Version does not match params._meta."));
    if (auto h = request.header("Mcp-Method"); h != method)
      return respond(rpc_error(id, kHeaderMismatch, "Mcp-Method does not match the method."));
    if (v != kModernVersion)
      return respond(rpc_error(id, kUnsupportedVersion, "Unsupported protocol version",
                               {{"supported", json::array({kModernVersion})}, {"requested", v}}));
    if (!meta.contains(kCapabilitiesKey))
      return respond(rpc_error(id, kInvalidParams, std::string("params._meta lacks ") + kCapabilitiesKey + "."));
  } else if (method != "initialize" && !version_header.empty() && !handshake_version(version_header)) {
    return respond(rpc_error(id, kInvalidRequest, "Unsupported MCP-Protocol-Version: " + version_header,
                             {{"supported", supported_versions()}, {"requested", version_header}}));
  }

  if (method == "initialize" && !modern) {
    // The client's revision when this server speaks it, else the newest.
    std::string wanted = params.value("protocolVersion", json()).is_string() ? params["protocolVersion"].get<std::string>() : "";
    std::string version = handshake_version(wanted) ? wanted : kHandshakeVersions[0];
    return respond(rpc_result(id, {{"protocolVersion", version},
                                   {"capabilities", {{"tools", {{"listChanged", false}}}}},
                                   {"serverInfo", kServerInfo},
                                   {"instructions", kInstructions}}));
  }
  if (method == "server/discover" && modern) {
    json result = {{"supportedVersions", supported_versions()},
                   {"capabilities", {{"tools", json::object()}}},
                   {"instructions", kInstructions},
                   {"_meta", {{kServerInfoKey, kServerInfo}}}};
    return respond(rpc_result(id, stamp(std::move(result), true, 0)));
  }
  if (method == "ping") return respond(rpc_result(id, stamp(json::object(), modern)));
  if (method == "tools/list") return respond(rpc_result(id, stamp({{"tools", tool_list()}}, modern, 300'000)));
  if (method == "tools/call") {
    auto name = params.value("name", json());
    if (!name.is_string()) return respond(rpc_error(id, kInvalidParams, "tools/call needs a tool name."));
    if (!has_tool(name.get<std::string>()))
      return respond(rpc_error(id, kInvalidParams, "Unknown tool: " + name.get<std::string>()));
    json arguments = params.value("arguments", json::object());
    if (arguments.is_null()) arguments = json::object();
    if (!arguments.is_object()) return respond(rpc_error(id, kInvalidParams, "arguments must be an object."));
    return call_tool(s, request, name.get<std::string>(), arguments, [respond, id, modern](json result) {
      respond(rpc_result(id, stamp(std::move(result), modern)));
    });
  }
  respond(rpc_error(id, kMethodNotFound, "Method not found: " + method));
}

}  // namespace imgpipe::gateway::mcp
