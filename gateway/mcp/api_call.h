#pragma once
// How an MCP tool reaches the API: one HTTP request run through the API's
// own Handler (the router), exactly as the transport runs it — the row's body
// plan, its limit, its handler, its rate limits and its error answers — but
// without a socket. Tools never re-implement a rule the API has.

#include <string>

#include "gateway/http/http_types.h"

namespace imgpipe::gateway::mcp {

// A request for `method` `path_and_query` carrying the caller's identity
// (Authorization, proxy headers, peer address, request id) from `outer`.
Request api_request(const Request& outer, std::string method, std::string path_and_query);

// Runs `request` (its body in request.body) through `api`; `done` once with
// the answer, an error answer included (a body over the row's limit is the
// transport's file_too_large, as on the wire).
void call_api(Handler& api, Request request, Respond done);

}  // namespace imgpipe::gateway::mcp
