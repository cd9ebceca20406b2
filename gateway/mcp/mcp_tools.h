#pragma once
// The MCP tools: the API as tools with JSON Schemas for their inputs and
// outputs. Each tool builds an HTTP request and runs it through the API's
// own router (api_call.h), so keys, abilities, tier limits, rate limits and
// the SSRF defences of imports are the API's, checked in one place. The
// answer becomes a CallToolResult: the body as structuredContent, or, for an
// error answer, isError with the error table's code, status and action.

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "gateway/http/http_types.h"

namespace imgpipe::gateway::routes { struct Services; }

namespace imgpipe::gateway::mcp {

// The tools/list entries: name, title, description, inputSchema, outputSchema, annotations.
const nlohmann::json& tool_list();
bool has_tool(std::string_view name);

// Runs tool `name` (has_tool) with `arguments` for the caller of `outer`;
// `done` once with the CallToolResult.
void call_tool(routes::Services& s, const Request& outer, std::string_view name, const nlohmann::json& arguments,
               std::function<void(nlohmann::json)> done);

// The CallToolResult of an API answer (exposed for tests).
nlohmann::json tool_result(const Response& answer, std::string_view public_url);

// The largest tools/call body a caller may send: base64 of the tier's file
// limit plus room for the JSON-RPC envelope.
uint64_t max_call_bytes(uint64_t max_file_bytes);

}  // namespace imgpipe::gateway::mcp
