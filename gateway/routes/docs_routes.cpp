// Documentation for agents and integrators, generated (gateway/docs/):
// GET /openapi.json.
#include "gateway/docs/openapi.h"
#include "gateway/routes/handlers.h"

namespace imgpipe::gateway::routes {

void serve_openapi(Services& s, const Call& call) {
  // Built once: the table and the public URL do not change while serving.
  static const std::string body = docs::openapi_document(s.config.public_url).dump(2);
  auto r = Response::json(200, body);
  r.set("Cache-Control", "public, max-age=300");
  r.set("Access-Control-Allow-Origin", "*");  // readable by browser-based tools
  call.respond(std::move(r));
}

}  // namespace imgpipe::gateway::routes
