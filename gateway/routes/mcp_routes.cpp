// POST /mcp: the Model Context Protocol (gateway/mcp/). The body is one
// JSON-RPC message, read whole: at most the caller's tier file limit in
// base64 plus the envelope, so a base64 upload meets the same limit as a
// multipart one and no caller can make the server buffer more.
#include <nlohmann/json.hpp>

#include "gateway/mcp/mcp_server.h"
#include "gateway/mcp/mcp_tools.h"
#include "gateway/routes/handlers.h"

namespace imgpipe::gateway::routes {

BodyPlan plan_mcp(Services& s, const Request& head, const ErrorStyle&) {
  accounts::Caller caller;
  try {
    caller = s.accounts.authenticate(head);
  } catch (const schemas::Error&) {
    // A bad key: the anonymous limit for the body; its tool calls answer unauthorized.
    caller.ip = s.accounts.client_ip(head);
  }
  uint64_t limit = mcp::max_call_bytes(s.accounts.max_file_bytes(caller));
  if (head.content_length && *head.content_length > limit) {
    // A JSON-RPC error (the client reads it as the request's answer), with the error table's code.
    schemas::Error e(schemas::ErrorCode::file_too_large,
                     "The message is larger than this caller's limit of " + std::to_string(limit) +
                         " bytes (the tier's file limit in base64).");
    nlohmann::json error = {{"code", -32600},
                            {"message", e.what()},
                            {"data", {{"code", e.info().code}, {"status", e.info().http_status},
                                      {"action", {{"type", schemas::action_name(e.info().action)},
                                                  {"label", e.info().action_label}}}}}};
    auto r = Response::json(413, nlohmann::json{{"jsonrpc", "2.0"}, {"id", nullptr}, {"error", error}}.dump());
    r.set("Cache-Control", "no-store");
    return RejectBody{std::move(r)};
  }
  return BufferBody{limit};
}

// On the calls pool (gateway.h): the message, moved there, is parsed, and
// a base64 upload decoded and staged, off the I/O thread.
void mcp_endpoint(Services& s, const Call& call) {
  std::string body = std::move(call.request.body);
  auto request = std::make_shared<Request>(call.request);
  request->body = std::move(body);
  auto run = [&s, request, respond = call.respond, errors = call.errors] {
    try {
      mcp::handle_post(s, *request, respond);
    } catch (...) {
      respond(error_response(std::current_exception(), errors, request->request_id));
    }
  };
  if (!s.calls.try_submit(std::move(run))) {
    schemas::Error busy(schemas::ErrorCode::service_unavailable, "Too many MCP messages are waiting; try again shortly.");
    busy.retry_after_seconds = 1;
    throw busy;
  }
}

}  // namespace imgpipe::gateway::routes
