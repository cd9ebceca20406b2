#include "gateway/mcp/api_call.h"

#include <algorithm>
#include <cctype>
#include <exception>

#include "gateway/http/error_response.h"
#include "schemas/errors.h"

namespace imgpipe::gateway::mcp {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// Headers that describe the MCP message, not the caller: the inner request sets its own.
bool framing_header(std::string_view name) {
  for (std::string_view h : {"Content-Type", "Content-Length", "Transfer-Encoding", "Idempotency-Key", "Accept",
                             "Mcp-Session-Id", "MCP-Protocol-Version", "Mcp-Method", "Mcp-Name", "Origin"})
    if (iequals(name, h)) return true;
  return false;
}

Response too_large(uint64_t limit) {
  return error_response(schemas::Error(schemas::ErrorCode::file_too_large, "The request body is larger than the limit of " +
                                                                               std::to_string(limit) + " bytes."));
}

}  // namespace

Request api_request(const Request& outer, std::string method, std::string path_and_query) {
  Request r;
  r.method = std::move(method);
  r.target = std::move(path_and_query);
  auto q = r.target.find('?');
  r.path = r.target.substr(0, q);
  if (q != std::string::npos) r.query = r.target.substr(q + 1);
  for (const auto& [name, value] : outer.headers)
    if (!framing_header(name)) r.headers.emplace_back(name, value);
  r.peer_ip = outer.peer_ip;
  r.request_id = outer.request_id;
  return r;
}

void call_api(Handler& api, Request request, Respond done) {
  request.content_length = request.body.size();
  request.chunked = false;
  Request head = request;
  head.body.clear();  // plan_body sees the headers only, as from the transport
  auto plan = api.plan_body(head);
  request.route = head.route;  // routed once, as by the transport
  if (auto* reject = std::get_if<RejectBody>(&plan)) return done(std::move(reject->response));
  if (auto* buffer = std::get_if<BufferBody>(&plan)) {
    if (buffer->limit && request.body.size() > buffer->limit) return done(too_large(buffer->limit));
    return api.handle(std::move(request), std::move(done));
  }
  auto& stream = std::get<StreamBody>(plan);
  if (stream.limit && request.body.size() > stream.limit) return done(too_large(stream.limit));
  try {
    constexpr size_t kChunk = 64 * 1024;  // as the transport feeds it
    for (size_t at = 0; at < request.body.size(); at += kChunk)
      stream.sink->write(request.body.data() + at, std::min(kChunk, request.body.size() - at));
    stream.sink->finish(done);  // throws (a missing part, a bad image) before it answers
  } catch (...) {
    done(error_response(std::current_exception(), {}, request.request_id));
  }
}

}  // namespace imgpipe::gateway::mcp
