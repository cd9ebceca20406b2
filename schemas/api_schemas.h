#pragma once
// The API's request and response bodies as JSON Schema, from
// schemas/api/components.schema.json (compiled in by CMake): the OpenAPI
// document, the docs pages and the MCP tools all read them from here.

#include <nlohmann/json_fwd.hpp>

namespace imgpipe::schemas {

// {"ImageB": {...}, "Image": {...}, ...}; refs point at #/components/schemas/NAME.
const nlohmann::json& api_schemas();

}  // namespace imgpipe::schemas
