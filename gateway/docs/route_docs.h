#pragma once
// What the generated documentation says about each row of the route table:
// summary, parameters, bodies, answers, error codes and who may call it.
// Keyed by (method, path pattern); route_docs_test.cpp checks that every
// (row, method) of route_table() has exactly one entry and every entry a
// row, so a route cannot exist undocumented nor a description outlive it.
// The OpenAPI document, llms.txt and the /docs pages are built from these
// entries, the error table and schemas/api/ (nothing is written beside them).

#include <vector>

#include "gateway/routes/route.h"
#include "schemas/errors.h"

namespace imgpipe::gateway::docs {

// Who may call a route.
enum class Access {
  anyone,     // anonymous or any key (the key, when sent, must be valid)
  key_read,   // a key with the read ability
  key_write,  // a key with the write ability
};

struct ParamDoc {
  const char* name;
  const char* in;  // "path", "query" or "header"
  bool required;
  const char* schema;  // JSON Schema as JSON text
  const char* description;
};

struct BodyDoc {
  const char* content_type;  // "application/json", "multipart/form-data"
  const char* schema;        // a name in schemas/api/components.schema.json
};

struct AnswerDoc {
  int status;
  const char* description;
  const char* content_type;  // "" for no body
  const char* schema;        // a components name, "binary" for bytes, "" for none
  bool etag = false;         // carries ETag (and answers If-None-Match with 304)
  bool location = false;     // carries Location
};

struct RouteDoc {
  routes::Method method;
  const char* path;          // the row's pattern, exactly
  bool published;            // false: operators' routes kept out of the public docs
  const char* operation_id;  // stable, for OpenAPI links and MCP tools
  const char* tag;           // the docs section
  const char* summary;
  const char* description;
  Access access;
  std::vector<ParamDoc> params;
  std::vector<BodyDoc> bodies;
  std::vector<AnswerDoc> answers;           // successful answers
  std::vector<schemas::ErrorCode> errors;   // the codes this route answers besides kCommonErrors
  bool idempotency_key = false;             // accepts Idempotency-Key
};

// Errors any public route may answer (transport limits, overload, bugs).
const std::vector<schemas::ErrorCode>& common_errors();

const std::vector<RouteDoc>& route_docs();
// The entry of one (method bit, pattern); nullptr when there is none.
const RouteDoc* find_route_doc(routes::Method method, std::string_view path);

}  // namespace imgpipe::gateway::docs
