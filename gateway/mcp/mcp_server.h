#pragma once
// The Model Context Protocol over Streamable HTTP (JSON-RPC 2.0), stateless:
// every POST /mcp carries one JSON-RPC message and gets its answer as plain
// JSON (no SSE stream, no Mcp-Session-Id; GET /mcp is 405). Two protocol
// revisions, the newest the official SDKs speak and the one before it:
//   2026-07-28: no handshake; `server/discover`, and every request carries
//     its version in params._meta and the MCP-Protocol-Version header.
//   2025-11-25 (and 2025-06-18): the `initialize` handshake, then requests
//     with the MCP-Protocol-Version header.
// Methods: initialize, server/discover, ping, tools/list, tools/call
// (mcp_tools.h). docs/agents.md describes it for users.

#include <cstdint>

#include "gateway/http/http_types.h"

namespace imgpipe::gateway::routes { struct Services; }

namespace imgpipe::gateway::mcp {

inline constexpr const char* kModernVersion = "2026-07-28";
inline constexpr const char* kHandshakeVersions[] = {"2025-11-25", "2025-06-18"};  // newest first

// One POST /mcp (its body read whole); `respond` once, from any thread.
void handle_post(routes::Services& s, const Request& request, Respond respond);

}  // namespace imgpipe::gateway::mcp
