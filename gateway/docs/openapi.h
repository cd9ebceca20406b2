#pragma once
// The OpenAPI 3.1 document of every published route, generated from the
// route table, the entries of route_docs.cpp, the error table and
// schemas/api/ (served at /openapi.json, printed by `imgpipe openapi`).

#include <string_view>

#include <nlohmann/json.hpp>

namespace imgpipe::gateway::docs {

// `server_url`: the public base URL (servers[0]); empty leaves servers out.
nlohmann::json openapi_document(std::string_view server_url);

}  // namespace imgpipe::gateway::docs
